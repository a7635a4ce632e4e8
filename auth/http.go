package auth

import (
	"net/http"
	"strings"

	"github.com/plinthml/plinth"
)

// CookieName is the cookie the web UI keeps a token in after signing in.
const CookieName = "plinth_token"

// Middleware puts each request's principal and role in its context (see
// plinth.PrincipalFrom and RoleFrom), from its bearer token or, failing
// that, the UI's cookie. A credential that does not check out goes to fail
// (the request is not served), whatever required says. A request without
// one is the anonymous admin when required is false, and has no role when
// it is true: each route then decides (health checks need none).
func (s *Service) Middleware(required bool, fail func(http.ResponseWriter, *http.Request, error), next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secret, err := credential(r)
		if err != nil {
			fail(w, r, err)
			return
		}
		ctx := r.Context()
		switch {
		case secret != "":
			t, err := s.Authenticate(ctx, secret)
			if err != nil {
				fail(w, r, err)
				return
			}
			ctx = WithRole(plinth.WithPrincipal(ctx, t.Name), t.Role)
		case !required:
			ctx = WithRole(ctx, Admin)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
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

// Allow checks that the request's role grants need: an unauthorized error
// when it has none (no token where one is required), forbidden when it
// falls short. need "" allows every request.
func Allow(r *http.Request, need Role) error {
	if need == "" {
		return nil
	}
	have := RoleFrom(r.Context())
	switch {
	case have == "":
		return plinth.Errorf(plinth.EUNAUTHORIZED, "this server requires a token: send Authorization: Bearer <token> (plinth tokens create)")
	case !have.Grants(need):
		return plinth.Errorf(plinth.EFORBIDDEN, "%s is a %s; %s %s needs %s", plinth.PrincipalFrom(r.Context()), have, r.Method, r.URL.Path, need)
	}
	return nil
}
