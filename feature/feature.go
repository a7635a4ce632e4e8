// Package feature is the feature store's domain: entities, feature views and
// the point-in-time-correct training sets built from them.
//
// The rules of a training set, which every offline engine implements and
// the online path mirrors:
//
//   - For a label row with entity keys K at time t, a view contributes the
//     row with keys K whose event time is the latest one at or before t —
//     never a row from the future.
//   - Rows ingested after the training set's AsOf time do not exist for it,
//     so a late backfill cannot leak into a training set built earlier.
//   - Among rows with the same keys and event time, the one ingested last
//     wins (as in the online store, where the later write of an equal event
//     time wins).
//   - A value older than the view's TTL at time t is missing (null), not
//     stale-but-present: the online path reports it the same way.
//   - Label rows keep their order and multiplicity; a label row whose
//     entity a view has never seen gets nulls for that view's features.
package feature

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/plinthml/plinth"
)

// Entity is a thing features describe, identified by its join keys.
type Entity struct {
	Name     string   `json:"name" yaml:"name"`
	JoinKeys []string `json:"join_keys" yaml:"join_keys"`
}

// View is a feature view: feature columns of a source, keyed by entities,
// stamped with event time.
type View struct {
	Name     string   `json:"name" yaml:"name"`
	Entities []string `json:"entities" yaml:"entities"`
	// Source is where the rows are: a Parquet or CSV file (or glob), or a
	// table the offline engine knows.
	Source string `json:"source" yaml:"source"`
	// Timestamp is the event-time column.
	Timestamp string `json:"timestamp" yaml:"timestamp"`
	// Ingested is the ingestion-time column that AsOf filters on; empty
	// when the source has none (then AsOf does not apply to the view).
	Ingested string          `json:"ingested,omitempty" yaml:"ingested,omitempty"`
	Features []string        `json:"features" yaml:"features"`
	TTL      plinth.Duration `json:"ttl,omitempty" yaml:"ttl,omitempty"` // 0: values never expire
	// Aggregations make the view a windowed aggregation of its source
	// instead of a selection of its columns; Features then lists the
	// aggregations' names (filled in by Normalize).
	Aggregations []Aggregation `json:"aggregations,omitempty" yaml:"aggregations,omitempty"`
	// Paths, when set, are the files the view's rows are in: a dataset's
	// snapshots, oldest first, which take the place of Source for the
	// engine. Each snapshot is one ingested batch, so its rows share one
	// ingestion time and a file's position orders ingestion times.
	Paths []string `json:"-" yaml:"-"`
}

// Aggregation functions.
var Functions = map[string]bool{"count": true, "sum": true, "mean": true, "min": true, "max": true, "last": true, "distinct_count": true}

// Aggregation is a windowed aggregation of a source column per entity. Its
// value at time t covers the source rows with event time in (t - Window, t]
// — at every t, not only at event times: a 1h count falls back as events
// age out of the hour. An empty window gives count and sum 0 and the other
// functions null; "last" is the value of the latest event in the window.
type Aggregation struct {
	Column   string          `json:"column,omitempty" yaml:"column,omitempty"` // not needed for count
	Function string          `json:"function" yaml:"function"`
	Window   plinth.Duration `json:"window" yaml:"window"`
	// Name is the feature's name; default FUNCTION_COLUMN_WINDOW, e.g.
	// mean_dep_delay_1h.
	Name string `json:"name,omitempty" yaml:"name,omitempty"`
}

// FeatureName is the aggregation's feature name.
func (a Aggregation) FeatureName() string {
	if a.Name != "" {
		return a.Name
	}
	w := a.Window.Std().String() // 1h0m0s -> 1h, 1h30m0s -> 1h30m, 30m0s -> 30m
	if strings.HasSuffix(w, "m0s") {
		w = w[:len(w)-2]
	}
	if strings.HasSuffix(w, "h0m") {
		w = w[:len(w)-2]
	}
	if h := a.Window.Std().Hours(); h >= 24 && h == float64(int(h)) && int(h)%24 == 0 {
		w = fmt.Sprintf("%dd", int(h)/24)
	}
	parts := []string{a.Function}
	if a.Column != "" {
		parts = append(parts, a.Column)
	}
	return strings.Join(append(parts, w), "_")
}

