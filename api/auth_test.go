package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/api"
	"github.com/plinthml/plinth/auth"
	"github.com/plinthml/plinth/sqlstore"
)

// authServer is an API server with access control, required or not, and
// a token of each role.
func authServer(t *testing.T, required bool) (*httptest.Server, map[auth.Role]string) {
	t.Helper()
	var svc *auth.Service
	srv, _ := newAPIWith(t, func(s *api.Server, meta *sqlstore.Store) {
		svc = &auth.Service{Store: meta}
		s.Auth, s.AuthRequired, s.AuditLog = svc, required, meta
	})
	secrets := map[auth.Role]string{}
	for _, role := range []auth.Role{auth.Viewer, auth.Editor, auth.Admin} {
		secret, _, err := svc.Create(plinth.WithPrincipal(context.Background(), "setup"), auth.NewToken{Name: string(role) + "-bot", Role: role})
		if err != nil {
			t.Fatal(err)
		}
		secrets[role] = secret
	}
	return srv, secrets
}

func callAs(t *testing.T, srv *httptest.Server, secret, method, path, body string) (response, http.Header) {
	t.Helper()
	h := http.Header{}
	if secret != "" {
		h.Set("Authorization", "Bearer "+secret)
	}
	return callWith(t, srv, method, path, body, h)
}

// With access control required, each route answers the roles that may
// call it, refuses the others with 403 and requests without a token with
// 401, and the health routes answer anyone.
func TestAccessControl(t *testing.T) {
	srv, secrets := authServer(t, true)
	none := ""
	for _, tc := range []struct {
		method, path, body string
		secret             string
		status             int
	}{
		{"GET", "/healthz", "", none, 200},
		{"GET", "/readyz", "", none, 200},
		{"GET", "/v2/health/live", "", none, 200},
		{"GET", "/openapi.json", "", none, 200},
		{"GET", "/api/v1/experiments", "", none, 401},
		{"GET", "/api/v1/experiments", "", secrets[auth.Viewer], 200},
		{"POST", "/api/v1/experiments", `{"name": "e"}`, secrets[auth.Viewer], 403},
		{"POST", "/api/v1/experiments", `{"name": "e"}`, secrets[auth.Editor], 201},
		{"POST", "/api/v1/runs/search", `{}`, secrets[auth.Viewer], 200},
		{"POST", "/api/v1/endpoints/nope/predict", `{"instances": [{"x": 1}]}`, secrets[auth.Viewer], 404},
		{"POST", "/api/v1/endpoints/nope/predict", `{"instances": [{"x": 1}]}`, none, 401},
		{"GET", "/api/v1/tokens", "", secrets[auth.Editor], 403},
		{"GET", "/api/v1/tokens", "", secrets[auth.Admin], 200},
		{"GET", "/api/v1/experiments", "", "plt_notarealtoken", 401},
		{"GET", "/api/v1/experiments", "", "not-even-plinth", 401},
		{"GET", "/nowhere", "", secrets[auth.Viewer], 404},
	} {
		r, h := callAs(t, srv, tc.secret, tc.method, tc.path, tc.body)
		if r.status != tc.status {
			t.Errorf("%s %s as %.12s: %d %s, want %d", tc.method, tc.path, tc.secret, r.status, r.raw, tc.status)
			continue
		}
		switch tc.status {
		case 401:
			if r.errField("code") != plinth.EUNAUTHORIZED || h.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s: %s, WWW-Authenticate %q", tc.method, tc.path, r.raw, h.Get("WWW-Authenticate"))
			}
		case 403:
			if r.errField("code") != plinth.EFORBIDDEN || !strings.Contains(r.errField("message"), "needs") {
				t.Errorf("%s %s: %s", tc.method, tc.path, r.raw)
			}
		}
	}
	// The Open Inference Protocol's routes refuse in its own error body.
	r, _ := callAs(t, srv, none, "POST", "/v2/models/m/infer", `{"inputs": []}`)
	if msg, ok := r.body["error"].(string); r.status != 401 || !ok || !strings.Contains(msg, "token") {
		t.Errorf("v2 infer without a token: %d %s", r.status, r.raw)
	}
	// A malformed Authorization header says what it wants.
	r, _ = callWith(t, srv, "GET", "/api/v1/experiments", "", http.Header{"Authorization": {"Basic dXNlcjpwYXNz"}})
	if r.status != 401 || !strings.Contains(r.raw, "Bearer") {
		t.Errorf("Basic credentials: %d %s", r.status, r.raw)
	}
}

