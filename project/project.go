// Package project is the declarative project file: entities, dataset specs,
// feature views and feature services written in YAML (plinth.yaml, or a
// folder of YAML files), checked as a whole, compared with what is
// registered (plan: a readable diff) and registered atomically (apply).
// Removals are explicit: apply deletes what the file no longer holds only
// when asked to prune.
package project

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/dataset"
	"github.com/plinthml/plinth/feature"
	"github.com/plinthml/plinth/monitor"
	"github.com/plinthml/plinth/pipeline"
)

// File is a project's definitions.
type File struct {
	Entities  []feature.Entity   `yaml:"entities,omitempty"`
	Datasets  []dataset.Spec     `yaml:"datasets,omitempty"`
	Views     []feature.View     `yaml:"feature_views,omitempty"`
	Services  []feature.Service  `yaml:"feature_services,omitempty"`
	OnDemand  []feature.OnDemand `yaml:"on_demand_features,omitempty"`
	Pipelines []pipeline.Spec    `yaml:"pipelines,omitempty"`
	Monitors  []monitor.Spec     `yaml:"monitors,omitempty"`
}

// Load reads a project file, or every .yaml and .yml file of a folder (in
// name order), strictly: unknown fields are errors naming the file and line.
func Load(path string) (*File, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	files := []string{path}
	if info.IsDir() {
		files = nil
		entries, err := os.ReadDir(path)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if ext := filepath.Ext(e.Name()); !e.IsDir() && (ext == ".yaml" || ext == ".yml") {
				files = append(files, filepath.Join(path, e.Name()))
			}
		}
		if len(files) == 0 {
			return nil, plinth.Invalid("project", "%s holds no .yaml files", path)
		}
	}
	var all File
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		part, err := Parse(raw)
		if err != nil {
			return nil, plinth.Invalid("project", "%s: %s", f, plinth.ErrorMessage(err))
		}
		all.Entities = append(all.Entities, part.Entities...)
		all.Datasets = append(all.Datasets, part.Datasets...)
		all.Views = append(all.Views, part.Views...)
		all.Services = append(all.Services, part.Services...)
		all.OnDemand = append(all.OnDemand, part.OnDemand...)
		all.Monitors = append(all.Monitors, part.Monitors...)
		for _, p := range part.Pipelines {
			all.Pipelines = append(all.Pipelines, anchor(p, filepath.Dir(f)))
		}
	}
	if err := all.Validate(); err != nil {
		return nil, err
	}
	return &all, nil
}

// MaxFileSize bounds one project file.
const MaxFileSize = 4 << 20

// Parse decodes one project file strictly (unknown fields are errors), without
// checking references between definitions.
func Parse(raw []byte) (*File, error) {
	if len(raw) > MaxFileSize {
		return nil, plinth.Invalid("project", "file is larger than %d bytes", MaxFileSize)
	}
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && err != io.EOF {
		return nil, plinth.Invalid("project", "%v", err)
	}
	return &f, nil
}

