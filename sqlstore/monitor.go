package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/monitor"
)

var _ monitor.Store = (*Store)(nil)

// SaveReference freezes a version's reference profile.
func (s *Store) SaveReference(ctx context.Context, model string, version int, p *monitor.Profile) error {
	raw, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("reference profile: %w", err)
	}
	res, err := s.exec(ctx, s.db, `INSERT INTO monitor_references (model, version, profile, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (model, version) DO NOTHING`, model, version, string(raw), micros(s.Now()))
	if err != nil {
		return fmt.Errorf("save reference of %s@%d: %w", model, version, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return plinth.Errorf(plinth.ECONFLICT, "%s@%d already has a reference profile", model, version)
	}
	return nil
}

// Reference returns a version's reference profile.
func (s *Store) Reference(ctx context.Context, model string, version int) (*monitor.Profile, error) {
	var raw string
	err := s.queryRow(ctx, s.db, `SELECT profile FROM monitor_references WHERE model = ? AND version = ?`, model, version).Scan(&raw)
	if err == sql.ErrNoRows {
		return nil, plinth.NotFound("reference profile", fmt.Sprintf("%s@%d", model, version))
	}
	if err != nil {
		return nil, fmt.Errorf("reference of %s@%d: %w", model, version, err)
	}
	return monitor.DecodeProfile([]byte(raw))
}

// SaveWindow stores a closed window, merged into one stored before for the
// same key and start.
func (s *Store) SaveWindow(ctx context.Context, k monitor.Key, p *monitor.Profile) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var raw string
		err := s.queryRow(ctx, tx, `SELECT profile FROM monitor_windows WHERE endpoint = ? AND model = ? AND version = ? AND window_start = ?`,
			k.Endpoint, k.Model, k.Version, micros(p.Start)).Scan(&raw)
		switch {
		case err == sql.ErrNoRows:
		case err != nil:
			return fmt.Errorf("window of %s: %w", k.Endpoint, err)
		default:
			old, err := monitor.DecodeProfile([]byte(raw))
			if err != nil {
				return fmt.Errorf("stored window of %s: %w", k.Endpoint, err)
			}
			if err := old.Merge(p); err != nil {
				return fmt.Errorf("merge window of %s: %w", k.Endpoint, err)
			}
			p = old
		}
		body, err := json.Marshal(p)
		if err != nil {
			return err
		}
		_, err = s.exec(ctx, tx, `INSERT INTO monitor_windows (endpoint, model, version, window_start, window_end, rows_count, profile)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (endpoint, model, version, window_start) DO UPDATE SET window_end = excluded.window_end, rows_count = excluded.rows_count, profile = excluded.profile`,
			k.Endpoint, k.Model, k.Version, micros(p.Start), micros(p.End), p.Rows, string(body))
		if err != nil {
			return fmt.Errorf("save window of %s: %w", k.Endpoint, err)
		}
		return nil
	})
}

// Windows lists an endpoint's windows starting in [from, to).
func (s *Store) Windows(ctx context.Context, endpoint string, from, to time.Time) ([]monitor.Stored, error) {
	rows, err := s.query(ctx, s.db, `SELECT model, version, profile FROM monitor_windows
		WHERE endpoint = ? AND window_start >= ? AND window_start < ? ORDER BY window_start, model, version`,
		endpoint, micros(from), micros(to))
	if err != nil {
		return nil, fmt.Errorf("windows of %s: %w", endpoint, err)
	}
	defer rows.Close()
	var out []monitor.Stored
	for rows.Next() {
		st := monitor.Stored{Key: monitor.Key{Endpoint: endpoint}}
		var raw string
		if err := rows.Scan(&st.Model, &st.Version, &raw); err != nil {
			return nil, err
		}
		if st.Profile, err = monitor.DecodeProfile([]byte(raw)); err != nil {
			return nil, fmt.Errorf("window of %s: %w", endpoint, err)
		}
		out = append(out, st)
	}
	return out, rows.Err()
}

// OpenAlert returns the endpoint's pending or firing alert of a rule.
func (s *Store) OpenAlert(ctx context.Context, endpoint, rule string) (*monitor.Alert, error) {
	as, err := s.alerts(ctx, `WHERE endpoint = ? AND rule = ? AND state IN ('pending', 'firing') ORDER BY started_at DESC LIMIT 1`, endpoint, rule)
	if err != nil {
		return nil, err
	}
	if len(as) == 0 {
		return nil, plinth.NotFound("open alert", endpoint+"/"+rule)
	}
	return &as[0], nil
}

