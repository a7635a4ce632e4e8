-- Endpoints: every revision of every endpoint's configuration; the newest
-- revision is the live one.

CREATE TABLE endpoint_revisions (
    name       TEXT NOT NULL,
    revision   BIGINT NOT NULL,
    model      TEXT NOT NULL,
    ref        TEXT NOT NULL,
    version    BIGINT NOT NULL,
    action     TEXT NOT NULL,
    reason     TEXT NOT NULL DEFAULT '',
    updated_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (name, revision)
);
