package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/blob"
)

// Resolver turns the references to things outside the run — datasets,
// registered models, files — into values.
type Resolver interface {
	Resolve(ctx context.Context, r Ref) (Value, error)
}

// Engine executes runs. Several engines (server replicas) may share a
// store: a run belongs to the engine holding its lease, and an engine
// that dies leaves a lease that expires, after which Resume picks the run
// up again.
type Engine struct {
	Store    Store
	Blobs    blob.Store
	Kinds    map[string]Kind
	Resolver Resolver
	// Owner names this engine in leases and attempts.
	Owner string
	// Lease is how long a run stays ours without renewal (default 30s).
	Lease time.Duration
	// WorkDir holds the steps' scratch folders.
	WorkDir string
	// Code is the version of the built-in steps' code (the plinth build).
	Code   string
	Logger *slog.Logger
	Now    func() time.Time
	// Backoff is the first retry delay, doubled per attempt (default 1s).
	Backoff time.Duration
	// Notify posts failures; nil uses http.DefaultClient.
	Notify *http.Client
	// Tasks, when set, sends step attempts to workers instead of running
	// them in this process.
	Tasks Tasks
	// Observe, when set, sees every attempt that ends (for metrics).
	Observe func(pipeline string, a *Attempt)

	mu      sync.Mutex
	cancels map[string]context.CancelCauseFunc
	wg      sync.WaitGroup
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now().UTC()
	}
	return time.Now().UTC()
}

func (e *Engine) logger() *slog.Logger {
	if e.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Logger
}

func (e *Engine) lease() time.Duration {
	if e.Lease <= 0 {
		return 30 * time.Second
	}
	return e.Lease
}

// RunOptions say how a run starts.
type RunOptions struct {
	Params  map[string]any
	Trigger string
	RerunOf string
	Version int // of the pipeline definition

	fire string // set by the scheduler: de-duplicates triggered runs
}

// Create validates spec and records a new pending run; Execute (or
// Start) runs it.
func (e *Engine) Create(ctx context.Context, spec Spec, opts RunOptions) (*Run, error) {
	if err := spec.Validate(e.Kinds); err != nil {
		return nil, err
	}
	spec, err := spec.Expand()
	if err != nil {
		return nil, err
	}
	params, err := mergeParams(spec.Params, opts.Params)
	if err != nil {
		return nil, err
	}
	trigger := opts.Trigger
	if trigger == "" {
		trigger = "manual"
	}
	r := &Run{
		Pipeline: spec.Name, PipelineVersion: opts.Version, Spec: spec, Params: params, State: Pending,
		Trigger: trigger, RerunOf: opts.RerunOf, Fire: opts.fire, CreatedBy: plinth.PrincipalFrom(ctx), CreatedAt: e.now(),
	}
	if err := e.Store.CreatePipelineRun(ctx, r); err != nil {
		return nil, fmt.Errorf("create run of %s: %w", spec.Name, err)
	}
	// The run is ours from the start: another engine's resume must not
	// take a run its creator is about to execute, only one whose creator
	// died before it could.
	if _, err := e.Store.TakeLease(ctx, r.ID, e.Owner, e.now().Add(e.lease())); err != nil {
		return nil, err
	}
	return r, nil
}

// CreateFired records a run started by an event (an alert, a trigger, a
// schedule), at most once per fire: a second call with the same fire
// returns the ECONFLICT of the store. The platform, not a person, created
// it.
func (e *Engine) CreateFired(ctx context.Context, spec Spec, version int, fire string) (*Run, error) {
	return e.Create(plinth.WithPrincipal(ctx, plinth.System), spec, RunOptions{Trigger: fire, Version: version, fire: fire})
}

// Start creates a run and executes it in the background until it ends or
// Shutdown.
func (e *Engine) Start(ctx context.Context, spec Spec, opts RunOptions) (*Run, error) {
	r, err := e.Create(ctx, spec, opts)
	if err != nil {
		return nil, err
	}
	e.Go(r.ID)
	return r, nil
}

