package ui

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/deploy"
	"github.com/plinthml/plinth/monitor"
	"github.com/plinthml/plinth/serve"
)

type endpointsPage struct {
	Endpoints []endpointRow
}

type endpointRow struct {
	deploy.Endpoint
	Stats *serve.RouteStats
}

func (s *server) endpoints(w http.ResponseWriter, r *http.Request) error {
	eps, err := s.Deployer.Store.Endpoints(r.Context())
	if err != nil {
		return err
	}
	p := endpointsPage{}
	for _, e := range eps {
		row := endpointRow{Endpoint: e}
		row.Stats, _ = s.Runtime.Stats(e.Name) // not loaded here: no traffic to show
		p.Endpoints = append(p.Endpoints, row)
	}
	return s.render(w, r, "endpoints", "Endpoints", "endpoints", p)
}

type endpointPage struct {
	Endpoint *deploy.Endpoint
	Split    template.HTML
	Stats    *serve.RouteStats
	Variants []variantRow
	Shadow   *serve.ShadowStats
	// Verdict is what the canary gate would decide on the traffic so far.
	Verdict, VerdictReason string
	Gate                   []kv
	History                []deploy.Endpoint
	Alerts                 []monitor.Alert
	CanRollback            bool
	CanLookup              bool   // predictions can be traced
	Done                   string // the action just taken, for the notice
}

type variantRow struct {
	Name   string
	Target string
	serve.VariantStats
	ErrorRate float64
	Share     float64 // of the requests answered
}

func (s *server) endpoint(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	e, err := s.Deployer.Store.Endpoint(ctx, r.PathValue("endpoint"))
	if err != nil {
		return err
	}
	hist, err := s.Deployer.Store.History(ctx, e.Name)
	if err != nil {
		return err
	}
	p := endpointPage{Endpoint: e, History: hist, CanRollback: len(hist) > 1, CanLookup: s.LookupPrediction != nil}
	switch r.URL.Query().Get("done") {
	case "rollback":
		p.Done = fmt.Sprintf("Rolled back: revision %d now serves %s.", e.Revision, targetString(&e.Stable))
	case "promote":
		p.Done = fmt.Sprintf("Promoted: %s now serves alone.", targetString(&e.Stable))
	}
	cand := "no candidate"
	if e.Candidate != nil {
		cand = targetString(e.Candidate)
	}
	share := e.Weight
	if e.Strategy == deploy.Shadow || e.Candidate == nil {
		share = 0 // a shadow answers no one: it sees copies
	}
	p.Split = splitBar(targetString(&e.Stable), cand, share)
	if st, err := s.Runtime.Stats(e.Name); err == nil {
		p.Stats = st
		total := st.Stable.Requests + st.Candidate.Requests
		add := func(name, target string, v serve.VariantStats) {
			row := variantRow{Name: name, Target: target, VariantStats: v}
			if v.Requests > 0 {
				row.ErrorRate = float64(v.Errors) / float64(v.Requests)
			}
			if total > 0 {
				row.Share = float64(v.Requests) / float64(total)
			}
			p.Variants = append(p.Variants, row)
		}
		add("stable", targetString(&e.Stable), st.Stable)
		if e.Candidate != nil && e.Strategy != deploy.Shadow {
			add("candidate", targetString(e.Candidate), st.Candidate)
		}
		if e.Gate != nil {
			p.Gate = gateRows(e.Gate)
		}
		if e.Gate != nil && e.Candidate != nil {
			p.Verdict, p.VerdictReason = e.Gate.Judge(*st, time.Now())
		}
	}
	if e.Strategy == deploy.Shadow {
		p.Shadow, _ = s.Runtime.Shadow(e.Name)
	}
	if s.Alerts != nil {
		if p.Alerts, err = s.Alerts.Alerts(ctx, e.Name, 10); err != nil {
			return err
		}
	}
	return s.render(w, r, "endpoint", "Endpoint "+e.Name, "endpoints", p)
}

func targetString(t *deploy.Target) string {
	if t == nil {
		return "—"
	}
	s := fmt.Sprintf("%s v%d", t.Model, t.Version)
	if t.Ref != "" && t.Ref != fmt.Sprint(t.Version) {
		s += " (@" + t.Ref + ")"
	}
	return s
}

