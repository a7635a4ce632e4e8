package tune

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/model"
	"github.com/plinthml/plinth/train"
)

func TestApplyGBT(t *testing.T) {
	for _, tc := range []struct {
		name   string
		params map[string]any
		check  func(p train.GBTParams) bool
		field  string // of the error; "" for none
		msg    string
	}{
		{"names", map[string]any{"max_depth": 4, "learning_rate": 0.05, "subsample": 0.8, "growth": "lossguide", "seed": 7},
			func(p train.GBTParams) bool {
				return p.MaxDepth == 4 && p.LearningRate == 0.05 && p.Subsample == 0.8 && p.Growth == "lossguide" && p.Seed == 7
			}, "", ""},
		{"aliases", map[string]any{"eta": 0.1, "max_bin": 64, "num_leaves": 31, "eval_metric": "auc", "n_estimators": 300},
			func(p train.GBTParams) bool {
				return p.LearningRate == 0.1 && p.MaxBins == 64 && p.MaxLeaves == 31 && p.Metric == "auc" && p.Rounds == 300
			}, "", ""},
		{"int to float", map[string]any{"lambda": 2}, func(p train.GBTParams) bool { return p.Lambda == 2 }, "", ""},
		{"whole float to int", map[string]any{"rounds": 200.0}, func(p train.GBTParams) bool { return p.Rounds == 200 }, "", ""},
		{"unknown", map[string]any{"max_dept": 4}, nil, "max_dept", "not a gbt parameter (want one of alpha, colsample_bytree"},
		{"fraction for int", map[string]any{"max_depth": 4.5}, nil, "max_depth", "want an integer (an int domain or choice), have float64 4.5"},
		{"string for float", map[string]any{"subsample": "high"}, nil, "subsample", "want a number, have string high"},
		{"number for string", map[string]any{"objective": 1}, nil, "objective", "want a string, have int 1"},
		{"negative seed", map[string]any{"seed": -1}, nil, "seed", "want an integer >= 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := train.DefaultGBTParams()
			err := ApplyGBT(&p, tc.params)
			if tc.field == "" {
				if err != nil || !tc.check(p) {
					t.Fatalf("ApplyGBT = %v, params %+v", err, p)
				}
				return
			}
			var e *plinth.Error
			if !errors.As(err, &e) || e.Code != plinth.EINVALID || e.Field != tc.field || !strings.Contains(e.Message, tc.msg) {
				t.Fatalf("ApplyGBT = %v, want invalid %s: ...%s...", err, tc.field, tc.msg)
			}
		})
	}
}

func TestApplyLinear(t *testing.T) {
	var p train.LinearParams
	if err := ApplyLinear(&p, map[string]any{"l2": 0.01, "epochs": 5, "batch_size": 64, "objective": model.RegSquaredError}); err != nil {
		t.Fatal(err)
	}
	if p.L2 != 0.01 || p.Epochs != 5 || p.BatchSize != 64 || p.Objective != model.RegSquaredError {
		t.Errorf("params %+v", p)
	}
	err := ApplyLinear(&p, map[string]any{"max_depth": 3})
	if plinth.ErrorCode(err) != plinth.EINVALID || !strings.Contains(err.Error(), "max_depth: not a linear parameter") {
		t.Errorf("err = %v", err)
	}
}

