package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/blob/fsblob"
	"github.com/plinthml/plinth/dataset"
	"github.com/plinthml/plinth/pipeline"
	"github.com/plinthml/plinth/sqlstore"
)

// sumKind adds its input numbers and its "add" parameter: a deterministic
// step whose executions are counted.
type sumKind struct {
	runs atomic.Int64
	fail func(attempt int) error // nil: succeed
}

func (*sumKind) Inputs() map[string]pipeline.Type {
	return map[string]pipeline.Type{"a": pipeline.Metrics, "b": pipeline.Metrics}
}
func (*sumKind) Optional(string) bool { return true }
func (*sumKind) Outputs() map[string]pipeline.Type {
	return map[string]pipeline.Type{"sum": pipeline.Metrics}
}
func (*sumKind) Deterministic() bool { return true }
func (k *sumKind) Run(sc *pipeline.StepContext) (map[string]pipeline.Value, error) {
	k.runs.Add(1)
	if k.fail != nil {
		if err := k.fail(sc.Attempt); err != nil {
			return nil, err
		}
	}
	add, err := sc.Float("add", 0)
	if err != nil {
		return nil, err
	}
	total := add
	for _, v := range sc.Inputs {
		total += v.Metrics["sum"]
	}
	sc.Logf("sum %g", total)
	return map[string]pipeline.Value{"sum": {Type: pipeline.Metrics, Metrics: map[string]float64{"sum": total}}}, nil
}

// sleepKind waits until its context ends or a release.
type sleepKind struct{ started, release chan struct{} }

func (*sleepKind) Inputs() map[string]pipeline.Type { return nil }
func (*sleepKind) Outputs() map[string]pipeline.Type {
	return map[string]pipeline.Type{"sum": pipeline.Metrics}
}
func (*sleepKind) Deterministic() bool { return true }
func (k *sleepKind) Run(sc *pipeline.StepContext) (map[string]pipeline.Value, error) {
	if k.started != nil {
		k.started <- struct{}{}
	}
	select {
	case <-sc.Done():
		return nil, context.Cause(sc)
	case <-k.release:
		return map[string]pipeline.Value{"sum": {Type: pipeline.Metrics, Metrics: map[string]float64{"sum": 1}}}, nil
	}
}