// Without access control required, a request without a token acts as the
// anonymous admin, but one with a token is checked and acts as the
// token's principal: the audit trail and the tokens it creates name it.
func TestAccessOptional(t *testing.T) {
	srv, secrets := authServer(t, false)
	if r, _ := callAs(t, srv, "", "POST", "/api/v1/experiments", `{"name": "e"}`); r.status != 201 {
		t.Fatalf("anonymous create: %d %s", r.status, r.raw)
	}
	if r, _ := callAs(t, srv, "plt_revokedorwrong", "GET", "/api/v1/experiments", ""); r.status != 401 {
		t.Errorf("a wrong token where none is required: %d %s", r.status, r.raw)
	}
	if r, _ := callAs(t, srv, secrets[auth.Viewer], "POST", "/api/v1/experiments", `{"name": "f"}`); r.status != 403 {
		t.Errorf("a viewer's write where no token is required: %d %s", r.status, r.raw)
	}
	// Tokens are managed over the API, and a new one works at once.
	r, h := callAs(t, srv, secrets[auth.Admin], "POST", "/api/v1/tokens", `{"name": "ci", "role": "editor", "ttl": "24h"}`)
	secret, _ := r.body["token"].(string)
	if r.status != 201 || !strings.HasPrefix(secret, auth.Prefix) || r.body["created_by"] != "admin-bot" || r.body["expires_at"] == nil || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("create token: %d %s", r.status, r.raw)
	}
	if r, _ := callAs(t, srv, secrets[auth.Admin], "POST", "/api/v1/tokens", `{"name": "ci", "role": "editor"}`); r.status != 409 {
		t.Errorf("a second token named ci: %d %s", r.status, r.raw)
	}
	if r, _ := callAs(t, srv, secrets[auth.Admin], "POST", "/api/v1/tokens", `{"name": "x", "role": "owner"}`); r.status != 400 || r.errField("field") != "role" {
		t.Errorf("an unknown role: %d %s", r.status, r.raw)
	}
	if r, _ := callAs(t, srv, secret, "POST", "/api/v1/runs", `{"experiment": "e"}`); r.status != 201 {
		t.Fatalf("create run as ci: %d %s", r.status, r.raw)
	}
	// The registry's audit trail names the token's principal.
	if r, _ := callAs(t, srv, secret, "POST", "/api/v1/models", `{"name": "churn"}`); r.status != 201 {
		t.Fatalf("create model as ci: %d %s", r.status, r.raw)
	}
	if r, _ := callAs(t, srv, secret, "GET", "/api/v1/models/churn/audit", ""); r.status != 200 || !strings.Contains(r.raw, `"principal":"ci"`) {
		t.Errorf("audit of a model ci created: %d %s", r.status, r.raw)
	}
	// The platform's audit trail, filtered by principal, names it too.
	r, _ = callAs(t, srv, secrets[auth.Admin], "GET", "/api/v1/audit?principal=ci&limit=10", "")
	if entries, _ := r.body["entries"].([]any); r.status != 200 || len(entries) != 1 || !strings.Contains(r.raw, `"action":"model.create"`) {
		t.Errorf("audit trail of ci: %d %s", r.status, r.raw)
	}
	if r, _ := callAs(t, srv, secret, "GET", "/api/v1/audit", ""); r.status != 403 {
		t.Errorf("an editor reading the audit trail: %d %s", r.status, r.raw)
	}
	if r, _ := callAs(t, srv, secrets[auth.Admin], "GET", "/api/v1/audit?since=yesterday", ""); r.status != 400 || r.errField("field") != "since" {
		t.Errorf("since=yesterday: %d %s", r.status, r.raw)
	}
	list, _ := callAs(t, srv, secrets[auth.Admin], "GET", "/api/v1/tokens", "")
	if tokens, _ := list.body["tokens"].([]any); len(tokens) != 4 || strings.Contains(list.raw, auth.Prefix) {
		t.Errorf("list tokens: %s", list.raw)
	}
	if r, _ := callAs(t, srv, secrets[auth.Admin], "DELETE", "/api/v1/tokens/ci", ""); r.status != 204 {
		t.Errorf("revoke: %d %s", r.status, r.raw)
	}
	if r, _ := callAs(t, srv, secret, "GET", "/api/v1/experiments", ""); r.status != 401 {
		t.Errorf("a revoked token: %d %s", r.status, r.raw)
	}
	if r, _ := callAs(t, srv, secrets[auth.Admin], "GET", "/api/v1/tokens?revoked=true", ""); r.status != 200 || !strings.Contains(r.raw, `"revoked_by":"admin-bot"`) {
		t.Errorf("list with the revoked: %d %s", r.status, r.raw)
	}
	if r, _ := callAs(t, srv, secrets[auth.Admin], "GET", "/api/v1/tokens?revoked=maybe", ""); r.status != 400 || r.errField("field") != "revoked" {
		t.Errorf("revoked=maybe: %d %s", r.status, r.raw)
	}
}

