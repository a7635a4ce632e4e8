// Package authtest is the contract every auth.Store passes, driven through
// auth.Service as the server drives it.
package authtest

import (
	"context"
	"fmt"
	"slices"
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
		{"Endpoints", testEndpoints},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, &auth.Service{Store: open(t)})
		})
	}
}

func testLifecycle(t *testing.T, s *auth.Service) {
	ctx := plinth.WithPrincipal(context.Background(), "root")
	secret, tok, err := s.Create(ctx, auth.NewToken{Name: "ci", Role: auth.Editor})
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
	if _, _, err := s.Create(ctx, auth.NewToken{Name: "ci", Role: auth.Viewer}); !plinth.IsCode(err, plinth.ECONFLICT) {
		t.Errorf("a second token named ci: %v, want a conflict", err)
	}
	other, _, err := s.Create(ctx, auth.NewToken{Name: "dashboard", Role: auth.Viewer})
	if err != nil {
		t.Fatal(err)
	}
	if other == secret {
		t.Fatal("two tokens share a secret")
	}
	list, err := s.Tokens(ctx, false)
	if err != nil || len(list) != 2 || list[0].Name != "ci" || list[1].Name != "dashboard" || list[1].Role != auth.Viewer || list[0].Endpoints != nil {
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
	again, _, err := s.Create(ctx, auth.NewToken{Name: "ci", Role: auth.Viewer})
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

// A token limited to endpoints keeps them, sorted and once each.
func testEndpoints(t *testing.T, s *auth.Service) {
	ctx := context.Background()
	secret, tok, err := s.Create(ctx, auth.NewToken{Name: "app", Role: auth.Viewer, Endpoints: []string{"fraud", " delays", "fraud"}})
	want := []string{"delays", "fraud"}
	if err != nil || !slices.Equal(tok.Endpoints, want) {
		t.Fatalf("Create = %+v, %v", tok, err)
	}
	if got, err := s.Authenticate(ctx, secret); err != nil || !slices.Equal(got.Endpoints, want) {
		t.Fatalf("Authenticate = %+v, %v", got, err)
	}
	if list, err := s.Tokens(ctx, false); err != nil || len(list) != 1 || !slices.Equal(list[0].Endpoints, want) {
		t.Fatalf("Tokens = %+v, %v", list, err)
	}
}

func testExpiry(t *testing.T, s *auth.Service) {
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return now }
	secret, tok, err := s.Create(ctx, auth.NewToken{Name: "temp", Role: auth.Viewer, TTL: time.Hour})
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
	many := make([]string, 101)
	for i := range many {
		many[i] = fmt.Sprintf("e%d", i)
	}
	for _, tc := range []struct {
		name      string
		role      auth.Role
		ttl       time.Duration
		endpoints []string
		field     string
	}{
		{"", auth.Viewer, 0, nil, "name"},
		{"has space", auth.Viewer, 0, nil, "name"},
		{"-dash", auth.Viewer, 0, nil, "name"},
		{strings.Repeat("a", 129), auth.Viewer, 0, nil, "name"},
		{"ok", "root", 0, nil, "role"},
		{"ok", "", 0, nil, "role"},
		{"ok", auth.Admin, -time.Second, nil, "ttl"},
		{"ok", auth.Editor, 0, []string{"delays"}, "role"},
		{"ok", auth.Viewer, 0, []string{"delays", "Bad,Name"}, "endpoints[1]"},
		{"ok", auth.Viewer, 0, []string{""}, "endpoints[0]"},
		{"ok", auth.Viewer, 0, many, "endpoints"},
	} {
		_, _, err := s.Create(ctx, auth.NewToken{Name: tc.name, Role: tc.role, TTL: tc.ttl, Endpoints: tc.endpoints})
		var pe *plinth.Error
		if !plinth.IsCode(err, plinth.EINVALID) || !asError(err, &pe) || pe.Field != tc.field {
			t.Errorf("Create(%q, %q, %v, %d endpoints) = %v, want invalid %s", tc.name, tc.role, tc.ttl, len(tc.endpoints), err, tc.field)
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
	if _, _, err := s.Create(ctx, auth.NewToken{Name: "admin", Role: auth.Viewer}); err != nil {
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
	secret, _, err := s.Create(ctx, auth.NewToken{Name: "ci", Role: auth.Editor})
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