// Go executes a run in the background.
func (e *Engine) Go(id string) {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		if err := e.Execute(context.Background(), id); err != nil && !errors.Is(err, errLeaseHeld) {
			e.logger().Error("pipeline run", "run", id, "err", err)
		}
	}()
}

// Rerun starts a new run of a past run's frozen spec and parameters,
// reading the same external inputs it read (the dataset versions, model
// versions and files recorded on its attempts), so deterministic steps
// give the same outputs.
func (e *Engine) Rerun(ctx context.Context, id string) (*Run, error) {
	old, err := e.Store.PipelineRun(ctx, id)
	if err != nil {
		return nil, err
	}
	spec := old.Spec
	spec.Pinned = map[string]map[string]Value{}
	for _, st := range spec.Steps {
		a := old.Latest()[st.Name]
		if a == nil {
			continue
		}
		for in, ref := range st.Inputs {
			r, err := ParseRef(ref)
			if err != nil || r.Step != "" {
				continue
			}
			if v, ok := a.Inputs[in]; ok {
				if spec.Pinned[st.Name] == nil {
					spec.Pinned[st.Name] = map[string]Value{}
				}
				spec.Pinned[st.Name][in] = v
			}
		}
	}
	return e.Start(ctx, spec, RunOptions{Params: old.Params, Trigger: "rerun of " + id, RerunOf: id, Version: old.PipelineVersion})
}

// Cancel stops a run this engine is executing; its running attempts end
// cancelled.
func (e *Engine) Cancel(ctx context.Context, id string) error {
	r, err := e.Store.PipelineRun(ctx, id)
	if err != nil {
		return err
	}
	if r.State.Final() {
		return plinth.Errorf(plinth.ECONFLICT, "run %s already %s", id, r.State)
	}
	e.mu.Lock()
	cancel := e.cancels[id]
	e.mu.Unlock()
	if cancel == nil {
		// Not ours: mark it so whoever resumes it stops.
		return e.Store.FinishPipelineRun(ctx, id, Cancelled, "cancelled by "+plinth.PrincipalFrom(ctx), e.now())
	}
	cancel(context.Canceled)
	return nil
}

// Shutdown cancels the runs in progress and waits for them. Their leases
// lapse, so the next engine resumes them.
func (e *Engine) Shutdown() {
	e.mu.Lock()
	for _, c := range e.cancels {
		c(errShutdown)
	}
	e.mu.Unlock()
	e.wg.Wait()
}

// Resume executes, in the background, every unfinished run whose lease
// has expired: the runs of an engine that died.
func (e *Engine) Resume(ctx context.Context) (int, error) {
	ids, err := e.Store.Orphans(ctx, e.now())
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		e.Go(id)
	}
	return len(ids), nil
}

var errLeaseHeld = errors.New("run is leased by another executor")

// errShutdown marks a run interrupted by Shutdown: it stays unfinished.
var errShutdown = errors.New("engine shutting down")

