package tune

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plinthml/plinth"
)

var oneDim = Space{"x": {Uniform: []float64{0, 1}}}

func TestConfigInvalid(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   Config
		field string
	}{
		{"no space", Config{Trials: 1}, "space"},
		{"bad dim", Config{Space: Space{"x": {}}, Trials: 1}, "space.x"},
		{"sampler", Config{Space: oneDim, Trials: 1, Sampler: "bayes"}, "sampler"},
		{"direction", Config{Space: oneDim, Trials: 1, Direction: "up"}, "direction"},
		{"no budget", Config{Space: oneDim}, "trials"},
		{"negative budget", Config{Space: oneDim, Sampler: SamplerGrid, Trials: -1}, "trials"},
		{"parallel", Config{Space: oneDim, Trials: 1, Parallel: -2}, "parallel"},
		{"grid points", Config{Space: oneDim, Trials: 1, GridPoints: 1}, "grid_points"},
		{"startup", Config{Space: oneDim, Trials: 1, TPE: TPE{StartupTrials: -1}}, "tpe.startup_trials"},
		{"candidates", Config{Space: oneDim, Trials: 1, TPE: TPE{EICandidates: -1}}, "tpe.ei_candidates"},
		{"eta", Config{Space: oneDim, Trials: 1, ASHA: &ASHA{Eta: 1}}, "asha.eta"},
		{"min resource", Config{Space: oneDim, Trials: 1, ASHA: &ASHA{MinResource: -1}}, "asha.min_resource"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Run(t.Context(), tc.cfg, func(context.Context, *Trial) (float64, error) {
				t.Fatal("the objective ran")
				return 0, nil
			})
			var e *plinth.Error
			if res != nil || !errors.As(err, &e) || e.Code != plinth.EINVALID || e.Field != tc.field {
				t.Fatalf("Run = %v, %v; want invalid %s", res, err, tc.field)
			}
		})
	}
}

