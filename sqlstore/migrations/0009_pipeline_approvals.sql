-- A person's decision on a pipeline step that waits for approval.

CREATE TABLE pipeline_approvals (
    run_id     TEXT NOT NULL,
    step       TEXT NOT NULL,
    approve    BOOLEAN NOT NULL,
    decided_by TEXT NOT NULL,
    reason     TEXT NOT NULL DEFAULT '',
    decided_at BIGINT NOT NULL,
    PRIMARY KEY (run_id, step)
);
