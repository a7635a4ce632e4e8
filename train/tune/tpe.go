package tune

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
)

// TPE tunes the Tree-structured Parzen Estimator (Bergstra et al., 2011,
// "Algorithms for Hyper-Parameter Optimization"). Zero fields mean
// Optuna's defaults, which the sampler follows throughout: parameters are
// modelled independently, the best ceil(10%) of the finished trials (at
// most 25) form the "good" density l(x) and the rest the "bad" one g(x),
// each a mixture of truncated Gaussians (or of smoothed one-hot kernels for
// a choice) plus a prior as wide as the range, and of EICandidates draws
// from l(x) the one with the highest l(x)/g(x) is taken.
type TPE struct {
	// StartupTrials run with random parameters before the densities take
	// over: with fewer observations they are noise. Default 10.
	StartupTrials int `json:"startup_trials,omitempty" yaml:"startup_trials,omitempty"`
	// EICandidates is how many values are drawn from l(x) per parameter
	// for the ratio to choose from. Default 24.
	EICandidates int `json:"ei_candidates,omitempty" yaml:"ei_candidates,omitempty"`
}

type tpeSampler struct {
	space      Space
	names      []string
	seed       uint64
	maximize   bool
	startup    int
	candidates int
	random     *randomSampler
}

func (s *tpeSampler) sample(n int, done []TrialResult) map[string]any {
	// Pruned trials count: they are evidence that a region is bad.
	var obs []TrialResult
	for _, t := range done {
		if t.State == Complete || t.State == Pruned {
			obs = append(obs, t)
		}
	}
	if len(obs) < s.startup {
		return s.random.sample(n, done)
	}
	below, above := s.split(obs)
	r := trialRand(s.seed^0x7470655f73616d70, n)
	p := make(map[string]any, len(s.names))
	for _, name := range s.names {
		d := s.space[name]
		if d.Choice != nil {
			p[name] = d.Choice[sampleCategorical(r, d, name, below, above, s.candidates)]
		} else {
			p[name] = sampleNumeric(r, d, name, below, above, s.candidates)
		}
	}
	return p
}

// split ranks the observations best first, complete trials before pruned
// ones (those that got further, then those with the better last value,
// first), and returns the best gamma(n) and the rest, each in trial order
// for the weights.
func (s *tpeSampler) split(obs []TrialResult) (below, above []TrialResult) {
	better := func(a, b float64) int {
		// NaN ranks last; for maximize the larger value first.
		switch {
		case math.IsNaN(a) || math.IsNaN(b):
			return cmp.Compare(boolInt(math.IsNaN(a)), boolInt(math.IsNaN(b)))
		case s.maximize:
			return cmp.Compare(b, a)
		default:
			return cmp.Compare(a, b)
		}
	}
	ranked := slices.Clone(obs)
	slices.SortStableFunc(ranked, func(a, b TrialResult) int {
		if a.State != b.State {
			return cmp.Compare(boolInt(a.State == Pruned), boolInt(b.State == Pruned))
		}
		if a.State == Pruned && a.Step != b.Step {
			return cmp.Compare(b.Step, a.Step)
		}
		if c := better(a.Value, b.Value); c != 0 {
			return c
		}
		return cmp.Compare(a.Number, b.Number)
	})
	nBelow := min(int(math.Ceil(0.1*float64(len(ranked)))), 25)
	below, above = ranked[:nBelow], ranked[nBelow:]
	byNumber := func(a, b TrialResult) int { return cmp.Compare(a.Number, b.Number) }
	slices.SortFunc(below, byNumber)
	slices.SortFunc(above, byNumber)
	return below, above
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// tpeWeights are Optuna's default_weights for n observations in trial
// order: flat up to 25, then the older ones ramped down so that the
// densities follow the recent trials.
func tpeWeights(n int) []float64 {
	w := make([]float64, n)
	for i := range w {
		w[i] = 1
	}
	if n >= 25 {
		ramp := n - 25
		for i := range ramp {
			if ramp == 1 {
				w[i] = 1 / float64(n)
			} else {
				w[i] = 1/float64(n) + float64(i)*(1-1/float64(n))/float64(ramp-1)
			}
		}
	}
	return w
}

// mixtureWeights are the observations' weights with the prior's (1)
// appended, normalised.
func mixtureWeights(n int) []float64 {
	w := append(tpeWeights(n), 1)
	var sum float64
	for _, v := range w {
		sum += v
	}
	for i := range w {
		w[i] /= sum
	}
	return w
}

// parzen is a mixture of Gaussians truncated to [low, high], the last
// component the prior. With step > 0 it is discretised: a value v stands
// for [v-step/2, v+step/2], and the range widens by step/2 on each side.
type parzen struct {
	mus, sigmas, weights []float64
	low, high, step      float64
}

// newParzen follows Optuna's univariate estimator: each observation's
// bandwidth is the larger gap to its neighbours (the range ends counting
// as neighbours, except that the outermost observations use their inner
// gap), clipped to [range/min(100, 1+kernels), range]; the prior is
// centred with the whole range as its bandwidth.
func newParzen(xs []float64, low, high, step float64) *parzen {
	n := len(xs)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(xs[a], xs[b]) })
	ends := make([]float64, n+2)
	ends[0], ends[n+1] = low-step/2, high+step/2
	for i, j := range order {
		ends[i+1] = xs[j]
	}
	sorted := make([]float64, n)
	for i := range n {
		sorted[i] = max(ends[i+1]-ends[i], ends[i+2]-ends[i+1])
	}
	if n >= 2 {
		sorted[0] = ends[2] - ends[1]
		sorted[n-1] = ends[n] - ends[n-1]
	}
	width := high - low + step
	maxSigma, minSigma := width, width/min(100, 1+float64(n+1))
	p := &parzen{low: low, high: high, step: step, weights: mixtureWeights(n)}
	p.mus = append(slices.Clone(xs), (low+high)/2)
	p.sigmas = make([]float64, n+1)
	for i, j := range order {
		p.sigmas[j] = clamp(sorted[i], minSigma, maxSigma)
	}
	p.sigmas[n] = width
	return p
}