// Normalize fills in the features of an aggregated view from its
// aggregations and checks them.
func (v *View) Normalize() error {
	if len(v.Aggregations) == 0 {
		return nil
	}
	if len(v.Features) > 0 {
		names := make([]string, len(v.Aggregations))
		for i, a := range v.Aggregations {
			names[i] = a.FeatureName()
		}
		if strings.Join(names, ",") != strings.Join(v.Features, ",") {
			return plinth.Invalid("feature_views."+v.Name+".features", "an aggregated view's features are its aggregations (%s); leave features out", strings.Join(names, ", "))
		}
	}
	v.Features = nil
	for i, a := range v.Aggregations {
		field := fmt.Sprintf("feature_views.%s.aggregations[%d]", v.Name, i)
		if !Functions[a.Function] {
			return plinth.Invalid(field+".function", "%q is not one of count, sum, mean, min, max, last, distinct_count", a.Function)
		}
		if a.Column == "" && a.Function != "count" {
			return plinth.Invalid(field+".column", "%s needs a column", a.Function)
		}
		if a.Column != "" {
			if err := checkIdent(field+".column", a.Column); err != nil {
				return err
			}
		}
		if a.Window <= 0 {
			return plinth.Invalid(field+".window", "must be a positive duration such as 1h or 168h")
		}
		name := a.FeatureName()
		if err := checkIdent(field+".name", name); err != nil {
			return err
		}
		v.Features = append(v.Features, name)
	}
	return nil
}

// Service is a feature service: the named set of features a model uses.
// Features are "view.feature", or "view" for all of a view's features.
// Every change to a service's definition makes a new version, and a model
// version records the service version it was trained on.
type Service struct {
	Name     string   `json:"name" yaml:"name"`
	Features []string `json:"features" yaml:"features"`
	// OnDemand names on-demand features the service computes from request
	// data and its other features.
	OnDemand []string `json:"on_demand,omitempty" yaml:"on_demand,omitempty"`
}

// TrainingSetSpec asks for a point-in-time-correct training set.
type TrainingSetSpec struct {
	// Labels is the label table (file or table) holding the entity join
	// keys of every view, the Timestamp column and the labels.
	Labels    string
	Timestamp string
	Entities  []Entity
	Views     []View
	// AsOf, when set, ignores feature rows ingested after it.
	AsOf *time.Time
	// Output is the Parquet file to write.
	Output string
}

// TrainingSet is a built training set.
type TrainingSet struct {
	Path    string   `json:"path"`
	Rows    int64    `json:"rows"`
	Columns []string `json:"columns"`
}

// RangeSpec asks for a view's values over a time range, without labels:
// every row with event time in [Start, End), one per entity keys and event
// time (the last ingested), among the rows ingested by AsOf.
type RangeSpec struct {
	Entities   []Entity
	View       View
	Start, End time.Time
	AsOf       *time.Time
	Output     string
}

// Offline builds training sets from offline data.
type Offline interface {
	// TrainingSet writes the training set spec asks for. It returns
	// EINVALID for a spec that names missing columns or entities.
	TrainingSet(ctx context.Context, spec TrainingSetSpec) (*TrainingSet, error)
	// Range writes a view's rows over a time range.
	Range(ctx context.Context, spec RangeSpec) (*TrainingSet, error)
	// AddColumns rewrites a Parquet file with columns appended whose values
	// fn computes in Go from each row: how on-demand features join a
	// training set.
	AddColumns(ctx context.Context, path string, columns []NewColumn, fn func(row map[string]any) []any) error
}

