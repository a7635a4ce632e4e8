package auth

import (
	"net/http"
	"slices"
	"strings"

	"github.com/plinthml/plinth"
)

// CookieName is the cookie the web UI keeps a token in after signing in.
const CookieName = "plinth_token"

// Middleware puts the principal and role of each request that carries a
// token in its context (see WithToken and plinth.PrincipalFrom): its bearer
// token or, failing that, the UI's cookie. A token that does not check out
// goes to fail, and the request is not served. A request without one goes
// on as it is, at no cost: Allow decides what it may do.
func (s *Service) Middleware(fail func(http.ResponseWriter, *http.Request, error), next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secret, err := credential(r)
		if err != nil {
			fail(w, r, err)
			return
		}
		if secret == "" {
			next.ServeHTTP(w, r)
			return
		}
		t, err := s.AuthenticateRequest(r, secret)
		if err != nil {
			fail(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithToken(r.Context(), t)))
	})
}

// credential is the request's token: its bearer token, else its cookie's.
func credential(r *http.Request) (string, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, secret, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
			return "", plinth.Errorf(plinth.EUNAUTHORIZED, `the Authorization header must be "Bearer <token>"`)
		}
		return strings.TrimSpace(secret), nil
	}
	if c, err := r.Cookie(CookieName); err == nil && c.Value != "" {
		return c.Value, nil
	}
	return "", nil
}

// Allow checks that the request may do what need requires: that its
// token's role grants need, and that the token is not limited to
// endpoints. A request without a token is refused with an unauthorized
// error where tokens are required, and acts as the anonymous admin where
// they are not (the single-user default). need "" allows every request.
func Allow(r *http.Request, need Role, required bool) error {
	return allow(r, need, required, "")
}

// AllowPredict is Allow for a prediction route of an endpoint, which a
// token limited to endpoints may call if the endpoint is one of them.
func AllowPredict(r *http.Request, endpoint string, need Role, required bool) error {
	return allow(r, need, required, endpoint)
}

func allow(r *http.Request, need Role, required bool, endpoint string) error {
	if need == "" {
		return nil
	}
	g := grantFrom(r.Context())
	switch {
	case g.role == "" && !required:
		return nil
	case g.role == "":
		return plinth.Errorf(plinth.EUNAUTHORIZED, "this server requires a token: send Authorization: Bearer <token> (plinth tokens create)")
	case !g.role.Grants(need):
		return plinth.Errorf(plinth.EFORBIDDEN, "%s is a %s; %s %s needs %s", plinth.PrincipalFrom(r.Context()), g.role, r.Method, r.URL.Path, need)
	case g.endpoints != nil && (endpoint == "" || !slices.Contains(g.endpoints, endpoint)):
		return plinth.Errorf(plinth.EFORBIDDEN, "token %s may only call the prediction routes of endpoint %s, not %s %s",
			plinth.PrincipalFrom(r.Context()), strings.Join(g.endpoints, ", "), r.Method, r.URL.Path)
	}
	return nil
}
