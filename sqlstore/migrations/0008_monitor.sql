-- Monitoring: each version's frozen reference profile, the closed windows
-- of live traffic per endpoint and version, alerts and silences. Profiles
-- are JSON (a few kilobytes each).

CREATE TABLE monitor_references (
    model      TEXT NOT NULL,
    version    BIGINT NOT NULL,
    profile    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (model, version)
);

CREATE TABLE monitor_windows (
    endpoint     TEXT NOT NULL,
    model        TEXT NOT NULL,
    version      BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    window_end   BIGINT NOT NULL,
    rows_count   BIGINT NOT NULL,
    profile      TEXT NOT NULL,
    PRIMARY KEY (endpoint, model, version, window_start)
);

CREATE TABLE monitor_alerts (
    id          TEXT PRIMARY KEY,
    endpoint    TEXT NOT NULL,
    rule        TEXT NOT NULL,
    state       TEXT NOT NULL,
    body        TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE INDEX monitor_alerts_by_endpoint ON monitor_alerts (endpoint, started_at);

CREATE TABLE monitor_silences (
    endpoint TEXT NOT NULL,
    rule     TEXT NOT NULL,
    until_at BIGINT NOT NULL,
    PRIMARY KEY (endpoint, rule)
);
