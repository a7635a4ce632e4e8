package monitor_test

import (
	"math/rand/v2"
	"testing"

	"github.com/plinthml/plinth/model"
	"github.com/plinthml/plinth/monitor"
)

// A feature that moves across the training period learns a threshold
// above the default; a window like its last stretch is drift by default
// and not with the learned threshold, while a stable feature keeps the
// default and real drift is still caught.
func TestLearnedThresholds(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sig := &model.Signature{Features: []model.Feature{{Name: "trend", Type: model.Float}, {Name: "stable", Type: model.Float}}}
	const n = 20_000
	cols := [][]float64{make([]float64, n), make([]float64, n)}
	for i := range n {
		cols[0][i] = float64(i)/n*3 + rng.NormFloat64()
		cols[1][i] = rng.NormFloat64()
	}
	ref, err := monitor.ProfileTable(sig, cols, monitor.Options{K: monitor.ReferenceK})
	if err != nil {
		t.Fatal(err)
	}
	learned, err := monitor.Learn(sig, ref, cols, 0)
	if err != nil {
		t.Fatal(err)
	}
	if l := learned["trend"]; l.Method != monitor.Wasserstein || l.Threshold <= 0.1 {
		t.Fatalf("trend learned %+v, want a Wasserstein threshold above 0.1", l)
	}
	if l := learned["stable"]; l.Threshold >= 0.1 {
		t.Fatalf("stable learned %+v, want one below the default", l)
	}
	// A window like the end of training, and the stable feature shifted.
	win := [][]float64{make([]float64, 5000), make([]float64, 5000)}
	for i := range 5000 {
		win[0][i] = 2.7 + rng.NormFloat64()
		win[1][i] = 0.5 + rng.NormFloat64()
	}
	cur, err := monitor.ProfileTable(sig, win, monitor.Options{Reference: ref})
	if err != nil {
		t.Fatal(err)
	}
	drifted := func(opts monitor.DriftOptions) map[string]bool {
		d, err := monitor.DetectDrift(ref, cur, opts)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, f := range d.Features {
			out[f.Feature] = f.Drifted
		}
		return out
	}
	if d := drifted(monitor.DriftOptions{}); !d["trend"] || !d["stable"] {
		t.Fatalf("default thresholds: %v", d)
	}
	if d := drifted(monitor.DriftOptions{Learned: learned}); d["trend"] || !d["stable"] {
		t.Fatalf("learned thresholds: %v", d)
	}
}
