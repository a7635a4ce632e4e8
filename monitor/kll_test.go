package monitor

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// maxRankError returns the largest |estimated - true| normalized rank of
// the sketch over 200 evenly spaced points of the sorted data.
func maxRankError(s *Sketch, sorted []float64) float64 {
	n := len(sorted)
	d := s.sorted()
	var worst float64
	for q := 0; q < 200; q++ {
		x := sorted[q*n/200]
		trueRank, _ := slices.BinarySearch(sorted, math.Nextafter(x, math.Inf(1)))
		worst = max(worst, math.Abs(d.at(x)-float64(trueRank))/float64(n))
	}
	return worst
}

// TestSketchRankError checks the KLL guarantee empirically: the normalized
// rank error stays below the bound for k (about 1.7% for k = 200 with high
// probability; the paper's bound is O(1/k sqrt(log 1/δ))), on several
// distributions, stream lengths and orders, including the sampled regime
// of long streams.
func TestSketchRankError(t *testing.T) {
	gens := map[string]func(r *rand.Rand, i, n int) float64{
		"normal":     func(r *rand.Rand, _, _ int) float64 { return r.NormFloat64() },
		"exp":        func(r *rand.Rand, _, _ int) float64 { return r.ExpFloat64() },
		"sorted":     func(_ *rand.Rand, i, _ int) float64 { return float64(i) },
		"reversed":   func(_ *rand.Rand, i, n int) float64 { return float64(n - i) },
		"discrete":   func(r *rand.Rand, _, _ int) float64 { return float64(r.IntN(7)) },
		"heavy tail": func(r *rand.Rand, _, _ int) float64 { return 1 / (r.Float64() + 1e-9) },
	}
	sizes := []int{100, 5_000, 200_000}
	if !testing.Short() {
		sizes = append(sizes, 2_000_000)
	}
	for _, tc := range []struct {
		k     int
		bound float64
	}{{DefaultK, 0.017}, {ReferenceK, 0.004}} {
		for name, gen := range gens {
			for _, n := range sizes {
				if n > 200_000 && name != "normal" {
					continue
				}
				for seed := range uint64(3) {
					r := rand.New(rand.NewPCG(seed, 99))
					s := NewSketch(tc.k)
					s.seed(seed)
					xs := make([]float64, n)
					for i := range xs {
						xs[i] = gen(r, i, n)
						s.Add(xs[i])
					}
					if s.Count() != int64(n) {
						t.Fatalf("count %d, want %d", s.Count(), n)
					}
					slices.Sort(xs)
					if e := maxRankError(s, xs); e > tc.bound {
						t.Errorf("k=%d %s n=%d seed=%d: rank error %.4f > %.4f", tc.k, name, n, seed, e, tc.bound)
					}
					if s.size >= s.maxSize || s.size > 4*tc.k {
						t.Errorf("k=%d n=%d: holds %d values", tc.k, n, s.size)
					}
				}
			}
		}
	}
}

func TestSketchExactWhenSmall(t *testing.T) {
	s := NewSketch(ReferenceK)
	xs := []float64{5, 1, 4, 1, 3, 9, 2, 6}
	for _, x := range xs {
		s.Add(x)
	}
	for _, tc := range []struct{ q, want float64 }{{0, 1}, {0.25, 1}, {0.26, 2}, {0.5, 3}, {1, 9}} {
		if got := s.Quantile(tc.q); got != tc.want {
			t.Errorf("quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if got := s.Rank(1); got != 0.25 {
		t.Errorf("rank(1) = %v, want 0.25", got)
	}
	if got := s.Rank(100); got != 1 {
		t.Errorf("rank(100) = %v", got)
	}
	if got := NewSketch(0).Quantile(0.5); !math.IsNaN(got) {
		t.Errorf("quantile of an empty sketch = %v, want NaN", got)
	}
}

// TestSketchMerge checks that merged sketches keep the bound: the union of
// ten streams of different distributions, merged pairwise as windows are.
func TestSketchMerge(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var all []float64
	var parts []*Sketch
	for p := range 10 {
		s := NewSketch(DefaultK)
		for range 20_000 + p*3_000 {
			x := r.NormFloat64() + float64(p)
			s.Add(x)
			all = append(all, x)
		}
		parts = append(parts, s)
	}
	for len(parts) > 1 {
		parts[0].Merge(parts[1])
		parts = append(parts[:1], parts[2:]...)
	}
	m := parts[0]
	if m.Count() != int64(len(all)) {
		t.Fatalf("merged count %d, want %d", m.Count(), len(all))
	}
	slices.Sort(all)
	if e := maxRankError(m, all); e > 0.017 {
		t.Errorf("rank error after merging %.4f", e)
	}
	// Merging with an empty sketch, or a smaller k, works too.
	m.Merge(NewSketch(0))
	small := NewSketch(50)
	small.Add(1)
	m.Merge(small)
	if m.K() != 50 || m.Count() != int64(len(all))+1 {
		t.Errorf("after merging k=50: k %d count %d", m.K(), m.Count())
	}
}

func TestSketchBinaryRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{0, 1, 150, 100_000} {
		s := NewSketch(0)
		for range n {
			s.Add(r.NormFloat64())
		}
		b, err := s.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var back Sketch
		if err := back.UnmarshalBinary(b); err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		b2, _ := back.MarshalBinary()
		if !slices.Equal(b, b2) {
			t.Fatalf("n=%d: encoding changed in the round trip", n)
		}
		if back.Count() != s.Count() || n > 0 && back.Quantile(0.3) != s.Quantile(0.3) {
			t.Fatalf("n=%d: decoded sketch answers differently", n)
		}
		// A decoded sketch keeps working.
		back.Add(1)
		back.Merge(s)
	}
}

func TestSketchUnmarshalRejects(t *testing.T) {
	good := NewSketch(0)
	for i := range 1000 {
		good.Add(float64(i))
	}
	b, _ := good.MarshalBinary()
	nan := NewSketch(0)
	nan.Add(math.NaN())
	bnan, _ := nan.MarshalBinary()
	for name, data := range map[string][]byte{
		"empty":        nil,
		"version":      append([]byte{9}, b[1:]...),
		"truncated":    b[:len(b)-3],
		"trailing":     append(slices.Clone(b), 0),
		"k too small":  {1, 2, 0, 1, 0},
		"no levels":    {1, 200, 1, 0, 0},
		"count":        {1, 200, 1, 5, 0, 0, 0, 0, 0},
		"nan":          bnan,
		"huge level":   {1, 200, 1, 1, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"huge weights": {1, 8, 0, 61, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0},
	} {
		var s Sketch
		if err := s.UnmarshalBinary(data); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

func TestSortFloats(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 2, 3, 10, 24, 25, 26, 100, 1000, 10000} {
		for _, gen := range []func(int) float64{
			func(int) float64 { return r.NormFloat64() },
			func(int) float64 { return float64(r.IntN(3)) },
			func(i int) float64 { return float64(i) },
			func(i int) float64 { return float64(-i) },
			func(int) float64 { return 1 },
		} {
			a := make([]float64, n)
			for i := range a {
				a[i] = gen(i)
			}
			b := slices.Clone(a)
			var s sorter
			s.sortFloats(a)
			slices.Sort(b)
			if !slices.Equal(a, b) {
				t.Fatalf("n=%d: not sorted", n)
			}
		}
	}
}