// Execute runs (or resumes) a run to its end. Steps that succeeded before
// are kept; attempts left running by a dead executor are abandoned and
// tried again.
func (e *Engine) Execute(ctx context.Context, id string) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// One execution per run in this engine: the lease alone cannot tell
	// two of our own goroutines apart.
	e.mu.Lock()
	if e.cancels == nil {
		e.cancels = map[string]context.CancelCauseFunc{}
	}
	if e.cancels[id] != nil {
		e.mu.Unlock()
		return errLeaseHeld
	}
	e.cancels[id] = cancel
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.cancels, id)
		e.mu.Unlock()
	}()
	ok, err := e.Store.TakeLease(ctx, id, e.Owner, e.now().Add(e.lease()))
	if err != nil {
		return err
	}
	if !ok {
		return errLeaseHeld
	}
	run, err := e.Store.PipelineRun(ctx, id)
	if err != nil {
		return err
	}
	if run.State.Final() {
		return nil
	}
	// A run acts for whoever created it, whichever engine executes it:
	// what its steps change (a dataset version, a model version) is
	// audited under that principal.
	ctx = plinth.WithPrincipal(ctx, run.CreatedBy)
	if err := e.Store.AbandonAttempts(ctx, id, e.now()); err != nil {
		return err
	}
	// Renew the lease while we work; losing it means another executor
	// took the run, and we must stop.
	go func() {
		t := time.NewTicker(e.lease() / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				ok, err := e.Store.TakeLease(context.WithoutCancel(ctx), id, e.Owner, e.now().Add(e.lease()))
				if err == nil && !ok {
					cancel(errLeaseHeld)
					return
				}
			}
		}
	}()
	state, runErr := e.walk(ctx, run)
	if cause := context.Cause(ctx); errors.Is(cause, errLeaseHeld) {
		return errLeaseHeld
	}
	if state == "" {
		return runErr // interrupted by shutdown: leave it to be resumed
	}
	msg := ""
	if runErr != nil {
		msg = errText(runErr)
	}
	if err := e.Store.FinishPipelineRun(context.WithoutCancel(ctx), id, state, msg, e.now()); err != nil {
		return err
	}
	e.logger().Info("pipeline run finished", "run", id, "pipeline", run.Pipeline, "state", state)
	if state == Failed && run.Spec.Notify != "" {
		e.notify(run, msg)
	}
	return nil
}

// walk executes the DAG, returning the run's final state, or "" when the
// run must stay unfinished (shutdown).
func (e *Engine) walk(ctx context.Context, run *Run) (State, error) {
	spec := run.Spec
	order, err := spec.Order()
	if err != nil {
		return Failed, err
	}
	steps := map[string]*Step{}
	for i := range spec.Steps {
		steps[spec.Steps[i].Name] = &spec.Steps[i]
	}
	// Steps that succeeded in an earlier life of this run are kept.
	done := map[string]map[string]Value{}
	for name, a := range run.Latest() {
		if a.State == Succeeded {
			done[name] = a.Outputs
		}
	}
	parallel := spec.MaxParallel
	if parallel <= 0 {
		parallel = 2
	}
	type result struct {
		step    string
		outputs map[string]Value
		err     error
	}
	results := make(chan result)
	status := map[string]State{}
	for n := range done {
		status[n] = Succeeded
	}
	running := 0
	var firstErr error
	for {
		// Launch what is ready, in order.
		for _, n := range order {
			if status[n] != "" {
				continue
			}
			ready, blocked := true, false
			for _, d := range steps[n].Deps() {
				switch status[d] {
				case Succeeded:
				case Failed, Skipped, Cancelled, Halted:
					blocked = true
				default:
					ready = false
				}
			}
			if blocked {
				status[n] = Skipped
				e.skip(ctx, run, n)
				continue
			}
			if !ready || running >= parallel || ctx.Err() != nil {
				continue
			}
			status[n] = Running
			running++
			inputs := map[string]map[string]Value{}
			for _, d := range steps[n].Deps() {
				inputs[d] = done[d]
			}
			go func(st Step) {
				out, err := e.step(ctx, run, st, inputs)
				results <- result{st.Name, out, err}
			}(*steps[n])
		}
		if running == 0 {
			break
		}
		r := <-results
		running--
		var halt *Halt
		if errors.As(r.err, &halt) {
			status[r.step] = Halted
			continue
		}
		if r.err != nil {
			status[r.step] = Failed
			if errors.Is(r.err, context.Canceled) || errors.Is(r.err, errShutdown) {
				status[r.step] = Cancelled
			}
			if firstErr == nil {
				firstErr = fmt.Errorf("step %s: %w", r.step, r.err)
			}
			continue
		}
		status[r.step] = Succeeded
		done[r.step] = r.outputs
	}
	switch cause := context.Cause(ctx); {
	case cause == nil:
	case errors.Is(cause, errShutdown), errors.Is(cause, errLeaseHeld):
		return "", cause
	default:
		return Cancelled, firstErr
	}
	if firstErr != nil {
		return Failed, firstErr
	}
	return Succeeded, nil
}

