package sqlstore

import (
	"context"
	"fmt"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/auth"
)

var _ auth.AuditLog = (*Store)(nil)

// auditTrail reads every table that records who changed what as rows of
// (at, principal, action, object, reason), actions named as the
// registry's are (model.create, endpoint.deploy, token.revoke). Each
// domain keeps its own record in its own shape; this is the one place
// they are read together.
//
// Dataset versions the platform wrote itself (the prediction log's
// batches, one per endpoint every few seconds) would bury the changes
// people made; they stay in the dataset's own list of versions. Versions
// from before ingestions named their principal have an empty one and
// are left out too: there is nobody to show.
const auditTrail = `
SELECT time AS at, principal, action,
       kind || ' ' || object
         || CASE WHEN version > 0 THEN '@' || CAST(version AS TEXT) ELSE '' END
         || CASE WHEN alias <> '' THEN ' alias ' || alias ELSE '' END AS object,
       reason
  FROM audit_log
UNION ALL
SELECT updated_at, updated_by, 'endpoint.' || action, 'endpoint ' || name || ' revision ' || CAST(revision AS TEXT), reason
  FROM endpoint_revisions
UNION ALL
SELECT created_at, created_by, 'pipeline.start', 'pipeline ' || pipeline || ' run ' || id, trigger_desc
  FROM pipeline_runs
UNION ALL
SELECT decided_at, decided_by, CASE WHEN approve THEN 'step.approve' ELSE 'step.reject' END, 'pipeline run ' || run_id || ' step ' || step, reason
  FROM pipeline_approvals
UNION ALL
SELECT applied_at, principal, kind || CASE WHEN removed THEN '.remove' ELSE '.apply' END, kind || ' ' || name || ' version ' || CAST(version AS TEXT), ''
  FROM definition_history
UNION ALL
SELECT ingested_at, ingested_by, CASE WHEN replay_of <> '' THEN 'dataset.replay' ELSE 'dataset.ingest' END,
       'dataset ' || dataset || ' version ' || CAST(version AS TEXT),
       CAST(rows AS TEXT) || ' rows from ' || source
         || CASE WHEN replay_of <> '' THEN ', quarantine ' || replay_of ELSE '' END
  FROM dataset_versions WHERE ingested_by NOT IN ('', 'plinth')
UNION ALL
SELECT set_at, set_by, 'dataset.spec', 'dataset ' || dataset, ''
  FROM dataset_spec_history WHERE set_by <> 'plinth'
UNION ALL
SELECT created_at, created_by, 'dataset.quarantine', 'dataset ' || dataset || ' quarantine ' || id,
       CAST(rows AS TEXT) || ' rows from ' || source
  FROM dataset_quarantines WHERE created_by <> ''
UNION ALL
SELECT silenced_at, silenced_by, 'alert.silence', 'endpoint ' || endpoint || ' alert rule ' || rule,
       'for ' || CAST((until_at - silenced_at) / 60000000 AS TEXT) || ' min'
         || CASE WHEN reason <> '' THEN ': ' || reason ELSE '' END
  FROM alert_silences WHERE silenced_by <> ''
UNION ALL
SELECT created_at, created_by, 'token.create', 'token ' || name || ' (' || role || ')', ''
  FROM tokens
UNION ALL
SELECT revoked_at, revoked_by, 'token.revoke', 'token ' || name || ' (' || role || ')', ''
  FROM tokens WHERE revoked_at IS NOT NULL`

// AuditTrail implements auth.AuditLog.
func (s *Store) AuditTrail(ctx context.Context, q auth.AuditQuery) ([]auth.AuditEntry, error) {
	limit := q.Limit
	switch {
	case limit == 0:
		limit = 100
	case limit < 0 || limit > 10_000:
		return nil, plinth.Invalid("limit", "want 1 to 10000 entries, have %d", limit)
	}
	query := `SELECT at, principal, action, object, reason FROM (` + auditTrail + `) trail WHERE at >= ?`
	args := []any{micros(q.Since)}
	if q.Since.IsZero() {
		args[0] = int64(0)
	}
	if q.Principal != "" {
		query += ` AND principal = ?`
		args = append(args, q.Principal)
	}
	query += ` ORDER BY at DESC, object LIMIT ?`
	args = append(args, limit)
	rows, err := s.query(ctx, s.db, query, args...)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	defer rows.Close()
	out := []auth.AuditEntry{}
	for rows.Next() {
		var e auth.AuditEntry
		var at int64
		if err := rows.Scan(&at, &e.Principal, &e.Action, &e.Object, &e.Reason); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		e.Time = fromMicros(at)
		out = append(out, e)
	}
	return out, rows.Err()
}
