package monitor

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func near(got, want, tol float64) bool { return math.Abs(got-want) <= tol }

// exactCDF is the distribution of a raw sample, for checking the sketch
// statistics against their definitions.
func exactCDF(xs []float64) cdf {
	s := NewSketch(MaxK)
	for _, x := range xs {
		s.Add(x)
	}
	return s.sorted()
}

func TestKolmogorovQ(t *testing.T) {
	// Critical values of the Kolmogorov distribution (e.g. Smirnov 1948;
	// any table of the KS test): P(K > x).
	for _, tc := range []struct{ x, want, tol float64 }{
		{0, 1, 0},
		{0.2, 1, 1e-6},
		{0.5, 0.9639, 1e-4},
		{0.8276, 0.5, 1e-3},
		{1.0, 0.2700, 1e-4},
		{1.2238, 0.10, 1e-3},
		{1.3581, 0.05, 1e-3},
		{1.6276, 0.01, 1e-3},
		{1.9495, 0.001, 1e-4},
		{3, 3.0e-8, 1e-8},
	} {
		if got := kolmogorovQ(tc.x); !near(got, tc.want, tc.tol) {
			t.Errorf("Q(%v) = %.5f, want %.5f", tc.x, got, tc.want)
		}
	}
	// The two series agree where they meet.
	for _, x := range []float64{1.1, 1.17, 1.19, 1.3} {
		var a, b float64
		for j := 1; j <= 100; j++ {
			a += 2 * math.Pow(-1, float64(j-1)) * math.Exp(-2*float64(j*j)*x*x)
		}
		for j := 1; j <= 10; j++ {
			k := float64(2*j - 1)
			b += math.Exp(-k * k * math.Pi * math.Pi / (8 * x * x))
		}
		b = 1 - math.Sqrt(2*math.Pi)/x*b
		if !near(a, b, 1e-12) || !near(kolmogorovQ(x), a, 1e-12) {
			t.Errorf("x=%v: series %v and %v, Q %v", x, a, b, kolmogorovQ(x))
		}
	}
}

func TestKS(t *testing.T) {
	seq := func(from, to float64) []float64 {
		var xs []float64
		for x := from; x <= to; x++ {
			xs = append(xs, x)
		}
		return xs
	}
	for _, tc := range []struct {
		name string
		a, b []float64
		d    float64
		p    float64 // asymptotic with Stephens' correction, by hand
		ptol float64
	}{
		// 1..10 against 6..15: the CDFs differ by 0.5 from 5 to 10.
		// e = 5, λ = (√5 + 0.12 + 0.11/√5)·0.5 = 1.2026, Q(λ) = 0.1107.
		{"shifted", seq(1, 10), seq(6, 15), 0.5, 0.1107, 2e-3},
		{"identical", seq(1, 50), seq(1, 50), 0, 1, 0},
		// Disjoint samples of 20: D = 1, e = 10, λ = 3.317: p ≈ 5e-10.
		{"disjoint", seq(1, 20), seq(101, 120), 1, 5.0e-10, 1e-9},
		// Ties across the samples.
		{"ties", []float64{1, 1, 2, 2}, []float64{1, 2, 2, 2}, 0.25, 1, 0.01},
	} {
		a, b := exactCDF(tc.a), exactCDF(tc.b)
		d := ksStatistic(&a, &b)
		if !near(d, tc.d, 1e-12) {
			t.Errorf("%s: D = %v, want %v", tc.name, d, tc.d)
		}
		if p := ksPValue(d, float64(len(tc.a)), float64(len(tc.b))); !near(p, tc.p, tc.ptol) {
			t.Errorf("%s: p = %.5g, want %.5g", tc.name, p, tc.p)
		}
	}
	// At the 5% critical value for samples of 1,000 (1.358·√(2/1000)
	// before Stephens' small correction) the p-value is just under 0.05.
	if p := ksPValue(0.0608, 1000, 1000); !near(p, 0.048, 0.002) {
		t.Errorf("p(0.0608; 1000, 1000) = %v", p)
	}
}

func TestKSAgainstBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for range 20 {
		a := make([]float64, 1+r.IntN(300))
		b := make([]float64, 1+r.IntN(300))
		for i := range a {
			a[i] = math.Round(r.NormFloat64() * 10)
		}
		for i := range b {
			b[i] = math.Round(r.NormFloat64()*10 + 2)
		}
		var want float64
		for _, x := range append(slices.Clone(a), b...) {
			fa, fb := 0.0, 0.0
			for _, v := range a {
				if v <= x {
					fa++
				}
			}
			for _, v := range b {
				if v <= x {
					fb++
				}
			}
			want = max(want, math.Abs(fa/float64(len(a))-fb/float64(len(b))))
		}
		ca, cb := exactCDF(a), exactCDF(b)
		if got := ksStatistic(&ca, &cb); !near(got, want, 1e-12) {
			t.Fatalf("D = %v, want %v", got, want)
		}
	}
}

