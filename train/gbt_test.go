package train

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/eval"
	"github.com/plinthml/plinth/model"
)

// numTable builds a table of numeric columns x0, x1, ... from row-major
// values.
func numTable(x [][]float64, y []float64) *Table {
	t := &Table{Label: y}
	if len(x) == 0 {
		return t
	}
	for j := range x[0] {
		c := Column{Name: fmt.Sprintf("x%d", j), Type: model.Float, Num: make([]float64, len(x))}
		for i := range x {
			c.Num[i] = x[i][j]
		}
		t.Columns = append(t.Columns, c)
	}
	return t
}

// predict scores every row of t with m after a round trip through the
// file format, as serving would.
func predict(t *testing.T, m *model.Model, tab *Table) []float64 {
	t.Helper()
	var buf bytes.Buffer
	if err := m.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	dec, err := model.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	p, err := model.Compile(dec)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float64, tab.Len()*p.NumOutputs())
	for i, row := range tab.Rows(dec.Signature) {
		if err := p.PredictRow(row, out[i*p.NumOutputs():(i+1)*p.NumOutputs()]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func accuracy(y, p []float64) float64 {
	ok := 0
	for i := range y {
		if (p[i] >= 0.5) == (y[i] > 0.5) {
			ok++
		}
	}
	return float64(ok) / float64(len(y))
}

func encodeModel(t *testing.T, m *model.Model) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := m.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestGBTSingleSplit(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var x [][]float64
	var y []float64
	for range 2000 {
		a, b := rng.Float64(), rng.Float64()
		x = append(x, []float64{a, b})
		y = append(y, map[bool]float64{true: 1, false: 0}[a > 0.3])
	}
	p := DefaultGBTParams()
	p.Rounds, p.MaxDepth = 1, 1
	m, err := GBT(numTable(x, y), nil, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Trees.Trees) != 1 {
		t.Fatalf("%d trees, want 1", len(m.Trees.Trees))
	}
	root := m.Trees.Trees[0].Nodes[0]
	if root.Feature != 0 || math.Abs(root.Threshold-0.3) > 0.01 {
		t.Errorf("root splits feature %d at %v, want feature 0 at 0.3", root.Feature, root.Threshold)
	}
	if root.Gain <= 0 || root.Cover <= 0 {
		t.Errorf("root gain %v cover %v, want both > 0", root.Gain, root.Cover)
	}
	if acc := accuracy(y, predict(t, m, numTable(x, y))); acc < 0.995 {
		t.Errorf("accuracy %v, want ~1", acc)
	}
}

func TestGBTXOR(t *testing.T) {
	// XOR of two signs. The second feature leans positive so that the first
	// split has a gain (a balanced XOR has none for any greedy learner).
	rng := rand.New(rand.NewPCG(3, 4))
	var x [][]float64
	var y []float64
	for range 4000 {
		a, b := rng.Float64()*2-1, rng.Float64()*3-1
		x = append(x, []float64{a, b, rng.Float64()})
		y = append(y, map[bool]float64{true: 1, false: 0}[(a > 0) != (b > 0)])
	}
	p := DefaultGBTParams()
	p.Rounds, p.MaxDepth, p.LearningRate = 20, 2, 0.5
	m, err := GBT(numTable(x, y), nil, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if acc := accuracy(y, predict(t, m, numTable(x, y))); acc < 0.99 {
		t.Errorf("accuracy %v on XOR with depth 2, want > 0.99", acc)
	}
	for i, tr := range m.Trees.Trees {
		if d := depth(tr.Nodes, 0); d > 2 {
			t.Fatalf("tree %d has depth %d > max_depth 2", i, d)
		}
	}
}

func depth(nodes []model.Node, i int) int {
	n := nodes[i]
	if n.IsLeaf() {
		return 0
	}
	return 1 + max(depth(nodes, n.Left), depth(nodes, n.Right))
}

func TestGBTCategorical(t *testing.T) {
	// Only a categorical column carries the signal: categories c1, c4, c7
	// are positive. One split must find the set.
	rng := rand.New(rand.NewPCG(5, 6))
	positive := map[string]bool{"c1": true, "c4": true, "c7": true}
	tab := &Table{Columns: []Column{
		{Name: "noise", Type: model.Float},
		{Name: "cat", Type: model.Categorical},
	}}
	for range 3000 {
		c := fmt.Sprintf("c%d", rng.IntN(10))
		tab.Columns[0].Num = append(tab.Columns[0].Num, rng.Float64())
		tab.Columns[1].Cat = append(tab.Columns[1].Cat, c)
		tab.Label = append(tab.Label, map[bool]float64{true: 1, false: 0}[positive[c]])
	}
	p := DefaultGBTParams()
	p.Rounds, p.MaxDepth = 1, 1
	m, err := GBT(tab, nil, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	root := m.Trees.Trees[0].Nodes[0]
	if root.Feature != 1 || len(root.Categories) == 0 {
		t.Fatalf("root = %+v, want a category split on feature 1", root)
	}
	var left []string
	for _, c := range root.Categories {
		left = append(left, m.Signature.Features[1].Categories[c])
	}
	slices.Sort(left)
	if !slices.Equal(left, []string{"c1", "c4", "c7"}) && len(left) != 7 {
		t.Errorf("left categories %v, want c1 c4 c7 or their complement", left)
	}
	p.Rounds = 10
	m, err = GBT(tab, nil, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if acc := accuracy(tab.Label, predict(t, m, tab)); acc != 1 {
		t.Errorf("accuracy %v, want 1", acc)
	}

	// With one-vs-rest splits for up to 10 categories, as one-hot columns
	// would be split, every split sends one category its own way, and it
	// takes a tree per positive category.
	p.MaxCatToOneHot = 10
	p.Rounds, p.MaxDepth = 1, 1
	m, err = GBT(tab, nil, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if root := m.Trees.Trees[0].Nodes[0]; root.Feature != 1 || len(root.Categories) != 1 || !positive[m.Signature.Features[1].Categories[root.Categories[0]]] {
		t.Fatalf("one-vs-rest root = %+v, want one positive category split off", root)
	}
	p.MaxCatToOneHot = -1
	if _, err := GBT(tab, nil, p, nil); !plinth.IsCode(err, plinth.EINVALID) || !strings.Contains(err.Error(), "max_cat_to_onehot") {
		t.Fatalf("negative max_cat_to_onehot: %v", err)
	}
}

func TestGBTMissingGoesLearnedWay(t *testing.T) {
	for _, missingPositive := range []bool{true, false} {
		t.Run(fmt.Sprint("missingPositive=", missingPositive), func(t *testing.T) {
			// y = x > 0.5, and missing x has label missingPositive.
			rng := rand.New(rand.NewPCG(7, 8))
			var x [][]float64
			var y []float64
			for range 3000 {
				a := rng.Float64()
				label := a > 0.5
				if rng.IntN(4) == 0 {
					a, label = math.NaN(), missingPositive
				}
				x = append(x, []float64{a})
				y = append(y, map[bool]float64{true: 1, false: 0}[label])
			}
			p := DefaultGBTParams()
			p.Rounds, p.MaxDepth = 5, 1
			m, err := GBT(numTable(x, y), nil, p, nil)
			if err != nil {
				t.Fatal(err)
			}
			root := m.Trees.Trees[0].Nodes[0]
			// x < 0.5 goes left (negative), so missing goes left exactly
			// when missing is negative.
			if root.DefaultLeft == missingPositive {
				t.Errorf("root default_left = %v with missing positive = %v", root.DefaultLeft, missingPositive)
			}
			pr, err := m.Predict([]float64{math.NaN()})
			if err != nil {
				t.Fatal(err)
			}
			if (pr[0] > 0.5) != missingPositive {
				t.Errorf("P(y=1 | x missing) = %v, want it on the side of %v", pr[0], missingPositive)
			}
		})
	}
}

// mixedTable is a small binary task with numeric, categorical and missing
// values.
func mixedTable(n int, seed uint64) *Table {
	rng := rand.New(rand.NewPCG(seed, 99))
	t := &Table{Columns: []Column{
		{Name: "a", Type: model.Float},
		{Name: "b", Type: model.Float},
		{Name: "c", Type: model.Categorical},
		{Name: "d", Type: model.Float},
	}}
	for range n {
		a, b, d := rng.NormFloat64(), rng.NormFloat64(), rng.Float64()
		c := fmt.Sprintf("k%d", rng.IntN(12))
		z := a - 0.5*b*b + map[bool]float64{true: 1, false: -0.5}[c < "k5"] + rng.NormFloat64()
		if rng.IntN(10) == 0 {
			a = math.NaN()
		}
		if rng.IntN(20) == 0 {
			c = ""
		}
		t.Columns[0].Num = append(t.Columns[0].Num, a)
		t.Columns[1].Num = append(t.Columns[1].Num, b)
		t.Columns[2].Cat = append(t.Columns[2].Cat, c)
		t.Columns[3].Num = append(t.Columns[3].Num, d)
		t.Label = append(t.Label, map[bool]float64{true: 1, false: 0}[z > 0])
	}
	return t
}

func TestGBTDeterministic(t *testing.T) {
	tab := mixedTable(5000, 1)
	p := DefaultGBTParams()
	p.Rounds, p.Subsample, p.ColsampleByTree, p.Seed = 15, 0.7, 0.75, 42
	var files [][]byte
	for _, threads := range []int{1, 2, 4, 4} {
		p.Threads = threads
		m, err := GBT(tab, nil, p, nil)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, encodeModel(t, m))
	}
	for i := 1; i < len(files); i++ {
		if !bytes.Equal(files[0], files[i]) {
			t.Fatalf("run %d differs from run 0 with the same seed", i)
		}
	}
	p.Seed = 43
	m, err := GBT(tab, nil, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(files[0], encodeModel(t, m)) {
		t.Error("another seed gave the same model")
	}
}

func TestGBTEarlyStopping(t *testing.T) {
	// Few rows, noisy labels, deep trees, a high learning rate: the
	// validation loss bottoms out early and then rises.
	trainT, valid := mixedTable(600, 2), mixedTable(2000, 3)
	p := DefaultGBTParams()
	p.Rounds, p.MaxDepth, p.LearningRate, p.MinChildWeight = 200, 8, 0.5, 0
	p.EarlyStoppingRounds = 5
	var curve []GBTProgress
	m, err := GBT(trainT, valid, p, func(pr GBTProgress) { curve = append(curve, pr) })
	if err != nil {
		t.Fatal(err)
	}
	last := curve[len(curve)-1]
	if len(curve) == p.Rounds {
		t.Fatal("training never stopped early")
	}
	bestRound := 0
	for i, pr := range curve {
		if bestRound == 0 || pr.Valid < curve[bestRound-1].Valid {
			bestRound = i + 1
		}
		if math.IsNaN(pr.Train) || pr.Metric != "logloss" {
			t.Fatalf("round %d: %+v", pr.Round, pr)
		}
	}
	if last.BestRound != bestRound || last.Round != bestRound+p.EarlyStoppingRounds {
		t.Errorf("stopped at round %d with best %d; the curve's best is %d, patience %d", last.Round, last.BestRound, bestRound, p.EarlyStoppingRounds)
	}
	if len(m.Trees.Trees) != bestRound {
		t.Errorf("model has %d trees, want the best round's %d", len(m.Trees.Trees), bestRound)
	}
	// The kept model scores what the curve said.
	loss, _, err := ScoreBinary(m, valid)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(loss-curve[bestRound-1].Valid) > 1e-9 {
		t.Errorf("kept model's validation log loss %v, curve said %v", loss, curve[bestRound-1].Valid)
	}
}

func TestGBTMulticlass(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	var x [][]float64
	var y []float64
	for range 3000 {
		a, b := rng.Float64(), rng.Float64()
		class := 0.0
		switch {
		case a > 0.6:
			class = 1
		case b > 0.5:
			class = 2
		}
		x = append(x, []float64{a, b})
		y = append(y, class)
	}
	tab := numTable(x, y)
	p := DefaultGBTParams()
	p.Objective, p.NumClass, p.Rounds = model.MultiSoftprob, 3, 20
	var last GBTProgress
	m, err := GBT(tab, tab, p, func(pr GBTProgress) { last = pr })
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Trees.Trees) != 3*20 || m.NumOutputs() != 3 {
		t.Fatalf("%d trees, %d outputs", len(m.Trees.Trees), m.NumOutputs())
	}
	pred := predict(t, m, tab)
	correct := 0
	for i := range y {
		row := pred[3*i : 3*i+3]
		if s := row[0] + row[1] + row[2]; math.Abs(s-1) > 1e-12 {
			t.Fatalf("row %d: probabilities %v sum to %v", i, row, s)
		}
		if slices.Index(row, slices.Max(row)) == int(y[i]) {
			correct++
		}
	}
	if acc := float64(correct) / float64(len(y)); acc < 0.99 {
		t.Errorf("accuracy %v, want > 0.99", acc)
	}
	if last.Metric != "mlogloss" || last.Valid > 0.1 {
		t.Errorf("last progress %+v", last)
	}
}

func TestGBTRegression(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	var x [][]float64
	var y []float64
	for range 3000 {
		a := rng.Float64()
		v := 3*a + map[bool]float64{true: 2, false: 0}[a > 0.5]
		if rng.IntN(50) == 0 {
			v += 100 // outliers
		}
		x = append(x, []float64{a})
		y = append(y, v)
	}
	tab := numTable(x, y)
	for _, obj := range []string{model.RegSquaredError, model.RegPseudoHuber} {
		t.Run(obj, func(t *testing.T) {
			p := DefaultGBTParams()
			p.Objective, p.Rounds = obj, 100
			m, err := GBT(tab, nil, p, nil)
			if err != nil {
				t.Fatal(err)
			}
			// The median-like fit of Huber ignores the outliers; squared
			// error is pulled by them, but both track the step.
			lo, _ := m.Predict([]float64{0.25})
			hi, _ := m.Predict([]float64{0.75})
			want := 3*0.75 + 2 - 3*0.25
			if d := hi[0] - lo[0]; math.Abs(d-want) > 0.6 {
				t.Errorf("f(0.75) - f(0.25) = %v, want about %v", d, want)
			}
			if obj == model.RegPseudoHuber && math.Abs(lo[0]-0.75) > 0.2 {
				t.Errorf("huber f(0.25) = %v, want about 0.75", lo[0])
			}
		})
	}
}

func TestGBTLossguide(t *testing.T) {
	tab := mixedTable(3000, 4)
	p := DefaultGBTParams()
	p.MaxDepth, p.MaxLeaves, p.Rounds = 0, 5, 10
	m, err := GBT(tab, nil, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, tr := range m.Trees.Trees {
		leaves := 0
		for _, n := range tr.Nodes {
			if n.IsLeaf() {
				leaves++
			}
		}
		if leaves > 5 {
			t.Fatalf("tree %d has %d leaves, max_leaves 5", i, leaves)
		}
	}
	_, auc, err := ScoreBinary(m, mixedTable(2000, 5))
	if err != nil {
		t.Fatal(err)
	}
	if auc < 0.8 {
		t.Errorf("AUC %v", auc)
	}
}

// TestGBTServingMatchesTraining checks that what training computed is what
// the decoded model file predicts, and that the trees carry what TreeSHAP
// needs.
func TestGBTServingMatchesTraining(t *testing.T) {
	cases := []struct {
		name string
		p    func(*GBTParams)
	}{
		{"binary", func(p *GBTParams) {}},
		{"subsampled", func(p *GBTParams) { p.Subsample, p.ColsampleByTree, p.Alpha = 0.6, 0.5, 0.5 }},
		{"lossguide", func(p *GBTParams) { p.MaxLeaves, p.MaxDepth = 12, 0 }},
		{"few-bins", func(p *GBTParams) { p.MaxBins = 4 }},
		{"multiclass", func(p *GBTParams) { p.Objective, p.NumClass = model.MultiSoftprob, 2 }},
	}
	tab := mixedTable(4000, 6)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := DefaultGBTParams()
			p.Rounds = 20
			c.p(&p)
			m, st, err := trainGBT(tab, nil, p, nil)
			if err != nil {
				t.Fatal(err)
			}
			raw := predictRaw(t, m, tab)
			for i := range raw {
				if raw[i] != st.margin[i] {
					t.Fatalf("value %d: served margin %v, training margin %v", i, raw[i], st.margin[i])
				}
			}
			pr, err := model.Compile(m)
			if err != nil {
				t.Fatal(err)
			}
			for ti, tr := range m.Trees.Trees {
				for ni, n := range tr.Nodes {
					if n.Cover <= 0 || (!n.IsLeaf() && n.Gain <= 0) {
						t.Fatalf("tree %d node %d: cover %v gain %v", ti, ni, n.Cover, n.Gain)
					}
				}
			}
			rows := tab.Rows(m.Signature)
			nf, K := m.NumFeatures(), m.NumOutputs()
			phi := make([]float64, K*(nf+1))
			for _, i := range []int{0, 1, 17} {
				if err := pr.Explain(rows[i], phi); err != nil {
					t.Fatal(err)
				}
				for k := range K {
					var sum float64
					for _, v := range phi[k*(nf+1) : (k+1)*(nf+1)] {
						sum += v
					}
					if math.Abs(sum-raw[i*K+k]) > 1e-9 {
						t.Errorf("row %d output %d: SHAP sums to %v, margin %v", i, k, sum, raw[i*K+k])
					}
				}
			}
		})
	}
}

func predictRaw(t *testing.T, m *model.Model, tab *Table) []float64 {
	t.Helper()
	dec, err := model.Parse(encodeModel(t, m))
	if err != nil {
		t.Fatal(err)
	}
	p, err := model.Compile(dec)
	if err != nil {
		t.Fatal(err)
	}
	K := p.NumOutputs()
	out := make([]float64, tab.Len()*K)
	for i, row := range tab.Rows(dec.Signature) {
		if err := p.PredictRawRow(row, out[i*K:(i+1)*K]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestGBTBadParams(t *testing.T) {
	tab := mixedTable(100, 7)
	cases := []struct {
		field string
		p     func(*GBTParams)
		tab   *Table
		valid *Table
	}{
		{field: "objective", p: func(p *GBTParams) { p.Objective = "rank:pairwise" }},
		{field: "num_class", p: func(p *GBTParams) { p.Objective = model.MultiSoftprob }},
		{field: "num_class", p: func(p *GBTParams) { p.NumClass = 3 }},
		{field: "rounds", p: func(p *GBTParams) { p.Rounds = -1 }},
		{field: "learning_rate", p: func(p *GBTParams) { p.LearningRate = -0.1 }},
		{field: "learning_rate", p: func(p *GBTParams) { p.LearningRate = math.NaN() }},
		{field: "max_depth", p: func(p *GBTParams) { p.MaxDepth = -2 }},
		{field: "max_leaves", p: func(p *GBTParams) { p.MaxLeaves = 1 }},
		{field: "max_leaves", p: func(p *GBTParams) { p.Growth, p.MaxDepth = "lossguide", 0 }},
		{field: "growth", p: func(p *GBTParams) { p.Growth = "sideways" }},
		{field: "min_child_weight", p: func(p *GBTParams) { p.MinChildWeight = -1 }},
		{field: "alpha", p: func(p *GBTParams) { p.Alpha = -1 }},
		{field: "lambda", p: func(p *GBTParams) { p.Lambda = math.Inf(1) }},
		{field: "gamma", p: func(p *GBTParams) { p.Gamma = -1 }},
		{field: "subsample", p: func(p *GBTParams) { p.Subsample = 1.5 }},
		{field: "colsample_bytree", p: func(p *GBTParams) { p.ColsampleByTree = -0.5 }},
		{field: "max_bins", p: func(p *GBTParams) { p.MaxBins = 300 }},
		{field: "max_bins", p: func(p *GBTParams) { p.MaxBins = 1 }},
		{field: "early_stopping_rounds", p: func(p *GBTParams) { p.EarlyStoppingRounds = 3 }},
		{field: "metric", p: func(p *GBTParams) { p.Metric = "rmse" }},
		{field: "label", p: func(p *GBTParams) {}, tab: &Table{Columns: tab.Columns[:1], Label: slices.Repeat([]float64{2}, 100)}},
		{field: "label", p: func(p *GBTParams) { p.Objective, p.NumClass = model.MultiSoftprob, 2 }, tab: &Table{Columns: tab.Columns[:1], Label: slices.Repeat([]float64{0.5}, 100)}},
		{field: "train", p: func(p *GBTParams) {}, tab: &Table{}},
		{field: "valid", p: func(p *GBTParams) {}, valid: &Table{Columns: tab.Columns[:2], Label: tab.Label}},
	}
	for _, c := range cases {
		p := DefaultGBTParams()
		c.p(&p)
		tr := tab
		if c.tab != nil {
			tr = c.tab
		}
		_, err := GBT(tr, c.valid, p, nil)
		var e *plinth.Error
		if !errors.As(err, &e) || e.Code != plinth.EINVALID || e.Field != c.field {
			t.Errorf("%s: error %v, want an invalid error naming %s", c.field, err, c.field)
		}
	}
}

// TestGBTHiggsSample trains on the LightGBM example data (a HIGGS subset)
// when the shared data is present.
func TestGBTHiggsSample(t *testing.T) {
	trainT, err := readLightGBMTSV("/work/shared/data/lightgbm/binary.train")
	if err != nil {
		t.Skip("shared data not available:", err)
	}
	testT, err := readLightGBMTSV("/work/shared/data/lightgbm/binary.test")
	if err != nil {
		t.Skip(err)
	}
	p := DefaultGBTParams()
	p.Rounds, p.LearningRate = 100, 0.1
	m, err := GBT(trainT, nil, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	pred, err := PredictTable(m, testT)
	if err != nil {
		t.Fatal(err)
	}
	auc, _ := eval.AUC(testT.Label, pred)
	t.Logf("HIGGS sample: test AUC %.4f", auc)
	if auc < 0.78 {
		t.Errorf("test AUC %v, want > 0.78 (XGBoost gets about 0.80)", auc)
	}
}

// readLightGBMTSV reads LightGBM's example format: tab-separated, label
// first, no header.
func readLightGBMTSV(path string) (*Table, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t := &Table{}
	for line := range bytes.Lines(data) {
		fields := bytes.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if t.Columns == nil {
			for j := 1; j < len(fields); j++ {
				t.Columns = append(t.Columns, Column{Name: fmt.Sprintf("f%d", j-1), Type: model.Float})
			}
		}
		if len(fields) != len(t.Columns)+1 {
			return nil, fmt.Errorf("%s: row %d has %d fields", path, len(t.Label)+1, len(fields))
		}
		var v float64
		for j, f := range fields {
			if _, err := fmt.Sscan(string(f), &v); err != nil {
				return nil, err
			}
			if j == 0 {
				t.Label = append(t.Label, v)
			} else {
				t.Columns[j-1].Num = append(t.Columns[j-1].Num, v)
			}
		}
	}
	return t, nil
}

func TestFastExp(t *testing.T) {
	for x := -750.0; x <= 750; x += 0.37 {
		want := math.Exp(min(max(x, -700), 700))
		if got := fastExp(x); math.Abs(got-want) > 1e-12*want {
			t.Fatalf("fastExp(%v) = %v, math.Exp %v", x, got, want)
		}
	}
}

// TestHistRowsFast checks the histogram kernel against the plain loop, to
// the bit: both add each slot's rows in the same order.
func TestHistRowsFast(t *testing.T) {
	for _, nf := range []int{1, 3, 4, 7, 28} {
		const n = 5000
		rng := rand.New(rand.NewPCG(uint64(nf), 1))
		bins := make([]uint8, n*nf)
		for i := range bins {
			bins[i] = uint8(rng.IntN(256))
		}
		gh := make([]float32, 2*n)
		for i := range gh {
			gh[i] = float32(rng.NormFloat64())
		}
		var rows []int32
		for i := range n {
			if rng.IntN(3) > 0 {
				rows = append(rows, int32(i))
			}
		}
		want, got := make([]histBin, nf*256), make([]histBin, nf*256)
		histRowsAll(want, bins, nf, gh, rows)
		histRowsFast(got, bins, nf, gh, rows)
		if !slices.Equal(want, got) {
			t.Fatalf("nf=%d: fast histogram differs", nf)
		}
	}
}

// TestGBTQuantile: the alpha quantile of a noisy target is learned: about
// alpha of the labels fall below the predictions, on fresh data too.
func TestGBTQuantile(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	gen := func(n int) *Table {
		tb := &Table{Columns: []Column{{Name: "x", Type: model.Float, Num: make([]float64, n)}}, Label: make([]float64, n)}
		for i := range n {
			x := rng.Float64() * 10
			tb.Columns[0].Num[i] = x
			tb.Label[i] = x + rng.NormFloat64()*(1+x/5) // noise grows with x
		}
		return tb
	}
	trainT, test := gen(20_000), gen(5_000)
	for _, alpha := range []float64{0.1, 0.5, 0.9} {
		p := DefaultGBTParams()
		p.Objective, p.QuantileAlpha, p.Rounds, p.LearningRate, p.Seed = model.RegQuantile, alpha, 200, 0.1, 1
		m, err := GBT(trainT, nil, p, nil)
		if err != nil {
			t.Fatal(err)
		}
		if m.Objective.QuantileAlpha != alpha {
			t.Fatalf("objective %+v", m.Objective)
		}
		below := 0
		for i := range test.Label {
			out, _ := m.Predict([]float64{test.Columns[0].Num[i]})
			if test.Label[i] < out[0] {
				below++
			}
		}
		if got := float64(below) / float64(len(test.Label)); math.Abs(got-alpha) > 0.04 {
			t.Errorf("alpha %.1f: %.3f of the labels below the predictions", alpha, got)
		}
	}
	p := DefaultGBTParams()
	p.Objective, p.QuantileAlpha = model.RegQuantile, 1.5
	if _, err := GBT(trainT, nil, p, nil); plinth.ErrorCode(err) != plinth.EINVALID {
		t.Fatalf("alpha out of range: %v", err)
	}
}
