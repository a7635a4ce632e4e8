-- How far materialization into the online store has got, per online view
-- (a view's name and definition checksum): the last dataset version written.

CREATE TABLE materializations (
    online_view TEXT PRIMARY KEY,
    version     BIGINT NOT NULL,
    entities    BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
