package ui

import (
	"context"
	"fmt"
	"net/url"
	"strconv"

	"github.com/plinthml/plinth/deploy"
	"github.com/plinthml/plinth/registry"
	"github.com/plinthml/plinth/track"
)

// lineage is the picture of where a model version came from and where it
// went: raw dataset snapshots -> feature views -> feature service -> the
// training run (with the dataset versions it read) -> the version -> the
// endpoints that serve it. Every box links to its page.
func (s *server) lineage(ctx context.Context, v *registry.Version, run *track.Run, eps []deploy.Endpoint) (graph, error) {
	var g graph
	seen := map[string]bool{}
	add := func(n gnode) {
		if !seen[n.ID] {
			seen[n.ID] = true
			g.Nodes = append(g.Nodes, n)
		}
	}
	vid := "version"
	add(gnode{ID: vid, Label: fmt.Sprintf("%s v%d", v.Model, v.Version), Sub: "model version", Class: "lineage-version",
		Href: fmt.Sprintf("/ui/models/%s/versions/%d", url.PathEscape(v.Model), v.Version)})
	// What trained the version: its run, else the version itself.
	trained := vid
	if v.RunID != "" {
		label := v.RunID
		if run != nil && run.Name != "" {
			label = run.Name
		}
		add(gnode{ID: "run", Label: label, Sub: "training run", Class: "lineage-run", Href: "/ui/runs/" + url.PathEscape(v.RunID)})
		g.Edges = append(g.Edges, gedge{"run", vid})
		trained = "run"
	}
	datasets := v.Datasets
	if len(datasets) == 0 && run != nil {
		for _, in := range run.Inputs {
			datasets = append(datasets, registry.DatasetRef{Name: in.Name, Version: in.Version, Digest: in.Digest, Role: in.Role})
		}
	}
	for _, d := range datasets {
		id := "dataset " + d.Name + "@" + d.Version
		sub := "dataset"
		if d.Role != "" {
			sub = d.Role + " set"
		}
		add(gnode{ID: id, Label: d.Name + " v" + d.Version, Sub: sub, Class: "lineage-dataset", Href: datasetHref(d.Name, d.Version)})
		g.Edges = append(g.Edges, gedge{id, trained})
	}
	if v.FeatureService != "" {
		sid := "service " + v.FeatureService
		add(gnode{ID: sid, Label: v.FeatureService, Sub: "feature service v" + strconv.Itoa(v.FeatureServiceVersion), Class: "lineage-service", Href: "/ui/features#service-" + url.PathEscape(v.FeatureService)})
		g.Edges = append(g.Edges, gedge{sid, trained})
		if err := s.serviceLineage(ctx, &g, add, v.FeatureService, sid); err != nil {
			return g, err
		}
	}
	for _, e := range eps {
		id := "endpoint " + e.Name
		sub := "endpoint, stable"
		if e.Candidate != nil && e.Candidate.Model == v.Model && e.Candidate.Version == v.Version {
			sub = "endpoint, " + e.Strategy
		}
		add(gnode{ID: id, Label: e.Name, Sub: sub, Class: "lineage-endpoint", Href: "/ui/endpoints/" + url.PathEscape(e.Name)})
		g.Edges = append(g.Edges, gedge{vid, id})
	}
	return g, nil
}

// serviceLineage adds a feature service's views and the datasets they read.
// A service since removed from the project leaves the service box alone.
func (s *server) serviceLineage(ctx context.Context, g *graph, add func(gnode), service, sid string) error {
	svc, _, err := s.Features.Service(ctx, service)
	if err != nil {
		return nil
	}
	_, views, err := s.Features.Features(ctx)
	if err != nil {
		return err
	}
	selected, err := svc.Select(views)
	if err != nil {
		return nil
	}
	known := map[string]bool{}
	if names, err := s.Datasets.Datasets(ctx); err == nil {
		for _, n := range names {
			known[n] = true
		}
	}
	for _, fv := range selected {
		id := "view " + fv.Name
		add(gnode{ID: id, Label: fv.Name, Sub: "feature view", Class: "lineage-view", Href: "/ui/features/" + url.PathEscape(fv.Name)})
		g.Edges = append(g.Edges, gedge{id, sid})
		if known[fv.Source] {
			did := "source " + fv.Source
			add(gnode{ID: did, Label: fv.Source, Sub: "raw snapshots", Class: "lineage-dataset", Href: "/ui/datasets/" + url.PathEscape(fv.Source)})
			g.Edges = append(g.Edges, gedge{did, id})
		}
	}
	return nil
}

func datasetHref(name, version string) string {
	h := "/ui/datasets/" + url.PathEscape(name)
	if version != "" {
		h += "#v" + url.PathEscape(version)
	}
	return h
}