func (p *parzen) sample(r *rand.Rand) float64 {
	k := pickWeighted(r, p.weights)
	lo, hi := p.low-p.step/2, p.high+p.step/2
	x := truncNormal(r, p.mus[k], p.sigmas[k], lo, hi)
	if p.step > 0 {
		x = p.low + math.Round((x-p.low)/p.step)*p.step
	}
	return clamp(x, p.low, p.high)
}

// logPDF is the log density (or, discretised, log mass) of the mixture.
func (p *parzen) logPDF(x float64) float64 {
	lo, hi := p.low-p.step/2, p.high+p.step/2
	terms := make([]float64, len(p.mus))
	for k, mu := range p.mus {
		sd := p.sigmas[k]
		z := math.Log(normMass((lo-mu)/sd, (hi-mu)/sd))
		if p.step > 0 {
			terms[k] = math.Log(p.weights[k]) + math.Log(normMass((x-p.step/2-mu)/sd, (x+p.step/2-mu)/sd)) - z
		} else {
			u := (x - mu) / sd
			terms[k] = math.Log(p.weights[k]) - u*u/2 - math.Log(sd*math.Sqrt(2*math.Pi)) - z
		}
	}
	return logSumExp(terms)
}

// sampleNumeric draws a value of a numeric domain by TPE. Ints are
// discretised with step 1, log ranges modelled in the logarithm.
func sampleNumeric(r *rand.Rand, d Dim, name string, below, above []TrialResult, candidates int) any {
	var low, high, step float64
	var toInternal func(any) float64
	switch {
	case d.Int != nil:
		low, high, step = float64(d.Int[0]), float64(d.Int[1]), 1
		toInternal = func(v any) float64 { return float64(v.(int)) }
	case d.Uniform != nil:
		low, high = d.Uniform[0], d.Uniform[1]
		toInternal = func(v any) float64 { return v.(float64) }
	default:
		low, high = math.Log(d.LogUniform[0]), math.Log(d.LogUniform[1])
		toInternal = func(v any) float64 { return math.Log(v.(float64)) }
	}
	values := func(ts []TrialResult) []float64 {
		xs := make([]float64, len(ts))
		for i, t := range ts {
			xs[i] = toInternal(t.Params[name])
		}
		return xs
	}
	l, g := newParzen(values(below), low, high, step), newParzen(values(above), low, high, step)
	best, bestScore := 0.0, math.Inf(-1)
	for i := range candidates {
		x := l.sample(r)
		if s := l.logPDF(x) - g.logPDF(x); i == 0 || s > bestScore {
			best, bestScore = x, s
		}
	}
	switch {
	case d.Int != nil:
		return int(best)
	case d.Uniform != nil:
		return best
	default:
		return clamp(math.Exp(best), d.LogUniform[0], d.LogUniform[1])
	}
}

