package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/registry"
)

// CreateModel registers a new model.
func (s *Store) CreateModel(ctx context.Context, m *registry.Model, ev registry.AuditEvent) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		created, err := s.insertModel(ctx, tx, m, ev)
		if err == nil && !created {
			return plinth.Errorf(plinth.ECONFLICT, "model %q already exists", m.Name)
		}
		return err
	})
}

func (s *Store) modelExists(ctx context.Context, q querier, name string) (bool, error) {
	var n int
	if err := s.queryRow(ctx, q, `SELECT COUNT(*) FROM models WHERE name = ?`, name).Scan(&n); err != nil {
		return false, fmt.Errorf("model %s: %w", name, err)
	}
	return n > 0, nil
}

// insertModel inserts m unless a model of that name exists, and reports
// whether it did. ON CONFLICT makes concurrent first registrations of one
// model wait for each other instead of failing on the unique key.
func (s *Store) insertModel(ctx context.Context, tx *sql.Tx, m *registry.Model, ev registry.AuditEvent) (bool, error) {
	now := s.Now().UTC()
	m.CreatedAt, m.UpdatedAt = now, now
	m.Aliases = map[string]int{}
	tags, _ := json.Marshal(nonNil(m.Tags))
	res, err := s.exec(ctx, tx, `INSERT INTO models (name, description, intended_use, limitations, tags, latest_version, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, 0, ?, ?) ON CONFLICT (name) DO NOTHING`,
		m.Name, m.Card.Description, m.Card.IntendedUse, m.Card.Limitations, string(tags), micros(now), micros(now))
	if err != nil {
		return false, fmt.Errorf("create model %s: %w", m.Name, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err
	}
	ev.Action, ev.Model = registry.ActionModelCreate, m.Name
	return true, s.audit(ctx, tx, ev)
}

// Model returns a model with its aliases.
func (s *Store) Model(ctx context.Context, name string) (*registry.Model, error) {
	ms, err := s.models(ctx, name)
	if err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		return nil, plinth.NotFound("model", name)
	}
	return &ms[0], nil
}

// Models lists all models by name.
func (s *Store) Models(ctx context.Context) ([]registry.Model, error) {
	return s.models(ctx, "")
}

// models returns the model called name, or all models when name is empty.
func (s *Store) models(ctx context.Context, name string) ([]registry.Model, error) {
	modelWhere, aliasWhere, args := "", "", []any{}
	if name != "" {
		modelWhere, aliasWhere, args = `WHERE name = ?`, `WHERE model = ?`, []any{name}
	}
	rows, err := s.query(ctx, s.db, `SELECT name, description, intended_use, limitations, tags, latest_version, created_at, updated_at FROM models `+modelWhere+` ORDER BY name`, args...)
	if err != nil {
		return nil, fmt.Errorf("list models: %w", err)
	}
	out := []registry.Model{}
	index := map[string]int{}
	for rows.Next() {
		var m registry.Model
		var tags string
		var created, updated int64
		if err := rows.Scan(&m.Name, &m.Card.Description, &m.Card.IntendedUse, &m.Card.Limitations, &tags, &m.LatestVersion, &created, &updated); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list models: %w", err)
		}
		if err := json.Unmarshal([]byte(tags), &m.Tags); err != nil {
			rows.Close()
			return nil, fmt.Errorf("model %s: tags: %w", m.Name, err)
		}
		m.CreatedAt, m.UpdatedAt = fromMicros(created), fromMicros(updated)
		m.Aliases = map[string]int{}
		index[m.Name] = len(out)
		out = append(out, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list models: %w", err)
	}
	if len(out) == 0 {
		return out, nil
	}
	rows, err = s.query(ctx, s.db, `SELECT model, alias, version FROM model_aliases `+aliasWhere, args...)
	if err != nil {
		return nil, fmt.Errorf("list aliases: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var model, alias string
		var v int
		if err := rows.Scan(&model, &alias, &v); err != nil {
			return nil, fmt.Errorf("list aliases: %w", err)
		}
		if i, ok := index[model]; ok {
			out[i].Aliases[alias] = v
		}
	}
	return out, rows.Err()
}

// UpdateCard replaces a model's card.
func (s *Store) UpdateCard(ctx context.Context, name string, c registry.Card, ev registry.AuditEvent) (*registry.Model, error) {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, `UPDATE models SET description = ?, intended_use = ?, limitations = ?, updated_at = ? WHERE name = ?`,
			c.Description, c.IntendedUse, c.Limitations, micros(s.Now()), name)
		if err != nil {
			return fmt.Errorf("update card: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return plinth.NotFound("model", name)
		}
		ev.Action, ev.Model = registry.ActionCardUpdate, name
		return s.audit(ctx, tx, ev)
	})
	if err != nil {
		return nil, err
	}
	return s.Model(ctx, name)
}

