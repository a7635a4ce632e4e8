// Package pipeline runs DAGs of typed steps — build a training set, train,
// evaluate against the champion, gate, register, deploy, or any command —
// reproducibly: every step is keyed on the content of what it reads, so a
// rerun with nothing changed is a visible cache hit, and every attempt
// records its inputs, outputs, logs and cost in the same transaction as its
// result. A run survives its executor: runs are leased, and an expired lease
// lets another executor resume the run where it stopped.
package pipeline

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/plinthml/plinth"
)

// Type is the type of a value flowing between steps.
type Type string

// The types of step inputs and outputs.
const (
	Table   Type = "table"   // a Parquet file in the blob store
	Model   Type = "model"   // a model file (native, XGBoost JSON or LightGBM text) in the blob store
	Metrics Type = "metrics" // named numbers
	Version Type = "version" // a registered model version
	Files   Type = "files"   // a folder of files, archived in the blob store
	Any     Type = "any"
)

// Spec is a pipeline as written in the project file.
type Spec struct {
	Name string `json:"name" yaml:"name"`
	// Schedule is a cron expression (five fields, or @daily and friends)
	// in UTC; empty means no schedule.
	Schedule string `json:"schedule,omitempty" yaml:"schedule,omitempty"`
	// CatchUp fires every missed schedule time after a downtime; without
	// it only the latest missed time fires.
	CatchUp bool `json:"catch_up,omitempty" yaml:"catch_up,omitempty"`
	// OnDataset starts a run when a new version of any of these datasets
	// is ingested.
	OnDataset []string `json:"on_dataset,omitempty" yaml:"on_dataset,omitempty"`
	// Params are the run's parameters with their defaults; a run may
	// override them, and steps read them as ${params.NAME}.
	Params map[string]any `json:"params,omitempty" yaml:"params,omitempty"`
	// MaxParallel bounds the steps running at once (default 2).
	MaxParallel int `json:"max_parallel,omitempty" yaml:"max_parallel,omitempty"`
	// Notify is a URL that gets a JSON POST when a run fails.
	Notify string `json:"notify,omitempty" yaml:"notify,omitempty"`
	Steps  []Step `json:"steps" yaml:"steps"`
	// Pinned holds, per step and input, the values a rerun reuses for
	// external references (datasets, models, files) instead of resolving
	// them again: a rerun reads what the run it repeats read.
	Pinned map[string]map[string]Value `json:"pinned,omitempty" yaml:"-"`
}

// Step is one node of the DAG.
type Step struct {
	Name string `json:"name" yaml:"name"`
	Kind string `json:"kind" yaml:"kind"`
	// Inputs maps the kind's input names to a reference: "STEP.OUTPUT",
	// "dataset:NAME" (its newest snapshot), "model:NAME@ALIAS_OR_VERSION"
	// or "file:PATH"; an external reference ending in "?" is optional.
	Inputs map[string]string `json:"inputs,omitempty" yaml:"inputs,omitempty"`
	// With holds the kind's parameters.
	With map[string]any `json:"with,omitempty" yaml:"with,omitempty"`
	// After orders a step after others without passing values.
	After []string `json:"after,omitempty" yaml:"after,omitempty"`
	// Retries is how many times a system failure is retried, with
	// exponential backoff; user errors are never retried.
	Retries int             `json:"retries,omitempty" yaml:"retries,omitempty"`
	Timeout plinth.Duration `json:"timeout,omitempty" yaml:"timeout,omitempty"`
	// NoCache forces the step to run even when its key is cached.
	NoCache bool `json:"no_cache,omitempty" yaml:"no_cache,omitempty"`
	// ForEach runs the step once per value, in parallel, each instance
	// named STEP[VALUE], with ${item} in its parameters and inputs
	// replaced by the value: one model per slice. A step that reads a
	// for_each step's output has the same for_each and reads the instance
	// of its own value.
	ForEach []string `json:"for_each,omitempty" yaml:"for_each,omitempty"`
}

// Kind is what a step does. Inputs and Outputs declare the types it reads
// and writes; Run does the work.
type Kind interface {
	Inputs() map[string]Type
	Outputs() map[string]Type
	// Deterministic kinds yield the same output for the same key, so their
	// results are cached; the others (deploy, approval) always run.
	Deterministic() bool
	Run(ctx *StepContext) (map[string]Value, error)
}