// categoricalProbs is Optuna's categorical estimator: each observation a
// kernel with mass 1 on its value plus prior_weight/kernels spread over
// every value, renormalised; the prior kernel flat; mixed with the
// observation weights.
func categoricalProbs(obs []int, n int) []float64 {
	w := mixtureWeights(len(obs))
	kernels := float64(len(obs) + 1)
	probs := make([]float64, n)
	flat := 1 / float64(n)
	for c := range probs {
		probs[c] = w[len(obs)] * flat
	}
	for k, o := range obs {
		norm := 1 + float64(n)/kernels
		for c := range probs {
			m := 1 / kernels
			if c == o {
				m++
			}
			probs[c] += w[k] * m / norm
		}
	}
	return probs
}

// sampleCategorical draws the index of a choice by TPE.
func sampleCategorical(r *rand.Rand, d Dim, name string, below, above []TrialResult, candidates int) int {
	indices := func(ts []TrialResult) []int {
		idx := make([]int, len(ts))
		for i, t := range ts {
			idx[i] = slices.Index(d.Choice, t.Params[name])
		}
		return idx
	}
	l := categoricalProbs(indices(below), len(d.Choice))
	g := categoricalProbs(indices(above), len(d.Choice))
	best, bestScore := 0, math.Inf(-1)
	for i := range candidates {
		c := pickWeighted(r, l)
		if s := math.Log(l[c]) - math.Log(g[c]); i == 0 || s > bestScore {
			best, bestScore = c, s
		}
	}
	return best
}

// pickWeighted draws an index with probability proportional to its
// weight.
func pickWeighted(r *rand.Rand, w []float64) int {
	var sum float64
	for _, v := range w {
		sum += v
	}
	u := r.Float64() * sum
	for i, v := range w {
		if u < v {
			return i
		}
		u -= v
	}
	return len(w) - 1
}

// normCDF and normSF are the standard normal's lower and upper tails.
func normCDF(z float64) float64 { return math.Erfc(-z/math.Sqrt2) / 2 }
func normSF(z float64) float64  { return math.Erfc(z/math.Sqrt2) / 2 }

// normMass is P(a < Z < b), computed in the tail nearer to the interval so
// that it keeps its precision far from the mean.
func normMass(a, b float64) float64 {
	if a > 0 {
		return max(normSF(a)-normSF(b), 1e-300)
	}
	return max(normCDF(b)-normCDF(a), 1e-300)
}

// truncNormal draws from N(mu, sd) truncated to [lo, hi] by inverting the
// CDF, in the upper tail when the interval lies above the mean.
func truncNormal(r *rand.Rand, mu, sd, lo, hi float64) float64 {
	a, b := (lo-mu)/sd, (hi-mu)/sd
	var z float64
	if a > 0 {
		sa, sb := normSF(a), normSF(b)
		q := sb + r.Float64()*(sa-sb)
		z = math.Sqrt2 * math.Erfcinv(2*q)
	} else {
		ca, cb := normCDF(a), normCDF(b)
		q := ca + r.Float64()*(cb-ca)
		z = -math.Sqrt2 * math.Erfcinv(2*q)
	}
	if math.IsNaN(z) || math.IsInf(z, 0) {
		z = a // the interval's mass underflowed: take its nearer end
	}
	return clamp(mu+sd*z, lo, hi)
}

func logSumExp(xs []float64) float64 {
	m := math.Inf(-1)
	for _, x := range xs {
		m = max(m, x)
	}
	if math.IsInf(m, -1) {
		return m
	}
	var s float64
	for _, x := range xs {
		s += math.Exp(x - m)
	}
	return m + math.Log(s)
}
