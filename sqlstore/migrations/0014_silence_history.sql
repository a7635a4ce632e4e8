-- Silences are kept, each with who set it, when and why: a silence stops
-- an alert's notifications and retraining, which the audit trail must
-- show. The latest silence of a rule decides until when it is silenced (a
-- shorter one set later ends it sooner).

CREATE TABLE alert_silences (
    endpoint    TEXT NOT NULL,
    rule        TEXT NOT NULL,
    until_at    BIGINT NOT NULL,
    silenced_at BIGINT NOT NULL,
    silenced_by TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT ''
);

CREATE INDEX alert_silences_by_rule ON alert_silences (endpoint, rule, silenced_at);

INSERT INTO alert_silences (endpoint, rule, until_at, silenced_at, silenced_by)
    SELECT endpoint, rule, until_at, 0, '' FROM monitor_silences;

DROP TABLE monitor_silences;
