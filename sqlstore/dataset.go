package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/dataset"
)

var _ dataset.Store = (*Store)(nil)

// SetSpec stores a dataset's spec, creating the dataset, and keeps it in
// the dataset's spec history under the context's principal.
func (s *Store) SetSpec(ctx context.Context, spec dataset.Spec) error {
	raw, err := json.Marshal(spec)
	if err != nil {
		return fmt.Errorf("set spec: %w", err)
	}
	now := micros(s.Now())
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, `INSERT INTO datasets (name, spec, spec_updated) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, spec_updated = excluded.spec_updated`, spec.Name, string(raw), now); err != nil {
			return fmt.Errorf("set spec: %w", err)
		}
		if _, err := s.exec(ctx, tx, `INSERT INTO dataset_spec_history (dataset, spec, set_at, set_by) VALUES (?, ?, ?, ?)`,
			spec.Name, string(raw), now, plinth.PrincipalFrom(ctx)); err != nil {
			return fmt.Errorf("set spec: %w", err)
		}
		return nil
	})
}

// Spec returns a dataset's spec.
func (s *Store) Spec(ctx context.Context, name string) (*dataset.Spec, error) {
	var raw string
	err := s.queryRow(ctx, s.db, `SELECT spec FROM datasets WHERE name = ?`, name).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) || err == nil && raw == "" {
		return nil, plinth.Errorf(plinth.ENOTFOUND, "dataset %q has no spec", name)
	}
	if err != nil {
		return nil, fmt.Errorf("get spec: %w", err)
	}
	var spec dataset.Spec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		return nil, fmt.Errorf("dataset %s: spec: %w", name, err)
	}
	return &spec, nil
}

// RecordIngest stores a batch's version and quarantine in one transaction.
func (s *Store) RecordIngest(ctx context.Context, v *dataset.Version, q *dataset.Quarantine) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if q != nil {
			reasons, _ := json.Marshal(q.Reasons)
			if _, err := s.exec(ctx, tx, `INSERT INTO dataset_quarantines (id, dataset, digest, rows, whole_batch, reasons, source, created_at, created_by)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, q.ID, q.Dataset, q.Digest, q.Rows, q.WholeBatch, string(reasons), q.Source, micros(q.CreatedAt), q.CreatedBy); err != nil {
				return fmt.Errorf("record quarantine: %w", err)
			}
		}
		if v == nil {
			return nil
		}
		// The counter row serializes concurrent ingests of one dataset.
		if _, err := s.exec(ctx, tx, `INSERT INTO datasets (name) VALUES (?) ON CONFLICT (name) DO NOTHING`, v.Dataset); err != nil {
			return fmt.Errorf("record version: %w", err)
		}
		if _, err := s.exec(ctx, tx, `UPDATE datasets SET latest_version = latest_version + 1 WHERE name = ?`, v.Dataset); err != nil {
			return fmt.Errorf("record version: %w", err)
		}
		if err := s.queryRow(ctx, tx, `SELECT latest_version FROM datasets WHERE name = ?`, v.Dataset).Scan(&v.Version); err != nil {
			return fmt.Errorf("record version: %w", err)
		}
		schema, _ := json.Marshal(v.Schema)
		if _, err := s.exec(ctx, tx, `INSERT INTO dataset_versions (dataset, version, digest, rows, bytes, schema, source, ingested_at, ingested_by, min_event, max_event, quarantined, replay_of)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, v.Dataset, v.Version, v.Digest, v.Rows, v.Bytes, string(schema), v.Source,
			micros(v.IngestedAt), v.IngestedBy, optMicros(v.MinEvent), optMicros(v.MaxEvent), v.Quarantined, v.ReplayOf); err != nil {
			return fmt.Errorf("record version: %w", err)
		}
		if v.ReplayOf != "" {
			res, err := s.exec(ctx, tx, `UPDATE dataset_quarantines SET replayed_as = ? WHERE id = ? AND replayed_as = 0`, v.Version, v.ReplayOf)
			if err != nil {
				return fmt.Errorf("record replay: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return plinth.Errorf(plinth.ECONFLICT, "quarantine %s does not exist or was already replayed", v.ReplayOf)
			}
		}
		return nil
	})
}

func optMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