var name = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*(\[[A-Za-z0-9_-]+\])?$`)

var itemValue = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Expand replaces every for_each step by one step per value, named
// STEP[VALUE]. A run executes the expanded spec; plan and apply check both.
func (s Spec) Expand() (Spec, error) {
	each := map[string][]string{}
	for _, st := range s.Steps {
		if len(st.ForEach) > 0 {
			seen := map[string]bool{}
			for i, v := range st.ForEach {
				if !itemValue.MatchString(v) || seen[v] {
					return s, plinth.Invalid(fmt.Sprintf("steps.%s.for_each[%d]", st.Name, i), "%q is not a unique value of letters, digits, '-' or '_'", v)
				}
				seen[v] = true
			}
			each[st.Name] = st.ForEach
		}
	}
	if len(each) == 0 {
		return s, nil
	}
	out := s
	out.Steps = nil
	for _, st := range s.Steps {
		// A step reading a for_each step must fan out the same way.
		for in, ref := range st.Inputs {
			r, err := ParseRef(ref)
			if err != nil || r.Step == "" || each[r.Step] == nil {
				continue
			}
			if !slices.Equal(st.ForEach, each[r.Step]) {
				return s, plinth.Invalid("steps."+st.Name+".inputs."+in, "reads %s, a for_each step: give %s the same for_each", r.Step, st.Name)
			}
		}
		if len(st.ForEach) == 0 {
			out.Steps = append(out.Steps, st)
			continue
		}
		for _, v := range st.ForEach {
			inst := st
			inst.Name = st.Name + "[" + v + "]"
			inst.ForEach = nil
			inst.Inputs = map[string]string{}
			for in, ref := range st.Inputs {
				if r, err := ParseRef(ref); err == nil && r.Step != "" && each[r.Step] != nil {
					ref = r.Step + "[" + v + "]." + r.Output
				}
				inst.Inputs[in] = strings.ReplaceAll(ref, "${item}", v)
			}
			inst.With = replaceItem(st.With, v).(map[string]any)
			inst.After = nil
			for _, a := range st.After {
				if each[a] != nil {
					a += "[" + v + "]"
				}
				inst.After = append(inst.After, a)
			}
			out.Steps = append(out.Steps, inst)
		}
	}
	// Steps after a for_each step without fanning out wait for all of it.
	for i, st := range out.Steps {
		var after []string
		for _, a := range st.After {
			if vals := each[a]; vals != nil && !strings.Contains(st.Name, "[") {
				for _, v := range vals {
					after = append(after, a+"["+v+"]")
				}
				continue
			}
			after = append(after, a)
		}
		out.Steps[i].After = after
	}
	return out, nil
}

func replaceItem(v any, item string) any {
	switch v := v.(type) {
	case string:
		return strings.ReplaceAll(v, "${item}", item)
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = replaceItem(x, item)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = replaceItem(x, item)
		}
		return out
	case nil:
		return map[string]any(nil)
	}
	return v
}

// Validate checks a spec against the known kinds: names, references,
// types, cycles. The errors name the step and field.
func (s *Spec) Validate(kinds map[string]Kind) error {
	expanded, err := s.Expand()
	if err != nil {
		return err
	}
	if len(expanded.Steps) != len(s.Steps) {
		return expanded.validate(kinds)
	}
	return s.validate(kinds)
}

func (s *Spec) validate(kinds map[string]Kind) error {
	if !name.MatchString(s.Name) || strings.Contains(s.Name, "[") || len(s.Name) > 128 {
		return plinth.Invalid("name", "%q must be a letter or '_' followed by letters, digits, '-' or '_'", s.Name)
	}
	if len(s.Steps) == 0 {
		return plinth.Invalid("steps", "pipeline %s has no steps", s.Name)
	}
	if s.MaxParallel < 0 {
		return plinth.Invalid("max_parallel", "must not be negative")
	}
	if s.Schedule != "" {
		if _, err := ParseSchedule(s.Schedule); err != nil {
			return plinth.Invalid("schedule", "%v", err)
		}
	}
	byName := map[string]*Step{}
	for i := range s.Steps {
		st := &s.Steps[i]
		field := "steps." + st.Name
		if !name.MatchString(st.Name) {
			return plinth.Invalid(fmt.Sprintf("steps[%d].name", i), "%q is not a usable step name", st.Name)
		}
		if byName[st.Name] != nil {
			return plinth.Invalid(field, "step %q is defined twice", st.Name)
		}
		byName[st.Name] = st
		k, ok := kinds[st.Kind]
		if !ok {
			return plinth.Invalid(field+".kind", "%q is not a step kind (one of %s)", st.Kind, strings.Join(KindNames(kinds), ", "))
		}
		if st.Retries < 0 || st.Retries > 20 {
			return plinth.Invalid(field+".retries", "must be between 0 and 20")
		}
		if st.Timeout < 0 {
			return plinth.Invalid(field+".timeout", "must not be negative")
		}
		_, open := k.(interface{ openInputs() })
		for in := range st.Inputs {
			if _, ok := k.Inputs()[in]; !ok && !open {
				return plinth.Invalid(field+".inputs."+in, "%s steps have no input %q (they take %s)", st.Kind, in, strings.Join(slices.Sorted(maps.Keys(k.Inputs())), ", "))
			}
		}
		for in, t := range k.Inputs() {
			if _, ok := st.Inputs[in]; !ok && !optional(k, in) {
				return plinth.Invalid(field+".inputs."+in, "missing: %s steps need a %s input %q", st.Kind, t, in)
			}
		}
	}
	// References and types.
	for _, st := range s.Steps {
		k := kinds[st.Kind]
		for in, ref := range st.Inputs {
			field := "steps." + st.Name + ".inputs." + in
			r, err := ParseRef(ref)
			if err != nil {
				return plinth.Invalid(field, "%v", err)
			}
			if r.Step == "" {
				continue
			}
			up := byName[r.Step]
			if up == nil {
				return plinth.Invalid(field, "no step %q", r.Step)
			}
			t, ok := kinds[up.Kind].Outputs()[r.Output]
			if !ok {
				return plinth.Invalid(field, "step %s (%s) has no output %q (it has %s)", up.Name, up.Kind, r.Output, strings.Join(slices.Sorted(maps.Keys(kinds[up.Kind].Outputs())), ", "))
			}
			want := k.Inputs()[in]
			if want != "" && want != Any && t != Any && t != want {
				return plinth.Invalid(field, "%s.%s is a %s, and %s wants a %s", r.Step, r.Output, t, in, want)
			}
		}
		for _, a := range st.After {
			if byName[a] == nil {
				return plinth.Invalid("steps."+st.Name+".after", "no step %q", a)
			}
		}
	}
	if _, err := s.Order(); err != nil {
		return err
	}
	return nil
}

// optionalInputs marks inputs a kind can do without.
type optionalInputs interface{ Optional(input string) bool }

func optional(k Kind, in string) bool {
	o, ok := k.(optionalInputs)
	return ok && o.Optional(in)
}

// Deps returns the steps st depends on.
func (st *Step) Deps() []string {
	var deps []string
	for _, ref := range st.Inputs {
		if r, err := ParseRef(ref); err == nil && r.Step != "" {
			deps = append(deps, r.Step)
		}
	}
	deps = append(deps, st.After...)
	slices.Sort(deps)
	return slices.Compact(deps)
}

// Order returns the steps in a topological order (ties by position in the
// file), or an error naming a cycle.
func (s *Spec) Order() ([]string, error) {
	state := map[string]int{} // 0 new, 1 on the path, 2 done
	byName := map[string]*Step{}
	for i := range s.Steps {
		byName[s.Steps[i].Name] = &s.Steps[i]
	}
	var order []string
	var visit func(n string, path []string) error
	visit = func(n string, path []string) error {
		switch state[n] {
		case 1:
			i := slices.Index(path, n)
			return plinth.Invalid("steps", "cycle: %s", strings.Join(append(path[i:], n), " -> "))
		case 2:
			return nil
		}
		state[n] = 1
		for _, d := range byName[n].Deps() {
			if byName[d] == nil {
				continue
			}
			if err := visit(d, append(path, n)); err != nil {
				return err
			}
		}
		state[n] = 2
		order = append(order, n)
		return nil
	}
	for _, st := range s.Steps {
		if err := visit(st.Name, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// Ref is a parsed input reference.
type Ref struct {
	Step, Output string // STEP.OUTPUT
	Dataset      string // dataset:NAME
	Model, Alias string // model:NAME@ALIAS
	File         string // file:PATH
	// Optional external references end in "?": when what they name does
	// not exist (no production model yet), the input is left out.
	Optional bool
}

// ParseRef parses an input reference.
func ParseRef(s string) (Ref, error) {
	if t, ok := strings.CutSuffix(s, "?"); ok {
		r, err := ParseRef(t)
		if err != nil {
			return Ref{}, err
		}
		if r.Step != "" {
			return Ref{}, fmt.Errorf("%q: only datasets, models and files can be optional", s)
		}
		r.Optional = true
		return r, nil
	}
	switch {
	case strings.HasPrefix(s, "dataset:"):
		n := strings.TrimPrefix(s, "dataset:")
		if n == "" {
			return Ref{}, fmt.Errorf("%q names no dataset", s)
		}
		return Ref{Dataset: n}, nil
	case strings.HasPrefix(s, "model:"):
		m, alias, ok := strings.Cut(strings.TrimPrefix(s, "model:"), "@")
		if !ok || m == "" || alias == "" {
			return Ref{}, fmt.Errorf("%q is not model:NAME@ALIAS (or @VERSION)", s)
		}
		return Ref{Model: m, Alias: alias}, nil
	case strings.HasPrefix(s, "file:"):
		if strings.TrimPrefix(s, "file:") == "" {
			return Ref{}, fmt.Errorf("%q names no file", s)
		}
		return Ref{File: strings.TrimPrefix(s, "file:")}, nil
	}
	step, out, ok := strings.Cut(s, ".")
	if !ok || step == "" || out == "" {
		return Ref{}, fmt.Errorf("%q is not STEP.OUTPUT, dataset:NAME, model:NAME@ALIAS or file:PATH", s)
	}
	return Ref{Step: step, Output: out}, nil
}

// KindNames lists kinds' names, sorted.
func KindNames(kinds map[string]Kind) []string { return slices.Sorted(maps.Keys(kinds)) }
