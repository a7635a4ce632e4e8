package project

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/feature"
	"github.com/plinthml/plinth/monitor"
	"github.com/plinthml/plinth/pipeline"
)

// Catalog reads the registered feature definitions as typed values.
type Catalog struct {
	Store Store
}

var _ feature.Catalog = Catalog{}

// Features returns the registered entities and feature views.
func (c Catalog) Features(ctx context.Context) ([]feature.Entity, []feature.View, error) {
	defs, err := c.Store.Definitions(ctx)
	if err != nil {
		return nil, nil, err
	}
	var entities []feature.Entity
	var views []feature.View
	for _, d := range defs {
		switch d.Kind {
		case KindEntity:
			var e feature.Entity
			if err := json.Unmarshal(d.Spec, &e); err != nil {
				return nil, nil, fmt.Errorf("entity %s: %w", d.Name, err)
			}
			entities = append(entities, e)
		case KindView:
			var v feature.View
			if err := json.Unmarshal(d.Spec, &v); err != nil {
				return nil, nil, fmt.Errorf("feature view %s: %w", d.Name, err)
			}
			views = append(views, v)
		}
	}
	return entities, views, nil
}

// Service returns a registered feature service and its version.
func (c Catalog) Service(ctx context.Context, name string) (*feature.Service, int, error) {
	defs, err := c.Store.Definitions(ctx)
	if err != nil {
		return nil, 0, err
	}
	for _, d := range defs {
		if d.Kind == KindService && d.Name == name {
			var s feature.Service
			if err := json.Unmarshal(d.Spec, &s); err != nil {
				return nil, 0, fmt.Errorf("feature service %s: %w", name, err)
			}
			return &s, d.Version, nil
		}
	}
	return nil, 0, plinth.NotFound("feature service", name)
}

// OnDemand returns the registered on-demand features.
func (c Catalog) OnDemand(ctx context.Context) ([]feature.OnDemand, error) {
	var out []feature.OnDemand
	err := eachSpec(ctx, c.Store, KindOnDemand, func(_ Definition, od feature.OnDemand) {
		out = append(out, od)
	})
	return out, err
}

// Pipelines returns the registered pipelines.
func (c Catalog) Pipelines(ctx context.Context) ([]pipeline.Registered, error) {
	var out []pipeline.Registered
	err := eachSpec(ctx, c.Store, KindPipeline, func(d Definition, p pipeline.Spec) {
		out = append(out, pipeline.Registered{Spec: p, Version: d.Version, UpdatedAt: d.UpdatedAt})
	})
	return out, err
}

// Monitors returns the registered monitors.
func (c Catalog) Monitors(ctx context.Context) ([]monitor.Spec, error) {
	var out []monitor.Spec
	err := eachSpec(ctx, c.Store, KindMonitor, func(_ Definition, m monitor.Spec) {
		out = append(out, m)
	})
	return out, err
}

// eachSpec calls fn with every registered definition of a kind, its spec
// decoded.
func eachSpec[T any](ctx context.Context, s Store, kind string, fn func(Definition, T)) error {
	defs, err := s.Definitions(ctx)
	if err != nil {
		return err
	}
	for _, d := range defs {
		if d.Kind != kind {
			continue
		}
		var v T
		if err := json.Unmarshal(d.Spec, &v); err != nil {
			return fmt.Errorf("%s %s: %w", kind, d.Name, err)
		}
		fn(d, v)
	}
	return nil
}