func TestWasserstein(t *testing.T) {
	// The examples of scipy.stats.wasserstein_distance.
	for _, tc := range []struct {
		a, b []float64
		want float64
	}{
		{[]float64{0, 1, 3}, []float64{5, 6, 8}, 5},
		{[]float64{0, 0, 0, 1}, []float64{0, 0, 1, 1}, 0.25}, // weights 3:1 against 2:2
		{[]float64{1, 2, 3}, []float64{1, 2, 3}, 0},
		{[]float64{0}, []float64{10}, 10},
	} {
		a, b := exactCDF(tc.a), exactCDF(tc.b)
		if got := wasserstein(&a, &b); !near(got, tc.want, 1e-12) {
			t.Errorf("W(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestChiSquared(t *testing.T) {
	for _, tc := range []struct {
		name          string
		obs, exp      []float64
		stat, p, ptol float64
	}{
		// scipy.stats.chisquare's documented examples.
		{"uniform", []float64{16, 18, 16, 14, 12, 12}, []float64{88.0 / 6, 88.0 / 6, 88.0 / 6, 88.0 / 6, 88.0 / 6, 88.0 / 6}, 2.0, 0.84914503608460956, 1e-12},
		{"expected", []float64{16, 18, 16, 14, 12, 12}, []float64{16, 16, 16, 16, 16, 8}, 3.5, 0.62338762774958223, 1e-12},
		{"new category", []float64{10, 5}, []float64{15, 0}, math.Inf(1), 0, 0},
		{"one category", []float64{7}, []float64{7}, 0, 1, 0},
	} {
		stat, p := chiSquared(tc.obs, tc.exp)
		if stat != tc.stat && !near(stat, tc.stat, 1e-9) || !near(p, tc.p, tc.ptol) {
			t.Errorf("%s: χ² = %v p = %v, want %v and %v", tc.name, stat, p, tc.stat, tc.p)
		}
	}
	// χ² critical values at 5%: 3.841 (1 df), 11.070 (5 df), 18.307 (10 df).
	for df, x := range map[int]float64{1: 3.841, 5: 11.070, 10: 18.307} {
		obs := make([]float64, df+1)
		exp := make([]float64, df+1)
		for i := range exp {
			exp[i] = 100
			obs[i] = 100
		}
		// Move mass so that the statistic is x: ±δ on two categories
		// gives 2δ²/100.
		d := math.Sqrt(x * 100 / 2)
		obs[0] += d
		obs[1] -= d
		stat, p := chiSquared(obs, exp)
		if !near(stat, x, 1e-9) || !near(p, 0.05, 2e-4) {
			t.Errorf("df=%d: χ² = %v p = %v, want 0.05", df, stat, p)
		}
	}
}

func TestJensenShannon(t *testing.T) {
	for _, tc := range []struct {
		p, q []float64
		want float64
	}{
		// scipy.spatial.distance.jensenshannon's examples (natural log).
		{[]float64{1, 0}, []float64{0.5, 0.5}, 0.46450140402245893},
		{[]float64{1, 0, 0}, []float64{0, 1, 0}, math.Sqrt(math.Ln2)},
		{[]float64{3, 1}, []float64{300, 100}, 0}, // weights are normalised
		{[]float64{0, 0}, []float64{1, 1}, 0},
	} {
		if got := jensenShannon(tc.p, tc.q); !near(got, tc.want, 1e-12) {
			t.Errorf("JS(%v, %v) = %v, want %v", tc.p, tc.q, got, tc.want)
		}
	}
}

func TestPSI(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ref, cur []float64
		want     float64
	}{
		{"identical", []float64{10, 20, 30, 40}, []float64{1, 2, 3, 4}, 0},
		// (0.5-0.4) ln(0.5/0.4) + (0.5-0.6) ln(0.5/0.6)
		{"by hand", []float64{50, 50}, []float64{40, 60}, 0.1*math.Log(0.5/0.4) + 0.1*math.Log(0.6/0.5)},
		// An empty current bin counts as 0.0001 (Evidently's fill).
		{"empty bin", []float64{50, 50}, []float64{100, 0}, (0.5-1)*math.Log(0.5/1) + (0.5-0.0001)*math.Log(0.5/0.0001)},
	} {
		if got := psi(tc.ref, tc.cur); !near(got, tc.want, 1e-12) {
			t.Errorf("%s: PSI = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestZTest(t *testing.T) {
	// 50 of 100 against 60 of 100: pooled 0.55, se = √(0.55·0.45·0.02) =
	// 0.070356, z = -1.4213, two-sided p = 0.15521.
	if p := zTest(50, 100, 60, 100); !near(p, 0.15521, 1e-4) {
		t.Errorf("p = %v, want 0.15521", p)
	}
	if p := zTest(100, 100, 100, 100); p != 1 {
		t.Errorf("one category on both sides: p = %v", p)
	}
	if p := zTest(0, 100, 100, 100); p > 1e-10 {
		t.Errorf("all flipped: p = %v", p)
	}
}