// Validate checks every definition and the references between them. A
// view may also read a dataset named in registered, which exists outside
// the file.
func (f *File) Validate(registered ...string) error {
	names := map[string]map[string]bool{}
	unique := func(kind, name string) error {
		if names[kind] == nil {
			names[kind] = map[string]bool{}
		}
		if names[kind][name] {
			return plinth.Invalid(kind, "%q is defined twice", name)
		}
		names[kind][name] = true
		return nil
	}
	for _, d := range f.Datasets {
		if err := d.Validate(); err != nil {
			return prefix("datasets."+d.Name, err)
		}
		if err := unique(KindDataset, d.Name); err != nil {
			return err
		}
	}
	known := map[string]bool{}
	for _, d := range registered {
		known[d] = true
	}
	for d := range names[KindDataset] {
		known[d] = true
	}
	for _, e := range f.Entities {
		if err := unique(KindEntity, e.Name); err != nil {
			return err
		}
	}
	for i := range f.Views {
		if err := f.Views[i].Normalize(); err != nil {
			return err
		}
		v := f.Views[i]
		if err := unique(KindView, v.Name); err != nil {
			return err
		}
		// A view's source is a dataset of the project or a file.
		if !strings.ContainsAny(v.Source, "./") && !known[v.Source] {
			return plinth.Invalid("feature_views."+v.Name+".source", "%q is neither a dataset of the project nor a file", v.Source)
		}
	}
	// The feature package validates views and entities as a training set
	// would see them.
	if len(f.Views) > 0 {
		spec := feature.TrainingSetSpec{Labels: "labels", Timestamp: "ts", Output: "out", Entities: f.Entities, Views: f.Views}
		if err := spec.Validate(); err != nil {
			return err
		}
	}
	onDemand := map[string]feature.OnDemand{}
	for _, od := range f.OnDemand {
		if err := unique(KindOnDemand, od.Name); err != nil {
			return err
		}
		onDemand[od.Name] = od
	}
	for _, s := range f.Services {
		if err := unique(KindService, s.Name); err != nil {
			return err
		}
		selected, err := s.Select(f.Views)
		if err != nil {
			return err
		}
		// On-demand features compile against the service's own features.
		var columns []string
		for _, v := range selected {
			for _, c := range v.Features {
				columns = append(columns, feature.Column(v.Name, c))
			}
		}
		var chosen []feature.OnDemand
		for i, name := range s.OnDemand {
			od, ok := onDemand[name]
			if !ok {
				return plinth.Invalid(fmt.Sprintf("feature_services.%s.on_demand[%d]", s.Name, i), "no on-demand feature %q", name)
			}
			chosen = append(chosen, od)
		}
		if _, err := feature.Compile(chosen, columns); err != nil {
			return prefix("feature_services."+s.Name, err)
		}
	}
	kinds := pipeline.Kinds(&pipeline.Services{})
	for _, p := range f.Pipelines {
		if err := unique(KindPipeline, p.Name); err != nil {
			return err
		}
		if err := p.Validate(kinds); err != nil {
			return prefix("pipelines."+p.Name, err)
		}
	}
	for _, m := range f.Monitors {
		if err := m.Validate(); err != nil {
			return prefix("monitors."+m.Endpoint, err)
		}
		if err := unique(KindMonitor, m.Endpoint); err != nil {
			return err
		}
		if m.Retrain != nil && !names[KindPipeline][m.Retrain.Pipeline] {
			return plinth.Invalid("monitors."+m.Endpoint+".retrain.pipeline", "no pipeline %q in the project", m.Retrain.Pipeline)
		}
	}
	return nil
}

// anchor makes a pipeline's paths independent of where it runs: file
// references become absolute, and command steps run in the project
// file's folder unless they say otherwise.
func anchor(p pipeline.Spec, dir string) pipeline.Spec {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return p
	}
	steps := make([]pipeline.Step, len(p.Steps))
	for i, st := range p.Steps {
		inputs := map[string]string{}
		for k, ref := range st.Inputs {
			if f, ok := strings.CutPrefix(ref, "file:"); ok && !filepath.IsAbs(f) {
				ref = "file:" + filepath.Join(abs, f)
			}
			inputs[k] = ref
		}
		if len(st.Inputs) > 0 {
			st.Inputs = inputs
		}
		if st.Kind == "command" {
			with := map[string]any{}
			for k, v := range st.With {
				with[k] = v
			}
			if d, ok := with["dir"].(string); !ok {
				with["dir"] = abs
			} else if !filepath.IsAbs(d) {
				with["dir"] = filepath.Join(abs, d)
			}
			st.With = with
		}
		steps[i] = st
	}
	p.Steps = steps
	return p
}

func prefix(p string, err error) error {
	if pe, ok := err.(*plinth.Error); ok {
		return &plinth.Error{Code: pe.Code, Field: p + "." + pe.Field, Message: pe.Message}
	}
	return err
}

