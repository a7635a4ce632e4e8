package auth_test

import (
	"net/http/httptest"
	"testing"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/auth"
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
