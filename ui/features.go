package ui

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/dataset"
	"github.com/plinthml/plinth/feature"
	"github.com/plinthml/plinth/project"
)

type featuresPage struct {
	Entities []feature.Entity
	Views    []viewRow
	Services []serviceRow
}

type viewRow struct {
	feature.View
	Dataset bool // Source is a registered dataset
}

type serviceRow struct {
	feature.Service
	Version int
}

func (s *server) features(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	ents, views, err := s.Features.Features(ctx)
	if err != nil {
		return err
	}
	known, err := s.datasetNames(ctx)
	if err != nil {
		return err
	}
	p := featuresPage{Entities: ents}
	for _, v := range views {
		p.Views = append(p.Views, viewRow{View: v, Dataset: known[v.Source]})
	}
	sort.Slice(p.Views, func(i, j int) bool { return p.Views[i].Name < p.Views[j].Name })
	if p.Services, err = s.services(ctx); err != nil {
		return err
	}
	return s.render(w, r, "features", "Features", "features", p)
}

func (s *server) datasetNames(ctx context.Context) (map[string]bool, error) {
	names, err := s.Datasets.Datasets(ctx)
	if err != nil {
		return nil, err
	}
	known := make(map[string]bool, len(names))
	for _, n := range names {
		known[n] = true
	}
	return known, nil
}

// services lists the feature services of the registered project, when the
// UI has the definitions store.
func (s *server) services(ctx context.Context) ([]serviceRow, error) {
	if s.Definitions == nil {
		return nil, nil
	}
	defs, err := s.Definitions.Definitions(ctx)
	if err != nil {
		return nil, err
	}
	var out []serviceRow
	for _, d := range defs {
		if d.Kind != project.KindService {
			continue
		}
		var svc feature.Service
		if err := json.Unmarshal(d.Spec, &svc); err != nil {
			continue // one unreadable definition does not hide the others
		}
		out = append(out, serviceRow{svc, d.Version})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

type viewPage struct {
	View     feature.View
	Entities []feature.Entity
	Columns  []viewColumn
	Dataset  bool
	Latest   *dataset.Version
	Versions []dataset.Version // the newest snapshots behind the view
	More     int
	// Online is the source version the online store holds (0: none);
	// Behind counts the versions not materialized yet.
	Online, Behind int
	HasOnline      bool
	Age            time.Duration // of the newest event, at ingestion
	Services       []serviceRow
}

type viewColumn struct {
	Name, Type, Detail string
}

func (s *server) featureView(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	ents, views, err := s.Features.Features(ctx)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(views, func(v feature.View) bool { return v.Name == r.PathValue("view") })
	if i < 0 {
		return plinth.NotFound("feature view", r.PathValue("view"))
	}
	v := views[i]
	p := viewPage{View: v}
	for _, e := range ents {
		if slices.Contains(v.Entities, e.Name) {
			p.Entities = append(p.Entities, e)
		}
	}
	known, err := s.datasetNames(ctx)
	if err != nil {
		return err
	}
	types := map[string]string{}
	if known[v.Source] {
		p.Dataset = true
		vs, err := s.Datasets.DatasetVersions(ctx, v.Source)
		if err != nil {
			return err
		}
		sort.Slice(vs, func(i, j int) bool { return vs[i].Version > vs[j].Version })
		p.Latest = newest(vs)
		if len(vs) > 10 {
			p.More = len(vs) - 10
			vs = vs[:10]
		}
		p.Versions = vs
		if p.Latest != nil {
			for _, f := range p.Latest.Schema {
				types[f.Name] = f.Type
			}
			if p.Latest.MaxEvent != nil {
				p.Age = p.Latest.IngestedAt.Sub(*p.Latest.MaxEvent)
			}
		}
		if s.Watermarks != nil && len(v.Aggregations) == 0 {
			spec := feature.TrainingSetSpec{Entities: ents}
			if keys, err := spec.JoinKeys(v); err == nil {
				if wm, err := s.Watermarks.Watermark(ctx, feature.OnlineView(v, keys)); err == nil {
					p.HasOnline, p.Online = true, wm
					if p.Latest != nil {
						p.Behind = max(0, p.Latest.Version-wm)
					}
				}
			}
		}
	}
	aggs := map[string]feature.Aggregation{}
	for _, a := range v.Aggregations {
		aggs[a.FeatureName()] = a
	}
	for _, f := range v.Features {
		c := viewColumn{Name: f, Type: types[f]}
		if a, ok := aggs[f]; ok {
			c.Type = "aggregation"
			c.Detail = a.Function
			if a.Column != "" {
				c.Detail += " of " + a.Column
			}
			c.Detail += " over " + shortDuration(a.Window.Std())
		}
		p.Columns = append(p.Columns, c)
	}
	svcs, err := s.services(ctx)
	if err != nil {
		return err
	}
	for _, svc := range svcs {
		for _, f := range svc.Features {
			if f == v.Name || strings.HasPrefix(f, v.Name+".") {
				p.Services = append(p.Services, svc)
				break
			}
		}
	}
	return s.render(w, r, "view", "Feature view "+v.Name, "features", p)
}
