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
	defs, err := c.Store.Definitions(ctx)
	if err != nil {
		return nil, err
	}
	var out []feature.OnDemand
	for _, d := range defs {
		if d.Kind == KindOnDemand {
			var od feature.OnDemand
			if err := json.Unmarshal(d.Spec, &od); err != nil {
				return nil, fmt.Errorf("on-demand feature %s: %w", d.Name, err)
			}
			out = append(out, od)
		}
	}
	return out, nil
}

// Pipelines returns the registered pipelines.
func (c Catalog) Pipelines(ctx context.Context) ([]pipeline.Registered, error) {
	defs, err := c.Store.Definitions(ctx)
	if err != nil {
		return nil, err
	}
	var out []pipeline.Registered
	for _, d := range defs {
		if d.Kind != KindPipeline {
			continue
		}
		var p pipeline.Spec
		if err := json.Unmarshal(d.Spec, &p); err != nil {
			return nil, fmt.Errorf("pipeline %s: %w", d.Name, err)
		}
		out = append(out, pipeline.Registered{Spec: p, Version: d.Version, UpdatedAt: d.UpdatedAt})
	}
	return out, nil
}

// Pipeline returns a registered pipeline, or ENOTFOUND.
func (c Catalog) Pipeline(ctx context.Context, name string) (*pipeline.Registered, error) {
	ps, err := c.Pipelines(ctx)
	if err != nil {
		return nil, err
	}
	for i := range ps {
		if ps[i].Spec.Name == name {
			return &ps[i], nil
		}
	}
	return nil, plinth.NotFound("pipeline", name)
}

// Monitors returns the registered monitors.
func (c Catalog) Monitors(ctx context.Context) ([]monitor.Spec, error) {
	defs, err := c.Store.Definitions(ctx)
	if err != nil {
		return nil, err
	}
	var out []monitor.Spec
	for _, d := range defs {
		if d.Kind != KindMonitor {
			continue
		}
		var m monitor.Spec
		if err := json.Unmarshal(d.Spec, &m); err != nil {
			return nil, fmt.Errorf("monitor %s: %w", d.Name, err)
		}
		out = append(out, m)
	}
	return out, nil
}
