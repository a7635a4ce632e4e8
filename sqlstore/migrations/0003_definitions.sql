-- The registered definitions of the project file (entities, feature views,
-- feature services; dataset specs live on the datasets table), each with a
-- version that every change bumps, and their history.

CREATE TABLE definitions (
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    spec       TEXT NOT NULL,
    version    BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (kind, name)
);

CREATE TABLE definition_history (
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    version    BIGINT NOT NULL,
    spec       TEXT NOT NULL,
    applied_at BIGINT NOT NULL,
    principal  TEXT NOT NULL,
    removed    BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (kind, name, version)
);