// syntheticTable is a binary task with an interaction and a categorical
// column: deep enough trees and a sensible learning rate matter.
func syntheticTable(n int, seed uint64) *train.Table {
	r := rand.New(rand.NewPCG(seed, 1))
	t := &train.Table{}
	x := make([][]float64, 4)
	for j := range x {
		x[j] = make([]float64, n)
	}
	cat := make([]string, n)
	for i := range n {
		for j := range x {
			x[j][i] = r.NormFloat64()
		}
		cat[i] = []string{"a", "b", "c"}[r.IntN(3)]
		m := x[0][i] + 2*x[1][i]*x[2][i] - x[3][i] + map[string]float64{"a": -1, "b": 0, "c": 1}[cat[i]] + 0.5*r.NormFloat64()
		y := 0.0
		if r.Float64() < 1/(1+math.Exp(-m)) {
			y = 1
		}
		t.Label = append(t.Label, y)
	}
	for j := range x {
		t.Columns = append(t.Columns, train.Column{Name: string(rune('a' + j)), Type: model.Float, Num: x[j]})
	}
	t.Columns = append(t.Columns, train.Column{Name: "cat", Type: model.Categorical, Cat: cat})
	return t
}

func TestKnown(t *testing.T) {
	for _, tc := range []struct {
		algo, name string
		want       bool
	}{
		{"gbt", "max_depth", true},
		{"gbt", "eta", true}, // an alias
		{"gbt", "epochs", false},
		{"gbt", "", false},
		{"linear", "epochs", true},
		{"linear", "l2", true},
		{"linear", "max_depth", false},
		{"linear", "eta", false}, // gbt's alias only
	} {
		if got := Known(tc.algo, tc.name); got != tc.want {
			t.Errorf("Known(%q, %q) = %v, want %v", tc.algo, tc.name, got, tc.want)
		}
		// Known agrees with what the Apply functions accept.
		var err error
		if tc.algo == "gbt" {
			p := train.DefaultGBTParams()
			err = ApplyGBT(&p, map[string]any{tc.name: 1})
		} else {
			var p train.LinearParams
			err = ApplyLinear(&p, map[string]any{tc.name: 1})
		}
		if accepted := err == nil || !strings.Contains(err.Error(), "not a "); accepted != tc.want {
			t.Errorf("%s accepts %q: %v (%v), Known says %v", tc.algo, tc.name, accepted, err, tc.want)
		}
	}
}

// TestTuneGBT tunes gradient-boosted trees end to end: TPE proposes, each
// trial trains with the validation log loss reported per round, ASHA stops
// the trials that trail, and the best trial's value is what retraining
// with its parameters gives.
func TestTuneGBT(t *testing.T) {
	trainT, valid := syntheticTable(1200, 1), syntheticTable(400, 2)
	const rounds = 30
	base := train.DefaultGBTParams()
	base.Rounds, base.Threads, base.Seed = rounds, 1, 3
	cfg := Config{
		Space: Space{
			"max_depth":     {Int: []int{1, 6}},
			"learning_rate": {LogUniform: []float64{0.005, 0.5}},
			"subsample":     {Uniform: []float64{0.5, 1}},
		},
		Trials: 16, Parallel: 2, Seed: 4,
		TPE:  TPE{StartupTrials: 6},
		ASHA: &ASHA{MinResource: 3, Eta: 3},
	}
	var mu sync.Mutex
	roundsRun := map[int]int{}
	res, err := Run(t.Context(), cfg, func(ctx context.Context, tr *Trial) (float64, error) {
		_, v, err := TrainGBT(ctx, tr, trainT, valid, base, func(pr train.GBTProgress) {
			mu.Lock()
			roundsRun[tr.Number] = pr.Round
			mu.Unlock()
		})
		return v, err
	})
	if err != nil {
		t.Fatal(err)
	}
	pruned := 0
	for _, tr := range res.Trials {
		switch tr.State {
		case Failed:
			t.Fatalf("trial %d failed: %v", tr.Number, tr.Err)
		case Pruned:
			pruned++
			if roundsRun[tr.Number] != tr.Step {
				t.Errorf("pruned trial %d trained %d rounds after its last report at %d", tr.Number, roundsRun[tr.Number], tr.Step)
			}
		case Complete:
			if roundsRun[tr.Number] != rounds {
				t.Errorf("complete trial %d trained %d rounds", tr.Number, roundsRun[tr.Number])
			}
		}
	}
	if pruned == 0 {
		t.Error("ASHA pruned no trial")
	}

	// The constant model's log loss is the bar; the best trial must clear it
	// and be reproducible from its parameters.
	var pos float64
	for _, y := range valid.Label {
		pos += y
	}
	pos /= float64(len(valid.Label))
	constant := -(pos*math.Log(pos) + (1-pos)*math.Log(1-pos))
	t.Logf("%d of %d trials pruned; best %v: log loss %.4f (constant %.4f)", pruned, len(res.Trials), res.Best.Params, res.Best.Value, constant)
	if res.Best.Value > 0.8*constant {
		t.Errorf("best log loss %.4f is not well below the constant model's %.4f", res.Best.Value, constant)
	}
	p := base
	if err := ApplyGBT(&p, res.Best.Params); err != nil {
		t.Fatal(err)
	}
	var last float64
	if _, err := train.GBT(trainT, valid, p, func(pr train.GBTProgress) { last = pr.Valid }); err != nil {
		t.Fatal(err)
	}
	if last != res.Best.Value {
		t.Errorf("retraining the best parameters gives %v, the search recorded %v", last, res.Best.Value)
	}
}