// Definitions flattens the file into definitions, in a stable order.
func (f *File) Definitions() []Definition {
	var out []Definition
	add := func(kind, name string, v any) {
		raw, _ := json.Marshal(v)
		out = append(out, Definition{Kind: kind, Name: name, Spec: raw})
	}
	for _, d := range f.Datasets {
		add(KindDataset, d.Name, d)
	}
	for _, e := range f.Entities {
		add(KindEntity, e.Name, e)
	}
	for _, v := range f.Views {
		if v.Ingested == "" && !strings.ContainsAny(v.Source, "./") {
			v.Ingested = dataset.IngestedAt // dataset snapshots carry their ingestion time
		}
		add(KindView, v.Name, v)
	}
	for _, s := range f.Services {
		add(KindService, s.Name, s)
	}
	for _, od := range f.OnDemand {
		add(KindOnDemand, od.Name, od)
	}
	for _, p := range f.Pipelines {
		add(KindPipeline, p.Name, p)
	}
	for _, m := range f.Monitors {
		add(KindMonitor, m.Endpoint, m)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return kindOrder(out[i].Kind) < kindOrder(out[j].Kind)
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func kindOrder(k string) int {
	return map[string]int{KindDataset: 0, KindEntity: 1, KindView: 2, KindOnDemand: 3, KindService: 4, KindPipeline: 5, KindMonitor: 6}[k]
}

// Change is one difference between the file and the registry.
type Change struct {
	Action  string // "add", "change", "remove" or "keep" (registered, not in the file, not pruned)
	Kind    string
	Name    string
	Version int // registered version, 0 for an addition
	Diff    string
}

// Plan compares the file with the registered definitions. Definitions the
// file lacks are removed only with prune; otherwise they are kept and the
// plan says so.
func Plan(f *File, registered []Definition, prune bool) []Change {
	current := map[string]Definition{}
	for _, d := range registered {
		current[d.Kind+"/"+d.Name] = d
	}
	var changes []Change
	seen := map[string]bool{}
	for _, d := range f.Definitions() {
		key := d.Kind + "/" + d.Name
		seen[key] = true
		old, ok := current[key]
		switch {
		case !ok:
			changes = append(changes, Change{Action: "add", Kind: d.Kind, Name: d.Name, Diff: lineDiff("", toYAML(d.Spec))})
		case !jsonEqual(old.Spec, d.Spec):
			changes = append(changes, Change{Action: "change", Kind: d.Kind, Name: d.Name, Version: old.Version, Diff: lineDiff(toYAML(old.Spec), toYAML(d.Spec))})
		}
	}
	for _, d := range registered {
		if seen[d.Kind+"/"+d.Name] {
			continue
		}
		action := "keep"
		if prune {
			action = "remove"
		}
		changes = append(changes, Change{Action: action, Kind: d.Kind, Name: d.Name, Version: d.Version, Diff: lineDiff(toYAML(d.Spec), "")})
	}
	return changes
}

// Apply registers the changes of a plan in one transaction.
func Apply(ctx context.Context, s Store, f *File, changes []Change) error {
	byKey := map[string]Definition{}
	for _, d := range f.Definitions() {
		byKey[d.Kind+"/"+d.Name] = d
	}
	var set, remove []Definition
	for _, c := range changes {
		switch c.Action {
		case "add", "change":
			set = append(set, byKey[c.Kind+"/"+c.Name])
		case "remove":
			remove = append(remove, Definition{Kind: c.Kind, Name: c.Name})
		}
	}
	if len(set) == 0 && len(remove) == 0 {
		return nil
	}
	return s.ApplyDefinitions(ctx, set, remove, plinth.PrincipalFrom(ctx))
}

// Render writes a plan for a person.
func Render(changes []Change) string {
	var b strings.Builder
	counts := map[string]int{}
	for _, c := range changes {
		counts[c.Action]++
		switch c.Action {
		case "add":
			fmt.Fprintf(&b, "+ %s %s (new)\n", c.Kind, c.Name)
		case "change":
			fmt.Fprintf(&b, "~ %s %s (version %d -> %d)\n", c.Kind, c.Name, c.Version, c.Version+1)
		case "remove":
			fmt.Fprintf(&b, "- %s %s (removed)\n", c.Kind, c.Name)
		case "keep":
			fmt.Fprintf(&b, "  %s %s is registered but not in the project; kept (apply --prune removes it)\n", c.Kind, c.Name)
			continue
		}
		for _, line := range strings.Split(strings.TrimRight(c.Diff, "\n"), "\n") {
			fmt.Fprintf(&b, "    %s\n", line)
		}
	}
	if counts["add"]+counts["change"]+counts["remove"] == 0 {
		b.WriteString("No changes: the registry matches the project.\n")
	} else {
		fmt.Fprintf(&b, "Plan: %d to add, %d to change, %d to remove.\n", counts["add"], counts["change"], counts["remove"])
	}
	return b.String()
}

func toYAML(spec json.RawMessage) string {
	if len(spec) == 0 {
		return ""
	}
	var v any
	if err := json.Unmarshal(spec, &v); err != nil {
		return string(spec)
	}
	out, _ := yaml.Marshal(v)
	return string(out)
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	ra, _ := json.Marshal(x)
	rb, _ := json.Marshal(y)
	return bytes.Equal(ra, rb)
}

// lineDiff marks the lines only in old with "-" and only in new with "+",
// keeping common lines for context: enough for definitions a few dozen
// lines long.
func lineDiff(old, new string) string {
	a, b := splitLines(old), splitLines(new)
	// Longest common subsequence, then walk it.
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out strings.Builder
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			out.WriteString("  " + a[i] + "\n")
			i, j = i+1, j+1
		case j < len(b) && (i == len(a) || lcs[i][j+1] >= lcs[i+1][j]):
			out.WriteString("+ " + b[j] + "\n")
			j++
		default:
			out.WriteString("- " + a[i] + "\n")
			i++
		}
	}
	return out.String()
}