type env struct {
	store *sqlstore.Store
	sum   *sumKind
	kinds map[string]pipeline.Kind
	dir   string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	store, err := sqlstore.Open(context.Background(), filepath.Join(dir, "plinth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	sum := &sumKind{}
	return &env{store: store, sum: sum, dir: dir, kinds: map[string]pipeline.Kind{
		"sum": sum, "gate": pipeline.Kinds(&pipeline.Services{})["gate"], "command": pipeline.Kinds(&pipeline.Services{})["command"],
	}}
}

func (e *env) engine(t *testing.T, owner string) *pipeline.Engine {
	blobs, err := fsblob.Open(filepath.Join(e.dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	return &pipeline.Engine{Store: e.store, Blobs: blobs, Kinds: e.kinds, Owner: owner, WorkDir: filepath.Join(e.dir, "work"),
		Code: "test", Backoff: time.Millisecond}
}

func run(t *testing.T, eng *pipeline.Engine, spec pipeline.Spec, params map[string]any) *pipeline.Run {
	t.Helper()
	ctx := context.Background()
	r, err := eng.Create(ctx, spec, pipeline.RunOptions{Params: params})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Execute(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	r, err = eng.Store.PipelineRun(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var chain = pipeline.Spec{
	Name:   "chain",
	Params: map[string]any{"add": 1.0},
	Steps: []pipeline.Step{
		{Name: "a", Kind: "sum", With: map[string]any{"add": 1.0}},
		{Name: "b", Kind: "sum", Inputs: map[string]string{"a": "a.sum"}, With: map[string]any{"add": "${params.add}"}},
		{Name: "c", Kind: "sum", Inputs: map[string]string{"a": "a.sum", "b": "b.sum"}},
	},
}

func states(r *pipeline.Run) string {
	var parts []string
	for _, st := range r.Spec.Steps {
		a := r.Latest()[st.Name]
		if a == nil {
			parts = append(parts, st.Name+"=none")
			continue
		}
		s := string(a.State)
		if a.Cached {
			s = "cached"
		}
		parts = append(parts, st.Name+"="+s)
	}
	return strings.Join(parts, " ")
}

func TestCacheKeyedOnContents(t *testing.T) {
	e := newEnv(t)
	eng := e.engine(t, "e1")
	r := run(t, eng, chain, nil)
	if r.State != pipeline.Succeeded || states(r) != "a=succeeded b=succeeded c=succeeded" {
		t.Fatalf("first run: %s %s %s", r.State, states(r), r.Error)
	}
	if got := r.Latest()["c"].Outputs["sum"].Metrics["sum"]; got != 1+2 {
		t.Fatalf("c = %v", got)
	}
	// Nothing changed: every step is a visible cache hit.
	r2 := run(t, eng, chain, nil)
	if states(r2) != "a=cached b=cached c=cached" || e.sum.runs.Load() != 3 {
		t.Fatalf("rerun: %s, %d executions", states(r2), e.sum.runs.Load())
	}
	if r2.Latest()["c"].CachedFrom != r.ID {
		t.Fatalf("cached from %q", r2.Latest()["c"].CachedFrom)
	}
	// A parameter changes b's output, so b and c run; a stays cached.
	r3 := run(t, eng, chain, map[string]any{"add": 5.0})
	if states(r3) != "a=cached b=succeeded c=succeeded" {
		t.Fatalf("changed param: %s", states(r3))
	}
	// A parameter that changes nothing downstream: b runs, and c, whose
	// input contents are the same as in the first run, is a hit.
	spec := chain
	spec.Steps = append([]pipeline.Step(nil), chain.Steps...)
	spec.Steps[1].With = map[string]any{"add": "${params.add}", "note": "renamed"}
	r4 := run(t, eng, spec, nil)
	if states(r4) != "a=cached b=succeeded c=cached" {
		t.Fatalf("same contents under a new definition: %s", states(r4))
	}
	plan, err := eng.Plan(context.Background(), chain, map[string]any{"add": 7.0})
	if err != nil {
		t.Fatal(err)
	}
	if !plan[0].Cached || plan[1].Cached || !strings.Contains(plan[1].Reason, "with.add changed") ||
		!strings.Contains(plan[2].Reason, "upstream b runs") {
		t.Fatalf("plan: %+v", plan)
	}
	plan, _ = eng.Plan(context.Background(), chain, nil)
	for _, p := range plan {
		if !p.Cached {
			t.Fatalf("plan of an unchanged pipeline: %+v", p)
		}
	}
}

func TestRetriesTellSystemFromUserErrors(t *testing.T) {
	e := newEnv(t)
	eng := e.engine(t, "e1")
	e.sum.fail = func(attempt int) error {
		if attempt < 3 {
			return errors.New("disk hiccup")
		}
		return nil
	}
	spec := pipeline.Spec{Name: "retry", Steps: []pipeline.Step{{Name: "a", Kind: "sum", Retries: 3}}}
	r := run(t, eng, spec, nil)
	if r.State != pipeline.Succeeded || len(r.Attempts) != 3 || r.Attempts[0].State != pipeline.Failed || r.Attempts[0].UserError {
		t.Fatalf("system errors: %s, %+v", r.State, r.Attempts)
	}
	e.sum.fail = func(int) error { return plinth.Invalid("with.x", "bad") }
	spec = pipeline.Spec{Name: "user", Steps: []pipeline.Step{
		{Name: "a", Kind: "sum", Retries: 3, With: map[string]any{"v": 1.0}},
		{Name: "b", Kind: "sum", Inputs: map[string]string{"a": "a.sum"}},
	}}
	r = run(t, eng, spec, nil)
	if r.State != pipeline.Failed || !strings.Contains(r.Error, "bad") || states(r) != "a=failed b=skipped" {
		t.Fatalf("user error: %s %q %s", r.State, r.Error, states(r))
	}
	if n := len(r.Attempts); n != 2 || !r.Attempts[0].UserError {
		t.Fatalf("a user error was retried: %+v", r.Attempts)
	}
}

func TestTimeout(t *testing.T) {
	e := newEnv(t)
	e.kinds["sleep"] = &sleepKind{release: make(chan struct{})}
	eng := e.engine(t, "e1")
	spec := pipeline.Spec{Name: "slow", Steps: []pipeline.Step{{Name: "a", Kind: "sleep", Timeout: plinth.Duration(50 * time.Millisecond)}}}
	r := run(t, eng, spec, nil)
	if r.State != pipeline.Failed || !strings.Contains(r.Error, "timeout") {
		t.Fatalf("timeout: %s %q", r.State, r.Error)
	}
}

func TestGateHaltsWithoutFailing(t *testing.T) {
	e := newEnv(t)
	eng := e.engine(t, "e1")
	spec := pipeline.Spec{Name: "gated", Steps: []pipeline.Step{
		{Name: "score", Kind: "sum", With: map[string]any{"add": 0.6}},
		{Name: "gate", Kind: "gate", Inputs: map[string]string{"metrics": "score.sum"}, With: map[string]any{"conditions": []any{"sum >= 0.7"}}},
		{Name: "ship", Kind: "sum", Inputs: map[string]string{"a": "gate.metrics"}},
	}}
	r := run(t, eng, spec, nil)
	if r.State != pipeline.Succeeded || states(r) != "score=succeeded gate=halted ship=skipped" {
		t.Fatalf("gate: %s %s", r.State, states(r))
	}
	if a := r.Latest()["gate"]; !strings.Contains(a.Error, "sum >= 0.7") || !strings.Contains(a.Log, "false") {
		t.Fatalf("gate record: %+v", a)
	}
	// A halted gate is cached as halted: judging the same numbers again
	// would decide the same.
	r = run(t, eng, spec, nil)
	if r.State != pipeline.Succeeded || states(r) != "score=cached gate=cached ship=skipped" || r.Latest()["gate"].State != pipeline.Halted {
		t.Fatalf("gate again: %s %s", r.State, states(r))
	}
	spec.Steps[0].With = map[string]any{"add": 0.8}
	r = run(t, eng, spec, nil)
	if states(r) != "score=succeeded gate=succeeded ship=succeeded" {
		t.Fatalf("passing gate: %s", states(r))
	}
	spec.Steps[1].With = map[string]any{"conditions": []any{"nope > 1"}}
	r = run(t, eng, spec, nil)
	if r.State != pipeline.Failed || !strings.Contains(r.Error, "nope") {
		t.Fatalf("bad condition: %s %q", r.State, r.Error)
	}
}

func TestResumeAfterExecutorDies(t *testing.T) {
	e := newEnv(t)
	sleep := &sleepKind{started: make(chan struct{}, 1), release: make(chan struct{})}
	e.kinds["sleep"] = sleep
	first := e.engine(t, "e1")
	first.Lease = 200 * time.Millisecond
	spec := pipeline.Spec{Name: "long", Steps: []pipeline.Step{
		{Name: "a", Kind: "sum", With: map[string]any{"add": 1.0}},
		{Name: "b", Kind: "sleep", After: []string{"a"}},
		{Name: "c", Kind: "sum", Inputs: map[string]string{"a": "b.sum"}},
	}}
	ctx := context.Background()
	r, err := first.Start(ctx, spec, pipeline.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	<-sleep.started
	first.Shutdown() // the executor goes away mid-step; its lease lapses
	got, _ := first.Store.PipelineRun(ctx, r.ID)
	if got.State.Final() || states(got) != "a=succeeded b=abandoned c=none" {
		t.Fatalf("after the executor stopped: %s %s", got.State, states(got))
	}
	second := e.engine(t, "e2")
	second.Lease = 200 * time.Millisecond
	if n, _ := second.Resume(ctx); n != 0 {
		t.Fatal("resumed a run whose lease had not expired")
	}
	time.Sleep(250 * time.Millisecond)
	close(sleep.release)
	if n, err := second.Resume(ctx); err != nil || n != 1 {
		t.Fatalf("resume: %d %v", n, err)
	}
	// Shut down only once the run is over: a shutdown interrupts the runs
	// in progress (they stay unfinished, for the next start), and whether
	// it caught this one depended on whether its goroutine had begun.
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, _ = second.Store.PipelineRun(ctx, r.ID)
		if got.State.Final() || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	second.Shutdown()
	if got.State != pipeline.Succeeded || states(got) != "a=succeeded b=succeeded c=succeeded" || e.sum.runs.Load() != 2 {
		t.Fatalf("resumed run: %s %s, a ran %d times", got.State, states(got), e.sum.runs.Load())
	}
	var bAttempts []pipeline.State
	for _, a := range got.Attempts {
		if a.Step == "b" {
			bAttempts = append(bAttempts, a.State)
		}
	}
	if fmt.Sprint(bAttempts) != "[abandoned succeeded]" {
		t.Fatalf("b's attempts: %v", bAttempts)
	}
}

func TestCommandContract(t *testing.T) {
	e := newEnv(t)
	eng := e.engine(t, "e1")
	script := filepath.Join(e.dir, "train.sh")
	os.WriteFile(script, []byte(`#!/bin/sh
echo "depth is $PLINTH_PARAM_DEPTH"
echo "plinth:param depth $PLINTH_PARAM_DEPTH"
echo "plinth:metric auc 0.75"
echo "plinth:metric loss 0.5 3"
test -d "$PLINTH_OUTPUT_DIR" || exit 3
echo "to stderr" >&2
exit ${EXIT:-0}
`), 0o755)
	spec := pipeline.Spec{Name: "cmd", Steps: []pipeline.Step{{Name: "fit", Kind: "command", Retries: 2,
		With: map[string]any{"run": []any{"sh", script}, "depth": 4.0}}}}
	r := run(t, eng, spec, nil)
	a := r.Latest()["fit"]
	if r.State != pipeline.Succeeded || a.Outputs["metrics"].Metrics["auc"] != 0.75 || a.Outputs["metrics"].Metrics["loss"] != 0.5 {
		t.Fatalf("command: %s %q %+v", r.State, r.Error, a)
	}
	if !strings.Contains(a.Log, "depth is 4") || !strings.Contains(a.Log, "to stderr") || strings.Contains(a.Log, "plinth:metric") {
		t.Fatalf("log: %q", a.Log)
	}
	if a.Cost.WallSeconds <= 0 || a.Cost.PeakRSS <= 0 || !strings.HasPrefix(a.Code, "sha256:") {
		t.Fatalf("cost and code: %+v %q", a.Cost, a.Code)
	}
	// Editing the script changes the code version, so the step runs again.
	os.WriteFile(script, []byte("#!/bin/sh\necho 'plinth:metric auc 0.8'\n"), 0o755)
	r = run(t, eng, spec, nil)
	if a := r.Latest()["fit"]; a.Cached || a.Outputs["metrics"].Metrics["auc"] != 0.8 {
		t.Fatalf("edited script: %+v", a)
	}
	// A non-zero exit is the user's error: not retried.
	os.WriteFile(script, []byte("#!/bin/sh\nexit 2\n"), 0o755)
	r = run(t, eng, spec, nil)
	if r.State != pipeline.Failed || len(r.Attempts) != 1 || !strings.Contains(r.Error, "status 2") {
		t.Fatalf("failing command: %s %q %d attempts", r.State, r.Error, len(r.Attempts))
	}
	// A malformed report line is an error naming the line.
	os.WriteFile(script, []byte("#!/bin/sh\necho 'plinth:metric auc high'\n"), 0o755)
	r = run(t, eng, spec, nil)
	if r.State != pipeline.Failed || !strings.Contains(r.Error, `"high" is not a number`) {
		t.Fatalf("bad report: %s %q", r.State, r.Error)
	}
}

func TestValidate(t *testing.T) {
	kinds := newEnv(t).kinds
	step := func(name, kind string, inputs map[string]string) pipeline.Step {
		return pipeline.Step{Name: name, Kind: kind, Inputs: inputs}
	}
	cases := []struct {
		name  string
		steps []pipeline.Step
		want  string
	}{
		{"unknown kind", []pipeline.Step{step("a", "bake", nil)}, `"bake" is not a step kind`},
		{"duplicate", []pipeline.Step{step("a", "sum", nil), step("a", "sum", nil)}, "defined twice"},
		{"unknown input", []pipeline.Step{step("a", "sum", map[string]string{"z": "dataset:x"})}, `no input "z"`},
		{"missing input", []pipeline.Step{step("a", "gate", nil)}, `missing: gate steps need a metrics input "metrics"`},
		{"bad ref", []pipeline.Step{step("a", "sum", map[string]string{"a": "nodot"})}, "is not STEP.OUTPUT"},
		{"no such step", []pipeline.Step{step("a", "sum", map[string]string{"a": "b.sum"})}, `no step "b"`},
		{"no such output", []pipeline.Step{step("a", "sum", nil), step("b", "sum", map[string]string{"a": "a.total"})}, `has no output "total"`},
		{"type mismatch", []pipeline.Step{step("a", "command", nil), step("b", "sum", map[string]string{"a": "a.model"})}, "a.model is a model, and a wants a metrics"},
		{"cycle", []pipeline.Step{step("a", "sum", map[string]string{"a": "b.sum"}), step("b", "sum", map[string]string{"a": "a.sum"})}, "cycle: a -> b -> a"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			spec := pipeline.Spec{Name: "p", Steps: c.steps}
			err := spec.Validate(kinds)
			if err == nil || !strings.Contains(plinth.ErrorMessage(err), c.want) || plinth.ErrorCode(err) != plinth.EINVALID {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
	bad := pipeline.Spec{Name: "p", Schedule: "every tuesday", Steps: []pipeline.Step{step("a", "sum", nil)}}
	if err := bad.Validate(kinds); err == nil || !strings.Contains(err.Error(), "schedule") {
		t.Fatalf("bad schedule: %v", err)
	}
}

type catalog struct {
	mu sync.Mutex
	ps []pipeline.Registered
}

func (c *catalog) Pipelines(context.Context) ([]pipeline.Registered, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ps, nil
}

func TestSchedulerFiresOnce(t *testing.T) {
	for _, catchUp := range []bool{false, true} {
		t.Run(fmt.Sprint("catch_up=", catchUp), func(t *testing.T) {
			e := newEnv(t)
			eng := e.engine(t, "e1")
			applied := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
			now := applied.Add(150 * time.Minute) // 12:30
			eng.Now = func() time.Time { return now }
			spec := pipeline.Spec{Name: "hourly", Schedule: "@hourly", CatchUp: catchUp, Steps: []pipeline.Step{{Name: "a", Kind: "sum"}}}
			s := &pipeline.Scheduler{Engine: eng, Catalog: &catalog{ps: []pipeline.Registered{{Spec: spec, Version: 1, UpdatedAt: applied}}}}
			started, err := s.Tick(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var fires []string
			for _, r := range started {
				fires = append(fires, r.Trigger)
			}
			want := "[schedule 2026-11-22T12:00:00Z]"
			if catchUp {
				want = "[schedule 2026-11-22T11:00:00Z schedule 2026-11-22T12:00:00Z]"
			}
			if fmt.Sprint(fires) != want {
				t.Fatalf("fired %v, want %v", fires, want)
			}
			// A second scheduler (or a restart) fires nothing more.
			again := &pipeline.Scheduler{Engine: e.engine(t, "e2"), Catalog: s.Catalog}
			again.Engine.Now = eng.Now
			defer again.Engine.Shutdown()
			if started, _ := again.Tick(context.Background()); len(started) != 0 {
				t.Fatalf("fired twice: %d", len(started))
			}
			now = now.Add(time.Hour)
			if started, _ := s.Tick(context.Background()); len(started) != 1 || started[0].Trigger != "schedule 2026-11-22T13:00:00Z" {
				t.Fatalf("next hour: %+v", started)
			}
			eng.Shutdown()
		})
	}
}

func TestForEach(t *testing.T) {
	e := newEnv(t)
	eng := e.engine(t, "e1")
	spec := pipeline.Spec{Name: "slices", Steps: []pipeline.Step{
		{Name: "fit", Kind: "sum", ForEach: []string{"JFK", "LGA", "EWR"}, With: map[string]any{"add": 1.0, "note": "origin=${item}"}},
		{Name: "score", Kind: "sum", ForEach: []string{"JFK", "LGA", "EWR"}, Inputs: map[string]string{"a": "fit.sum"}, With: map[string]any{"add": 10.0}},
		{Name: "report", Kind: "sum", After: []string{"score"}},
	}}
	r := run(t, eng, spec, nil)
	if r.State != pipeline.Succeeded || len(r.Spec.Steps) != 7 {
		t.Fatalf("run: %s %q, %d steps", r.State, r.Error, len(r.Spec.Steps))
	}
	l := r.Latest()
	if l["score[LGA]"].Outputs["sum"].Metrics["sum"] != 11 || l["fit[EWR]"].With["note"] != "origin=EWR" || l["report"].State != pipeline.Succeeded {
		t.Fatalf("instances: %+v %+v", l["score[LGA]"], l["fit[EWR]"])
	}
	if deps := r.Spec.Steps[6].Deps(); len(deps) != 3 {
		t.Fatalf("report waits for %v", deps)
	}
	bad := pipeline.Spec{Name: "bad", Steps: []pipeline.Step{
		{Name: "fit", Kind: "sum", ForEach: []string{"a", "b"}},
		{Name: "use", Kind: "sum", Inputs: map[string]string{"a": "fit.sum"}},
	}}
	if err := bad.Validate(e.kinds); err == nil || !strings.Contains(err.Error(), "give use the same for_each") {
		t.Fatalf("fan-in without for_each: %v", err)
	}
}

func TestApprovalWaits(t *testing.T) {
	for _, approve := range []bool{true, false} {
		t.Run(fmt.Sprint("approve=", approve), func(t *testing.T) {
			e := newEnv(t)
			eng := e.engine(t, "e1")
			spec := pipeline.Spec{Name: "approved", Steps: []pipeline.Step{
				{Name: "score", Kind: "sum", With: map[string]any{"add": 0.9}},
				{Name: "gate", Kind: "gate", Inputs: map[string]string{"metrics": "score.sum"}, With: map[string]any{"conditions": []any{"sum > 0.5"}, "approval": true}},
				{Name: "ship", Kind: "sum", Inputs: map[string]string{"a": "gate.metrics"}},
			}}
			ctx := context.Background()
			r, err := eng.Start(ctx, spec, pipeline.RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := eng.Decide(ctx, r.ID, "score", true, "not a gate"); plinth.ErrorCode(err) != plinth.ECONFLICT {
				t.Fatalf("deciding a step that does not wait: %v", err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				got, _ := eng.Store.PipelineRun(ctx, r.ID)
				if a := got.Latest()["gate"]; a != nil && a.State == pipeline.Waiting {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the gate never waited")
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err := eng.Decide(plinth.WithPrincipal(ctx, "ann"), r.ID, "gate", approve, "looks right"); err != nil {
				t.Fatal(err)
			}
			if err := eng.Decide(ctx, r.ID, "gate", approve, "again"); plinth.ErrorCode(err) != plinth.ECONFLICT {
				t.Fatalf("deciding twice: %v", err)
			}
			var got *pipeline.Run
			for {
				got, _ = eng.Store.PipelineRun(ctx, r.ID)
				if got.State.Final() || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			want := "score=succeeded gate=succeeded ship=succeeded"
			if !approve {
				want = "score=succeeded gate=halted ship=skipped"
			}
			if got.State != pipeline.Succeeded || states(got) != want {
				t.Fatalf("after the decision: %s %s", got.State, states(got))
			}
			if a := got.Latest()["gate"]; !approve && !strings.Contains(a.Error, "rejected by ann: looks right") {
				t.Fatalf("rejection: %q", a.Error)
			}
			eng.Shutdown()
		})
	}
}

type versions struct{ vs []dataset.Version }

func (v versions) DatasetVersions(context.Context, string) ([]dataset.Version, error) {
	return v.vs, nil
}

// A new snapshot of a watched dataset fires once; snapshots from before the
// pipeline watched it do not.
func TestSchedulerFiresOnNewSnapshots(t *testing.T) {
	e := newEnv(t)
	eng := e.engine(t, "e1")
	applied := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	eng.Now = func() time.Time { return applied.Add(time.Hour) }
	spec := pipeline.Spec{Name: "on_data", OnDataset: []string{"flights"}, Steps: []pipeline.Step{{Name: "a", Kind: "sum"}}}
	ds := &versions{vs: []dataset.Version{{Dataset: "flights", Version: 4, IngestedAt: applied.Add(-time.Minute)}}}
	s := &pipeline.Scheduler{Engine: eng, Catalog: &catalog{ps: []pipeline.Registered{{Spec: spec, Version: 1, UpdatedAt: applied}}}, Datasets: ds}
	if started, _ := s.Tick(context.Background()); len(started) != 0 {
		t.Fatalf("fired for a snapshot older than the pipeline: %+v", started)
	}
	ds.vs = append([]dataset.Version{{Dataset: "flights", Version: 5, IngestedAt: applied.Add(time.Minute)}}, ds.vs...)
	started, err := s.Tick(context.Background())
	if err != nil || len(started) != 1 || started[0].Trigger != "dataset flights@5" {
		t.Fatalf("new snapshot: %v %+v", err, started)
	}
	if started, _ := s.Tick(context.Background()); len(started) != 0 {
		t.Fatalf("fired twice for one snapshot: %+v", started)
	}
	eng.Shutdown()
}

// principalKind records the principal each of its steps acts for.
type principalKind struct{ seen *[]string }

func (principalKind) Inputs() map[string]pipeline.Type  { return nil }
func (principalKind) Outputs() map[string]pipeline.Type { return nil }
func (principalKind) Deterministic() bool               { return false }
func (k principalKind) Run(sc *pipeline.StepContext) (map[string]pipeline.Value, error) {
	*k.seen = append(*k.seen, plinth.PrincipalFrom(sc))
	return map[string]pipeline.Value{}, nil
}

// A run's steps act for whoever created it, whichever engine executes it,
// so what they change is audited under that principal; a run an event
// fired acts for the platform.
func TestRunActsForItsCreator(t *testing.T) {
	e := newEnv(t)
	var seen []string
	e.kinds["whoami"] = principalKind{&seen}
	spec := pipeline.Spec{Name: "who", Steps: []pipeline.Step{{Name: "a", Kind: "whoami"}}}
	alice := plinth.WithPrincipal(context.Background(), "alice")
	created, err := e.engine(t, "one").Create(alice, spec, pipeline.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Executed with a context that names nobody, as a resuming engine's.
	if err := e.engine(t, "one").Execute(context.Background(), created.ID); err != nil {
		t.Fatal(err)
	}
	fired, err := e.engine(t, "one").CreateFired(alice, spec, 0, "schedule 2026-11-23T09:00:00Z")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.engine(t, "one").Execute(context.Background(), fired.ID); err != nil {
		t.Fatal(err)
	}
	if fired.CreatedBy != plinth.System || len(seen) != 2 || seen[0] != "alice" || seen[1] != plinth.System {
		t.Fatalf("fired run created by %q; steps acted for %v, want [alice %s]", fired.CreatedBy, seen, plinth.System)
	}
}
