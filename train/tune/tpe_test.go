package tune

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// synthetic objectives with a known optimum of 0.
var synthetic = []struct {
	name  string
	space Space
	f     func(p map[string]any) float64
}{
	{
		"shifted quadratic and a choice",
		Space{
			"x": {Uniform: []float64{-5, 5}}, "y": {Uniform: []float64{-5, 5}}, "z": {Uniform: []float64{-5, 5}},
			"c": {Choice: []any{"a", "b", "c", "d"}},
		},
		func(p map[string]any) float64 {
			x, y, z := p["x"].(float64)-1.3, p["y"].(float64)+0.7, p["z"].(float64)-2.1
			return x*x + y*y + z*z + map[string]float64{"a": 2, "b": 0, "c": 1, "d": 3}[p["c"].(string)]
		},
	},
	{
		"log scale and an int",
		Space{"lr": {LogUniform: []float64{1e-5, 1}}, "depth": {Int: []int{1, 20}}, "w": {Uniform: []float64{0, 1}}},
		func(p map[string]any) float64 {
			lr := math.Log10(p["lr"].(float64)) + 2.5
			d := float64(p["depth"].(int)-7) / 3
			w := p["w"].(float64) - 0.25
			return lr*lr + d*d + 4*w*w
		},
	},
}

// TestTPEBeatsRandom compares the mean best value after 40 trials over 10
// seeds: TPE, which learns where good trials lie, must beat random search
// clearly on both objectives.
func TestTPEBeatsRandom(t *testing.T) {
	for _, obj := range synthetic {
		t.Run(obj.name, func(t *testing.T) {
			mean := func(sampler string) float64 {
				var sum float64
				for seed := range uint64(10) {
					res, err := Run(t.Context(), Config{Space: obj.space, Sampler: sampler, Trials: 40, Seed: seed},
						func(_ context.Context, tr *Trial) (float64, error) { return obj.f(tr.Params), nil })
					if err != nil {
						t.Fatal(err)
					}
					sum += res.Best.Value
				}
				return sum / 10
			}
			tpe, random := mean(SamplerTPE), mean(SamplerRandom)
			t.Logf("mean best after 40: tpe %.3f, random %.3f", tpe, random)
			if tpe > 0.7*random {
				t.Errorf("tpe %.3f is not clearly below random %.3f", tpe, random)
			}
		})
	}
}

// TestTPEDeterministic: with Parallel 1 a seed gives the same search.
func TestTPEDeterministic(t *testing.T) {
	obj := synthetic[0]
	search := func(seed uint64) []string {
		res, err := Run(t.Context(), Config{Space: obj.space, Trials: 25, Seed: seed},
			func(_ context.Context, tr *Trial) (float64, error) { return obj.f(tr.Params), nil })
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, tr := range res.Trials {
			out = append(out, fmt.Sprint(tr.Params))
		}
		return out
	}
	a, b, c := search(5), search(5), search(6)
	if !slices.Equal(a, b) {
		t.Error("the same seed gave different searches")
	}
	if slices.Equal(a[10:], c[10:]) {
		t.Error("different seeds gave the same searches")
	}
}

// TestTPEMaximize: the direction decides which trials are good.
func TestTPEMaximize(t *testing.T) {
	obj := synthetic[0]
	res, err := Run(t.Context(), Config{Space: obj.space, Trials: 40, Seed: 1, Direction: Maximize},
		func(_ context.Context, tr *Trial) (float64, error) { return -obj.f(tr.Params), nil })
	if err != nil {
		t.Fatal(err)
	}
	if res.Best.Value < -5 {
		t.Errorf("maximizing -f reached only %.3f", res.Best.Value)
	}
}

func TestTPEWeights(t *testing.T) {
	if w := tpeWeights(3); !slices.Equal(w, []float64{1, 1, 1}) {
		t.Errorf("weights(3) = %v", w)
	}
	w := tpeWeights(30)
	if math.Abs(w[0]-1.0/30) > 1e-12 || w[4] != 1 || w[29] != 1 || !(w[1] > w[0] && w[1] < w[4]) {
		t.Errorf("weights(30) = %v: want a ramp from 1/30 over the 5 oldest, then flat", w)
	}
}

// TestParzen checks the estimators against what they are: the density
// integrates to 1 over the range, the discrete mass sums to 1, the
// categorical probabilities sum to 1 and favour the observed values, and
// samples stay in range.
func TestParzen(t *testing.T) {
	p := newParzen([]float64{0.2, 0.25, 0.9}, 0, 1, 0)
	var integral float64
	const n = 20000
	for i := range n {
		integral += math.Exp(p.logPDF((float64(i)+0.5)/n)) / n
	}
	if math.Abs(integral-1) > 1e-3 {
		t.Errorf("continuous density integrates to %v", integral)
	}
	d := newParzen([]float64{3, 3, 8}, 1, 10, 1)
	var mass float64
	for v := 1; v <= 10; v++ {
		mass += math.Exp(d.logPDF(float64(v)))
	}
	if math.Abs(mass-1) > 1e-9 {
		t.Errorf("discrete mass sums to %v", mass)
	}
	if d.logPDF(3) <= d.logPDF(6) {
		t.Error("the discrete estimator does not favour its observations")
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		if x := d.sample(r); x < 1 || x > 10 || x != math.Round(x) {
			t.Fatalf("discrete sample %v", x)
		}
		if x := p.sample(r); x < 0 || x > 1 {
			t.Fatalf("continuous sample %v", x)
		}
	}
	probs := categoricalProbs([]int{1, 1, 2}, 4)
	var sum float64
	for _, v := range probs {
		sum += v
	}
	if math.Abs(sum-1) > 1e-12 || !(probs[1] > probs[2] && probs[2] > probs[0] && probs[0] == probs[3]) {
		t.Errorf("categorical probabilities %v", probs)
	}
}

func TestTruncNormalTails(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct{ mu, sd, lo, hi float64 }{
		{0, 1, 8, 9},    // far in the upper tail
		{0, 1, -9, -8},  // far in the lower tail
		{0, 1e-3, 5, 6}, // beyond any precision
		{0.5, 0.1, 0, 1},
	} {
		for range 100 {
			if x := truncNormal(r, c.mu, c.sd, c.lo, c.hi); math.IsNaN(x) || x < c.lo || x > c.hi {
				t.Fatalf("truncNormal(%v) = %v", c, x)
			}
		}
	}
}
