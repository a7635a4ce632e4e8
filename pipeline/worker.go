package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/plinthml/plinth"
)

// Tasks carries step attempts to workers: a work queue with leases, such
// as queue.Queue over NATS JetStream. It is what the engine and the
// workers need of it.
type Tasks interface {
	Publish(ctx context.Context, id string, payload []byte) error
	Fetch(ctx context.Context) (Delivery, error)
}

// Delivery is one delivered task: settle it with Ack, or Nak it to be
// delivered again; Extend renews its lease while the step runs.
type Delivery interface {
	Payload() []byte
	Ack(ctx context.Context) error
	Nak(ctx context.Context, delay time.Duration) error
	Extend(ctx context.Context) error
}

// task names an attempt the engine recorded as running. Everything the
// step needs — inputs, parameters, key — is on the attempt in the store,
// so the payload stays small and a redelivered task runs the same work.
type task struct {
	Run     string `json:"run"`
	Step    string `json:"step"`
	Attempt int    `json:"attempt"`
}

// dispatch hands an attempt to the workers and waits for its end, which
// the worker records. A step timeout fails the attempt here; a worker that
// finishes late finds it no longer running and drops its result.
func (e *Engine) dispatch(ctx context.Context, run *Run, st Step, a *Attempt) (map[string]Value, error) {
	payload, _ := json.Marshal(task{Run: run.ID, Step: st.Name, Attempt: a.Number})
	id := fmt.Sprintf("%s.%s.%d", run.ID, st.Name, a.Number)
	if err := e.Tasks.Publish(ctx, id, payload); err != nil {
		e.finishHere(ctx, a, Failed, fmt.Errorf("dispatch: %w", err))
		return nil, err
	}
	var deadline <-chan time.Time
	if st.Timeout > 0 {
		t := time.NewTimer(time.Duration(st.Timeout))
		defer t.Stop()
		deadline = t.C
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			state := Cancelled
			if errors.Is(context.Cause(ctx), errShutdown) || errors.Is(context.Cause(ctx), errLeaseHeld) {
				return nil, context.Cause(ctx) // the attempt is abandoned when the run resumes
			}
			e.finishHere(ctx, a, state, errors.New("cancelled"))
			return nil, context.Cause(ctx)
		case <-deadline:
			err := plinth.Errorf(plinth.ETIMEOUT, "step %s ran past its timeout of %s", st.Name, time.Duration(st.Timeout))
			if e.finishHere(ctx, a, Failed, err) {
				return nil, err
			}
		case <-tick.C:
		}
		r, err := e.Store.PipelineRun(ctx, run.ID)
		if err != nil {
			continue
		}
		for _, got := range r.Attempts {
			if got.Step != st.Name || got.Number != a.Number || !got.State.Final() {
				continue
			}
			return attemptResult(&got)
		}
	}
}

// finishHere ends an attempt from the engine's side, reporting whether it
// did (false: a worker had finished it).
func (e *Engine) finishHere(ctx context.Context, a *Attempt, state State, cause error) bool {
	now := e.now()
	a.State, a.Error, a.FinishedAt = state, errText(cause), &now
	return e.Store.FinishAttempt(context.WithoutCancel(ctx), a) == nil
}

// attemptResult turns a finished attempt back into what running the step
// returned.
func attemptResult(a *Attempt) (map[string]Value, error) {
	switch a.State {
	case Succeeded:
		return a.Outputs, nil
	case Halted:
		return nil, &Halt{Reason: a.Error}
	}
	err := errors.New(a.Error)
	if a.UserError {
		return nil, &UserError{Err: err}
	}
	return nil, err
}

// Worker executes the step attempts that engines dispatch: `plinth
// worker` processes, each with its own engine over the shared stores.
type Worker struct {
	Engine *Engine
	Tasks  Tasks
	// Lease is the queue's lease; the worker renews it at a third of it
	// while a step runs (default 30s).
	Lease time.Duration
}

// Run takes tasks until ctx ends.
func (w *Worker) Run(ctx context.Context) error {
	for {
		d, err := w.Tasks.Fetch(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			w.Engine.logger().Warn("worker fetch", "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
			continue
		}
		if err := w.handle(ctx, d); err != nil {
			w.Engine.logger().Warn("worker task", "err", err)
		}
	}
}

// handle runs one delivered attempt and records its end. A task whose
// attempt already ended (a redelivery after another worker finished it, or
// the engine timed it out) is acknowledged without running.
func (w *Worker) handle(ctx context.Context, d Delivery) error {
	var t task
	if err := json.Unmarshal(d.Payload(), &t); err != nil {
		d.Ack(ctx) // a payload no worker can read never will be
		return fmt.Errorf("task payload: %w", err)
	}
	run, err := w.Engine.Store.PipelineRun(ctx, t.Run)
	if err != nil {
		if plinth.ErrorCode(err) == plinth.ENOTFOUND {
			return d.Ack(ctx)
		}
		d.Nak(ctx, time.Second)
		return err
	}
	var a *Attempt
	for i := range run.Attempts {
		if run.Attempts[i].Step == t.Step && run.Attempts[i].Number == t.Attempt {
			a = &run.Attempts[i]
		}
	}
	if a == nil || a.State.Final() {
		return d.Ack(ctx)
	}
	var st *Step
	for i := range run.Spec.Steps {
		if run.Spec.Steps[i].Name == t.Step {
			st = &run.Spec.Steps[i]
		}
	}
	if st == nil || w.Engine.Kinds[st.Kind] == nil {
		w.Engine.finishHere(ctx, a, Failed, plinth.Invalid("steps."+t.Step, "this worker cannot run step %s", t.Step))
		return d.Ack(ctx)
	}
	k := w.Engine.Kinds[st.Kind]
	if err := w.Engine.Store.ClaimAttempt(ctx, t.Run, t.Step, t.Attempt, w.Engine.Owner); err != nil {
		if plinth.ErrorCode(err) == plinth.ECONFLICT {
			return d.Ack(ctx)
		}
		d.Nak(ctx, time.Second)
		return err
	}
	// A worker asked to stop finishes the step it holds (a SIGKILL is
	// what redelivery is for), renewing the lease while it runs.
	stepCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	lease := w.Lease
	if lease <= 0 {
		lease = 30 * time.Second
	}
	go func() {
		tick := time.NewTicker(lease / 3)
		defer tick.Stop()
		for {
			select {
			case <-stepCtx.Done():
				return
			case <-tick.C:
				d.Extend(stepCtx)
			}
		}
	}()
	_, err = w.Engine.runAttempt(stepCtx, run, *st, &prepared{kind: k, inputs: a.Inputs, with: a.With, code: a.Code, key: a.Key}, a)
	// The step's end is recorded (or was, elsewhere: ECONFLICT); either
	// way the task is done. Retrying is the engine's decision.
	return d.Ack(context.WithoutCancel(ctx))
}

// scratch returns an attempt's scratch folder.
func (e *Engine) scratch(run *Run, st Step, a *Attempt) (string, error) {
	dir := filepath.Join(e.WorkDir, run.ID, fmt.Sprintf("%s.%d", st.Name, a.Number))
	return dir, os.MkdirAll(dir, 0o755)
}