func (e *Engine) skip(ctx context.Context, run *Run, step string) {
	a := &Attempt{Run: run.ID, Step: step, State: Running, StartedAt: e.now(), Worker: e.Owner}
	if err := e.Store.StartAttempt(ctx, a); err != nil {
		return
	}
	a.State, a.Error = Skipped, "an upstream step failed or halted the run"
	now := e.now()
	a.FinishedAt = &now
	_ = e.Store.FinishAttempt(ctx, a)
}

// prepared is a step ready to run: its kind, inputs, parameters and key.
type prepared struct {
	kind   Kind
	inputs map[string]Value
	with   map[string]any
	code   string
	key    string
}

// prepare resolves a step's inputs and parameters and computes its key.
// upstream holds the outputs of the steps it depends on.
func (e *Engine) prepare(ctx context.Context, run *Run, st Step, upstream map[string]map[string]Value) (*prepared, error) {
	k := e.Kinds[st.Kind]
	if k == nil {
		return nil, plinth.Invalid("steps."+st.Name+".kind", "%q is not a step kind", st.Kind)
	}
	p := &prepared{kind: k, inputs: map[string]Value{}, code: e.Code}
	for in, ref := range st.Inputs {
		r, err := ParseRef(ref)
		if err != nil {
			return nil, plinth.Invalid("steps."+st.Name+".inputs."+in, "%v", err)
		}
		if r.Step != "" {
			v, ok := upstream[r.Step][r.Output]
			if !ok {
				return nil, plinth.Invalid("steps."+st.Name+".inputs."+in, "step %s wrote no output %q", r.Step, r.Output)
			}
			p.inputs[in] = v
			continue
		}
		if v, ok := run.Spec.Pinned[st.Name][in]; ok {
			p.inputs[in] = v
			continue
		}
		if e.Resolver == nil {
			return nil, plinth.Invalid("steps."+st.Name+".inputs."+in, "%s: nothing resolves external references here", ref)
		}
		v, err := e.Resolver.Resolve(ctx, r)
		if r.Optional && plinth.ErrorCode(err) == plinth.ENOTFOUND {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("input %s (%s): %w", in, ref, err)
		}
		p.inputs[in] = v
	}
	with, err := substitute(st.With, run.Params, "steps."+st.Name+".with")
	if err != nil {
		return nil, err
	}
	p.with = with
	if cv, ok := k.(codeVersioner); ok {
		c, err := cv.CodeVersion(with)
		if err != nil {
			return nil, plinth.Invalid("steps."+st.Name+".with", "%v", err)
		}
		p.code = c
	}
	p.key = Key(st.Kind, with, p.inputs, p.code)
	return p, nil
}

// codeVersioner is a kind whose code is not plinth's own, such as a
// command whose script is hashed.
type codeVersioner interface {
	CodeVersion(with map[string]any) (string, error)
}

// Key is a step's cache key: a hash of what it does (kind, parameters,
// code version) and the contents of what it reads. Names of upstream steps
// and datasets do not enter it; their contents do.
func Key(kind string, with map[string]any, inputs map[string]Value, code string) string {
	in := map[string]string{}
	for n, v := range inputs {
		in[n] = v.Content()
	}
	raw, _ := json.Marshal(struct {
		Kind   string            `json:"kind"`
		With   map[string]any    `json:"with"`
		Inputs map[string]string `json:"inputs"`
		Code   string            `json:"code"`
	}{kind, with, in, code})
	return hash(raw)
}