// A token limited to endpoints reaches their prediction routes, v1 and v2,
// and is refused everywhere else.
func TestEndpointToken(t *testing.T) {
	for _, r := range api.PredictionRoutes() {
		if !slices.Contains(api.Routes(), r) {
			t.Errorf("prediction route %s is no route", r)
		}
	}
	srv, secrets := authServer(t, true)
	if r, _ := callAs(t, srv, secrets[auth.Admin], "POST", "/api/v1/tokens", `{"name": "app", "role": "editor", "endpoints": ["delays"]}`); r.status != 400 || r.errField("field") != "role" {
		t.Errorf("an editor limited to endpoints: %d %s", r.status, r.raw)
	}
	if r, _ := callAs(t, srv, secrets[auth.Admin], "POST", "/api/v1/tokens", `{"name": "app", "role": "viewer", "endpoints": ["Delays!"]}`); r.status != 400 || r.errField("field") != "endpoints[0]" {
		t.Errorf("a bad endpoint name: %d %s", r.status, r.raw)
	}
	r, _ := callAs(t, srv, secrets[auth.Admin], "POST", "/api/v1/tokens", `{"name": "app", "role": "viewer", "endpoints": ["delays"]}`)
	app, _ := r.body["token"].(string)
	if r.status != 201 || !strings.Contains(r.raw, `"endpoints":["delays"]`) {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	// Nothing is deployed: the routes it may call answer 404, past access
	// control; the others refuse it.
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"POST", "/api/v1/endpoints/delays/predict", 404},
		{"GET", "/v2/models/delays/ready", 404},
		{"POST", "/v2/models/delays/versions/1/infer", 404},
		{"POST", "/api/v1/endpoints/fraud/predict", 403},
		{"POST", "/v2/models/fraud/infer", 403},
		{"GET", "/api/v1/endpoints/delays/history", 403},
		{"GET", "/api/v1/models", 403},
		{"GET", "/healthz", 200},
	} {
		body := ""
		if tc.method == "POST" {
			body = `{"instances": [{"x": 1}]}`
		}
		r, _ := callAs(t, srv, app, tc.method, tc.path, body)
		if r.status != tc.status {
			t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, r.status, r.raw, tc.status)
		}
		if tc.status == 403 && !strings.Contains(r.raw, "may only call the prediction routes of endpoint delays") {
			t.Errorf("%s %s: %s", tc.method, tc.path, r.raw)
		}
	}
}

// A client that keeps sending unknown tokens gets 429 once it has failed
// 20 checks, v2 routes in the protocol's error body.
func TestFailedChecksOverHTTP(t *testing.T) {
	srv, secrets := authServer(t, true)
	for i := range 20 {
		if r, _ := callAs(t, srv, fmt.Sprintf("plt_guess%d", i), "GET", "/api/v1/models", ""); r.status != 401 {
			t.Fatalf("guess %d: %d %s", i, r.status, r.raw)
		}
	}
	r, h := callAs(t, srv, "plt_guess20", "GET", "/api/v1/models", "")
	if r.status != 429 || r.errField("code") != "overloaded" || !strings.Contains(r.errField("message"), "too many failed token checks") || h.Get("Retry-After") != "3" {
		t.Errorf("guess 20: %d %s", r.status, r.raw)
	}
	if r, _ := callAs(t, srv, "plt_guess21", "POST", "/v2/models/delays/infer", `{"inputs": []}`); r.status != 429 || !strings.Contains(r.raw, `"error":"too many failed token checks`) {
		t.Errorf("guess 21 on v2: %d %s", r.status, r.raw)
	}
	// A good token this server has not checked lately is refused from
	// that address too: only a lookup could tell it is good.
	if r, _ := callAs(t, srv, secrets[auth.Admin], "GET", "/api/v1/models", ""); r.status != 429 {
		t.Errorf("an unchecked good token from the blocked address: %d %s", r.status, r.raw)
	}
}
