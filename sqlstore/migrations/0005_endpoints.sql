-- Endpoints: every revision of every endpoint's configuration; the newest
-- revision is the live one. candidate_* are empty for a single version.

CREATE TABLE endpoint_revisions (
    name              TEXT NOT NULL,
    revision          BIGINT NOT NULL,
    strategy          TEXT NOT NULL,
    stable_model      TEXT NOT NULL,
    stable_ref        TEXT NOT NULL,
    stable_version    BIGINT NOT NULL,
    candidate_model   TEXT NOT NULL DEFAULT '',
    candidate_ref     TEXT NOT NULL DEFAULT '',
    candidate_version BIGINT NOT NULL DEFAULT 0,
    weight            DOUBLE PRECISION NOT NULL DEFAULT 0,
    sticky_key        TEXT NOT NULL DEFAULT '',
    gate              TEXT NOT NULL DEFAULT '',
    action            TEXT NOT NULL,
    reason            TEXT NOT NULL DEFAULT '',
    updated_by        TEXT NOT NULL,
    updated_at        BIGINT NOT NULL,
    PRIMARY KEY (name, revision)
);