// Changing an endpoint takes two steps: a page that says what will change
// and asks for a reason, then the POST from its form. The POST carries the
// form token, so no other site can make a browser roll an endpoint back.

type confirmPage struct {
	Endpoint *deploy.Endpoint
	Action   string // rollback or promote
	Verb     string
	From, To *deploy.Endpoint
	Effect   string
}

func (s *server) confirmAction(w http.ResponseWriter, r *http.Request) error {
	p, err := s.confirmation(r)
	if err != nil {
		return err
	}
	return s.render(w, r, "confirm", p.Verb+" "+p.Endpoint.Name+"?", "endpoints", p)
}

func (s *server) confirmation(r *http.Request) (*confirmPage, error) {
	ctx := r.Context()
	action := r.PathValue("action")
	if action != "rollback" && action != "promote" {
		return nil, plinth.Errorf(plinth.ENOTFOUND, "there is no page at %s", r.URL.Path)
	}
	e, err := s.Deployer.Store.Endpoint(ctx, r.PathValue("endpoint"))
	if err != nil {
		return nil, err
	}
	p := &confirmPage{Endpoint: e, Action: action, From: e}
	switch action {
	case "rollback":
		hist, err := s.Deployer.Store.History(ctx, e.Name)
		if err != nil {
			return nil, err
		}
		if len(hist) < 2 {
			return nil, plinth.Errorf(plinth.ECONFLICT, "endpoint %s has no previous configuration to roll back to", e.Name)
		}
		p.Verb, p.To = "Roll back", &hist[1]
		p.Effect = fmt.Sprintf("The endpoint goes back to the configuration of revision %d: %s. Requests switch over at once; none fail.", hist[1].Revision, describeRoute(&hist[1]))
	case "promote":
		if e.Candidate == nil {
			return nil, plinth.Errorf(plinth.ECONFLICT, "endpoint %s has no candidate to promote", e.Name)
		}
		p.Verb = "Promote"
		p.To = &deploy.Endpoint{Name: e.Name, Strategy: deploy.Single, Stable: *e.Candidate}
		p.Effect = fmt.Sprintf("%s becomes the stable version and answers every request; %s stops serving.", targetString(e.Candidate), targetString(&e.Stable))
	}
	return p, nil
}

func (s *server) doAction(w http.ResponseWriter, r *http.Request) error {
	if err := checkCSRF(r); err != nil {
		return err
	}
	p, err := s.confirmation(r)
	if err != nil {
		return err
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if reason != "" {
		reason += " (from the web UI)"
	}
	switch p.Action {
	case "rollback":
		_, err = s.Deployer.Rollback(r.Context(), p.Endpoint.Name, reason)
	case "promote":
		_, err = s.Deployer.Promote(r.Context(), p.Endpoint.Name, reason)
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/endpoints/"+url.PathEscape(p.Endpoint.Name)+"?done="+p.Action, http.StatusSeeOther)
	return nil
}

func describeRoute(e *deploy.Endpoint) string {
	switch {
	case e.Candidate == nil || e.Strategy == deploy.Single:
		return targetString(&e.Stable) + " alone"
	case e.Strategy == deploy.Shadow:
		return targetString(&e.Stable) + ", shadowed by " + targetString(e.Candidate)
	}
	return fmt.Sprintf("%s, with %s taking %s (%s)", targetString(&e.Stable), targetString(e.Candidate), pctString(e.Weight), e.Strategy)
}

// gateRows describes a canary gate, its zero fields as the defaults the
// deploy package documents for them.
func gateRows(g *deploy.Gate) []kv {
	or := func(set bool, v, def string) string {
		if set {
			return v
		}
		return def + " (default)"
	}
	return []kv{
		{"Promotes after a clean window of", or(g.Window > 0, shortDuration(g.Window.Std()), "10m")},
		{"Decides after at least", or(g.MinRequests > 0, fmt.Sprint(g.MinRequests), "100") + " candidate requests"},
		{"Rolls back when the error rate exceeds stable's by", or(g.MaxErrorRate > 0, num(g.MaxErrorRate), "0.01")},
		{"or the mean prediction moves by more than", or(g.MaxMeanShift > 0, num(g.MaxMeanShift), "0.1")},
		{"or it is slower than stable by a factor of", or(g.MaxLatencyRatio > 0, num(g.MaxLatencyRatio), "3")},
	}
}
