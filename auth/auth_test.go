package auth_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"

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
			req = req.WithContext(auth.WithRole(req.Context(), tc.have))
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
	secret, _, err := svc.Create(ctx, "ci", auth.Editor, 0)
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