// step runs one step: a cache hit, or attempts until success, a user
// error, or no retries left.
func (e *Engine) step(ctx context.Context, run *Run, st Step, upstream map[string]map[string]Value) (map[string]Value, error) {
	p, err := e.prepare(ctx, run, st, upstream)
	if err != nil {
		e.failEarly(ctx, run, st, err)
		return nil, err
	}
	if cacheable(p) && !st.NoCache {
		hit, err := e.Store.Cached(ctx, p.key)
		if err == nil {
			a := &Attempt{Run: run.ID, Step: st.Name, State: Running, Key: p.key, Inputs: p.inputs, With: p.with, Code: p.code, Worker: e.Owner, StartedAt: e.now()}
			if err := e.Store.StartAttempt(ctx, a); err != nil {
				return nil, err
			}
			a.State, a.Cached, a.CachedFrom, a.Outputs, a.Error = hit.State, true, hit.Run, hit.Outputs, hit.Error
			now := e.now()
			a.FinishedAt = &now
			if err := e.Store.FinishAttempt(ctx, a); err != nil {
				return nil, err
			}
			e.logger().Info("step cached", "run", run.ID, "step", st.Name, "from", hit.Run)
			if e.Observe != nil {
				e.Observe(run.Pipeline, a)
			}
			if hit.State == Halted {
				return nil, &Halt{Reason: hit.Error}
			}
			return hit.Outputs, nil
		} else if plinth.ErrorCode(err) != plinth.ENOTFOUND {
			return nil, err
		}
	}
	backoff := e.Backoff
	if backoff <= 0 {
		backoff = time.Second
	}
	for try := 0; ; try++ {
		out, err := e.attempt(ctx, run, st, p)
		if err == nil {
			return out, nil
		}
		var halt *Halt
		if errors.As(err, &halt) || userError(err) || try >= st.Retries || ctx.Err() != nil {
			return nil, err
		}
		delay := min(backoff<<try, time.Minute)
		e.logger().Warn("step failed; retrying", "run", run.ID, "step", st.Name, "attempt", try+1, "in", delay, "err", err)
		select {
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-time.After(delay):
		}
	}
}

// userError tells failures that retrying cannot fix — bad definitions,
// bad data, a command that exited with an error — from system failures.
func userError(err error) bool {
	var ue *UserError
	if errors.As(err, &ue) {
		return true
	}
	switch plinth.ErrorCode(err) {
	case plinth.EINVALID, plinth.ENOTFOUND, plinth.ECONFLICT, plinth.EFORBIDDEN, plinth.EUNAUTHORIZED:
		return true
	}
	return false
}

// UserError marks a step failure caused by the step's code or data, such
// as a command exiting with a non-zero status: it is not retried.
type UserError struct{ Err error }

func (e *UserError) Error() string { return e.Err.Error() }
func (e *UserError) Unwrap() error { return e.Err }

func (e *Engine) failEarly(ctx context.Context, run *Run, st Step, cause error) {
	a := &Attempt{Run: run.ID, Step: st.Name, State: Running, Worker: e.Owner, StartedAt: e.now()}
	if e.Store.StartAttempt(ctx, a) != nil {
		return
	}
	now := e.now()
	a.State, a.Error, a.UserError, a.FinishedAt = Failed, errText(cause), userError(cause), &now
	_ = e.Store.FinishAttempt(context.WithoutCancel(ctx), a)
}

// attempt runs a step once, recording the attempt: here, or on a worker
// when the engine has Tasks.
func (e *Engine) attempt(ctx context.Context, run *Run, st Step, p *prepared) (map[string]Value, error) {
	a := &Attempt{Run: run.ID, Step: st.Name, State: Running, Key: p.key, Inputs: p.inputs, With: p.with, Code: p.code, Worker: e.Owner, StartedAt: e.now()}
	if e.Tasks != nil {
		a.Worker = ""
	}
	if err := e.Store.StartAttempt(ctx, a); err != nil {
		return nil, err
	}
	if e.Tasks != nil {
		return e.dispatch(ctx, run, st, a)
	}
	out, err := e.runAttempt(ctx, run, st, p, a)
	if plinth.ErrorCode(err) == plinth.ECONFLICT {
		return nil, fmt.Errorf("attempt %d of %s was taken over: %w", a.Number, st.Name, errLeaseHeld)
	}
	return out, err
}

