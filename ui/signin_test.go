package ui_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/plinthml/plinth/auth"
	"github.com/plinthml/plinth/ui"
)

// With access control required, pages send a browser without a token to
// sign in and back; a signed-in viewer sees pages but may not post an
// editor's form; a token revoked later sends the browser to sign in again.
func TestSignIn(t *testing.T) {
	f := newFixture(t)
	d := Deps(f.node)
	d.Auth, d.AuthRequired = f.node.Auth, true
	h := ui.Handler(d)
	ctx := context.Background()
	viewer, _, err := f.node.Auth.Create(ctx, auth.NewToken{Name: "dana", Role: auth.Viewer})
	if err != nil {
		t.Fatal(err)
	}

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/ui/runs?order=name", nil))
	if loc := rec.Header().Get("Location"); rec.Code != http.StatusSeeOther || loc != "/ui/login?next="+url.QueryEscape("/ui/runs?order=name") {
		t.Fatalf("a page without a token: %d to %q", rec.Code, loc)
	}
	tok, csrf := session(t, h, "/ui/login?next=%2Fui%2Fruns")

	if rec := post(t, h, "/ui/login", url.Values{"csrf": {tok}, "token": {"plt_wrong"}, "next": {"/ui/runs"}}, csrf); rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "unknown or revoked token") {
		t.Fatalf("a wrong token: %d\n%s", rec.Code, rec.Body)
	}
	rec = post(t, h, "/ui/login", url.Values{"csrf": {tok}, "token": {viewer}, "next": {"https://evil.example/"}}, csrf)
	var signedIn *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == auth.CookieName {
			signedIn = c
		}
	}
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/ui/" || signedIn == nil || !signedIn.HttpOnly || signedIn.SameSite != http.SameSiteStrictMode {
		t.Fatalf("sign in: %d to %q, cookie %+v", rec.Code, rec.Header().Get("Location"), signedIn)
	}

	as := withCookies(h, signedIn, csrf)
	if rec := as("GET", "/ui/runs", nil); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "dana") || !strings.Contains(rec.Body.String(), "Sign out") {
		t.Fatalf("a page as the viewer: %d", rec.Code)
	}
	id := f.runs["baseline"]
	if rec := as("POST", "/ui/runs/"+id+"/note", url.Values{"csrf": {tok}, "note": {"mine"}}); rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "needs editor") {
		t.Errorf("a viewer's note: %d\n%s", rec.Code, rec.Body)
	}
	if rec := as("POST", "/ui/logout", url.Values{"csrf": {tok}}); rec.Code != http.StatusSeeOther || !strings.Contains(rec.Header().Get("Set-Cookie"), auth.CookieName+"=;") {
		t.Errorf("sign out: %d, %q", rec.Code, rec.Header().Get("Set-Cookie"))
	}

	if err := f.node.Auth.Revoke(ctx, "dana"); err != nil {
		t.Fatal(err)
	}
	rec = as("GET", "/ui/runs", nil)
	if body := rec.Body.String(); rec.Code != http.StatusUnauthorized || !strings.Contains(body, "unknown or revoked token") || !strings.Contains(body, `name="next" value="/ui/runs"`) || !strings.Contains(rec.Header().Get("Set-Cookie"), auth.CookieName+"=;") {
		t.Errorf("a revoked token's cookie: %d, %q\n%s", rec.Code, rec.Header().Get("Set-Cookie"), body)
	}
	// The sign-in page says only what the server found, whatever a link adds.
	if body := withCookies(h)("GET", "/ui/login?error=Call+555-0100", nil).Body.String(); !strings.Contains(body, "Sign in") || strings.Contains(body, "555") {
		t.Error("the sign-in page shows a message from its address")
	}
}

// signedIn signs in to h with a token and returns a function that sends
// requests as that browser, with the form token for its posts.
func signedIn(t *testing.T, h http.Handler, secret string) (as func(method, path string, form url.Values) *httptest.ResponseRecorder, csrf string) {
	t.Helper()
	tok, csrfCookie := session(t, h, "/ui/login")
	rec := post(t, h, "/ui/login", url.Values{"csrf": {tok}, "token": {secret}}, csrfCookie)
	var cookie *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == auth.CookieName {
			cookie = c
		}
	}
	if cookie == nil {
		t.Fatalf("sign in: %d, no cookie", rec.Code)
	}
	return withCookies(h, cookie, csrfCookie), tok
}

