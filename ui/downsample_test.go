package ui

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestLTTB(t *testing.T) {
	line := func(n int) []Point {
		pts := make([]Point, n)
		for i := range pts {
			pts[i] = Point{float64(i), float64(i) * 0.5}
		}
		return pts
	}
	for _, tc := range []struct {
		name      string
		n, thresh int
		want      int
	}{
		{"shorter than the threshold", 10, 100, 10},
		{"equal to the threshold", 100, 100, 100},
		{"threshold under 3 keeps all", 50, 2, 50},
		{"long series", 100_000, 1000, 1000},
		{"barely longer", 101, 100, 100},
		{"three buckets", 1000, 3, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := line(tc.n)
			out := LTTB(in, tc.thresh)
			if len(out) != tc.want {
				t.Fatalf("len = %d, want %d", len(out), tc.want)
			}
			if out[0] != in[0] || out[len(out)-1] != in[len(in)-1] {
				t.Errorf("first or last point lost: %v %v", out[0], out[len(out)-1])
			}
			for i := 1; i < len(out); i++ {
				if out[i].X <= out[i-1].X {
					t.Fatalf("x not increasing at %d: %v then %v", i, out[i-1], out[i])
				}
			}
		})
	}
}

// TestLTTBKeepsSpikes: a single outlier in 100,000 points survives the
// downsampling to 500, as do the series' extremes, which averaging per
// bucket would flatten.
func TestLTTBKeepsSpikes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pts := make([]Point, 100_000)
	for i := range pts {
		pts[i] = Point{float64(i), math.Sin(float64(i)/5000) + 0.01*rng.NormFloat64()}
	}
	pts[31_337].Y = 25  // a spike
	pts[77_777].Y = -20 // and a dip
	out := LTTB(pts, 500)
	var hi, lo bool
	for _, p := range out {
		hi = hi || p == pts[31_337]
		lo = lo || p == pts[77_777]
	}
	if !hi || !lo {
		t.Fatalf("spike kept %v, dip kept %v", hi, lo)
	}
}

// TestLTTBFast: 100,000 points take well under the page budget.
func TestLTTBFast(t *testing.T) {
	pts := make([]Point, 100_000)
	for i := range pts {
		pts[i] = Point{float64(i), math.Sqrt(float64(i))}
	}
	start := time.Now()
	LTTB(pts, 1200)
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("LTTB of 100k points took %v", d)
	}
}

func BenchmarkLTTB100k(b *testing.B) {
	pts := make([]Point, 100_000)
	for i := range pts {
		pts[i] = Point{float64(i), math.Sin(float64(i) / 100)}
	}
	for b.Loop() {
		LTTB(pts, 1200)
	}
}