// CreateVersion stores v under the next version number of its model. The
// counter lives on the model row, so numbers are never reused, even after a
// version is deleted, and the UPDATE serializes concurrent registrations.
func (s *Store) CreateVersion(ctx context.Context, v *registry.Version, ev registry.AuditEvent) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.insertModel(ctx, tx, &registry.Model{Name: v.Model}, ev); err != nil {
			return err
		}
		now := s.Now().UTC()
		if _, err := s.exec(ctx, tx, `UPDATE models SET latest_version = latest_version + 1, updated_at = ? WHERE name = ?`, micros(now), v.Model); err != nil {
			return fmt.Errorf("create version: %w", err)
		}
		if err := s.queryRow(ctx, tx, `SELECT latest_version FROM models WHERE name = ?`, v.Model).Scan(&v.Version); err != nil {
			return fmt.Errorf("create version: %w", err)
		}
		v.CreatedAt = now
		if v.Approval.State == "" {
			v.Approval = registry.Approval{State: registry.Pending}
		}
		artifacts, _ := json.Marshal(v.Artifacts)
		signature, _ := json.Marshal(v.Signature)
		metrics, _ := json.Marshal(v.Metrics)
		if v.Metrics == nil {
			metrics = []byte("{}")
		}
		datasets, _ := json.Marshal(v.Datasets)
		if v.Datasets == nil {
			datasets = []byte("[]")
		}
		_, err := s.exec(ctx, tx, `INSERT INTO model_versions (model, version, format, artifacts, signature, metrics, run_id, datasets, description,
			approval_state, created_at, created_by, feature_service, feature_service_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			v.Model, v.Version, v.Format, string(artifacts), string(signature), string(metrics), v.RunID, string(datasets), v.Description,
			string(v.Approval.State), micros(now), v.CreatedBy, v.FeatureService, v.FeatureServiceVersion)
		if err != nil {
			return fmt.Errorf("create version: %w", err)
		}
		ev.Action, ev.Model, ev.Version = registry.ActionVersionCreate, v.Model, v.Version
		return s.audit(ctx, tx, ev)
	})
}

const versionColumns = `model, version, format, artifacts, signature, metrics, run_id, datasets, description,
	approval_state, approval_by, approval_at, approval_reason, created_at, created_by, feature_service, feature_service_version`

func scanVersion(sc interface{ Scan(...any) error }) (registry.Version, error) {
	var v registry.Version
	var artifacts, signature, metrics, datasets, state string
	var approvalAt sql.NullInt64
	var created int64
	if err := sc.Scan(&v.Model, &v.Version, &v.Format, &artifacts, &signature, &metrics, &v.RunID, &datasets, &v.Description,
		&state, &v.Approval.By, &approvalAt, &v.Approval.Reason, &created, &v.CreatedBy, &v.FeatureService, &v.FeatureServiceVersion); err != nil {
		return v, err
	}
	v.Approval.State = registry.ApprovalState(state)
	if approvalAt.Valid {
		t := fromMicros(approvalAt.Int64)
		v.Approval.At = &t
	}
	v.CreatedAt = fromMicros(created)
	for _, f := range []struct {
		name string
		text string
		dst  any
	}{{"artifacts", artifacts, &v.Artifacts}, {"signature", signature, &v.Signature}, {"metrics", metrics, &v.Metrics}, {"datasets", datasets, &v.Datasets}} {
		if err := json.Unmarshal([]byte(f.text), f.dst); err != nil {
			return v, fmt.Errorf("model %s version %d: %s: %w", v.Model, v.Version, f.name, err)
		}
	}
	return v, nil
}

// Version returns one version.
func (s *Store) Version(ctx context.Context, model string, version int) (*registry.Version, error) {
	v, err := scanVersion(s.queryRow(ctx, s.db, `SELECT `+versionColumns+` FROM model_versions WHERE model = ? AND version = ?`, model, version))
	if errors.Is(err, sql.ErrNoRows) {
		if exists, err := s.modelExists(ctx, s.db, model); err == nil && !exists {
			return nil, plinth.NotFound("model", model)
		}
		return nil, plinth.NotFound("version", fmt.Sprintf("%s@%d", model, version))
	}
	if err != nil {
		return nil, fmt.Errorf("get version: %w", err)
	}
	return &v, nil
}

// Versions lists a model's versions, newest first.
func (s *Store) Versions(ctx context.Context, model string) ([]registry.Version, error) {
	if exists, err := s.modelExists(ctx, s.db, model); err != nil {
		return nil, err
	} else if !exists {
		return nil, plinth.NotFound("model", model)
	}
	rows, err := s.query(ctx, s.db, `SELECT `+versionColumns+` FROM model_versions WHERE model = ? ORDER BY version DESC`, model)
	if err != nil {
		return nil, fmt.Errorf("list versions: %w", err)
	}
	defer rows.Close()
	out := []registry.Version{}
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return nil, fmt.Errorf("list versions: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// DeleteVersion deletes a version no alias points at.
func (s *Store) DeleteVersion(ctx context.Context, model string, version int, ev registry.AuditEvent) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockVersion(ctx, tx, model, version); err != nil {
			return err
		}
		rows, err := s.query(ctx, tx, `SELECT alias FROM model_aliases WHERE model = ? AND version = ? ORDER BY alias`, model, version)
		if err != nil {
			return fmt.Errorf("delete version: %w", err)
		}
		var aliases []string
		for rows.Next() {
			var a string
			if err := rows.Scan(&a); err != nil {
				rows.Close()
				return fmt.Errorf("delete version: %w", err)
			}
			aliases = append(aliases, a)
		}
		rows.Close()
		if len(aliases) > 0 {
			return plinth.Errorf(plinth.ECONFLICT, "%s@%d is still pointed at by alias %s; move or delete the alias first",
				model, version, strings.Join(aliases, ", "))
		}
		if _, err := s.exec(ctx, tx, `DELETE FROM model_versions WHERE model = ? AND version = ?`, model, version); err != nil {
			return fmt.Errorf("delete version: %w", err)
		}
		ev.Action, ev.Model, ev.Version = registry.ActionVersionDelete, model, version
		return s.audit(ctx, tx, ev)
	})
}

// lockVersion checks that the version exists, locking its row on engines
// that lock rows.
func (s *Store) lockVersion(ctx context.Context, tx *sql.Tx, model string, version int) error {
	var n int
	err := s.queryRow(ctx, tx, `SELECT version FROM model_versions WHERE model = ? AND version = ?`+s.d.forUpdate, model, version).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		if exists, err := s.modelExists(ctx, tx, model); err == nil && !exists {
			return plinth.NotFound("model", model)
		}
		return plinth.NotFound("version", fmt.Sprintf("%s@%d", model, version))
	}
	if err != nil {
		return fmt.Errorf("version %s@%d: %w", model, version, err)
	}
	return nil
}

// SetApproval records a review decision on a version.
func (s *Store) SetApproval(ctx context.Context, model string, version int, a registry.Approval, ev registry.AuditEvent) (*registry.Version, error) {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockVersion(ctx, tx, model, version); err != nil {
			return err
		}
		var at any
		if a.At != nil {
			at = micros(*a.At)
		}
		if _, err := s.exec(ctx, tx, `UPDATE model_versions SET approval_state = ?, approval_by = ?, approval_at = ?, approval_reason = ? WHERE model = ? AND version = ?`,
			string(a.State), a.By, at, a.Reason, model, version); err != nil {
			return fmt.Errorf("set approval: %w", err)
		}
		ev.Action, ev.Model, ev.Version = registry.ActionApprove, model, version
		if a.State == registry.Rejected {
			ev.Action = registry.ActionReject
		}
		return s.audit(ctx, tx, ev)
	})
	if err != nil {
		return nil, err
	}
	return s.Version(ctx, model, version)
}

// SetAlias points alias at version, recording the version it left.
func (s *Store) SetAlias(ctx context.Context, model, alias string, version int, ev registry.AuditEvent) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockVersion(ctx, tx, model, version); err != nil {
			return err
		}
		var prev int
		err := s.queryRow(ctx, tx, `SELECT version FROM model_aliases WHERE model = ? AND alias = ?`, model, alias).Scan(&prev)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("set alias: %w", err)
		}
		if _, err := s.exec(ctx, tx, `INSERT INTO model_aliases (model, alias, version, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (model, alias) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at`,
			model, alias, version, micros(s.Now())); err != nil {
			return fmt.Errorf("set alias: %w", err)
		}
		ev.Action, ev.Model, ev.Version, ev.Alias = registry.ActionAliasSet, model, version, alias
		if prev != 0 {
			ev.Detail = fmt.Sprintf("previous version %d", prev)
		}
		return s.audit(ctx, tx, ev)
	})
}

// DeleteAlias removes an alias.
func (s *Store) DeleteAlias(ctx context.Context, model, alias string, ev registry.AuditEvent) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var prev int
		err := s.queryRow(ctx, tx, `SELECT version FROM model_aliases WHERE model = ? AND alias = ?`, model, alias).Scan(&prev)
		if errors.Is(err, sql.ErrNoRows) {
			return plinth.NotFound("alias", model+"@"+alias)
		}
		if err != nil {
			return fmt.Errorf("delete alias: %w", err)
		}
		if _, err := s.exec(ctx, tx, `DELETE FROM model_aliases WHERE model = ? AND alias = ?`, model, alias); err != nil {
			return fmt.Errorf("delete alias: %w", err)
		}
		ev.Action, ev.Model, ev.Version, ev.Alias = registry.ActionAliasDelete, model, prev, alias
		return s.audit(ctx, tx, ev)
	})
}

// audit appends ev to the audit log inside the caller's transaction.
func (s *Store) audit(ctx context.Context, tx *sql.Tx, ev registry.AuditEvent) error {
	if ev.Time.IsZero() {
		ev.Time = s.Now()
	}
	if ev.Principal == "" {
		ev.Principal = plinth.Anonymous
	}
	_, err := s.exec(ctx, tx, `INSERT INTO audit_log (time, principal, action, kind, object, version, alias, reason, detail) VALUES (?, ?, ?, 'model', ?, ?, ?, ?, ?)`,
		micros(ev.Time), ev.Principal, ev.Action, ev.Model, ev.Version, ev.Alias, ev.Reason, ev.Detail)
	if err != nil {
		return fmt.Errorf("audit %s: %w", ev.Action, err)
	}
	return nil
}

// Audit returns a model's audit events (all models' when model is empty),
// newest first.
func (s *Store) Audit(ctx context.Context, model string, limit int) ([]registry.AuditEvent, error) {
	if limit <= 0 || limit > 10000 {
		limit = 10000
	}
	where, args := `kind = 'model'`, []any{}
	if model != "" {
		where += ` AND object = ?`
		args = append(args, model)
	}
	args = append(args, limit)
	rows, err := s.query(ctx, s.db, `SELECT id, time, principal, action, object, version, alias, reason, detail FROM audit_log WHERE `+where+` ORDER BY id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	defer rows.Close()
	out := []registry.AuditEvent{}
	for rows.Next() {
		var ev registry.AuditEvent
		var ts int64
		if err := rows.Scan(&ev.ID, &ts, &ev.Principal, &ev.Action, &ev.Model, &ev.Version, &ev.Alias, &ev.Reason, &ev.Detail); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		ev.Time = fromMicros(ts)
		out = append(out, ev)
	}
	return out, rows.Err()
}
