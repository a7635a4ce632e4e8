package auth_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/auth"
	"github.com/plinthml/plinth/sqlstore"
)

func TestRoles(t *testing.T) {
	for _, tc := range []struct {
		have, need auth.Role
		grants     bool
	}{
		{auth.Viewer, auth.Viewer, true},
		{auth.Viewer, auth.Editor, false},
		{auth.Editor, auth.Viewer, true},
		{auth.Editor, auth.Admin, false},
		{auth.Admin, auth.Editor, true},
		{"", auth.Viewer, false},
		{"root", auth.Viewer, false},
	} {
		if got := tc.have.Grants(tc.need); got != tc.grants {
			t.Errorf("%q grants %q = %v", tc.have, tc.need, got)
		}
		req := httptest.NewRequest("GET", "/x", nil)
		if tc.have != "" {
			req = req.WithContext(auth.WithToken(req.Context(), &auth.Token{Name: "t", Role: tc.have}))
		}
		for _, required := range []bool{false, true} {
			err := auth.Allow(req, tc.need, required)
			want := ""
			switch {
			case tc.have == "" && required:
				want = plinth.EUNAUTHORIZED
			case tc.have == "":
				// the anonymous admin of a server without access control
			case !tc.grants:
				want = plinth.EFORBIDDEN
			}
			if plinth.ErrorCode(err) != want {
				t.Errorf("Allow(%q, need %q, required %v) = %v, want code %q", tc.have, tc.need, required, err, want)
			}
		}
	}
	if err := auth.Allow(httptest.NewRequest("GET", "/healthz", nil), "", true); err != nil {
		t.Errorf("a route that needs no role: %v", err)
	}
}

// revokingStore revokes a token while a check reads it, once.
type revokingStore struct {
	*sqlstore.Store
	during func()
}

func (s *revokingStore) TokenByDigest(ctx context.Context, digest string) (*auth.Token, error) {
	t, err := s.Store.TokenByDigest(ctx, digest)
	if s.during != nil {
		during := s.during
		s.during = nil
		during()
	}
	return t, err
}

// A check that read a token while it was revoked on the same server does
// not keep it: the next check refuses it.
func TestRevokeDuringCheck(t *testing.T) {
	ctx := context.Background()
	meta, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "plinth.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	store := &revokingStore{Store: meta}
	svc := &auth.Service{Store: store}
	secret, _, err := svc.Create(ctx, auth.NewToken{Name: "ci", Role: auth.Editor})
	if err != nil {
		t.Fatal(err)
	}
	store.during = func() {
		if err := svc.Revoke(ctx, "ci"); err != nil {
			t.Error(err)
		}
	}
	if _, err := svc.Authenticate(ctx, secret); err != nil {
		t.Fatalf("the check that raced the revocation: %v", err) // it read the token before
	}
	if _, err := svc.Authenticate(ctx, secret); !plinth.IsCode(err, plinth.EUNAUTHORIZED) {
		t.Errorf("the next check: %v, want unauthorized", err)
	}
}

// A token limited to endpoints may call only their prediction routes.
func TestEndpointScope(t *testing.T) {
	tok := &auth.Token{Name: "app", Role: auth.Viewer, Endpoints: []string{"delays", "fraud"}}
	req := httptest.NewRequest("POST", "/api/v1/endpoints/delays/predict", nil)
	req = req.WithContext(auth.WithToken(req.Context(), tok))
	if who := plinth.PrincipalFrom(req.Context()); who != "app" {
		t.Errorf("principal %q", who)
	}
	for _, tc := range []struct {
		name     string
		endpoint string // "" for a route that is no endpoint's prediction
		need     auth.Role
		want     string
	}{
		{"its endpoint", "delays", auth.Viewer, ""},
		{"its other endpoint", "fraud", auth.Viewer, ""},
		{"another endpoint", "churn", auth.Viewer, plinth.EFORBIDDEN},
		{"a route that is not a prediction", "", auth.Viewer, plinth.EFORBIDDEN},
		{"an open route", "", "", ""},
	} {
		var err error
		if tc.endpoint != "" {
			err = auth.AllowPredict(req, tc.endpoint, tc.need, true)
		} else {
			err = auth.Allow(req, tc.need, true)
		}
		if plinth.ErrorCode(err) != tc.want {
			t.Errorf("%s: %v, want code %q", tc.name, err, tc.want)
		}
	}
	// An unscoped viewer predicts on any endpoint.
	viewer := req.WithContext(auth.WithToken(context.Background(), &auth.Token{Name: "dash", Role: auth.Viewer}))
	if err := auth.AllowPredict(viewer, "churn", auth.Viewer, true); err != nil {
		t.Errorf("an unscoped viewer: %v", err)
	}
}

// countingStore counts the store's token lookups.
type countingStore struct {
	*sqlstore.Store
	lookups int
}

func (s *countingStore) TokenByDigest(ctx context.Context, digest string) (*auth.Token, error) {
	s.lookups++
	return s.Store.TokenByDigest(ctx, digest)
}

// An address that keeps sending unknown tokens is refused, without a
// lookup, once it has made 20 failed checks, and earns a check back every
// 3 seconds; a token this server checked recently still works from it,
// and other addresses are not held back.
func TestFailedChecksLimited(t *testing.T) {
	ctx := context.Background()
	meta, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "plinth.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	store := &countingStore{Store: meta}
	now := time.Date(2026, 11, 23, 13, 0, 0, 0, time.UTC)
	svc := &auth.Service{Store: store, Now: func() time.Time { return now }}
	good, _, err := svc.Create(ctx, auth.NewToken{Name: "ci", Role: auth.Editor})
	if err != nil {
		t.Fatal(err)
	}
	from := func(addr string) *http.Request {
		r := httptest.NewRequest("GET", "/api/v1/models", nil)
		r.RemoteAddr = addr + ":40000"
		return r
	}
	if _, err := svc.AuthenticateRequest(from("10.0.0.1"), good); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := svc.AuthenticateRequest(from("10.0.0.1"), fmt.Sprintf("plt_guess%d", i)); !plinth.IsCode(err, plinth.EUNAUTHORIZED) {
			t.Fatalf("guess %d: %v, want unauthorized", i, err)
		}
	}
	lookups := store.lookups
	_, err = svc.AuthenticateRequest(from("10.0.0.1"), "plt_guess20")
	if !plinth.IsCode(err, plinth.EOVERLOADED) || !strings.Contains(err.Error(), "retry in 3s") || store.lookups != lookups {
		t.Fatalf("guess 20: %v (%d lookups more), want overloaded without a lookup", err, store.lookups-lookups)
	}
	if tok, err := svc.AuthenticateRequest(from("10.0.0.1"), good); err != nil || tok.Name != "ci" {
		t.Errorf("a token checked recently, from the blocked address: %v", err)
	}
	if _, err := svc.AuthenticateRequest(from("10.0.0.2"), "plt_typo"); !plinth.IsCode(err, plinth.EUNAUTHORIZED) {
		t.Errorf("another address: %v, want unauthorized", err)
	}
	now = now.Add(3 * time.Second)
	if _, err := svc.AuthenticateRequest(from("10.0.0.1"), "plt_guess21"); !plinth.IsCode(err, plinth.EUNAUTHORIZED) {
		t.Errorf("3 s later: %v, want one more check", err)
	}
	if _, err := svc.AuthenticateRequest(from("10.0.0.1"), "plt_guess22"); !plinth.IsCode(err, plinth.EOVERLOADED) {
		t.Errorf("the check after it: %v, want overloaded", err)
	}
}
