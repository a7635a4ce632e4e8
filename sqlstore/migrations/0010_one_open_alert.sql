-- At most one open (pending or firing) alert per endpoint and rule: two
-- servers checking a monitor at the same moment must not both open one.
-- Duplicates that earlier versions could leave are closed first, keeping
-- the newest open.

UPDATE monitor_alerts SET state = 'resolved'
WHERE state IN ('pending', 'firing') AND id NOT IN (
    SELECT id FROM (
        SELECT id, row_number() OVER (PARTITION BY endpoint, rule ORDER BY started_at DESC, id DESC) AS n
        FROM monitor_alerts WHERE state IN ('pending', 'firing')
    ) newest WHERE n = 1
);

CREATE UNIQUE INDEX monitor_alerts_one_open ON monitor_alerts (endpoint, rule) WHERE state IN ('pending', 'firing');
