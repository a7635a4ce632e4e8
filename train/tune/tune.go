// Package tune searches hyperparameters. A Space says where each parameter
// may range; a sampler proposes parameters for each trial (grid, random,
// or TPE, which learns from the trials finished so far); ASHA stops trials
// whose learning curves trail the others; Run evaluates an objective for
// each trial, several at a time, and reports every trial, the best one and
// the search curve.
//
// The package knows no storage and no HTTP. The objective is the hook: the
// caller trains a model with the trial's parameters there (TrainGBT and
// TrainLinear do it for the built-in trainers) and records the trial as it
// likes, for example as a child run of the search's run.
package tune

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/plinthml/plinth"
)

// Direction says whether the objective's smaller or larger values are
// better.
type Direction string

// Directions.
const (
	Minimize Direction = "minimize"
	Maximize Direction = "maximize"
)

// Config describes a search. It decodes from YAML or JSON; zero fields
// mean their defaults.
type Config struct {
	Space Space `json:"space" yaml:"space"`
	// Sampler proposes the parameters: SamplerTPE (the default),
	// SamplerRandom or SamplerGrid.
	Sampler string `json:"sampler,omitempty" yaml:"sampler,omitempty"`
	// Trials is the budget. Grid search may leave it 0 to run the whole
	// grid, and runs no more trials than the grid has points.
	Trials    int       `json:"trials,omitempty" yaml:"trials,omitempty"`
	Parallel  int       `json:"parallel,omitempty" yaml:"parallel,omitempty"`   // trials run at once; default 1
	Direction Direction `json:"direction,omitempty" yaml:"direction,omitempty"` // default Minimize
	// Seed makes the search repeatable: with Parallel 1 the same seed
	// proposes the same parameters (given an objective that returns the
	// same values). Random and grid search propose the same parameters
	// for each trial number at any Parallel.
	Seed uint64 `json:"seed,omitempty" yaml:"seed,omitempty"`
	// GridPoints is how many values grid search tries in a float range
	// whose Dim does not say; default 5.
	GridPoints int   `json:"grid_points,omitempty" yaml:"grid_points,omitempty"`
	TPE        TPE   `json:"tpe,omitzero" yaml:"tpe,omitempty"`
	ASHA       *ASHA `json:"asha,omitempty" yaml:"asha,omitempty"` // nil: every trial runs to its end
}

// withDefaults checks the configuration and fills in its defaults; errors
// name the field.
func (c Config) withDefaults() (Config, error) {
	if err := c.Space.Validate(); err != nil {
		return c, err
	}
	if c.Sampler == "" {
		c.Sampler = SamplerTPE
	}
	if c.Direction == "" {
		c.Direction = Minimize
	}
	if c.Parallel == 0 {
		c.Parallel = 1
	}
	if c.GridPoints == 0 {
		c.GridPoints = 5
	}
	if c.TPE.StartupTrials == 0 {
		c.TPE.StartupTrials = 10
	}
	if c.TPE.EICandidates == 0 {
		c.TPE.EICandidates = 24
	}
	switch c.Sampler {
	case SamplerTPE, SamplerRandom, SamplerGrid:
	default:
		return c, plinth.Invalid("sampler", "unknown sampler %q (want %s, %s or %s)", c.Sampler, SamplerTPE, SamplerRandom, SamplerGrid)
	}
	switch {
	case c.Direction != Minimize && c.Direction != Maximize:
		return c, plinth.Invalid("direction", "unknown direction %q (want %s or %s)", c.Direction, Minimize, Maximize)
	case c.Trials < 0 || c.Trials == 0 && c.Sampler != SamplerGrid:
		return c, plinth.Invalid("trials", "must be > 0 (the budget of a %s search), have %d", c.Sampler, c.Trials)
	case c.Parallel < 0:
		return c, plinth.Invalid("parallel", "must be >= 1, have %d", c.Parallel)
	case c.GridPoints < 2:
		return c, plinth.Invalid("grid_points", "must be >= 2, have %d", c.GridPoints)
	case c.TPE.StartupTrials < 0:
		return c, plinth.Invalid("tpe.startup_trials", "must be >= 1, have %d", c.TPE.StartupTrials)
	case c.TPE.EICandidates < 0:
		return c, plinth.Invalid("tpe.ei_candidates", "must be >= 1, have %d", c.TPE.EICandidates)
	}
	if c.ASHA != nil {
		a := *c.ASHA
		if a.MinResource == 0 {
			a.MinResource = 1
		}
		if a.Eta == 0 {
			a.Eta = 3
		}
		if a.MinResource < 0 {
			return c, plinth.Invalid("asha.min_resource", "must be >= 1, have %d", a.MinResource)
		}
		if a.Eta < 2 {
			return c, plinth.Invalid("asha.eta", "must be >= 2, have %d", a.Eta)
		}
		c.ASHA = &a
	}
	return c, nil
}