func splitLines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// Merge applies set and remove to the registered definitions and returns
// the project they would form, for validation before an apply.
func Merge(current, set, remove []Definition) (*File, error) {
	byKey := map[string]Definition{}
	var order []string
	for _, d := range current {
		byKey[d.Kind+"/"+d.Name] = d
		order = append(order, d.Kind+"/"+d.Name)
	}
	for _, d := range set {
		if _, ok := byKey[d.Kind+"/"+d.Name]; !ok {
			order = append(order, d.Kind+"/"+d.Name)
		}
		byKey[d.Kind+"/"+d.Name] = d
	}
	for _, d := range remove {
		delete(byKey, d.Kind+"/"+d.Name)
	}
	var f File
	for _, key := range order {
		d, ok := byKey[key]
		if !ok {
			continue
		}
		var err error
		switch d.Kind {
		case KindEntity:
			err = appendSpec(&f.Entities, d.Spec)
		case KindDataset:
			err = appendSpec(&f.Datasets, d.Spec)
		case KindView:
			err = appendSpec(&f.Views, d.Spec)
		case KindService:
			err = appendSpec(&f.Services, d.Spec)
		case KindOnDemand:
			err = appendSpec(&f.OnDemand, d.Spec)
		case KindPipeline:
			err = appendSpec(&f.Pipelines, d.Spec)
		case KindMonitor:
			err = appendSpec(&f.Monitors, d.Spec)
		default:
			return nil, plinth.Invalid("kind", "%q is not one of dataset, entity, feature_view, on_demand_feature, feature_service, pipeline, monitor", d.Kind)
		}
		if err != nil {
			return nil, plinth.Invalid(d.Kind+"."+d.Name, "%v", err)
		}
	}
	return &f, nil
}

// appendSpec decodes one stored spec onto the end of list.
func appendSpec[T any](list *[]T, raw json.RawMessage) error {
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	*list = append(*list, v)
	return nil
}
