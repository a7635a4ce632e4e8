-- Dataset versions (immutable Parquet snapshots in the blob store) and the
-- quarantined rows of the batches that produced them.

-- One row per dataset: its spec (the expectations batches are checked
-- against) and the version counter, so concurrent ingests of one dataset
-- serialize on it instead of racing for max+1.
CREATE TABLE datasets (
    name           TEXT PRIMARY KEY,
    spec           TEXT NOT NULL DEFAULT '',
    spec_updated   BIGINT NOT NULL DEFAULT 0,
    latest_version BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE dataset_versions (
    dataset     TEXT NOT NULL,
    version     BIGINT NOT NULL,
    digest      TEXT NOT NULL,
    rows        BIGINT NOT NULL,
    bytes       BIGINT NOT NULL,
    schema      TEXT NOT NULL,
    source      TEXT NOT NULL DEFAULT '',
    ingested_at BIGINT NOT NULL,
    min_event   BIGINT,
    max_event   BIGINT,
    quarantined BIGINT NOT NULL DEFAULT 0,
    replay_of   TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (dataset, version)
);

CREATE TABLE dataset_quarantines (
    id          TEXT PRIMARY KEY,
    dataset     TEXT NOT NULL,
    digest      TEXT NOT NULL,
    rows        BIGINT NOT NULL,
    whole_batch BOOLEAN NOT NULL,
    reasons     TEXT NOT NULL,
    source      TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    replayed_as BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX dataset_quarantines_dataset ON dataset_quarantines (dataset, created_at);
