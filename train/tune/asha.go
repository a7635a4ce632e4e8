package tune

import (
	"math"
	"slices"
)

// ASHA configures asynchronous successive halving (Li et al., 2018, "A
// System for Massively Parallel Hyperparameter Tuning"), which stops
// trials whose intermediate values trail. Rungs sit at steps MinResource *
// Eta^k; the first time a trial reports at or past a rung, its value joins
// that rung's, and the trial goes on only if it is in the top 1/Eta of them.
// "Asynchronous" because nobody waits for a rung to fill: a trial is
// judged against whoever got there before it. While a rung holds fewer than
// Eta values only the best so far goes on (as Optuna does), so the first
// trial always runs to the end.
type ASHA struct {
	MinResource int `json:"min_resource,omitempty" yaml:"min_resource,omitempty"` // the first rung's step; default 1
	Eta         int `json:"eta,omitempty" yaml:"eta,omitempty"`                   // reduction factor, >= 2; default 3
}

// asha holds the values at each rung. Run's lock guards it.
type asha struct {
	ASHA
	maximize bool
	rungs    [][]float64
}

// report records a trial's value at step and tells whether to stop it.
// next is the trial's first rung not yet reached, which report advances.
func (a *asha) report(next *int, step int, v float64) (stop bool) {
	if math.IsNaN(v) {
		return true // a diverged trial has nothing to offer
	}
	for {
		at, ok := a.rungStep(*next)
		if !ok || step < at {
			return false
		}
		if *next == len(a.rungs) {
			a.rungs = append(a.rungs, nil)
		}
		a.rungs[*next] = append(a.rungs[*next], v)
		promote := a.promotable(v, a.rungs[*next])
		*next++
		if !promote {
			return true
		}
	}
}

// rungStep is MinResource*Eta^k, false when it overflows.
func (a *asha) rungStep(k int) (int, bool) {
	s := a.MinResource
	for range k {
		if s > math.MaxInt/a.Eta {
			return 0, false
		}
		s *= a.Eta
	}
	return s, true
}

// promotable tells whether v is in the top 1/Eta of a rung's values (which
// include v), or the best of them while the rung has fewer than Eta.
func (a *asha) promotable(v float64, rung []float64) bool {
	k := max(len(rung)/a.Eta-1, 0)
	sorted := slices.Clone(rung)
	slices.Sort(sorted)
	if a.maximize {
		return v >= sorted[len(sorted)-1-k]
	}
	return v <= sorted[k]
}
