package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/project"
)

var _ project.Store = (*Store)(nil)

// Definitions lists the registered definitions by kind and name.
func (s *Store) Definitions(ctx context.Context) ([]project.Definition, error) {
	rows, err := s.query(ctx, s.db, `SELECT kind, name, spec, version, updated_at FROM definitions ORDER BY kind, name`)
	if err != nil {
		return nil, fmt.Errorf("list definitions: %w", err)
	}
	defer rows.Close()
	out := []project.Definition{}
	for rows.Next() {
		var d project.Definition
		var spec string
		var at int64
		if err := rows.Scan(&d.Kind, &d.Name, &spec, &d.Version, &at); err != nil {
			return nil, fmt.Errorf("list definitions: %w", err)
		}
		d.Spec, d.UpdatedAt = []byte(spec), fromMicros(at)
		out = append(out, d)
	}
	return out, rows.Err()
}

// ApplyDefinitions writes and removes definitions in one transaction.
func (s *Store) ApplyDefinitions(ctx context.Context, set, remove []project.Definition, principal string) error {
	now := micros(s.Now())
	return s.inTx(ctx, func(tx *sql.Tx) error {
		for _, d := range set {
			var old string
			var version int
			err := s.queryRow(ctx, tx, `SELECT spec, version FROM definitions WHERE kind = ? AND name = ?`+s.d.forUpdate, d.Kind, d.Name).Scan(&old, &version)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				// New, or back after a removal: numbering continues its history.
				if err = s.queryRow(ctx, tx, `SELECT COALESCE(MAX(version), 0) + 1 FROM definition_history WHERE kind = ? AND name = ?`, d.Kind, d.Name).Scan(&version); err == nil {
					_, err = s.exec(ctx, tx, `INSERT INTO definitions (kind, name, spec, version, updated_at) VALUES (?, ?, ?, ?, ?)`, d.Kind, d.Name, string(d.Spec), version, now)
				}
			case err != nil:
			case bytes.Equal([]byte(old), d.Spec):
				continue
			default:
				version++
				_, err = s.exec(ctx, tx, `UPDATE definitions SET spec = ?, version = ?, updated_at = ? WHERE kind = ? AND name = ?`, string(d.Spec), version, now, d.Kind, d.Name)
			}
			if err != nil {
				return fmt.Errorf("apply %s %s: %w", d.Kind, d.Name, err)
			}
			if _, err := s.exec(ctx, tx, `INSERT INTO definition_history (kind, name, version, spec, applied_at, principal) VALUES (?, ?, ?, ?, ?, ?)`,
				d.Kind, d.Name, version, string(d.Spec), now, principal); err != nil {
				return fmt.Errorf("apply %s %s: %w", d.Kind, d.Name, err)
			}
			if d.Kind == project.KindDataset {
				if _, err := s.exec(ctx, tx, `INSERT INTO datasets (name, spec, spec_updated) VALUES (?, ?, ?)
					ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, spec_updated = excluded.spec_updated`, d.Name, string(d.Spec), now); err != nil {
					return fmt.Errorf("apply dataset %s: %w", d.Name, err)
				}
			}
		}
		for _, d := range remove {
			var version int
			var spec string
			err := s.queryRow(ctx, tx, `SELECT version, spec FROM definitions WHERE kind = ? AND name = ?`, d.Kind, d.Name).Scan(&version, &spec)
			if errors.Is(err, sql.ErrNoRows) {
				return plinth.NotFound(d.Kind, d.Name)
			}
			if err != nil {
				return fmt.Errorf("remove %s %s: %w", d.Kind, d.Name, err)
			}
			if _, err := s.exec(ctx, tx, `DELETE FROM definitions WHERE kind = ? AND name = ?`, d.Kind, d.Name); err != nil {
				return fmt.Errorf("remove %s %s: %w", d.Kind, d.Name, err)
			}
			if _, err := s.exec(ctx, tx, `INSERT INTO definition_history (kind, name, version, spec, applied_at, principal, removed) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				d.Kind, d.Name, version+1, spec, now, principal, true); err != nil {
				return fmt.Errorf("remove %s %s: %w", d.Kind, d.Name, err)
			}
		}
		return nil
	})
}

// DefinitionAt returns a definition as it was at a version.
func (s *Store) DefinitionAt(ctx context.Context, kind, name string, version int) (*project.Definition, error) {
	var d project.Definition
	var spec string
	var at int64
	var removed bool
	err := s.queryRow(ctx, s.db, `SELECT kind, name, spec, version, applied_at, removed FROM definition_history WHERE kind = ? AND name = ? AND version = ?`,
		kind, name, version).Scan(&d.Kind, &d.Name, &spec, &d.Version, &at, &removed)
	if errors.Is(err, sql.ErrNoRows) || removed {
		return nil, plinth.NotFound(kind, fmt.Sprintf("%s version %d", name, version))
	}
	if err != nil {
		return nil, fmt.Errorf("definition %s %s@%d: %w", kind, name, version, err)
	}
	d.Spec, d.UpdatedAt = []byte(spec), fromMicros(at)
	return &d, nil
}
