package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/plinthml/plinth/feature"
)

var _ feature.Watermarks = (*Store)(nil)

// Watermark returns the last dataset version materialized for an online
// view, 0 when none was.
func (s *Store) Watermark(ctx context.Context, onlineView string) (int, error) {
	var v int
	err := s.queryRow(ctx, s.db, `SELECT version FROM materializations WHERE online_view = ?`, onlineView).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("watermark %s: %w", onlineView, err)
	}
	return v, nil
}

// SetWatermark records a finished materialization.
func (s *Store) SetWatermark(ctx context.Context, onlineView string, version int, entities int64) error {
	_, err := s.exec(ctx, s.db, `INSERT INTO materializations (online_view, version, entities, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (online_view) DO UPDATE SET version = excluded.version, entities = excluded.entities, updated_at = excluded.updated_at`,
		onlineView, version, entities, micros(s.Now()))
	if err != nil {
		return fmt.Errorf("set watermark %s: %w", onlineView, err)
	}
	return nil
}