// runAttempt runs a recorded attempt of a step and records its end; it
// returns ECONFLICT when the attempt had already ended (taken over by
// another executor, or timed out by the engine that dispatched it).
func (e *Engine) runAttempt(ctx context.Context, run *Run, st Step, p *prepared, a *Attempt) (map[string]Value, error) {
	a.Worker = e.Owner
	dir, err := e.scratch(run, st, a)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	sctx := ctx
	var cancel context.CancelFunc = func() {}
	if st.Timeout > 0 {
		sctx, cancel = context.WithTimeoutCause(ctx, time.Duration(st.Timeout), plinth.Errorf(plinth.ETIMEOUT, "step %s ran past its timeout of %s", st.Name, time.Duration(st.Timeout)))
	}
	defer cancel()
	log := &tailBuffer{max: 64 << 10}
	sc := &StepContext{
		Context: sctx, Run: run, Step: st, Attempt: a.Number, With: p.with, Inputs: p.inputs,
		Dir: dir, Blobs: e.Blobs, Log: log, Now: e.now,
	}
	sc.await = func(string) (*Decision, error) { return e.await(sctx, a) }
	meter := startMeter()
	out, err := runKind(p.kind, sc)
	a.Cost = meter.stop(sc.childCost)
	if err == nil && sctx.Err() != nil {
		err = context.Cause(sctx)
	}
	if err == nil {
		err = checkOutputs(p.kind, st, out)
	}
	now := e.now()
	a.FinishedAt, a.Log = &now, log.String()
	var halt *Halt
	switch {
	case err == nil:
		a.State, a.Outputs = Succeeded, out
	case errors.As(err, &halt):
		a.State, a.Error = Halted, halt.Reason
	case errors.Is(context.Cause(ctx), errShutdown), errors.Is(context.Cause(ctx), errLeaseHeld):
		// The run goes on elsewhere or later; this attempt is over.
		a.State, a.Error = Abandoned, errText(err)
	case ctx.Err() != nil:
		a.State, a.Error = Cancelled, "cancelled"
	default:
		if sctx.Err() != nil {
			err = context.Cause(sctx)
		}
		a.State, a.Error, a.UserError = Failed, errText(err), userError(err)
	}
	if ferr := e.Store.FinishAttempt(context.WithoutCancel(ctx), a); ferr != nil {
		return nil, ferr
	}
	e.logger().Info("step finished", "run", run.ID, "step", st.Name, "attempt", a.Number, "state", a.State, "wall", a.Cost.WallSeconds)
	if e.Observe != nil {
		e.Observe(run.Pipeline, a)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// await marks an attempt waiting and polls for the decision on its step.
func (e *Engine) await(ctx context.Context, a *Attempt) (*Decision, error) {
	if d, err := e.Store.Decision(ctx, a.Run, a.Step); err == nil {
		return d, nil // decided before (the run resumed)
	}
	if err := e.Store.WaitAttempt(ctx, a.Run, a.Step, a.Number); err != nil {
		return nil, err
	}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		d, err := e.Store.Decision(ctx, a.Run, a.Step)
		if err == nil {
			return d, nil
		}
		if plinth.ErrorCode(err) != plinth.ENOTFOUND {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-tick.C:
		}
	}
}

// Decide records a person's decision on a run's step that waits for
// approval.
func (e *Engine) Decide(ctx context.Context, run, step string, approve bool, reason string) error {
	r, err := e.Store.PipelineRun(ctx, run)
	if err != nil {
		return err
	}
	a := r.Latest()[step]
	if a == nil || a.State != Waiting {
		return plinth.Errorf(plinth.ECONFLICT, "step %s of run %s is not waiting for approval", step, run)
	}
	return e.Store.Decide(ctx, run, step, Decision{Approve: approve, By: plinth.PrincipalFrom(ctx), Reason: reason, At: e.now()})
}

// runKind runs a kind, turning a panic into a system error so one broken
// step cannot take the server down.
func runKind(k Kind, sc *StepContext) (out map[string]Value, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("step panicked: %v", p)
		}
	}()
	return k.Run(sc)
}

