-- The first schema of plinth's metadata. Written once for SQLite and
-- PostgreSQL: times are unix microseconds in BIGINT, JSON documents are TEXT,
-- {{autoid}} becomes each engine's auto-incrementing primary key, and
-- {{clustered}} makes SQLite store a table in its primary key's order
-- (WITHOUT ROWID), so a lookup by key is one B-tree descent, not two; the
-- search joins depend on it.

CREATE TABLE experiments (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    tags        TEXT NOT NULL DEFAULT '{}',
    created_at  BIGINT NOT NULL
);

CREATE TABLE runs (
    id            TEXT PRIMARY KEY,
    experiment_id TEXT NOT NULL REFERENCES experiments (id),
    name          TEXT NOT NULL,
    parent_id     TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL,
    start_time    BIGINT NOT NULL,
    end_time      BIGINT,
    note          TEXT NOT NULL DEFAULT '',
    code_repo     TEXT NOT NULL DEFAULT '',
    code_commit   TEXT NOT NULL DEFAULT '',
    code_dirty    BOOLEAN NOT NULL DEFAULT FALSE,
    env           TEXT NOT NULL DEFAULT '{}'
) {{clustered}};
CREATE INDEX runs_start_time ON runs (start_time);
CREATE INDEX runs_experiment_start_time ON runs (experiment_id, start_time);
CREATE INDEX runs_parent_id ON runs (parent_id);

-- num_value holds the param as a number when it parses as one, so filters
-- such as params.lr < 0.01 compare numerically on both engines.
CREATE TABLE run_params (
    run_id    TEXT NOT NULL REFERENCES runs (id),
    key       TEXT NOT NULL,
    value     TEXT NOT NULL,
    num_value DOUBLE PRECISION,
    PRIMARY KEY (run_id, key)
) {{clustered}};
CREATE INDEX run_params_key_value ON run_params (key, value);
CREATE INDEX run_params_key_num_value ON run_params (key, num_value);

CREATE TABLE run_tags (
    run_id    TEXT NOT NULL REFERENCES runs (id),
    key       TEXT NOT NULL,
    value     TEXT NOT NULL,
    num_value DOUBLE PRECISION,
    PRIMARY KEY (run_id, key)
) {{clustered}};
CREATE INDEX run_tags_key_value ON run_tags (key, value);

-- Every point of every series. No primary key: a series may repeat a step.
CREATE TABLE metrics (
    run_id TEXT NOT NULL,
    key    TEXT NOT NULL,
    step   BIGINT NOT NULL,
    ts     BIGINT NOT NULL,
    value  DOUBLE PRECISION NOT NULL
);
CREATE INDEX metrics_run_key_step ON metrics (run_id, key, step);

-- One row per series, kept in the transaction that logs the points: what
-- search, ordering and comparison read.
CREATE TABLE latest_metrics (
    run_id    TEXT NOT NULL REFERENCES runs (id),
    key       TEXT NOT NULL,
    value     DOUBLE PRECISION NOT NULL,
    step      BIGINT NOT NULL,
    ts        BIGINT NOT NULL,
    min_value DOUBLE PRECISION NOT NULL,
    max_value DOUBLE PRECISION NOT NULL,
    n         BIGINT NOT NULL,
    PRIMARY KEY (run_id, key)
) {{clustered}};
CREATE INDEX latest_metrics_key_value ON latest_metrics (key, value);

CREATE TABLE run_inputs (
    run_id  TEXT NOT NULL REFERENCES runs (id),
    name    TEXT NOT NULL,
    version TEXT NOT NULL,
    digest  TEXT NOT NULL DEFAULT '',
    role    TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (run_id, name, version, role)
);

CREATE TABLE run_artifacts (
    run_id TEXT NOT NULL REFERENCES runs (id),
    path   TEXT NOT NULL,
    digest TEXT NOT NULL,
    size   BIGINT NOT NULL,
    PRIMARY KEY (run_id, path)
);

CREATE TABLE models (
    name           TEXT PRIMARY KEY,
    description    TEXT NOT NULL DEFAULT '',
    intended_use   TEXT NOT NULL DEFAULT '',
    limitations    TEXT NOT NULL DEFAULT '',
    tags           TEXT NOT NULL DEFAULT '{}',
    latest_version BIGINT NOT NULL DEFAULT 0,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

CREATE TABLE model_versions (
    model           TEXT NOT NULL REFERENCES models (name),
    version         BIGINT NOT NULL,
    format          TEXT NOT NULL,
    artifacts       TEXT NOT NULL,
    signature       TEXT NOT NULL,
    metrics         TEXT NOT NULL DEFAULT '{}',
    run_id          TEXT NOT NULL DEFAULT '',
    datasets        TEXT NOT NULL DEFAULT '[]',
    description     TEXT NOT NULL DEFAULT '',
    approval_state  TEXT NOT NULL DEFAULT 'pending',
    approval_by     TEXT NOT NULL DEFAULT '',
    approval_at     BIGINT,
    approval_reason TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    created_by      TEXT NOT NULL,
    PRIMARY KEY (model, version)
);
CREATE INDEX model_versions_run_id ON model_versions (run_id);

CREATE TABLE model_aliases (
    model      TEXT NOT NULL REFERENCES models (name),
    alias      TEXT NOT NULL,
    version    BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (model, alias)
);

-- Who did what, when and why. kind/object name the thing changed (for the
-- registry: kind 'model', object the model's name).
CREATE TABLE audit_log (
    id        {{autoid}},
    time      BIGINT NOT NULL,
    principal TEXT NOT NULL,
    action    TEXT NOT NULL,
    kind      TEXT NOT NULL,
    object    TEXT NOT NULL,
    version   BIGINT NOT NULL DEFAULT 0,
    alias     TEXT NOT NULL DEFAULT '',
    reason    TEXT NOT NULL DEFAULT '',
    detail    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_object ON audit_log (kind, object, id);
