package tune

import (
	"math/rand/v2"

	"github.com/plinthml/plinth"
)

// Samplers, the values of Config.Sampler.
const (
	SamplerTPE    = "tpe"    // Tree-structured Parzen Estimator: learns from finished trials
	SamplerRandom = "random" // independent uniform draws
	SamplerGrid   = "grid"   // the product of every domain's grid values
)

// A sampler proposes the parameters of trial n from the trials finished
// so far (in completion order). Run calls it under its lock, one trial at
// a time, so it needs no locking of its own.
type sampler interface {
	sample(n int, done []TrialResult) map[string]any
}

// trialRand is the random source of trial n: it depends on the seed and
// the trial number only, so a random search draws the same parameters for
// trial n whatever the order in which parallel trials finish.
func trialRand(seed uint64, n int) *rand.Rand {
	return rand.New(rand.NewPCG(splitmix(seed), splitmix(seed^splitmix(uint64(n)+0x9e3779b97f4a7c15))))
}

// splitmix is SplitMix64's finaliser: it spreads nearby seeds apart.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

type randomSampler struct {
	space Space
	names []string
	seed  uint64
}

func (s *randomSampler) sample(n int, _ []TrialResult) map[string]any {
	r := trialRand(s.seed, n)
	p := make(map[string]any, len(s.names))
	for _, name := range s.names {
		p[name] = s.space[name].random(r)
	}
	return p
}

// maxGrid bounds the number of grid points: a wide int range without
// points would otherwise ask for millions of trials.
const maxGrid = 1 << 20

// gridSampler walks the product of the domains' grid values in an order
// shuffled by the seed, so that a budget smaller than the grid tries a
// spread-out subset rather than one corner of it (as Optuna's GridSampler).
type gridSampler struct {
	names  []string
	values [][]any
	order  []int
}

func newGrid(space Space, names []string, points int, seed uint64) (*gridSampler, error) {
	g := &gridSampler{names: names}
	total := 1
	for _, name := range names {
		d := space[name]
		if d.Int != nil && d.Points == 0 && d.Int[1]-d.Int[0] >= maxGrid {
			return nil, plinth.Invalid("space."+name, "%d integers are too many for a grid; give the range points", d.Int[1]-d.Int[0]+1)
		}
		vals := d.gridValues(points)
		g.values = append(g.values, vals)
		total *= len(vals)
		if total > maxGrid {
			return nil, plinth.Invalid("space", "the grid has more than %d points; give fewer points", maxGrid)
		}
	}
	g.order = make([]int, total)
	for i := range g.order {
		g.order[i] = i
	}
	r := rand.New(rand.NewPCG(splitmix(seed), splitmix(^seed)))
	r.Shuffle(total, func(i, j int) { g.order[i], g.order[j] = g.order[j], g.order[i] })
	return g, nil
}

func (g *gridSampler) size() int { return len(g.order) }

func (g *gridSampler) sample(n int, _ []TrialResult) map[string]any {
	p := make(map[string]any, len(g.names))
	k := g.order[n]
	for i := len(g.names) - 1; i >= 0; i-- {
		vals := g.values[i]
		p[g.names[i]] = vals[k%len(vals)]
		k /= len(vals)
	}
	return p
}
