-- API tokens: the digest of each secret, never the secret. A revoked
-- token is kept, with who revoked it and when, and its name can be given
-- to a new token.

CREATE TABLE tokens (
    digest TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    last_used_at BIGINT,
    revoked_by TEXT,
    revoked_at BIGINT
);

CREATE UNIQUE INDEX tokens_live_name ON tokens (name) WHERE revoked_at IS NULL;