// SaveAlert inserts or updates an alert. A new open alert of a rule that
// already has one is an ECONFLICT.
func (s *Store) SaveAlert(ctx context.Context, a *monitor.Alert) error {
	if a.ID == "" {
		a.ID = newID()
	}
	body, err := json.Marshal(a)
	if err != nil {
		return err
	}
	_, err = s.exec(ctx, s.db, `INSERT INTO monitor_alerts (id, endpoint, rule, state, body, started_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET state = excluded.state, body = excluded.body, updated_at = excluded.updated_at`,
		a.ID, a.Endpoint, a.Rule, a.State, string(body), micros(a.StartedAt), micros(s.Now()))
	if isUniqueViolation(err) {
		return plinth.Errorf(plinth.ECONFLICT, "endpoint %s already has an open %s alert", a.Endpoint, a.Rule)
	}
	if err != nil {
		return fmt.Errorf("save alert %s: %w", a.Rule, err)
	}
	return nil
}

// MoveAlert stores a change of an alert's state if its stored state is
// still from.
func (s *Store) MoveAlert(ctx context.Context, a *monitor.Alert, from string) error {
	body, err := json.Marshal(a)
	if err != nil {
		return err
	}
	res, err := s.exec(ctx, s.db, `UPDATE monitor_alerts SET state = ?, body = ?, updated_at = ? WHERE id = ? AND state = ?`,
		a.State, string(body), micros(s.Now()), a.ID, from)
	if err != nil {
		return fmt.Errorf("move alert %s: %w", a.Rule, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return plinth.Errorf(plinth.ECONFLICT, "alert %s of %s is no longer %s", a.Rule, a.Endpoint, from)
	}
	return nil
}

// Alerts lists an endpoint's alerts (every endpoint's when empty), newest
// first.
func (s *Store) Alerts(ctx context.Context, endpoint string, limit int) ([]monitor.Alert, error) {
	if limit <= 0 {
		limit = 100
	}
	if endpoint == "" {
		return s.alerts(ctx, `ORDER BY started_at DESC LIMIT ?`, limit)
	}
	return s.alerts(ctx, `WHERE endpoint = ? ORDER BY started_at DESC LIMIT ?`, endpoint, limit)
}

func (s *Store) alerts(ctx context.Context, where string, args ...any) ([]monitor.Alert, error) {
	rows, err := s.query(ctx, s.db, `SELECT state, body FROM monitor_alerts `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("alerts: %w", err)
	}
	defer rows.Close()
	out := []monitor.Alert{}
	for rows.Next() {
		var state, raw string
		if err := rows.Scan(&state, &raw); err != nil {
			return nil, err
		}
		var a monitor.Alert
		if err := json.Unmarshal([]byte(raw), &a); err != nil {
			return nil, fmt.Errorf("alert: %w", err)
		}
		// The column is the state: the duplicates migration 0010 closed
		// kept the body they had while open.
		a.State = state
		out = append(out, a)
	}
	return out, rows.Err()
}

// Silence implements monitor.AlertStore: it keeps every silence.
func (s *Store) Silence(ctx context.Context, si monitor.Silence) error {
	_, err := s.exec(ctx, s.db, `INSERT INTO alert_silences (endpoint, rule, until_at, silenced_at, silenced_by, reason) VALUES (?, ?, ?, ?, ?, ?)`,
		si.Endpoint, si.Rule, micros(si.Until), micros(si.At), si.By, si.Reason)
	if err != nil {
		return fmt.Errorf("silence %s: %w", si.Rule, err)
	}
	return nil
}

// SilencedUntil returns when a rule's silence ends (zero: not silenced).
func (s *Store) SilencedUntil(ctx context.Context, endpoint, rule string) (time.Time, error) {
	var us int64
	err := s.queryRow(ctx, s.db, `SELECT until_at FROM alert_silences WHERE endpoint = ? AND rule = ? ORDER BY silenced_at DESC LIMIT 1`, endpoint, rule).Scan(&us)
	if err == sql.ErrNoRows {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("silence of %s: %w", rule, err)
	}
	return fromMicros(us), nil
}