// checkOutputs checks the types of what a step wrote. An output a step
// may leave out (a command's model) is missed by the step that reads it.
func checkOutputs(k Kind, st Step, out map[string]Value) error {
	for name, v := range out {
		t, ok := k.Outputs()[name]
		if !ok {
			return fmt.Errorf("step %s wrote an undeclared output %q", st.Name, name)
		}
		if t != Any && v.Type != t {
			return fmt.Errorf("step %s wrote a %s as %q, declared %s", st.Name, v.Type, name, t)
		}
	}
	return nil
}

func (e *Engine) notify(run *Run, msg string) {
	body, _ := json.Marshal(map[string]any{
		"event": "pipeline_run_failed", "run": run.ID, "pipeline": run.Pipeline, "error": msg, "trigger": run.Trigger,
	})
	client := e.Notify
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := client.Post(run.Spec.Notify, "application/json", bytes.NewReader(body))
	if err != nil {
		e.logger().Warn("failure notification", "run", run.ID, "err", err)
		return
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		e.logger().Warn("failure notification", "run", run.ID, "status", resp.Status)
	}
}

// mergeParams overlays a run's parameters on the pipeline's defaults; a
// parameter the pipeline does not declare is an error.
func mergeParams(defaults, given map[string]any) (map[string]any, error) {
	out := maps.Clone(defaults)
	if out == nil {
		out = map[string]any{}
	}
	for k, v := range given {
		if _, ok := defaults[k]; !ok {
			return nil, plinth.Invalid("params."+k, "the pipeline declares no parameter %q", k)
		}
		out[k] = v
	}
	return out, nil
}

var paramRef = regexp.MustCompile(`\$\{params\.([A-Za-z_][A-Za-z0-9_]*)\}`)

// substitute replaces ${params.NAME} in the step's parameters. A value
// that is exactly one reference takes the parameter's type.
func substitute(with map[string]any, params map[string]any, field string) (map[string]any, error) {
	var walk func(v any, field string) (any, error)
	walk = func(v any, field string) (any, error) {
		switch v := v.(type) {
		case string:
			if m := paramRef.FindStringSubmatch(v); m != nil && m[0] == v {
				p, ok := params[m[1]]
				if !ok {
					return nil, plinth.Invalid(field, "no parameter %q", m[1])
				}
				return p, nil
			}
			var missing string
			s := paramRef.ReplaceAllStringFunc(v, func(ref string) string {
				n := paramRef.FindStringSubmatch(ref)[1]
				p, ok := params[n]
				if !ok {
					missing = n
				}
				return fmt.Sprint(p)
			})
			if missing != "" {
				return nil, plinth.Invalid(field, "no parameter %q", missing)
			}
			return s, nil
		case map[string]any:
			out := make(map[string]any, len(v))
			for k, x := range v {
				y, err := walk(x, field+"."+k)
				if err != nil {
					return nil, err
				}
				out[k] = y
			}
			return out, nil
		case []any:
			out := make([]any, len(v))
			for i, x := range v {
				y, err := walk(x, fmt.Sprintf("%s[%d]", field, i))
				if err != nil {
					return nil, err
				}
				out[i] = y
			}
			return out, nil
		}
		return v, nil
	}
	out, err := walk(map[string]any(with), field)
	if err != nil {
		return nil, err
	}
	return out.(map[string]any), nil
}

// tailBuffer keeps the last max bytes written.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
	cut bool
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
		t.cut = true
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cut {
		return "[earlier output cut]\n" + strings.ToValidUTF8(string(t.buf), "")
	}
	return string(t.buf)
}

// errText is how an error is recorded on a run or an attempt: a plinth
// error's field and message, or any other error's text, which the people
// looking at a failed step need.
func errText(err error) string {
	var pe *plinth.Error
	if errors.As(err, &pe) {
		if pe.Field != "" {
			return pe.Field + ": " + pe.Message
		}
		return pe.Message
	}
	return err.Error()
}

// cacheable reports whether a prepared step may be taken from the cache.
func cacheable(p *prepared) bool {
	if c, ok := p.kind.(interface{ Cacheable(map[string]any) bool }); ok && !c.Cacheable(p.with) {
		return false
	}
	return p.kind.Deterministic()
}
