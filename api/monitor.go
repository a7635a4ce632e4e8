package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/monitor"
)

// SilenceRequest mutes a rule's notifications for a while.
type SilenceRequest struct {
	For    plinth.Duration `json:"for"`
	Reason string          `json:"reason,omitempty"`
}

// CheckResponse is a check's report and the alerts it fired.
type CheckResponse struct {
	Report *monitor.Report `json:"report"`
	Fired  []monitor.Alert `json:"fired"`
}

func (s *Server) listMonitors(w http.ResponseWriter, r *http.Request) error {
	specs, err := s.Checker.Specs(r.Context())
	if err != nil {
		return err
	}
	if specs == nil {
		specs = []monitor.Spec{}
	}
	alerts, err := s.Alerts.Alerts(r.Context(), "", 100)
	if err != nil {
		return err
	}
	open := []monitor.Alert{}
	for _, a := range alerts {
		if a.State != monitor.Resolved {
			open = append(open, a)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"monitors": specs, "open_alerts": open})
	return nil
}

func timeParam(r *http.Request, name string) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, plinth.Invalid(name, "%q is not an RFC 3339 time", v)
	}
	return t, nil
}

func (s *Server) monitorReport(w http.ResponseWriter, r *http.Request) error {
	from, err := timeParam(r, "from")
	if err != nil {
		return err
	}
	to, err := timeParam(r, "to")
	if err != nil {
		return err
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return plinth.Invalid("from", "must be before to")
	}
	rep, err := s.Checker.Report(r.Context(), r.PathValue("endpoint"), from, to)
	if err != nil {
		return err
	}
	if r.URL.Query().Get("format") == "html" {
		alerts, err := s.Alerts.Alerts(r.Context(), rep.Endpoint, 50)
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		return monitor.WriteHTML(w, rep, alerts)
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

func (s *Server) checkMonitor(w http.ResponseWriter, r *http.Request) error {
	rep, fired, err := s.Checker.Check(r.Context(), r.PathValue("endpoint"))
	if err != nil {
		return err
	}
	if fired == nil {
		fired = []monitor.Alert{}
	}
	writeJSON(w, http.StatusOK, CheckResponse{Report: rep, Fired: fired})
	return nil
}

func (s *Server) monitorAlerts(w http.ResponseWriter, r *http.Request) error {
	limit := 100
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			return plinth.Invalid("limit", "%q is not a number from 1 to 1000", l)
		}
		limit = n
	}
	alerts, err := s.Alerts.Alerts(r.Context(), r.PathValue("endpoint"), limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"alerts": alerts})
	return nil
}

func (s *Server) silenceAlert(w http.ResponseWriter, r *http.Request) error {
	var req SilenceRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	now := time.Now().UTC()
	si := monitor.Silence{Endpoint: r.PathValue("endpoint"), Rule: r.PathValue("rule"), Until: now.Add(time.Duration(req.For)), At: now,
		By: plinth.PrincipalFrom(r.Context()), Reason: req.Reason}
	if err := si.Validate(); err != nil {
		return err
	}
	spec, err := s.Checker.Spec(r.Context(), si.Endpoint)
	if err != nil {
		return err
	}
	found := false
	for _, rule := range spec.Alerts {
		found = found || rule.Name == si.Rule
	}
	if !found {
		return plinth.NotFound("alert rule", si.Rule)
	}
	si.Endpoint = spec.Endpoint
	if err := s.Alerts.Silence(r.Context(), si); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, si)
	return nil
}

func (s *Server) monitorSkew(w http.ResponseWriter, r *http.Request) error {
	sample := 500
	if v := r.URL.Query().Get("sample"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100000 {
			return plinth.Invalid("sample", "%q is not a number from 1 to 100000", v)
		}
		sample = n
	}
	if s.Checker.Flush != nil {
		if err := s.Checker.Flush(r.Context()); err != nil {
			return err
		}
	}
	skew, err := s.Checker.CheckSkew(r.Context(), r.PathValue("endpoint"), sample)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, skew)
	return nil
}
