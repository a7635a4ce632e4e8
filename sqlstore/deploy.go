package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/deploy"
)

var _ deploy.Store = (*Store)(nil)

const endpointColumns = `name, revision, strategy, stable_model, stable_ref, stable_version,
	candidate_model, candidate_ref, candidate_version, weight, sticky_key, gate, action, reason, updated_by, updated_at`

func (s *Store) endpoints(ctx context.Context, where string, args ...any) ([]deploy.Endpoint, error) {
	rows, err := s.query(ctx, s.db, `SELECT `+endpointColumns+` FROM endpoint_revisions `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("endpoints: %w", err)
	}
	defer rows.Close()
	out := []deploy.Endpoint{}
	for rows.Next() {
		var e deploy.Endpoint
		var c deploy.Target
		var at int64
		var gate string
		if err := rows.Scan(&e.Name, &e.Revision, &e.Strategy, &e.Stable.Model, &e.Stable.Ref, &e.Stable.Version,
			&c.Model, &c.Ref, &c.Version, &e.Weight, &e.StickyKey, &gate, &e.Action, &e.Reason, &e.UpdatedBy, &at); err != nil {
			return nil, fmt.Errorf("endpoints: %w", err)
		}
		if gate != "" {
			e.Gate = &deploy.Gate{}
			if err := json.Unmarshal([]byte(gate), e.Gate); err != nil {
				return nil, fmt.Errorf("endpoint %s: gate: %w", e.Name, err)
			}
		}
		if c.Model != "" {
			e.Candidate = &c
		}
		e.UpdatedAt = fromMicros(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Endpoints lists the live configuration of every endpoint.
func (s *Store) Endpoints(ctx context.Context) ([]deploy.Endpoint, error) {
	return s.endpoints(ctx, `r WHERE revision = (SELECT MAX(revision) FROM endpoint_revisions x WHERE x.name = r.name) ORDER BY name`)
}

// Endpoint returns an endpoint's live configuration.
func (s *Store) Endpoint(ctx context.Context, name string) (*deploy.Endpoint, error) {
	h, err := s.endpoints(ctx, `WHERE name = ? ORDER BY revision DESC LIMIT 1`, name)
	if err != nil {
		return nil, err
	}
	if len(h) == 0 {
		return nil, plinth.NotFound("endpoint", name)
	}
	return &h[0], nil
}

// History lists an endpoint's revisions, newest first.
func (s *Store) History(ctx context.Context, name string) ([]deploy.Endpoint, error) {
	h, err := s.endpoints(ctx, `WHERE name = ? ORDER BY revision DESC`, name)
	if err != nil {
		return nil, err
	}
	if len(h) == 0 {
		return nil, plinth.NotFound("endpoint", name)
	}
	return h, nil
}

// Save writes the endpoint's next revision.
func (s *Store) Save(ctx context.Context, e *deploy.Endpoint) error {
	e.UpdatedAt = s.Now().UTC()
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.queryRow(ctx, tx, `SELECT COALESCE(MAX(revision), 0) + 1 FROM endpoint_revisions WHERE name = ?`, e.Name).Scan(&e.Revision); err != nil {
			return fmt.Errorf("save endpoint: %w", err)
		}
		var c deploy.Target
		if e.Candidate != nil {
			c = *e.Candidate
		}
		var gate []byte
		if e.Gate != nil {
			gate, _ = json.Marshal(e.Gate)
		}
		_, err := s.exec(ctx, tx, `INSERT INTO endpoint_revisions (`+endpointColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.Name, e.Revision, e.Strategy, e.Stable.Model, e.Stable.Ref, e.Stable.Version, c.Model, c.Ref, c.Version,
			e.Weight, e.StickyKey, string(gate), e.Action, e.Reason, e.UpdatedBy, micros(e.UpdatedAt))
		if err != nil {
			return fmt.Errorf("save endpoint %s: %w", e.Name, err)
		}
		return nil
	})
}
