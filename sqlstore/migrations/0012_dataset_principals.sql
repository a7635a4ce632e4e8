-- Who ingested each dataset version and whose batch each quarantine holds,
-- for the audit trail. Rows from before this migration name nobody ('').

ALTER TABLE dataset_versions ADD COLUMN ingested_by TEXT NOT NULL DEFAULT '';
ALTER TABLE dataset_quarantines ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
