package ui

import (
	"net/http"
	"sort"

	"github.com/plinthml/plinth/deploy"
	"github.com/plinthml/plinth/monitor"
	"github.com/plinthml/plinth/pipeline"
	"github.com/plinthml/plinth/registry"
	"github.com/plinthml/plinth/track"
)

type homePage struct {
	Counts        []count
	Runs          []track.Run
	Experiments   map[string]string // id -> name
	Endpoints     []deploy.Endpoint
	PipelineRuns  []pipeline.Report
	Audit         []registry.AuditEvent
	Alerts        []monitor.Alert // not resolved
	EmptyPlatform bool
}

type count struct {
	Label string
	N     int
	Href  string
}

// home is the overview: how much there is of everything, and what changed
// last, each item a link to where it can be looked at closely.
func (s *server) home(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var p homePage
	exps, err := s.Tracker.Experiments(ctx)
	if err != nil {
		return err
	}
	p.Experiments = experimentNames(exps)
	page, err := s.Tracker.Search(ctx, track.SearchRequest{MaxResults: 8})
	if err != nil {
		return err
	}
	p.Runs = page.Runs
	models, err := s.Registry.Models(ctx)
	if err != nil {
		return err
	}
	// The newest registry events across models; a few models' trails are
	// enough to fill the list.
	for i, m := range models {
		if i == 50 {
			break
		}
		evs, err := s.Registry.Audit(ctx, m.Name, 6)
		if err != nil {
			return err
		}
		p.Audit = append(p.Audit, evs...)
	}
	sort.Slice(p.Audit, func(i, j int) bool { return p.Audit[i].Time.After(p.Audit[j].Time) })
	p.Audit = p.Audit[:min(len(p.Audit), 8)]

	eps, err := s.Deployer.Store.Endpoints(ctx)
	if err != nil {
		return err
	}
	p.Endpoints = append([]deploy.Endpoint(nil), eps...)
	sort.Slice(p.Endpoints, func(i, j int) bool { return p.Endpoints[i].UpdatedAt.After(p.Endpoints[j].UpdatedAt) })
	p.Endpoints = p.Endpoints[:min(len(p.Endpoints), 6)]

	pipes, err := s.PipelineDefs.Pipelines(ctx)
	if err != nil {
		return err
	}
	for _, pl := range pipes {
		runs, err := s.Pipelines.Store.PipelineRuns(ctx, pl.Spec.Name, 3)
		if err != nil {
			return err
		}
		for i := range runs {
			p.PipelineRuns = append(p.PipelineRuns, pipeline.NewReport(&runs[i]))
		}
	}
	sort.Slice(p.PipelineRuns, func(i, j int) bool { return p.PipelineRuns[i].CreatedAt.After(p.PipelineRuns[j].CreatedAt) })
	p.PipelineRuns = p.PipelineRuns[:min(len(p.PipelineRuns), 6)]

	datasets, err := s.Datasets.Datasets(ctx)
	if err != nil {
		return err
	}
	_, views, err := s.Features.Features(ctx)
	if err != nil {
		return err
	}
	p.Counts = []count{
		{"experiments", len(exps), "/ui/experiments"},
		{"models", len(models), "/ui/models"},
		{"endpoints", len(eps), "/ui/endpoints"},
		{"pipelines", len(pipes), "/ui/pipelines"},
		{"datasets", len(datasets), "/ui/datasets"},
		{"feature views", len(views), "/ui/features"},
	}
	if s.Alerts != nil {
		alerts, err := s.Alerts.Alerts(ctx, "", 50)
		if err != nil {
			return err
		}
		for _, a := range alerts {
			if a.State != monitor.Resolved && len(p.Alerts) < 5 {
				p.Alerts = append(p.Alerts, a)
			}
		}
	}
	p.EmptyPlatform = len(exps) == 0 && len(models) == 0 && len(datasets) == 0 && len(pipes) == 0
	return s.render(w, r, "home", "Overview", "home", p)
}

func experimentNames(exps []track.Experiment) map[string]string {
	m := make(map[string]string, len(exps))
	for _, e := range exps {
		m[e.ID] = e.Name
	}
	return m
}