// Datasets lists the datasets that have versions or quarantines.
func (s *Store) Datasets(ctx context.Context) ([]string, error) {
	rows, err := s.query(ctx, s.db, `SELECT name FROM datasets UNION SELECT dataset FROM dataset_quarantines ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("list datasets: %w", err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		out = append(out, name)
	}
	return out, rows.Err()
}

const datasetVersionColumns = `dataset, version, digest, rows, bytes, schema, source, ingested_at, ingested_by, min_event, max_event, quarantined, replay_of`

func scanDatasetVersion(sc interface{ Scan(...any) error }) (dataset.Version, error) {
	var v dataset.Version
	var schema string
	var at int64
	var minEv, maxEv sql.NullInt64
	if err := sc.Scan(&v.Dataset, &v.Version, &v.Digest, &v.Rows, &v.Bytes, &schema, &v.Source, &at, &v.IngestedBy, &minEv, &maxEv, &v.Quarantined, &v.ReplayOf); err != nil {
		return v, err
	}
	v.IngestedAt = fromMicros(at)
	if minEv.Valid {
		t := fromMicros(minEv.Int64)
		v.MinEvent = &t
	}
	if maxEv.Valid {
		t := fromMicros(maxEv.Int64)
		v.MaxEvent = &t
	}
	return v, json.Unmarshal([]byte(schema), &v.Schema)
}

// DatasetVersions lists a dataset's versions, newest first.
func (s *Store) DatasetVersions(ctx context.Context, name string) ([]dataset.Version, error) {
	rows, err := s.query(ctx, s.db, `SELECT `+datasetVersionColumns+` FROM dataset_versions WHERE dataset = ? ORDER BY version DESC`, name)
	if err != nil {
		return nil, fmt.Errorf("list dataset versions: %w", err)
	}
	defer rows.Close()
	out := []dataset.Version{}
	for rows.Next() {
		v, err := scanDatasetVersion(rows)
		if err != nil {
			return nil, fmt.Errorf("list dataset versions: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		if err := s.datasetExists(ctx, name); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *Store) datasetExists(ctx context.Context, name string) error {
	var n int
	if err := s.queryRow(ctx, s.db, `SELECT (SELECT COUNT(*) FROM datasets WHERE name = ?) + (SELECT COUNT(*) FROM dataset_quarantines WHERE dataset = ?)`, name, name).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return plinth.NotFound("dataset", name)
	}
	return nil
}

// DatasetVersion returns one dataset version.
func (s *Store) DatasetVersion(ctx context.Context, name string, version int) (*dataset.Version, error) {
	v, err := scanDatasetVersion(s.queryRow(ctx, s.db, `SELECT `+datasetVersionColumns+` FROM dataset_versions WHERE dataset = ? AND version = ?`, name, version))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, plinth.NotFound("dataset version", fmt.Sprintf("%s@%d", name, version))
	}
	if err != nil {
		return nil, fmt.Errorf("get dataset version: %w", err)
	}
	return &v, nil
}

const quarantineColumns = `id, dataset, digest, rows, whole_batch, reasons, source, created_at, created_by, replayed_as`

func scanQuarantine(sc interface{ Scan(...any) error }) (dataset.Quarantine, error) {
	var q dataset.Quarantine
	var reasons string
	var at int64
	if err := sc.Scan(&q.ID, &q.Dataset, &q.Digest, &q.Rows, &q.WholeBatch, &reasons, &q.Source, &at, &q.CreatedBy, &q.ReplayedAs); err != nil {
		return q, err
	}
	q.CreatedAt = fromMicros(at)
	return q, json.Unmarshal([]byte(reasons), &q.Reasons)
}

// Quarantines lists a dataset's quarantines, newest first.
func (s *Store) Quarantines(ctx context.Context, name string) ([]dataset.Quarantine, error) {
	rows, err := s.query(ctx, s.db, `SELECT `+quarantineColumns+` FROM dataset_quarantines WHERE dataset = ? ORDER BY created_at DESC, id`, name)
	if err != nil {
		return nil, fmt.Errorf("list quarantines: %w", err)
	}
	defer rows.Close()
	out := []dataset.Quarantine{}
	for rows.Next() {
		q, err := scanQuarantine(rows)
		if err != nil {
			return nil, fmt.Errorf("list quarantines: %w", err)
		}
		out = append(out, q)
	}
	return out, rows.Err()
}

// Quarantine returns one quarantine.
func (s *Store) Quarantine(ctx context.Context, id string) (*dataset.Quarantine, error) {
	q, err := scanQuarantine(s.queryRow(ctx, s.db, `SELECT `+quarantineColumns+` FROM dataset_quarantines WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, plinth.NotFound("quarantine", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get quarantine: %w", err)
	}
	return &q, nil
}