// State is how a trial ended.
type State string

// States.
const (
	Complete State = "complete" // the objective returned a value
	Pruned   State = "pruned"   // stopped early by ASHA (or by the objective, with ErrPruned)
	Failed   State = "failed"   // the objective failed, or the search was cancelled under it
)

// ErrPruned is what an objective returns when it stops because Report
// said so; the trial is then recorded as pruned with its last reported
// value.
var ErrPruned = errors.New("tune: trial pruned")

// Objective trains and evaluates one trial and returns its value. It
// should return soon after ctx is done or Report says stop.
type Objective func(ctx context.Context, t *Trial) (float64, error)

// Trial is one evaluation of the objective. The objective gets a pointer
// because Report keeps the trial's state between calls.
type Trial struct {
	Number int            // 0-based, in the order trials start
	Params map[string]any // one value per parameter of the space: int, float64, string or bool

	s *search // nil for a Trial made outside Run: Report then never stops it

	// Guarded by s.mu.
	step     int
	value    float64
	rung     int  // the next ASHA rung
	pruned   bool // ASHA said stop
	canceled bool // Report said stop because the search was cancelled
}

// Report records an intermediate value of the trial at step (a boosting
// round, an epoch: steps should grow) and tells whether to stop: ASHA has
// pruned the trial, or the search is cancelled. Once it has said stop it
// keeps saying so. Safe for concurrent use.
func (t *Trial) Report(step int, value float64) (stop bool) {
	if t.s == nil {
		return false
	}
	s := t.s
	s.mu.Lock()
	defer s.mu.Unlock()
	t.step, t.value = step, value
	switch {
	case t.pruned || t.canceled:
		return true
	case s.ctx.Err() != nil:
		t.canceled = true
		return true
	case s.asha != nil && s.asha.report(&t.rung, step, value):
		t.pruned = true
		return true
	}
	return false
}

// TrialResult is a finished trial.
type TrialResult struct {
	Number int
	Params map[string]any
	State  State
	// Value is the objective's value for a complete trial, the last
	// reported value for a pruned one (NaN if it reported none), and NaN
	// for a failed one.
	Value    float64
	Step     int   // the last step reported; 0 if none
	Err      error // why a failed trial failed
	Duration time.Duration
}

// Point is one point of the search curve.
type Point struct {
	Trial int     // the trial that completed
	Best  float64 // the best value of the trials completed so far
}

// Result is the outcome of a search.
type Result struct {
	Trials []TrialResult // every trial started, by number
	Best   *TrialResult  // the best complete trial (the first to finish among equals); nil if none completed
	// Curve has a point per complete trial, in completion order: how
	// the best value improved as the search went on.
	Curve []Point
}

// search is the shared state of one Run.
type search struct {
	ctx     context.Context
	cfg     Config
	sampler sampler

	mu    sync.Mutex
	asha  *asha
	done  []TrialResult // in completion order
	best  int           // index in done; -1 for none
	curve []Point
}

