package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

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
	_, err := s.exec(ctx, s.db, `INSERT INTO tokens (name, digest, role, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
		t.Name, digest, string(t.Role), t.CreatedBy, micros(t.CreatedAt), expires)
	if isUniqueViolation(err) {
		return plinth.Errorf(plinth.ECONFLICT, "a token named %q exists", t.Name)
	}
	if err != nil {
		return fmt.Errorf("create token %s: %w", t.Name, err)
	}
	return nil
}

const tokenColumns = `name, role, created_by, created_at, expires_at`

func scanToken(row interface{ Scan(...any) error }) (*auth.Token, error) {
	var t auth.Token
	var role string
	var created int64
	var expires sql.NullInt64
	if err := row.Scan(&t.Name, &role, &t.CreatedBy, &created, &expires); err != nil {
		return nil, err
	}
	t.Role, t.CreatedAt = auth.Role(role), fromMicros(created)
	if expires.Valid {
		e := fromMicros(expires.Int64)
		t.ExpiresAt = &e
	}
	return &t, nil
}

// TokenByDigest implements auth.Store.
func (s *Store) TokenByDigest(ctx context.Context, digest string) (*auth.Token, error) {
	t, err := scanToken(s.queryRow(ctx, s.db, `SELECT `+tokenColumns+` FROM tokens WHERE digest = ?`, digest))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, plinth.Errorf(plinth.ENOTFOUND, "no token has that secret")
	}
	if err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	return t, nil
}

// Tokens implements auth.Store.
func (s *Store) Tokens(ctx context.Context) ([]auth.Token, error) {
	rows, err := s.query(ctx, s.db, `SELECT `+tokenColumns+` FROM tokens ORDER BY name`)
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

// DeleteToken implements auth.Store.
func (s *Store) DeleteToken(ctx context.Context, name string) error {
	res, err := s.exec(ctx, s.db, `DELETE FROM tokens WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("delete token %s: %w", name, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return plinth.NotFound("token", name)
	}
	return nil
}
