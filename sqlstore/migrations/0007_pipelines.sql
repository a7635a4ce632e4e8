-- Pipeline runs, their step attempts, and the step cache. A run's spec and
-- params are frozen JSON; fire de-duplicates triggered runs; the lease says
-- which executor owns an unfinished run until when.

CREATE TABLE pipeline_runs (
    id               TEXT PRIMARY KEY,
    pipeline         TEXT NOT NULL,
    pipeline_version BIGINT NOT NULL,
    spec             TEXT NOT NULL,
    params           TEXT NOT NULL,
    state            TEXT NOT NULL,
    trigger_desc     TEXT NOT NULL,
    rerun_of         TEXT NOT NULL DEFAULT '',
    fire             TEXT,
    created_by       TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    finished_at      BIGINT,
    error            TEXT NOT NULL DEFAULT '',
    lease_owner      TEXT NOT NULL DEFAULT '',
    lease_until      BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX pipeline_runs_by_pipeline ON pipeline_runs (pipeline, created_at);
CREATE UNIQUE INDEX pipeline_runs_fire ON pipeline_runs (pipeline, fire);

CREATE TABLE pipeline_attempts (
    run_id      TEXT NOT NULL,
    step        TEXT NOT NULL,
    attempt     BIGINT NOT NULL,
    state       TEXT NOT NULL,
    cached_from TEXT NOT NULL DEFAULT '',
    cache_key   TEXT NOT NULL DEFAULT '',
    inputs      TEXT NOT NULL DEFAULT '{}',
    params      TEXT NOT NULL DEFAULT '{}',
    code        TEXT NOT NULL DEFAULT '',
    outputs     TEXT NOT NULL DEFAULT '{}',
    log         TEXT NOT NULL DEFAULT '',
    error       TEXT NOT NULL DEFAULT '',
    user_error  BOOLEAN NOT NULL DEFAULT FALSE,
    worker      TEXT NOT NULL DEFAULT '',
    started_at  BIGINT NOT NULL,
    finished_at BIGINT,
    cpu_seconds DOUBLE PRECISION NOT NULL DEFAULT 0,
    peak_rss    BIGINT NOT NULL DEFAULT 0,
    wall_seconds DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, step, attempt)
);

-- The cache: a key's outputs and the attempt that wrote them, written in
-- the transaction that records the attempt's success.
CREATE TABLE pipeline_cache (
    cache_key  TEXT PRIMARY KEY,
    run_id     TEXT NOT NULL,
    step       TEXT NOT NULL,
    attempt    BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