// Run searches: it proposes parameters for up to cfg.Trials trials, runs
// the objective on cfg.Parallel of them at a time, and returns every
// trial, the best one and the search curve.
//
// A failed trial is recorded with its error and the search goes on; if
// every trial fails, or none completes, Run returns an error wrapping the
// first failure. When ctx is done Run starts no more trials, waits for
// the running ones (Report tells them to stop) and returns what it has
// with ctx's error. A bad cfg is an EINVALID *plinth.Error naming the
// field. The Result is not nil whenever trials ran, even with an error.
func Run(ctx context.Context, cfg Config, objective Objective) (*Result, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &search{ctx: ctx, cfg: cfg, best: -1}
	names := cfg.Space.names()
	random := &randomSampler{space: cfg.Space, names: names, seed: cfg.Seed}
	budget := cfg.Trials
	switch cfg.Sampler {
	case SamplerRandom:
		s.sampler = random
	case SamplerGrid:
		g, err := newGrid(cfg.Space, names, cfg.GridPoints, cfg.Seed)
		if err != nil {
			return nil, err
		}
		if budget == 0 || budget > g.size() {
			budget = g.size()
		}
		s.sampler = g
	default:
		s.sampler = &tpeSampler{
			space: cfg.Space, names: names, seed: cfg.Seed, maximize: cfg.Direction == Maximize,
			startup: cfg.TPE.StartupTrials, candidates: cfg.TPE.EICandidates, random: random,
		}
	}
	if cfg.ASHA != nil {
		s.asha = &asha{ASHA: *cfg.ASHA, maximize: cfg.Direction == Maximize}
	}

	// A slot is given back only after its trial is recorded, so with
	// Parallel 1 every trial is proposed knowing all earlier ones.
	slots := make(chan struct{}, cfg.Parallel)
	var wg sync.WaitGroup
	started := 0
	for ; started < budget; started++ {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		s.mu.Lock()
		params := s.sampler.sample(started, s.done)
		s.mu.Unlock()
		t := &Trial{Number: started, Params: params, s: s, value: math.NaN()}
		wg.Go(func() {
			defer func() { <-slots }()
			s.run(t, objective)
		})
	}
	wg.Wait()
	return s.result(started)
}

// run evaluates one trial and records it.
func (s *search) run(t *Trial, objective Objective) {
	record := maps.Clone(t.Params) // the objective may change its copy
	start := time.Now()
	v, err := objective(s.ctx, t)
	took := time.Since(start)

	s.mu.Lock()
	defer s.mu.Unlock()
	r := TrialResult{Number: t.Number, Params: record, Value: math.NaN(), Step: t.step, Duration: took}
	switch {
	case (t.pruned && err == nil) || errors.Is(err, ErrPruned):
		r.State, r.Value = Pruned, t.value
	case err != nil:
		r.State, r.Err = Failed, fmt.Errorf("trial %d: %w", t.Number, err)
	case t.canceled:
		r.State, r.Err = Failed, fmt.Errorf("trial %d: stopped: %w", t.Number, context.Cause(s.ctx))
	case math.IsNaN(v) || math.IsInf(v, 0):
		r.State, r.Err = Failed, fmt.Errorf("trial %d: objective returned %v", t.Number, v)
	default:
		r.State, r.Value = Complete, v
	}
	s.done = append(s.done, r)
	if r.State != Complete {
		return
	}
	if s.best < 0 || s.better(v, s.done[s.best].Value) {
		s.best = len(s.done) - 1
	}
	s.curve = append(s.curve, Point{Trial: t.Number, Best: s.done[s.best].Value})
}

func (s *search) better(a, b float64) bool {
	if s.cfg.Direction == Maximize {
		return a > b
	}
	return a < b
}

// result assembles the Result once every trial has returned.
func (s *search) result(started int) (*Result, error) {
	res := &Result{Trials: slices.Clone(s.done), Curve: s.curve}
	slices.SortFunc(res.Trials, func(a, b TrialResult) int { return a.Number - b.Number })
	if s.best >= 0 {
		number := s.done[s.best].Number
		i := slices.IndexFunc(res.Trials, func(t TrialResult) bool { return t.Number == number })
		res.Best = &res.Trials[i]
	}
	if err := s.ctx.Err(); err != nil {
		return res, fmt.Errorf("tune: search stopped after %d trials: %w", started, context.Cause(s.ctx))
	}
	if res.Best == nil {
		for _, t := range res.Trials {
			if t.State == Failed {
				return res, fmt.Errorf("tune: no trial completed (%d ran), the first failure: %w", len(s.done), t.Err)
			}
		}
		return res, fmt.Errorf("tune: no trial completed (%d ran, all pruned)", len(s.done))
	}
	return res, nil
}