// TestFailedTrials: failures are recorded with their errors and the search
// goes on; a NaN value is a failure too.
func TestFailedTrials(t *testing.T) {
	boom := errors.New("boom")
	res, err := Run(t.Context(), Config{Space: oneDim, Sampler: SamplerRandom, Trials: 10}, func(_ context.Context, tr *Trial) (float64, error) {
		switch tr.Number % 3 {
		case 0:
			return 0, boom
		case 1:
			return math.NaN(), nil
		}
		return tr.Params["x"].(float64), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range res.Trials {
		want := map[int]State{0: Failed, 1: Failed, 2: Complete}[tr.Number%3]
		if tr.State != want {
			t.Errorf("trial %d is %s, want %s", tr.Number, tr.State, want)
		}
		if tr.Number%3 == 0 && !errors.Is(tr.Err, boom) {
			t.Errorf("trial %d: err %v, want boom", tr.Number, tr.Err)
		}
		if tr.State == Failed && !math.IsNaN(tr.Value) {
			t.Errorf("failed trial %d has value %v", tr.Number, tr.Value)
		}
	}
	if res.Best == nil || res.Best.Number%3 != 2 || len(res.Curve) != 3 {
		t.Errorf("best %+v, curve %v", res.Best, res.Curve)
	}
}

// TestAllFail: when every trial fails Run says so, wrapping the first
// failure so that its code carries.
func TestAllFail(t *testing.T) {
	res, err := Run(t.Context(), Config{Space: oneDim, Trials: 4, Parallel: 2}, func(_ context.Context, tr *Trial) (float64, error) {
		return 0, plinth.Invalid("max_dept", "not a gbt parameter")
	})
	if plinth.ErrorCode(err) != plinth.EINVALID || !strings.Contains(err.Error(), "no trial completed") {
		t.Fatalf("err = %v", err)
	}
	if res == nil || len(res.Trials) != 4 || res.Best != nil {
		t.Fatalf("result %+v", res)
	}
}

// TestPrunedByObjective: an objective may prune itself with ErrPruned.
func TestPrunedByObjective(t *testing.T) {
	res, err := Run(t.Context(), Config{Space: oneDim, Trials: 4}, func(_ context.Context, tr *Trial) (float64, error) {
		if tr.Number%2 == 1 {
			tr.Report(3, 0.5)
			return 0, fmt.Errorf("diverged: %w", ErrPruned)
		}
		return 1, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if tr := res.Trials[1]; tr.State != Pruned || tr.Value != 0.5 || tr.Step != 3 {
		t.Errorf("trial 1 = %+v", tr)
	}
}

// TestCurve: one point per complete trial, in completion order, never
// getting worse; the best is the first to reach the best value.
func TestCurve(t *testing.T) {
	values := []float64{5, 3, 4, 1, 2, 1}
	res, err := Run(t.Context(), Config{Space: oneDim, Trials: len(values)}, func(_ context.Context, tr *Trial) (float64, error) {
		tr.Params["x"] = "changed" // the record keeps the proposed value
		return values[tr.Number], nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []Point{{0, 5}, {1, 3}, {2, 3}, {3, 1}, {4, 1}, {5, 1}}
	if fmt.Sprint(res.Curve) != fmt.Sprint(want) {
		t.Errorf("curve %v, want %v", res.Curve, want)
	}
	if res.Best.Number != 3 {
		t.Errorf("best is trial %d, want 3", res.Best.Number)
	}
	if _, ok := res.Trials[0].Params["x"].(float64); !ok {
		t.Errorf("the objective's change reached the record: %v", res.Trials[0].Params)
	}
}

// TestParallel runs TPE and ASHA with 4 trials at a time (run it with
// -race): every trial is recorded once, and 4 do run at once.
func TestParallel(t *testing.T) {
	var running, peak atomic.Int32
	obj := synthetic[0]
	cfg := Config{Space: obj.space, Trials: 40, Parallel: 4, Seed: 2, ASHA: &ASHA{MinResource: 2, Eta: 2}}
	res, err := Run(t.Context(), cfg, func(ctx context.Context, tr *Trial) (float64, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		v := obj.f(tr.Params)
		for s := 1; s <= 8; s++ {
			time.Sleep(100 * time.Microsecond)
			if tr.Report(s, v+1/float64(s)) {
				return 0, ErrPruned
			}
		}
		return v, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Trials) != 40 {
		t.Fatalf("%d trials recorded", len(res.Trials))
	}
	for i, tr := range res.Trials {
		if tr.Number != i || tr.State == Failed {
			t.Fatalf("trial %d: %+v", i, tr)
		}
	}
	if peak.Load() != 4 {
		t.Errorf("at most %d trials ran at once, want 4", peak.Load())
	}
}

// TestCancel: cancelling the search stops it promptly; Report tells the
// running trials to stop, no further trial starts, and Run returns what it
// has with the context's error.
func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	var started atomic.Int32
	done := make(chan struct{})
	var res *Result
	var err error
	go func() {
		defer close(done)
		res, err = Run(ctx, Config{Space: oneDim, Trials: 1000, Parallel: 2}, func(ctx context.Context, tr *Trial) (float64, error) {
			if started.Add(1) == 6 {
				cancel()
			}
			for s := 1; ; s++ {
				if tr.Report(s, 1) {
					return 0, ctx.Err()
				}
				time.Sleep(time.Millisecond)
				if s == 3 && tr.Number < 4 {
					return 1, nil
				}
			}
		})
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if res == nil || len(res.Trials) < 4 || len(res.Trials) > 8 || res.Best == nil {
		t.Fatalf("result %+v", res)
	}
	for _, tr := range res.Trials[4:] {
		if tr.State != Failed || !errors.Is(tr.Err, context.Canceled) {
			t.Errorf("trial %d: %s, %v; want failed, cancelled", tr.Number, tr.State, tr.Err)
		}
	}
}

// TestCancelBeforeStart: a search whose context is already done runs
// nothing.
func TestCancelBeforeStart(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	res, err := Run(ctx, Config{Space: oneDim, Trials: 10}, func(context.Context, *Trial) (float64, error) {
		t.Error("a trial ran")
		return 0, nil
	})
	if !errors.Is(err, context.Canceled) || len(res.Trials) != 0 {
		t.Fatalf("Run = %+v, %v", res, err)
	}
}
