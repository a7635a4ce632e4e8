package tune

import (
	"context"
	"math"
	"testing"
)

// curve is a synthetic learning curve: the loss after step steps of a
// trial whose final quality is q. Curves of different q never cross, so
// the trial that ends best is best at every rung too.
func curve(q float64, step int) float64 { return q + 1/float64(step) }

// TestASHAPrunes runs trials along synthetic learning curves of 27 steps:
// ASHA must stop many of them early, and never the best.
func TestASHAPrunes(t *testing.T) {
	const steps = 27
	for _, parallel := range []int{1, 4} {
		for _, dir := range []Direction{Minimize, Maximize} {
			sign := 1.0
			if dir == Maximize {
				sign = -1
			}
			cfg := Config{
				Space: Space{"q": {Uniform: []float64{0, 1}}}, Sampler: SamplerRandom, Trials: 40, Seed: 9,
				Parallel: parallel, Direction: dir, ASHA: &ASHA{MinResource: 1, Eta: 3},
			}
			res, err := Run(t.Context(), cfg, func(ctx context.Context, tr *Trial) (float64, error) {
				q := tr.Params["q"].(float64)
				for s := 1; s <= steps; s++ {
					if tr.Report(s, sign*curve(q, s)) {
						return 0, ErrPruned
					}
				}
				return sign * curve(q, steps), nil
			})
			if err != nil {
				t.Fatal(err)
			}
			pruned, work := 0, 0
			bestQ, bestState := math.Inf(1), State("")
			for _, tr := range res.Trials {
				work += tr.Step
				if tr.State == Pruned {
					pruned++
					if want := sign * curve(tr.Params["q"].(float64), tr.Step); tr.Value != want {
						t.Errorf("pruned trial %d has value %v, want its last report %v", tr.Number, tr.Value, want)
					}
				}
				if q := tr.Params["q"].(float64); q < bestQ {
					bestQ, bestState = q, tr.State
				}
			}
			t.Logf("parallel %d, %s: %d of 40 trials pruned, %d of %d steps run", parallel, dir, pruned, work, 40*steps)
			if pruned < 20 {
				t.Errorf("parallel %d, %s: only %d of 40 trials pruned", parallel, dir, pruned)
			}
			if bestState != Complete || res.Best.Params["q"].(float64) != bestQ {
				t.Errorf("parallel %d, %s: the best trial (q = %v) is %s; Run's best has q = %v", parallel, dir, bestQ, bestState, res.Best.Params["q"])
			}
		}
	}
}

// TestASHARungs follows the rule by hand with eta 2, rungs at 2, 4, 8.
func TestASHARungs(t *testing.T) {
	a := &asha{ASHA: ASHA{MinResource: 2, Eta: 2}}
	type report struct {
		trial, step int
		v           float64
		stop        bool
	}
	next := make([]int, 4)
	for i, r := range []report{
		{0, 1, 5, false},  // below the first rung
		{0, 2, 5, false},  // rung 2: alone, so the best
		{1, 2, 6, true},   // rung 2 [5 6]: 2/2 = 1 goes on, the 5
		{2, 2, 4, false},  // rung 2 [4 5 6]: 3/2 = 1 goes on, the best
		{3, 2, 5.5, true}, // rung 2 [4 5 5.5 6]: 4/2 = 2 go on, 4 and 5
		{0, 8, 3, false},  // jumps rungs 4 and 8 at once, alone at both
	} {
		if got := a.report(&next[r.trial], r.step, r.v); got != r.stop {
			t.Errorf("report %d (trial %d, step %d, value %v) = %v, want %v", i, r.trial, r.step, r.v, got, r.stop)
		}
	}
	if len(a.rungs) != 3 || len(a.rungs[0]) != 4 || len(a.rungs[2]) != 1 {
		t.Errorf("rungs = %v", a.rungs)
	}
	if a.report(&next[2], 3, math.NaN()) != true {
		t.Error("a NaN report was not stopped")
	}
}

// TestReportWithoutASHA never stops a trial.
func TestReportWithoutASHA(t *testing.T) {
	_, err := Run(t.Context(), Config{Space: Space{"q": {Uniform: []float64{0, 1}}}, Trials: 3},
		func(_ context.Context, tr *Trial) (float64, error) {
			for s := 1; s <= 100; s++ {
				if tr.Report(s, 1e9) {
					t.Fatal("stopped without ASHA")
				}
			}
			return 0, nil
		})
	if err != nil {
		t.Fatal(err)
	}
}
