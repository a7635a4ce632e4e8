package tune

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/model"
	"github.com/plinthml/plinth/train"
)

// gbtFields maps the names ApplyGBT takes to GBTParams' fields: the names
// of train's errors (XGBoost's), and the aliases `plinth model train
// --param` takes too, so a space can be written either way.
var gbtFields = map[string]func(p *train.GBTParams) any{
	"objective":             func(p *train.GBTParams) any { return &p.Objective },
	"num_class":             func(p *train.GBTParams) any { return &p.NumClass },
	"rounds":                func(p *train.GBTParams) any { return &p.Rounds },
	"learning_rate":         func(p *train.GBTParams) any { return &p.LearningRate },
	"growth":                func(p *train.GBTParams) any { return &p.Growth },
	"max_depth":             func(p *train.GBTParams) any { return &p.MaxDepth },
	"max_leaves":            func(p *train.GBTParams) any { return &p.MaxLeaves },
	"min_child_weight":      func(p *train.GBTParams) any { return &p.MinChildWeight },
	"alpha":                 func(p *train.GBTParams) any { return &p.Alpha },
	"lambda":                func(p *train.GBTParams) any { return &p.Lambda },
	"gamma":                 func(p *train.GBTParams) any { return &p.Gamma },
	"subsample":             func(p *train.GBTParams) any { return &p.Subsample },
	"colsample_bytree":      func(p *train.GBTParams) any { return &p.ColsampleByTree },
	"max_bins":              func(p *train.GBTParams) any { return &p.MaxBins },
	"max_cat_to_onehot":     func(p *train.GBTParams) any { return &p.MaxCatToOneHot },
	"huber_slope":           func(p *train.GBTParams) any { return &p.HuberSlope },
	"quantile_alpha":        func(p *train.GBTParams) any { return &p.QuantileAlpha },
	"early_stopping_rounds": func(p *train.GBTParams) any { return &p.EarlyStoppingRounds },
	"metric":                func(p *train.GBTParams) any { return &p.Metric },
	"seed":                  func(p *train.GBTParams) any { return &p.Seed },
	"threads":               func(p *train.GBTParams) any { return &p.Threads },
}

var gbtAliases = map[string]string{
	"num_round": "rounds", "n_estimators": "rounds", "eta": "learning_rate", "grow_policy": "growth",
	"num_leaves": "max_leaves", "reg_alpha": "alpha", "reg_lambda": "lambda", "min_split_loss": "gamma",
	"max_bin": "max_bins", "eval_metric": "metric", "nthread": "threads",
}

var linearFields = map[string]func(p *train.LinearParams) any{
	"objective":     func(p *train.LinearParams) any { return &p.Objective },
	"num_class":     func(p *train.LinearParams) any { return &p.NumClass },
	"epochs":        func(p *train.LinearParams) any { return &p.Epochs },
	"learning_rate": func(p *train.LinearParams) any { return &p.LearningRate },
	"l2":            func(p *train.LinearParams) any { return &p.L2 },
	"l1":            func(p *train.LinearParams) any { return &p.L1 },
	"batch_size":    func(p *train.LinearParams) any { return &p.BatchSize },
	"seed":          func(p *train.LinearParams) any { return &p.Seed },
}

// Known reports whether a model of algo ("gbt" or "linear") takes a
// parameter called name: whether ApplyGBT or ApplyLinear would accept it.
func Known(algo, name string) bool {
	if algo == "linear" {
		_, ok := linearFields[name]
		return ok
	}
	_, ok := gbtFields[name]
	if !ok {
		_, ok = gbtFields[gbtAliases[name]]
	}
	return ok
}

// ApplyGBT sets the fields of p that params name, in XGBoost's names as
// train's errors spell them (max_depth, learning_rate, colsample_bytree,
// ...) or the aliases the CLI takes (eta, max_bin, ...). An unknown name or
// a value of the wrong type is an EINVALID error naming the parameter; the
// values themselves are checked by train.GBT.
func ApplyGBT(p *train.GBTParams, params map[string]any) error {
	for _, name := range slices.Sorted(maps.Keys(params)) {
		field, ok := gbtFields[name]
		if !ok {
			field, ok = gbtFields[gbtAliases[name]]
		}
		if !ok {
			return plinth.Invalid(name, "not a gbt parameter (want one of %s)", strings.Join(slices.Sorted(maps.Keys(gbtFields)), ", "))
		}
		if err := set(field(p), name, params[name]); err != nil {
			return err
		}
	}
	return nil
}

// ApplyLinear sets the fields of p that params name (objective, num_class,
// epochs, learning_rate, l1, l2, batch_size, seed), as ApplyGBT does.
func ApplyLinear(p *train.LinearParams, params map[string]any) error {
	for _, name := range slices.Sorted(maps.Keys(params)) {
		field, ok := linearFields[name]
		if !ok {
			return plinth.Invalid(name, "not a linear parameter (want one of %s)", strings.Join(slices.Sorted(maps.Keys(linearFields)), ", "))
		}
		if err := set(field(p), name, params[name]); err != nil {
			return err
		}
	}
	return nil
}

