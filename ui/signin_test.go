package ui_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
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
	viewer, _, err := f.node.Auth.Create(ctx, "dana", auth.Viewer, 0)
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

	as := func(method, path string, form url.Values) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(signedIn)
		req.AddCookie(csrf)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
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
	if rec := as("GET", "/ui/runs", nil); rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/ui/login?error=") {
		t.Errorf("a revoked token's cookie: %d to %q", rec.Code, rec.Header().Get("Location"))
	}
}