// TestTrainGBTDirection: tuning for AUC while minimizing is a mistake
// caught before any training.
func TestTrainGBTDirection(t *testing.T) {
	trainT, valid := syntheticTable(100, 1), syntheticTable(50, 2)
	base := train.DefaultGBTParams()
	base.Metric = "auc"
	_, err := Run(t.Context(), Config{Space: Space{"max_depth": {Int: []int{2, 3}}}, Trials: 1}, func(ctx context.Context, tr *Trial) (float64, error) {
		_, v, err := TrainGBT(ctx, tr, trainT, valid, base, nil)
		return v, err
	})
	if plinth.ErrorCode(err) != plinth.EINVALID || !strings.Contains(err.Error(), "metric auc is to maximize, but the search is to minimize") {
		t.Fatalf("err = %v", err)
	}
}

// TestTrainGBTEarlyStopping: with early stopping the value is the best
// round's, the round the model keeps.
func TestTrainGBTEarlyStopping(t *testing.T) {
	trainT, valid := syntheticTable(300, 1), syntheticTable(100, 2)
	base := train.DefaultGBTParams()
	base.Rounds, base.EarlyStoppingRounds, base.LearningRate, base.Threads = 60, 5, 0.5, 1
	var best float64
	tr := &Trial{Params: map[string]any{"max_depth": 6}}
	_, v, err := TrainGBT(t.Context(), tr, trainT, valid, base, func(pr train.GBTProgress) {
		if pr.BestRound == pr.Round {
			best = pr.Valid
		}
	})
	if err != nil || v != best {
		t.Fatalf("TrainGBT = %v, %v; want the best round's %v", v, err, best)
	}
}

func TestTrainLinear(t *testing.T) {
	trainT, valid := syntheticTable(400, 1), syntheticTable(100, 2)
	res, err := Run(t.Context(), Config{
		Space:  Space{"learning_rate": {LogUniform: []float64{0.001, 0.1}}, "l2": {Choice: []any{0, 0.01}}},
		Trials: 6, Sampler: SamplerRandom, ASHA: &ASHA{MinResource: 2},
	}, func(ctx context.Context, tr *Trial) (float64, error) {
		_, v, err := TrainLinear(ctx, tr, trainT, valid, train.LinearParams{Epochs: 6}, nil)
		return v, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Best.Value <= 0 || res.Best.Value > 0.7 {
		t.Errorf("best linear log loss %v", res.Best.Value)
	}
	_, _, err = TrainLinear(t.Context(), &Trial{}, trainT, nil, train.LinearParams{}, nil)
	if plinth.ErrorCode(err) != plinth.EINVALID || !strings.Contains(err.Error(), "needs a validation table") {
		t.Errorf("no validation table: err = %v", err)
	}
}
