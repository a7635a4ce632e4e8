package pipeline

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/plinthml/plinth"
)

// StepPlan says what a run would do with a step and why.
type StepPlan struct {
	Step   string `json:"step"`
	Kind   string `json:"kind"`
	Cached bool   `json:"cached"`
	From   string `json:"from,omitempty"` // the run whose outputs a cache hit reuses
	Key    string `json:"key,omitempty"`
	Reason string `json:"reason"`
}

// Plan predicts, step by step, whether a run of spec with params would hit
// the cache, and when not, why: what differs from the step's last
// successful attempt (parameters, input contents, code), or which
// upstream step runs.
func (e *Engine) Plan(ctx context.Context, spec Spec, params map[string]any) ([]StepPlan, error) {
	err := spec.Validate(e.Kinds)
	if err != nil {
		return nil, err
	}
	if spec, err = spec.Expand(); err != nil {
		return nil, err
	}
	merged, err := mergeParams(spec.Params, params)
	if err != nil {
		return nil, err
	}
	order, err := spec.Order()
	if err != nil {
		return nil, err
	}
	steps := map[string]Step{}
	for _, st := range spec.Steps {
		steps[st.Name] = st
	}
	run := &Run{ID: "plan", Pipeline: spec.Name, Spec: spec, Params: merged}
	known := map[string]map[string]Value{} // outputs of steps predicted to hit
	skipped := map[string]bool{}           // steps predicted to halt the run, or to be skipped
	var out []StepPlan
	for _, n := range order {
		st := steps[n]
		p := StepPlan{Step: n, Kind: st.Kind}
		var runs []string
		for _, d := range st.Deps() {
			if known[d] == nil {
				runs = append(runs, d)
			}
		}
		var stops []string
		for _, d := range st.Deps() {
			if skipped[d] {
				stops = append(stops, d)
			}
		}
		switch {
		case len(stops) > 0:
			skipped[n] = true
			p.Reason = "skipped: upstream " + strings.Join(stops, ", ") + " halts the run"
		case len(runs) > 0:
			p.Reason = "runs: upstream " + strings.Join(runs, ", ") + " runs, so its inputs are not known yet"
		case !e.Kinds[st.Kind].Deterministic():
			p.Reason = "runs: " + st.Kind + " steps always run"
		case st.Kind == "gate" && st.With["approval"] == true:
			p.Reason = "runs: it asks a person to approve"
		default:
			upstream := map[string]map[string]Value{}
			for _, d := range st.Deps() {
				upstream[d] = known[d]
			}
			prep, err := e.prepare(ctx, run, st, upstream)
			if err != nil {
				p.Reason = "fails: " + plinth.ErrorMessage(err)
				break
			}
			p.Key = prep.key
			if st.NoCache {
				p.Reason = "runs: no_cache is set"
				break
			}
			hit, err := e.Store.Cached(ctx, prep.key)
			if err == nil {
				p.Cached, p.From, p.Reason = true, hit.Run, "cached: same parameters, code and input contents as run "+hit.Run
				if hit.State == Halted {
					p.Reason += ", which halted the run (" + hit.Error + ")"
					skipped[n] = true
				} else {
					known[n] = hit.Outputs
				}
				break
			}
			if plinth.ErrorCode(err) != plinth.ENOTFOUND {
				return nil, err
			}
			p.Reason = "runs: " + e.why(ctx, spec.Name, n, prep)
		}
		out = append(out, p)
	}
	return out, nil
}

// why explains a cache miss by comparing with the step's last success.
func (e *Engine) why(ctx context.Context, pipeline, step string, p *prepared) string {
	last, err := e.Store.LastSucceeded(ctx, pipeline, step)
	if err != nil {
		return "it never succeeded before"
	}
	var diffs []string
	for _, k := range unionKeys(p.with, last.With) {
		if !reflect.DeepEqual(normalize(p.with[k]), normalize(last.With[k])) {
			diffs = append(diffs, fmt.Sprintf("with.%s changed (%v -> %v)", k, show(last.With[k]), show(p.with[k])))
		}
	}
	for _, k := range unionKeys(p.inputs, last.Inputs) {
		now, was := p.inputs[k], last.Inputs[k]
		if now.Content() != was.Content() {
			d := fmt.Sprintf("input %s has new contents", k)
			if now.Ref != "" && was.Ref != "" && now.Ref != was.Ref {
				d += fmt.Sprintf(" (%s, was %s)", now.Ref, was.Ref)
			}
			diffs = append(diffs, d)
		}
	}
	if p.code != last.Code {
		diffs = append(diffs, "its code changed")
	}
	if len(diffs) == 0 {
		return "its cache entry is gone"
	}
	return strings.Join(diffs, "; ")
}

func unionKeys[V any](a, b map[string]V) []string {
	m := map[string]bool{}
	for k := range a {
		m[k] = true
	}
	for k := range b {
		m[k] = true
	}
	return slices.Sorted(maps.Keys(m))
}

// normalize makes values decoded from YAML and from JSON comparable.
func normalize(v any) any {
	switch v := v.(type) {
	case int:
		return float64(v)
	case int64:
		return float64(v)
	}
	return v
}

func show(v any) string {
	if v == nil {
		return "unset"
	}
	return fmt.Sprint(v)
}
