-- A token limited to endpoints: their names, comma-separated (endpoint
-- names hold no commas); '' for a token its role alone governs.

ALTER TABLE tokens ADD COLUMN endpoints TEXT NOT NULL DEFAULT '';
