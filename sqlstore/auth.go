package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/auth"
)

var _ auth.Store = (*Store)(nil)

// CreateToken implements auth.Store.
func (s *Store) CreateToken(ctx context.Context, t auth.Token, digest string) error {
	var expires sql.NullInt64
	if t.ExpiresAt != nil {
		expires = sql.NullInt64{Int64: micros(*t.ExpiresAt), Valid: true}
	}
	_, err := s.exec(ctx, s.db, `INSERT INTO tokens (name, digest, role, created_by, created_at, expires_at, endpoints) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		t.Name, digest, string(t.Role), t.CreatedBy, micros(t.CreatedAt), expires, strings.Join(t.Endpoints, ","))
	if isUniqueViolation(err) {
		return plinth.Errorf(plinth.ECONFLICT, "a token named %q is in force; revoke it first", t.Name)
	}
	if err != nil {
		return fmt.Errorf("create token %s: %w", t.Name, err)
	}
	return nil
}

const tokenColumns = `name, role, created_by, created_at, expires_at, last_used_at, revoked_by, revoked_at, endpoints`

func scanToken(row interface{ Scan(...any) error }) (*auth.Token, error) {
	var t auth.Token
	var role string
	var created int64
	var expires, used, revoked sql.NullInt64
	var revokedBy sql.NullString
	var endpoints string
	if err := row.Scan(&t.Name, &role, &t.CreatedBy, &created, &expires, &used, &revokedBy, &revoked, &endpoints); err != nil {
		return nil, err
	}
	if endpoints != "" {
		t.Endpoints = strings.Split(endpoints, ",")
	}
	if used.Valid {
		u := fromMicros(used.Int64)
		t.LastUsedAt = &u
	}
	t.Role, t.CreatedAt, t.RevokedBy = auth.Role(role), fromMicros(created), revokedBy.String
	if expires.Valid {
		e := fromMicros(expires.Int64)
		t.ExpiresAt = &e
	}
	if revoked.Valid {
		r := fromMicros(revoked.Int64)
		t.RevokedAt = &r
	}
	return &t, nil
}

// TokenByDigest implements auth.Store.
func (s *Store) TokenByDigest(ctx context.Context, digest string) (*auth.Token, error) {
	t, err := scanToken(s.queryRow(ctx, s.db, `SELECT `+tokenColumns+` FROM tokens WHERE digest = ? AND revoked_at IS NULL`, digest))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, plinth.Errorf(plinth.ENOTFOUND, "no token has that secret")
	}
	if err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	return t, nil
}

// Tokens implements auth.Store.
func (s *Store) Tokens(ctx context.Context, revoked bool) ([]auth.Token, error) {
	q := `SELECT ` + tokenColumns + ` FROM tokens WHERE revoked_at IS NULL ORDER BY name`
	if revoked {
		q = `SELECT ` + tokenColumns + ` FROM tokens ORDER BY revoked_at IS NOT NULL, revoked_at DESC, name`
	}
	rows, err := s.query(ctx, s.db, q)
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	defer rows.Close()
	out := []auth.Token{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("tokens: %w", err)
		}
		out = append(out, *t)
	}
	return out, rows.Err()
}

// RevokeToken implements auth.Store.
func (s *Store) RevokeToken(ctx context.Context, name, by string, at time.Time) error {
	res, err := s.exec(ctx, s.db, `UPDATE tokens SET revoked_by = ?, revoked_at = ? WHERE name = ? AND revoked_at IS NULL`, by, micros(at), name)
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", name, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return plinth.NotFound("token", name)
	}
	return nil
}

// TouchToken implements auth.Store.
func (s *Store) TouchToken(ctx context.Context, digest string, at time.Time) error {
	if _, err := s.exec(ctx, s.db, `UPDATE tokens SET last_used_at = ? WHERE digest = ? AND (last_used_at IS NULL OR last_used_at < ?)`,
		micros(at), digest, micros(at)); err != nil {
		return fmt.Errorf("touch token: %w", err)
	}
	return nil
}