// set stores v in the field ptr points to. Ints take an int or a float
// with no fraction (JSON and YAML write 100.0 too); floats take either.
func set(ptr any, name string, v any) error {
	switch f := ptr.(type) {
	case *string:
		s, ok := v.(string)
		if !ok {
			return plinth.Invalid(name, "want a string, have %T %v", v, v)
		}
		*f = s
	case *float64:
		switch x := v.(type) {
		case float64:
			*f = x
		case int:
			*f = float64(x)
		default:
			return plinth.Invalid(name, "want a number, have %T %v", v, v)
		}
	case *int:
		x, ok := wholeNumber(v)
		if !ok {
			return plinth.Invalid(name, "want an integer (an int domain or choice), have %T %v", v, v)
		}
		*f = int(x)
	case *uint64:
		x, ok := wholeNumber(v)
		if !ok || x < 0 {
			return plinth.Invalid(name, "want an integer >= 0, have %T %v", v, v)
		}
		*f = uint64(x)
	default:
		panic(fmt.Sprintf("tune: no setter for %T", ptr))
	}
	return nil
}

func wholeNumber(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x), true
		}
	}
	return 0, false
}

// stopTraining is the panic with which a report callback abandons
// training. train.GBT and train.Linear call report on their own goroutine
// between rounds and have no way to be told to stop, so unwinding out of
// the callback is the only way to save the rounds of a pruned trial. It
// never crosses this package's API: stoppable recovers it.
type stopTraining struct{}

// stoppable runs fit and reports whether a report callback stopped it.
func stoppable(fit func() error) (stopped bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(stopTraining); !ok {
				panic(r)
			}
			stopped = true
		}
	}()
	return false, fit()
}

// TrainGBT trains the trees of one trial: t.Params applied over base
// (ApplyGBT), the validation metric reported to t after every round so
// that ASHA can prune the trial, and training abandoned when t says stop.
// It returns the model and its validation metric (of the best round with
// early stopping, else of the last), the objective's value. A pruned trial
// returns ErrPruned, a cancelled search ctx's error.
//
// report, if not nil, sees every round first, for example to log the
// learning curve to the trial's run. Trials running in parallel share the
// cores: set base.Threads to GOMAXPROCS/Parallel rather than leave each
// trial all of them.
func TrainGBT(ctx context.Context, t *Trial, trainT, valid *train.Table, base train.GBTParams, report func(train.GBTProgress)) (*model.Model, float64, error) {
	p := base
	if err := ApplyGBT(&p, t.Params); err != nil {
		return nil, 0, err
	}
	if valid == nil || valid.Len() == 0 {
		return nil, 0, plinth.Invalid("valid", "tuning needs a validation table: trials are compared on it")
	}
	what, want := "the default metric", Minimize
	if p.Metric != "" {
		what = "metric " + p.Metric
	}
	if p.Metric == "auc" {
		want = Maximize
	}
	if err := t.checkDirection(what, want); err != nil {
		return nil, 0, err
	}
	var m *model.Model
	var last, best float64
	stopped, err := stoppable(func() error {
		var err error
		m, err = train.GBT(trainT, valid, p, func(pr train.GBTProgress) {
			if report != nil {
				report(pr)
			}
			last = pr.Valid
			if pr.BestRound == pr.Round {
				best = pr.Valid
			}
			if t.Report(pr.Round, pr.Valid) {
				panic(stopTraining{})
			}
		})
		return err
	})
	switch {
	case stopped && ctx.Err() != nil:
		return nil, 0, ctx.Err()
	case stopped:
		return nil, 0, ErrPruned
	case err != nil:
		return nil, 0, fmt.Errorf("train gbt: %w", err)
	case p.EarlyStoppingRounds > 0:
		return m, best, nil
	}
	return m, last, nil
}

// TrainLinear trains the linear model of one trial as TrainGBT trains
// trees: t.Params over base (ApplyLinear), the validation loss reported
// after every epoch, and the final loss returned. The search must
// minimize.
func TrainLinear(ctx context.Context, t *Trial, trainT, valid *train.Table, base train.LinearParams, report func(train.Progress)) (*model.Model, float64, error) {
	p := base
	if err := ApplyLinear(&p, t.Params); err != nil {
		return nil, 0, err
	}
	if valid == nil || valid.Len() == 0 {
		return nil, 0, plinth.Invalid("valid", "tuning needs a validation table: trials are compared on it")
	}
	if err := t.checkDirection("the validation loss", Minimize); err != nil {
		return nil, 0, err
	}
	var m *model.Model
	var last float64
	stopped, err := stoppable(func() error {
		var err error
		m, err = train.Linear(trainT, valid, p, func(pr train.Progress) {
			if report != nil {
				report(pr)
			}
			last = pr.ValidLoss
			if t.Report(pr.Epoch, pr.ValidLoss) {
				panic(stopTraining{})
			}
		})
		return err
	})
	switch {
	case stopped && ctx.Err() != nil:
		return nil, 0, ctx.Err()
	case stopped:
		return nil, 0, ErrPruned
	case err != nil:
		return nil, 0, fmt.Errorf("train linear: %w", err)
	}
	return m, last, nil
}

// checkDirection rejects a search that would optimise the trainer's
// figure the wrong way round: ASHA and the best trial would silently be
// the worst.
func (t *Trial) checkDirection(what string, want Direction) error {
	if t.s == nil || t.s.cfg.Direction == want {
		return nil
	}
	return plinth.Invalid("direction", "%s is to %s, but the search is to %s", what, want, t.s.cfg.Direction)
}
