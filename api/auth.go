package api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/auth"
)

// CreateTokenRequest is the body of POST /api/v1/tokens.
type CreateTokenRequest struct {
	Name string    `json:"name"`
	Role auth.Role `json:"role"`
	// TTL is the token's lifetime ("720h"); none means it never expires.
	TTL plinth.Duration `json:"ttl,omitempty"`
	// Endpoints limits a viewer token to these endpoints' prediction
	// routes.
	Endpoints []string `json:"endpoints,omitempty"`
}

// CreatedToken is a new token with its secret, which is shown this once.
type CreatedToken struct {
	auth.Token
	Secret string `json:"token"`
}

// authenticate checks the token a request carries (auth.Service.Middleware).
// Without an auth service no request has one that counts: each acts as the
// anonymous admin where tokens are not required.
func (s *Server) authenticate(next http.Handler) http.Handler {
	if s.Auth == nil {
		return next
	}
	return s.Auth.Middleware(s.writeAuthError, next)
}

// writeAuthError answers a request refused for its credentials, in the
// Open Inference Protocol's error body on its routes.
func (s *Server) writeAuthError(w http.ResponseWriter, r *http.Request, err error) {
	if plinth.IsCode(err, plinth.EUNAUTHORIZED) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="plinth"`)
	}
	var later *auth.RetryLater
	if errors.As(err, &later) {
		w.Header().Set("Retry-After", strconv.Itoa(int(later.After.Seconds())))
	}
	if strings.HasPrefix(r.URL.Path, "/v2/") {
		s.v2Error(w, r, err)
		return
	}
	s.writeError(w, r, err)
}

func (s *Server) tokens() (*auth.Service, error) {
	if s.Auth == nil {
		return nil, plinth.Errorf(plinth.EUNAVAILABLE, "this server has no token store")
	}
	return s.Auth, nil
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	var req CreateTokenRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	svc, err := s.tokens()
	if err != nil {
		return err
	}
	secret, t, err := svc.Create(r.Context(), auth.NewToken{Name: req.Name, Role: req.Role, TTL: req.TTL.Std(), Endpoints: req.Endpoints})
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store") // the answer carries the secret
	writeJSON(w, http.StatusCreated, CreatedToken{Token: *t, Secret: secret})
	return nil
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.tokens()
	if err != nil {
		return err
	}
	revoked, err := queryBool(r, "revoked")
	if err != nil {
		return err
	}
	list, err := svc.Tokens(r.Context(), revoked)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": list})
	return nil
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.tokens()
	if err != nil {
		return err
	}
	if err := svc.Revoke(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// auditTrail lists who changed what, newest first, across the platform.
func (s *Server) auditTrail(w http.ResponseWriter, r *http.Request) error {
	if s.AuditLog == nil {
		return plinth.Errorf(plinth.EUNAVAILABLE, "this server keeps no audit trail")
	}
	since, err := timeParam(r, "since")
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 100)
	if err != nil {
		return err
	}
	entries, err := s.AuditLog.AuditTrail(r.Context(), auth.AuditQuery{Principal: r.URL.Query().Get("principal"), Since: since, Limit: limit})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": entries})
	return nil
}