// withCookies sends requests to h as a browser holding cookies does; a
// form goes as the body.
func withCookies(h http.Handler, cookies ...*http.Cookie) func(method, path string, form url.Values) *httptest.ResponseRecorder {
	return func(method, path string, form url.Values) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, c := range cookies {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
}

// An admin manages tokens in the browser: the page lists them, makes one
// and shows its secret once, refuses a bad one with the form kept, and
// revokes, which the audit trail page shows; a viewer neither sees the
// link nor gets the pages.
func TestTokensPage(t *testing.T) {
	f := newFixture(t)
	d := Deps(f.node)
	d.Auth, d.AuthRequired, d.AuditLog = f.node.Auth, true, f.node.Meta
	h := ui.Handler(d)
	ctx := context.Background()
	admin, _, err := f.node.Auth.Create(ctx, auth.NewToken{Name: "root", Role: auth.Admin})
	if err != nil {
		t.Fatal(err)
	}
	viewer, _, err := f.node.Auth.Create(ctx, auth.NewToken{Name: "dana", Role: auth.Viewer})
	if err != nil {
		t.Fatal(err)
	}

	asViewer, _ := signedIn(t, h, viewer)
	if rec := asViewer("GET", "/ui/runs", nil); strings.Contains(rec.Body.String(), `href="/ui/tokens"`) {
		t.Error("a viewer's pages link the tokens page")
	}
	if rec := asViewer("GET", "/ui/tokens", nil); rec.Code != http.StatusForbidden {
		t.Errorf("a viewer's tokens page: %d", rec.Code)
	}

	as, csrf := signedIn(t, h, admin)
	rec := as("GET", "/ui/tokens", nil)
	if body := rec.Body.String(); rec.Code != http.StatusOK || !strings.Contains(body, `href="/ui/tokens"`) || !strings.Contains(body, "dana") || strings.Contains(body, "plt_") {
		t.Fatalf("the tokens page: %d\n%s", rec.Code, body)
	}
	rec = as("POST", "/ui/tokens", url.Values{"csrf": {csrf}, "name": {"scorer"}, "role": {"viewer"}, "ttl": {"24h"}})
	m := regexp.MustCompile(`<code id="secret">(plt_[a-z0-9]+)</code>`).FindStringSubmatch(rec.Body.String())
	if rec.Code != http.StatusOK || m == nil || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("make a token: %d, cache %q\n%s", rec.Code, rec.Header().Get("Cache-Control"), rec.Body)
	}
	if tok, err := f.node.Auth.Authenticate(ctx, m[1]); err != nil || tok.Name != "scorer" || tok.CreatedBy != "root" || tok.ExpiresAt == nil {
		t.Errorf("the token made: %+v, %v", tok, err)
	}
	for _, tc := range []struct {
		form url.Values
		says string
	}{
		{url.Values{"name": {"scorer"}, "role": {"viewer"}}, "is in force"},
		{url.Values{"name": {"x y"}, "role": {"viewer"}}, "token name"},
		{url.Values{"name": {"ok"}, "role": {"viewer"}, "ttl": {"soon"}}, "ttl: soon"},
		{url.Values{"name": {"ok"}, "role": {"editor"}, "endpoints": {"delays"}}, "make it a viewer"},
	} {
		tc.form.Set("csrf", csrf)
		rec := as("POST", "/ui/tokens", tc.form)
		if body := rec.Body.String(); rec.Code != http.StatusBadRequest || !strings.Contains(body, tc.says) || !strings.Contains(body, `value="`+tc.form.Get("name")+`"`) {
			t.Errorf("%v: %d\n%s", tc.form, rec.Code, body)
		}
	}
	// A token an application embeds, limited to an endpoint, is listed with
	// it and gets no page.
	rec = as("POST", "/ui/tokens", url.Values{"csrf": {csrf}, "name": {"app"}, "role": {"viewer"}, "endpoints": {"delays, fraud"}})
	app := regexp.MustCompile(`<code id="secret">(plt_[a-z0-9]+)</code>`).FindStringSubmatch(rec.Body.String())
	if rec.Code != http.StatusOK || app == nil || !strings.Contains(rec.Body.String(), "prediction on delays, fraud only") || !strings.Contains(rec.Body.String(), "<td>delays, fraud</td>") {
		t.Fatalf("make a token limited to endpoints: %d\n%s", rec.Code, rec.Body)
	}
	loginCSRF, csrfCookie := session(t, h, "/ui/login")
	if rec := post(t, h, "/ui/login", url.Values{"csrf": {loginCSRF}, "token": {app[1]}}, csrfCookie); rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "cannot sign in here") {
		t.Errorf("signing in with a token limited to endpoints: %d\n%s", rec.Code, rec.Body)
	}
	if rec := as("POST", "/ui/tokens/scorer/revoke", url.Values{"csrf": {csrf}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("revoke: %d\n%s", rec.Code, rec.Body)
	}
	if _, err := f.node.Auth.Authenticate(ctx, m[1]); err == nil {
		t.Error("a revoked token still works")
	}
	if body := as("GET", "/ui/tokens", nil).Body.String(); !strings.Contains(body, "by root") {
		t.Errorf("the page does not say who revoked scorer:\n%s", body)
	}
	// The audit trail shows it, and filters by who.
	rec = as("GET", "/ui/audit?principal=root", nil)
	if body := rec.Body.String(); rec.Code != http.StatusOK || !strings.Contains(body, "token.revoke") || !strings.Contains(body, "token scorer (viewer)") || strings.Contains(body, "model.create") {
		t.Errorf("root's audit trail: %d\n%s", rec.Code, body)
	}
	if rec := asViewer("GET", "/ui/audit", nil); rec.Code != http.StatusForbidden {
		t.Errorf("a viewer's audit trail: %d", rec.Code)
	}
}
