package api

import (
	"net/http"
	"strconv"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/registry"
)

func (s *Server) listModels(w http.ResponseWriter, r *http.Request) error {
	ms, err := s.Registry.Models(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"models": ms})
	return nil
}

// CreateModelRequest is the body of POST /api/v1/models.
type CreateModelRequest struct {
	Name string            `json:"name"`
	Card registry.Card     `json:"card,omitempty"`
	Tags map[string]string `json:"tags,omitempty"`
}

func (s *Server) createModel(w http.ResponseWriter, r *http.Request) error {
	var req CreateModelRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	m := &registry.Model{Name: req.Name, Card: req.Card, Tags: req.Tags}
	if err := s.Registry.CreateModel(r.Context(), m); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, m)
	return nil
}

func (s *Server) getModel(w http.ResponseWriter, r *http.Request) error {
	m, err := s.Registry.Model(r.Context(), r.PathValue("model"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, m)
	return nil
}

// UpdateCardRequest is the body of PUT /api/v1/models/{model}/card.
type UpdateCardRequest struct {
	Card   registry.Card `json:"card"`
	Reason string        `json:"reason,omitempty"`
}

func (s *Server) updateCard(w http.ResponseWriter, r *http.Request) error {
	var req UpdateCardRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	m, err := s.Registry.UpdateCard(r.Context(), r.PathValue("model"), req.Card, req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, m)
	return nil
}

func (s *Server) audit(w http.ResponseWriter, r *http.Request) error {
	limit, err := queryInt(r, "limit", 100)
	if err != nil {
		return err
	}
	events, err := s.Registry.Audit(r.Context(), r.PathValue("model"), limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": events})
	return nil
}

func (s *Server) listVersions(w http.ResponseWriter, r *http.Request) error {
	vs, err := s.Registry.Versions(r.Context(), r.PathValue("model"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"versions": vs})
	return nil
}

func (s *Server) createVersion(w http.ResponseWriter, r *http.Request) error {
	var req registry.NewVersion
	if err := decode(w, r, &req); err != nil {
		return err
	}
	v, err := s.Registry.CreateVersion(r.Context(), r.PathValue("model"), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, v)
	return nil
}

// getVersion takes a version number, an alias or "latest" in the path.
func (s *Server) getVersion(w http.ResponseWriter, r *http.Request) error {
	v, err := s.Registry.Resolve(r.Context(), r.PathValue("model")+"@"+r.PathValue("version"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func versionParam(r *http.Request) (int, error) {
	v := r.PathValue("version")
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, plinth.Invalid("version", "want a version number, have %q", v)
	}
	return n, nil
}

func (s *Server) deleteVersion(w http.ResponseWriter, r *http.Request) error {
	n, err := versionParam(r)
	if err != nil {
		return err
	}
	if err := s.Registry.DeleteVersion(r.Context(), r.PathValue("model"), n, r.URL.Query().Get("reason")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ReviewRequest is the body of POST .../versions/{version}/review.
type ReviewRequest struct {
	State  registry.ApprovalState `json:"state"`
	Reason string                 `json:"reason,omitempty"`
}

func (s *Server) reviewVersion(w http.ResponseWriter, r *http.Request) error {
	n, err := versionParam(r)
	if err != nil {
		return err
	}
	var req ReviewRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	v, err := s.Registry.Review(r.Context(), r.PathValue("model"), n, req.State, req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// SetAliasRequest is the body of PUT .../aliases/{alias}.
type SetAliasRequest struct {
	Version int    `json:"version"`
	Reason  string `json:"reason,omitempty"`
}

func (s *Server) setAlias(w http.ResponseWriter, r *http.Request) error {
	var req SetAliasRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	model, alias := r.PathValue("model"), r.PathValue("alias")
	if err := s.Registry.SetAlias(r.Context(), model, alias, req.Version, req.Reason); err != nil {
		return err
	}
	m, err := s.Registry.Model(r.Context(), model)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, m)
	return nil
}

func (s *Server) deleteAlias(w http.ResponseWriter, r *http.Request) error {
	if err := s.Registry.DeleteAlias(r.Context(), r.PathValue("model"), r.PathValue("alias"), r.URL.Query().Get("reason")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
