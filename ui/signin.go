package ui

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/auth"
)

type signInData struct {
	Next    string
	Message string
}

// signInPage asks for a token. Without an auth service there is nothing
// to sign in to.
func (s *server) signInPage(w http.ResponseWriter, r *http.Request) {
	if s.Auth == nil {
		s.fail(w, r, plinth.Errorf(plinth.ENOTFOUND, "this server has no sign-in: it runs without access control"))
		return
	}
	s.renderStatus(w, r, http.StatusOK, "login", "Sign in", "", signInData{Next: safeNext(r.FormValue("next"))})
}

// signIn checks the token posted and keeps it in a cookie the pages
// authenticate with: HttpOnly, so no script reads it, and SameSite=Strict,
// so no other site's form sends it.
func (s *server) signIn(w http.ResponseWriter, r *http.Request) {
	if s.Auth == nil {
		s.fail(w, r, plinth.Errorf(plinth.ENOTFOUND, "this server has no sign-in: it runs without access control"))
		return
	}
	if err := checkCSRF(r); err != nil {
		s.fail(w, r, err)
		return
	}
	next := safeNext(r.PostFormValue("next"))
	secret := strings.TrimSpace(r.PostFormValue("token"))
	t, err := s.Auth.AuthenticateRequest(r, secret)
	if err != nil {
		status := http.StatusUnauthorized
		if plinth.IsCode(err, plinth.EOVERLOADED) {
			status = http.StatusTooManyRequests
		}
		s.renderStatus(w, r, status, "login", "Sign in", "", signInData{Next: next, Message: plinth.ErrorMessage(err)})
		return
	}
	if t.Endpoints != nil {
		msg := fmt.Sprintf("token %s may only call the prediction routes of endpoint %s: it cannot sign in here", t.Name, strings.Join(t.Endpoints, ", "))
		s.renderStatus(w, r, http.StatusForbidden, "login", "Sign in", "", signInData{Next: next, Message: msg})
		return
	}
	c := &http.Cookie{Name: auth.CookieName, Value: secret, Path: "/ui/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil}
	if t.ExpiresAt != nil {
		c.Expires = *t.ExpiresAt
	}
	http.SetCookie(w, c)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *server) signOut(w http.ResponseWriter, r *http.Request) {
	if err := checkCSRF(r); err != nil {
		s.fail(w, r, err)
		return
	}
	clearSignIn(w, r)
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}

func clearSignIn(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: auth.CookieName, Path: "/ui/", MaxAge: -1, Expires: time.Unix(0, 0), HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
}

// safeNext keeps a sign-in's return address on this site's pages: a
// well-formed path under /ui/, or /ui/ itself.
func safeNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || !strings.HasPrefix(next, "/ui/") || strings.ContainsAny(next, "\\\r\n") {
		return "/ui/"
	}
	return next
}

// signInAgain answers a page request whose credentials do not check out
// (a revoked or expired token in the cookie): it forgets them and asks for
// a token, saying why. The reason is rendered here, not passed on in the
// address, where any link could put words of its own on the sign-in page.
func (s *server) signInAgain(w http.ResponseWriter, r *http.Request, err error) {
	if !plinth.IsCode(err, plinth.EUNAUTHORIZED) {
		s.fail(w, r, err) // the store failed, not the token
		return
	}
	clearSignIn(w, r)
	next := "/ui/"
	if r.Method == http.MethodGet {
		next = safeNext(r.URL.RequestURI())
	}
	s.renderStatus(w, r, http.StatusUnauthorized, "login", "Sign in", "", signInData{Next: next, Message: plinth.ErrorMessage(err)})
}
