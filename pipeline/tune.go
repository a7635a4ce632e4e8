package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/model"
	"github.com/plinthml/plinth/track"
	"github.com/plinthml/plinth/train"
	"github.com/plinthml/plinth/train/tune"
)

// tuneKind searches hyperparameters: every trial trains a model on the
// train input and is judged on the valid one (or the last fifth of train),
// each trial a tracked child run of the step's run with its learning
// curve; weak trials stop early when with.search.asha is set. The best
// trial's model is the step's model, and the search curve (best value
// after each trial) is logged on the parent run.
type tuneKind struct {
	s *Services
	t tables
}

func (*tuneKind) Inputs() map[string]Type { return map[string]Type{"train": Table, "valid": Table} }
func (*tuneKind) Optional(in string) bool { return in == "valid" }
func (*tuneKind) Outputs() map[string]Type {
	return map[string]Type{"model": Model, "metrics": Metrics}
}
func (*tuneKind) Deterministic() bool { return true }

func (k *tuneKind) Run(sc *StepContext) (map[string]Value, error) {
	f, err := fitOf(sc)
	if err != nil {
		return nil, err
	}
	search, err := sc.Map("search")
	if err != nil {
		return nil, err
	}
	if search == nil {
		return nil, plinth.Invalid(sc.field("search"), "required: the space, the sampler and the number of trials")
	}
	raw, _ := json.Marshal(search)
	var cfg tune.Config
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return nil, plinth.Invalid(sc.field("search"), "%v", err)
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1 // a fixed default keeps the step deterministic
	}
	// Check the names before spending the budget: a misspelt parameter
	// would fail every trial.
	for name := range cfg.Space {
		if !tune.Known(f.algo, name) {
			return nil, plinth.Invalid(sc.field("search.space."+name), "not a %s parameter", f.algo)
		}
	}
	trainT, valid, err := f.tables(sc, k.t)
	if err != nil {
		return nil, err
	}
	parent, err := k.s.startRun(sc, sc.Step.Name, "", map[string]any{"sampler": cfg.Sampler, "trials": cfg.Trials})
	if err != nil {
		return nil, err
	}
	parentID := ""
	if parent != nil {
		parentID = parent.ID
	}
	var mu sync.Mutex
	var best *model.Model
	bestValue := 0.0
	parallel := max(cfg.Parallel, 1)
	threads := max(runtime.GOMAXPROCS(0)/parallel, 1)
	res, err := tune.Run(sc, cfg, func(ctx context.Context, t *tune.Trial) (float64, error) {
		params := map[string]any{}
		for n, v := range f.params {
			params[n] = v
		}
		for n, v := range t.Params {
			params[n] = v
		}
		run, err := k.s.startRun(sc, fmt.Sprintf("%s trial %d", sc.Step.Name, t.Number), parentID, params)
		if err != nil {
			return 0, err
		}
		var curve []track.Metric
		var m *model.Model
		var value float64
		if f.algo == "gbt" {
			base := train.DefaultGBTParams()
			if err := tune.ApplyGBT(&base, f.params); err != nil {
				return 0, plinth.Invalid("with.params", "%v", err)
			}
			base.Threads = threads
			m, value, err = tune.TrainGBT(ctx, t, trainT, valid, base, func(p train.GBTProgress) {
				curve = append(curve, track.Metric{Key: "valid_" + p.Metric, Value: p.Valid, Step: int64(p.Round), Time: time.Now()})
			})
		} else {
			var base train.LinearParams
			if err := tune.ApplyLinear(&base, f.params); err != nil {
				return 0, plinth.Invalid("with.params", "%v", err)
			}
			m, value, err = tune.TrainLinear(ctx, t, trainT, valid, base, func(p train.Progress) {
				curve = append(curve, track.Metric{Key: "valid_loss", Value: p.ValidLoss, Step: int64(p.Epoch), Time: time.Now()})
			})
		}
		status := track.Finished
		if err != nil {
			status = track.Killed // pruned or failed: the curve says how far it got
		}
		k.s.endRun(sc, run, status, map[string]float64{"value": value}, curve)
		if err != nil {
			return value, err
		}
		mu.Lock()
		defer mu.Unlock()
		if best == nil || better(cfg.Direction, value, bestValue) {
			best, bestValue = m, value
		}
		return value, nil
	})
	if err != nil {
		k.s.endRun(sc, parent, track.Failed, nil, nil)
		return nil, err
	}
	metrics := map[string]float64{"best_value": res.Best.Value, "best_trial": float64(res.Best.Number), "trials": float64(len(res.Trials))}
	var curve []track.Metric
	for i, p := range res.Curve {
		curve = append(curve, track.Metric{Key: "best_value", Value: p.Best, Step: int64(i + 1), Time: time.Now()})
	}
	for _, t := range res.Trials {
		metrics[string(t.State)]++
		sc.Logf("trial %2d %-9s value %.5f %v", t.Number, t.State, t.Value, t.Params)
	}
	sc.Logf("best: trial %d, value %.5f, params %v", res.Best.Number, res.Best.Value, res.Best.Params)
	for n, v := range res.Best.Params {
		switch v := v.(type) {
		case float64:
			metrics["param_"+n] = v
		case int:
			metrics["param_"+n] = float64(v)
		}
	}
	return k.s.finishModel(sc, parent, best, metrics, curve)
}

func better(d tune.Direction, a, b float64) bool {
	if d == tune.Maximize {
		return a > b
	}
	return a < b
}
