package ui

import (
	"net/http"
	"strings"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/auth"
)

type tokensPage struct {
	Tokens []auth.Token
	Roles  []auth.Role
	// Created is a token just made, with its secret, shown this once.
	Created *auth.Token
	Secret  string
	// Error is why a creation was refused, with the form's values kept.
	Error                string
	Name, TTL, Endpoints string
	Role                 auth.Role
}

func (s *server) keepsTokens() error {
	if s.Auth == nil {
		return plinth.Errorf(plinth.ENOTFOUND, "this server keeps no API tokens")
	}
	return nil
}

// tokens lists the API tokens, the revoked ones after those in force, with
// a form to make one and a button to revoke each.
func (s *server) tokens(w http.ResponseWriter, r *http.Request) error {
	if err := s.keepsTokens(); err != nil {
		return err
	}
	return s.renderTokens(w, r, http.StatusOK, tokensPage{Role: auth.Viewer})
}

func (s *server) renderTokens(w http.ResponseWriter, r *http.Request, status int, p tokensPage) error {
	list, err := s.Auth.Tokens(r.Context(), true)
	if err != nil {
		return err
	}
	p.Tokens, p.Roles = list, []auth.Role{auth.Viewer, auth.Editor, auth.Admin}
	s.renderStatus(w, r, status, "tokens", "API tokens", "", p)
	return nil
}

// createToken makes a token and shows its secret on the page it answers
// with, once: the secret is kept nowhere else.
func (s *server) createToken(w http.ResponseWriter, r *http.Request) error {
	if err := s.keepsTokens(); err != nil {
		return err
	}
	if err := checkCSRF(r); err != nil {
		return err
	}
	// The answer carries a secret: no cache may keep it.
	w.Header().Set("Cache-Control", "no-store")
	p := tokensPage{Name: strings.TrimSpace(r.PostFormValue("name")), Role: auth.Role(r.PostFormValue("role")), TTL: strings.TrimSpace(r.PostFormValue("ttl")),
		Endpoints: strings.TrimSpace(r.PostFormValue("endpoints"))}
	var ttl time.Duration
	if p.TTL != "" {
		d, err := time.ParseDuration(p.TTL)
		if err != nil || d < 0 {
			p.Error = "ttl: " + p.TTL + " is not a lifetime such as 720h"
			return s.renderTokens(w, r, http.StatusBadRequest, p)
		}
		ttl = d
	}
	var endpoints []string
	if p.Endpoints != "" {
		endpoints = strings.Split(p.Endpoints, ",")
	}
	secret, t, err := s.Auth.Create(r.Context(), auth.NewToken{Name: p.Name, Role: p.Role, TTL: ttl, Endpoints: endpoints})
	if err != nil {
		if code := plinth.ErrorCode(err); code != plinth.EINVALID && code != plinth.ECONFLICT {
			return err
		}
		p.Error = plinth.ErrorMessage(err)
		return s.renderTokens(w, r, http.StatusBadRequest, p)
	}
	return s.renderTokens(w, r, http.StatusOK, tokensPage{Created: t, Secret: secret, Role: auth.Viewer})
}

func (s *server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	if err := s.keepsTokens(); err != nil {
		return err
	}
	if err := checkCSRF(r); err != nil {
		return err
	}
	if err := s.Auth.Revoke(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/tokens", http.StatusSeeOther)
	return nil
}

type auditPage struct {
	Principal string
	Entries   []auth.AuditEntry
}

// audit shows who changed what across the platform, newest first.
func (s *server) audit(w http.ResponseWriter, r *http.Request) error {
	if s.AuditLog == nil {
		return plinth.Errorf(plinth.ENOTFOUND, "this server keeps no audit trail")
	}
	p := auditPage{Principal: strings.TrimSpace(r.URL.Query().Get("principal"))}
	entries, err := s.AuditLog.AuditTrail(r.Context(), auth.AuditQuery{Principal: p.Principal, Limit: 200})
	if err != nil {
		return err
	}
	p.Entries = entries
	return s.render(w, r, "audit", "Audit trail", "", p)
}
