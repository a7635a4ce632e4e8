package feature

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/plinthml/plinth"
)

// Catalog is where a builder finds registered definitions.
type Catalog interface {
	Features(ctx context.Context) ([]Entity, []View, error)
	OnDemand(ctx context.Context) ([]OnDemand, error)
	// Service returns a feature service and its current version.
	Service(ctx context.Context, name string) (*Service, int, error)
}

// Snapshots turns a dataset name into the local Parquet files of its
// versions: Files those ingested by asOf (all of them when asOf is nil),
// Since those numbered after version after, with the last number. Both
// oldest first. Version numbers follow commit order, so Since never skips
// a version that committed late.
type Snapshots interface {
	Files(ctx context.Context, dataset string, asOf *time.Time) ([]string, error)
	Since(ctx context.Context, dataset string, after int) (files []string, last int, err error)
}

// Builder builds training sets for feature services from registered
// definitions and dataset snapshots.
type Builder struct {
	Catalog   Catalog
	Snapshots Snapshots
	Offline   Offline
}

// Request asks for a feature service's training set.
type Request struct {
	Service   string     `json:"service"`
	Labels    string     `json:"labels"`    // file or table with the entity keys, Timestamp and labels
	Timestamp string     `json:"timestamp"` // the label time column
	AsOf      *time.Time `json:"as_of,omitempty"`
	Output    string     `json:"output"`
}

// Built is a built training set and what it was built from.
type Built struct {
	TrainingSet
	Service        string   `json:"service"`
	ServiceVersion int      `json:"service_version"`
	Sources        []string `json:"sources"` // "view <- dataset (n files)"
}

// Build resolves the service's views, points each view over a dataset at
// that dataset's snapshot files (only those ingested by AsOf), and asks the
// offline engine for the point-in-time join.
func (b *Builder) Build(ctx context.Context, req Request) (*Built, error) {
	svc, version, err := b.Catalog.Service(ctx, req.Service)
	if err != nil {
		return nil, err
	}
	entities, views, err := b.Catalog.Features(ctx)
	if err != nil {
		return nil, err
	}
	selected, err := svc.Select(views)
	if err != nil {
		return nil, err
	}
	built := &Built{Service: svc.Name, ServiceVersion: version}
	for i := range selected {
		v := &selected[i]
		if strings.ContainsAny(v.Source, "./") {
			built.Sources = append(built.Sources, fmt.Sprintf("%s <- %s", v.Name, v.Source))
			continue
		}
		files, err := b.Snapshots.Files(ctx, v.Source, req.AsOf)
		if err != nil {
			return nil, fmt.Errorf("feature view %s: %w", v.Name, err)
		}
		if len(files) == 0 {
			return nil, plinth.Errorf(plinth.EINVALID, "feature view %s: dataset %q has no data ingested by then", v.Name, v.Source)
		}
		v.Paths = files
		built.Sources = append(built.Sources, fmt.Sprintf("%s <- dataset %s (%d snapshots)", v.Name, v.Source, len(files)))
	}
	ts, err := b.Offline.TrainingSet(ctx, TrainingSetSpec{
		Labels: req.Labels, Timestamp: req.Timestamp, Entities: entities, Views: selected, AsOf: req.AsOf, Output: req.Output,
	})
	if err != nil {
		return nil, err
	}
	if len(svc.OnDemand) > 0 {
		prog, err := onDemandProgram(ctx, b.Catalog, svc, ts.Columns)
		if err != nil {
			return nil, err
		}
		var cols []NewColumn
		for _, od := range prog.features {
			cols = append(cols, NewColumn{Name: od.Name, Type: od.Type})
			ts.Columns = append(ts.Columns, od.Name)
		}
		// The label table's columns are the request data, the joined
		// features the features: what serving will pass in.
		features := map[string]bool{}
		for _, c := range prog.inputs {
			features[c] = true
		}
		err = b.Offline.AddColumns(ctx, ts.Path, cols, func(row map[string]any) []any {
			request, values := map[string]any{}, map[string]any{}
			for k, v := range row {
				if features[k] {
					values[k] = v
				} else {
					request[k] = v
				}
			}
			return prog.Eval(request, values)
		})
		if err != nil {
			return nil, err
		}
	}
	built.TrainingSet = *ts
	return built, nil
}

// onDemandProgram compiles a service's on-demand features over its feature
// columns.
func onDemandProgram(ctx context.Context, c Catalog, svc *Service, columns []string) (*Program, error) {
	all, err := c.OnDemand(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string]OnDemand{}
	for _, od := range all {
		byName[od.Name] = od
	}
	var chosen []OnDemand
	for i, name := range svc.OnDemand {
		od, ok := byName[name]
		if !ok {
			return nil, plinth.Invalid(fmt.Sprintf("feature_services.%s.on_demand[%d]", svc.Name, i), "no on-demand feature %q", name)
		}
		chosen = append(chosen, od)
	}
	return Compile(chosen, columns)
}

// Range writes a registered view's rows over [start, end) to output, as of
// asOf (nil: now).
func (b *Builder) Range(ctx context.Context, view string, start, end time.Time, asOf *time.Time, output string) (*TrainingSet, error) {
	entities, views, err := b.Catalog.Features(ctx)
	if err != nil {
		return nil, err
	}
	for _, v := range views {
		if v.Name != view {
			continue
		}
		if !strings.ContainsAny(v.Source, "./") {
			if v.Paths, err = b.Snapshots.Files(ctx, v.Source, asOf); err != nil {
				return nil, err
			}
			if len(v.Paths) == 0 {
				return nil, plinth.Errorf(plinth.EINVALID, "feature view %s: dataset %q has no data ingested by then", v.Name, v.Source)
			}
		}
		return b.Offline.Range(ctx, RangeSpec{Entities: entities, View: v, Start: start, End: end, AsOf: asOf, Output: output})
	}
	return nil, plinth.NotFound("feature view", view)
}
