package monitor

import (
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// The statistics of drift, on counts and on sketched distributions. Each
// follows the definition Evidently uses (and scipy computes), so that
// thresholds carry over; where a sketch stands in for the raw sample the
// doc comment says what that costs.

// ksStatistic returns the two-sample Kolmogorov-Smirnov statistic: the
// largest distance between the two empirical distribution functions. From
// sketches it is off by at most the sum of their rank errors.
func ksStatistic(a, b *cdf) float64 {
	var d float64
	walk(a, b, func(_, fa, fb float64) { d = max(d, math.Abs(fa-fb)) })
	return d
}

// wasserstein returns the first Wasserstein distance between the two
// distributions: the area between their distribution functions, as
// scipy.stats.wasserstein_distance computes it.
func wasserstein(a, b *cdf) float64 {
	var w, prev, gap float64
	first := true
	walk(a, b, func(x, fa, fb float64) {
		if !first {
			w += gap * (x - prev) // both functions are flat on [prev, x)
		}
		first, prev, gap = false, x, math.Abs(fa-fb)
	})
	return w
}

// walk visits every point of a and b in increasing order with the values
// of both distribution functions at it.
func walk(a, b *cdf, visit func(x, fa, fb float64)) {
	i, j := 0, 0
	var fa, fb float64
	for i < len(a.x) || j < len(b.x) {
		var x float64
		if j == len(b.x) || i < len(a.x) && a.x[i] < b.x[j] {
			x = a.x[i]
		} else {
			x = b.x[j]
		}
		for i < len(a.x) && a.x[i] <= x {
			fa = a.cum[i] / a.n
			i++
		}
		for j < len(b.x) && b.x[j] <= x {
			fb = b.cum[j] / b.n
			j++
		}
		visit(x, fa, fb)
	}
}

// ksPValue returns the asymptotic p-value of a two-sample KS statistic d
// for samples of n and m values: the Kolmogorov distribution's tail at
// (sqrt(e) + 0.12 + 0.11/sqrt(e)) d, e = nm/(n+m), Stephens' correction
// that keeps it accurate down to a few dozen values (Numerical Recipes,
// 14.3). scipy's ks_2samp computes an exact p-value for small samples;
// the two agree to about 0.01 from e = 20 up.
func ksPValue(d float64, n, m float64) float64 {
	if n <= 0 || m <= 0 {
		return 1
	}
	e := math.Sqrt(n * m / (n + m))
	return kolmogorovQ((e + 0.12 + 0.11/e) * d)
}

// kolmogorovQ returns P(K > x) for the Kolmogorov distribution K:
// 2 Σ (-1)^(j-1) exp(-2 j² x²) for large x, and one minus the
// theta-function form sqrt(2π)/x Σ exp(-(2j-1)² π² / (8x²)) for small x,
// where the first series converges slowly.
func kolmogorovQ(x float64) float64 {
	switch {
	case x <= 0:
		return 1
	case x < 1.18:
		var s float64
		for j := 1; j <= 10; j++ {
			k := float64(2*j - 1)
			s += math.Exp(-k * k * math.Pi * math.Pi / (8 * x * x))
		}
		return max(min(1-math.Sqrt(2*math.Pi)/x*s, 1), 0)
	default:
		var s float64
		sign := 1.0
		for j := 1; j <= 100; j++ {
			t := math.Exp(-2 * float64(j*j) * x * x)
			s += sign * t
			if t < 1e-17 {
				break
			}
			sign = -sign
		}
		return max(min(2*s, 1), 0)
	}
}

// chiSquared returns Pearson's goodness-of-fit statistic of the observed
// counts against the expected ones, and its p-value with one degree of
// freedom less than the number of categories, like scipy.stats.chisquare.
// Evidently passes the current counts as observed and the reference
// proportions scaled to the current total as expected; a category the
// reference never saw then makes the statistic infinite and the p-value 0.
// Categories empty on both sides must be left out.
func chiSquared(observed, expected []float64) (stat, p float64) {
	for i, o := range observed {
		e := expected[i]
		if e == 0 {
			if o != 0 {
				return math.Inf(1), 0
			}
			continue
		}
		stat += (o - e) * (o - e) / e
	}
	if len(observed) < 2 {
		return stat, 1
	}
	return stat, distuv.ChiSquared{K: float64(len(observed) - 1)}.Survival(stat)
}

// jensenShannon returns the Jensen-Shannon distance (the square root of
// the divergence, natural logarithm) between two distributions given as
// weights, normalised here, as scipy.spatial.distance.jensenshannon does.
// It is 0 for identical distributions and at most sqrt(ln 2) ≈ 0.83.
func jensenShannon(p, q []float64) float64 {
	var sp, sq float64
	for i := range p {
		sp += p[i]
		sq += q[i]
	}
	if sp == 0 || sq == 0 {
		return 0
	}
	var d float64
	for i := range p {
		a, b := p[i]/sp, q[i]/sq
		m := (a + b) / 2
		if a > 0 {
			d += a * math.Log(a/m)
		}
		if b > 0 {
			d += b * math.Log(b/m)
		}
	}
	return math.Sqrt(max(d/2, 0))
}

// psi returns the population stability index, Σ (r - c) ln(r / c) over the
// bins' shares of the reference (r) and the current data (c). Like
// Evidently, an empty bin gets a share of 0.0001 (or a millionth of the
// smallest share when that is smaller still), so that a bin empty on one
// side weighs heavily instead of infinitely.
func psi(ref, cur []float64) float64 {
	r, c := shares(ref), shares(cur)
	fillZeroes(r)
	fillZeroes(c)
	var s float64
	for i := range r {
		s += (r[i] - c[i]) * math.Log(r[i]/c[i])
	}
	return max(s, 0)
}

func shares(counts []float64) []float64 {
	var n float64
	for _, c := range counts {
		n += c
	}
	out := make([]float64, len(counts))
	if n == 0 {
		return out
	}
	for i, c := range counts {
		out[i] = c / n
	}
	return out
}

func fillZeroes(s []float64) {
	least := math.Inf(1)
	for _, v := range s {
		if v > 0 {
			least = min(least, v)
		}
	}
	fill := 0.0001
	if least <= 0.0001 {
		fill = least / 1e6
	}
	if math.IsInf(least, 0) {
		fill = 1 / float64(len(s))
	}
	for i, v := range s {
		if v == 0 {
			s[i] = fill
		}
	}
}

// zTest returns the two-sided p-value of the z-test for the difference of
// two proportions: a of n reference values and b of m current values fall
// in the first category. Evidently uses it for binary features in small
// samples.
func zTest(a, n, b, m float64) float64 {
	if n == 0 || m == 0 {
		return 1
	}
	p1, p2 := a/n, b/m
	pooled := (a + b) / (n + m)
	se := math.Sqrt(pooled * (1 - pooled) * (1/n + 1/m))
	if se == 0 {
		return 1 // one category on both sides: no difference to test
	}
	z := (p1 - p2) / se
	return 2 * distuv.UnitNormal.Survival(math.Abs(z))
}