// NewColumn is a column AddColumns appends: a name and an on-demand type.
type NewColumn struct {
	Name string
	Type string
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// checkIdent validates a name that becomes part of SQL and column names.
func checkIdent(field, name string) error {
	if !identifier.MatchString(name) || len(name) > 128 {
		return plinth.Invalid(field, "%q must be a letter or '_' followed by letters, digits or '_' (at most 128)", name)
	}
	return nil
}

// Column names a view's feature in a training set: view__feature.
func Column(view, feature string) string { return view + "__" + feature }

// JoinKeys returns the join keys of a view, in entity order.
func (s *TrainingSetSpec) JoinKeys(v View) ([]string, error) {
	var keys []string
	for _, name := range v.Entities {
		found := false
		for _, e := range s.Entities {
			if e.Name == name {
				keys = append(keys, e.JoinKeys...)
				found = true
			}
		}
		if !found {
			return nil, plinth.Invalid("views."+v.Name+".entities", "unknown entity %q", name)
		}
	}
	return keys, nil
}

// Validate checks the spec's names before any engine sees them.
func (s *TrainingSetSpec) Validate() error {
	if s.Labels == "" {
		return plinth.Invalid("labels", "must name the label table")
	}
	if err := checkIdent("timestamp", s.Timestamp); err != nil {
		return err
	}
	if s.Output == "" {
		return plinth.Invalid("output", "must name the Parquet file to write")
	}
	for i, e := range s.Entities {
		if err := checkIdent(fmt.Sprintf("entities[%d].name", i), e.Name); err != nil {
			return err
		}
		if len(e.JoinKeys) == 0 {
			return plinth.Invalid(fmt.Sprintf("entities[%d].join_keys", i), "an entity needs at least one join key")
		}
		for j, k := range e.JoinKeys {
			if err := checkIdent(fmt.Sprintf("entities[%d].join_keys[%d]", i, j), k); err != nil {
				return err
			}
		}
	}
	if len(s.Views) == 0 {
		return plinth.Invalid("views", "a training set needs at least one feature view")
	}
	seen := map[string]bool{}
	for i := range s.Views {
		if err := s.Views[i].Normalize(); err != nil {
			return err
		}
		v := s.Views[i]
		field := fmt.Sprintf("views[%d]", i)
		if err := checkIdent(field+".name", v.Name); err != nil {
			return err
		}
		if seen[v.Name] {
			return plinth.Invalid(field+".name", "view %q appears twice", v.Name)
		}
		seen[v.Name] = true
		if v.Source == "" {
			return plinth.Invalid(field+".source", "must not be empty")
		}
		if len(v.Entities) == 0 {
			return plinth.Invalid(field+".entities", "a view needs at least one entity")
		}
		if _, err := s.JoinKeys(v); err != nil {
			return err
		}
		if err := checkIdent(field+".timestamp", v.Timestamp); err != nil {
			return err
		}
		if v.Ingested != "" {
			if err := checkIdent(field+".ingested", v.Ingested); err != nil {
				return err
			}
		}
		if len(v.Features) == 0 {
			return plinth.Invalid(field+".features", "a view needs at least one feature")
		}
		for j, f := range v.Features {
			if err := checkIdent(fmt.Sprintf("%s.features[%d]", field, j), f); err != nil {
				return err
			}
		}
		if v.TTL < 0 {
			return plinth.Invalid(field+".ttl", "must not be negative")
		}
	}
	return nil
}

// Select resolves a service's features against views: the views it reads,
// each narrowed to the features the service names, in the service's order.
func (s *Service) Select(views []View) ([]View, error) {
	byName := map[string]View{}
	for _, v := range views {
		byName[v.Name] = v
	}
	var out []View
	index := map[string]int{}
	for i, ref := range s.Features {
		viewName, feat, one := strings.Cut(ref, ".")
		v, ok := byName[viewName]
		field := fmt.Sprintf("feature_services.%s.features[%d]", s.Name, i)
		if !ok {
			return nil, plinth.Invalid(field, "no feature view %q", viewName)
		}
		j, seen := index[viewName]
		if !seen {
			j = len(out)
			index[viewName] = j
			nv := v
			nv.Features = nil
			out = append(out, nv)
		}
		if !one {
			out[j].Features = append(out[j].Features, v.Features...)
			continue
		}
		found := false
		for _, f := range v.Features {
			if f == feat {
				found = true
			}
		}
		if !found {
			return nil, plinth.Invalid(field, "view %q has no feature %q", viewName, feat)
		}
		out[j].Features = append(out[j].Features, feat)
	}
	if len(out) == 0 {
		return nil, plinth.Invalid("feature_services."+s.Name+".features", "a service needs at least one feature")
	}
	return out, nil
}
