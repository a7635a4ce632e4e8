// Package authtest is the contract every auth.Store passes, driven through
// auth.Service as the server drives it.
package authtest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/auth"
)

// Run runs the suite; open returns a fresh, empty store for each subtest.
func Run(t *testing.T, open func(t *testing.T) auth.Store) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s *auth.Service)
	}{
		{"CreateAuthenticateRevoke", testLifecycle},
		{"Expiry", testExpiry},
		{"Validation", testValidation},
		{"Bootstrap", testBootstrap},
		{"LastUsed", testLastUsed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, &auth.Service{Store: open(t)})
		})
	}
}

func testLifecycle(t *testing.T, s *auth.Service) {
	ctx := plinth.WithPrincipal(context.Background(), "root")
	secret, tok, err := s.Create(ctx, "ci", auth.Editor, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, auth.Prefix) || len(secret) < 30 || tok.Name != "ci" || tok.Role != auth.Editor || tok.CreatedBy != "root" || tok.ExpiresAt != nil {
		t.Fatalf("Create = %q, %+v", secret, tok)
	}
	got, err := s.Authenticate(ctx, secret)
	if err != nil || got.Name != "ci" || got.Role != auth.Editor || !got.CreatedAt.Equal(tok.CreatedAt) {
		t.Fatalf("Authenticate = %+v, %v; created %+v", got, err, tok)
	}
	if _, _, err := s.Create(ctx, "ci", auth.Viewer, 0); !plinth.IsCode(err, plinth.ECONFLICT) {
		t.Errorf("a second token named ci: %v, want a conflict", err)
	}
	other, _, err := s.Create(ctx, "dashboard", auth.Viewer, 0)
	if err != nil {
		t.Fatal(err)
	}
	if other == secret {
		t.Fatal("two tokens share a secret")
	}
	list, err := s.Tokens(ctx, false)
	if err != nil || len(list) != 2 || list[0].Name != "ci" || list[1].Name != "dashboard" || list[1].Role != auth.Viewer {
		t.Fatalf("Tokens = %+v, %v", list, err)
	}
	for _, bad := range []string{secret + "x", "plt_", "secret", strings.ToUpper(secret)} {
		if _, err := s.Authenticate(ctx, bad); !plinth.IsCode(err, plinth.EUNAUTHORIZED) {
			t.Errorf("Authenticate(%q): %v, want unauthorized", bad, err)
		}
	}
	if err := s.Revoke(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, secret); !plinth.IsCode(err, plinth.EUNAUTHORIZED) {
		t.Errorf("a revoked token: %v, want unauthorized", err)
	}
	if err := s.Revoke(ctx, "ci"); !plinth.IsCode(err, plinth.ENOTFOUND) {
		t.Errorf("revoking it again: %v, want not found", err)
	}
	if _, err := s.Authenticate(ctx, other); err != nil {
		t.Errorf("the other token after a revocation: %v", err)
	}
	// The revoked token stays on record, and its name can be reused.
	if list, err := s.Tokens(ctx, false); err != nil || len(list) != 1 || list[0].Name != "dashboard" {
		t.Errorf("tokens in force after the revocation: %+v, %v", list, err)
	}
	again, _, err := s.Create(ctx, "ci", auth.Viewer, 0)
	if err != nil {
		t.Fatalf("a new token named ci after the revocation: %v", err)
	}
	if got, err := s.Authenticate(ctx, again); err != nil || got.Role != auth.Viewer {
		t.Errorf("the new ci: %+v, %v", got, err)
	}
	if _, err := s.Authenticate(ctx, secret); !plinth.IsCode(err, plinth.EUNAUTHORIZED) {
		t.Errorf("the revoked ci after its name was reused: %v", err)
	}
	all, err := s.Tokens(ctx, true)
	if err != nil || len(all) != 3 {
		t.Fatalf("all tokens: %+v, %v", all, err)
	}
	if r := all[2]; r.Name != "ci" || r.Role != auth.Editor || r.RevokedBy != "root" || r.RevokedAt == nil || all[0].RevokedAt != nil || all[1].RevokedAt != nil {
		t.Errorf("all tokens, the revoked last: %+v", all)
	}
}

