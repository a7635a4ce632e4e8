-- Every spec set on a dataset, with who set it: a spec decides which rows
-- a batch keeps and which it quarantines, so changing one is audited.

CREATE TABLE dataset_spec_history (
    dataset TEXT NOT NULL,
    spec    TEXT NOT NULL,
    set_at  BIGINT NOT NULL,
    set_by  TEXT NOT NULL
);

CREATE INDEX dataset_spec_history_by_dataset ON dataset_spec_history (dataset, set_at);