func testExpiry(t *testing.T, s *auth.Service) {
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return now }
	secret, tok, err := s.Create(ctx, "temp", auth.Viewer, time.Hour)
	if err != nil || tok.ExpiresAt == nil || !tok.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("Create = %+v, %v", tok, err)
	}
	if list, err := s.Tokens(ctx, false); err != nil || len(list) != 1 || list[0].ExpiresAt == nil || !list[0].ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("Tokens = %+v, %v", list, err)
	}
	now = now.Add(59 * time.Minute)
	if _, err := s.Authenticate(ctx, secret); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	now = now.Add(time.Minute)
	if _, err := s.Authenticate(ctx, secret); !plinth.IsCode(err, plinth.EUNAUTHORIZED) || !strings.Contains(err.Error(), "expired") {
		t.Errorf("at expiry: %v, want expired", err)
	}
}

func testValidation(t *testing.T, s *auth.Service) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		role  auth.Role
		ttl   time.Duration
		field string
	}{
		{"", auth.Viewer, 0, "name"},
		{"has space", auth.Viewer, 0, "name"},
		{"-dash", auth.Viewer, 0, "name"},
		{strings.Repeat("a", 129), auth.Viewer, 0, "name"},
		{"ok", "root", 0, "role"},
		{"ok", "", 0, "role"},
		{"ok", auth.Admin, -time.Second, "ttl"},
	} {
		_, _, err := s.Create(ctx, tc.name, tc.role, tc.ttl)
		var pe *plinth.Error
		if !plinth.IsCode(err, plinth.EINVALID) || !asError(err, &pe) || pe.Field != tc.field {
			t.Errorf("Create(%q, %q, %v) = %v, want invalid %s", tc.name, tc.role, tc.ttl, err, tc.field)
		}
	}
	if list, err := s.Tokens(ctx, true); err != nil || len(list) != 0 {
		t.Errorf("after refused creations: %+v, %v", list, err)
	}
}

func asError(err error, pe **plinth.Error) bool {
	e, ok := err.(*plinth.Error)
	*pe = e
	return ok
}

func testBootstrap(t *testing.T, s *auth.Service) {
	ctx := context.Background()
	if _, _, err := s.Create(ctx, "admin", auth.Viewer, 0); err != nil {
		t.Fatal(err)
	}
	secret, tok, err := s.Bootstrap(ctx)
	if err != nil || secret == "" || tok.Name != "admin-2" || tok.Role != auth.Admin || tok.CreatedBy != "plinth" {
		t.Fatalf("Bootstrap = %q, %+v, %v", secret, tok, err)
	}
	if got, err := s.Authenticate(ctx, secret); err != nil || got.Role != auth.Admin {
		t.Fatalf("the bootstrap token: %+v, %v", got, err)
	}
	if again, _, err := s.Bootstrap(ctx); again != "" || err != nil {
		t.Errorf("a second Bootstrap made another admin: %q, %v", again, err)
	}
}

func testLastUsed(t *testing.T, s *auth.Service) {
	ctx := context.Background()
	secret, _, err := s.Create(ctx, "ci", auth.Editor, 0)
	if err != nil {
		t.Fatal(err)
	}
	lastUsed := func() *time.Time {
		list, err := s.Tokens(ctx, false)
		if err != nil || len(list) != 1 {
			t.Fatalf("Tokens = %+v, %v", list, err)
		}
		return list[0].LastUsedAt
	}
	if u := lastUsed(); u != nil {
		t.Fatalf("a new token was used at %v", u)
	}
	t1 := time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond)
	if err := s.Store.TouchToken(ctx, auth.Digest(secret), t1); err != nil {
		t.Fatal(err)
	}
	if err := s.Store.TouchToken(ctx, auth.Digest(secret), t1.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if u := lastUsed(); u == nil || !u.Equal(t1) {
		t.Fatalf("last used %v, want %v (an earlier use changes nothing)", u, t1)
	}
	// A check records its use, off the request's path.
	if _, err := s.Authenticate(ctx, secret); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if u := lastUsed(); u != nil && u.After(t1) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a check did not record its use: last used %v", lastUsed())
		}
	}
}
