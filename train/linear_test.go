package train

import (
	"bytes"
	"compress/gzip"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/plinthml/plinth/model"
)

var adultCategorical = []string{"workclass", "education", "marital_status", "occupation", "relationship", "race", "sex", "native_country"}

func readAdult(t *testing.T, name string) *Table {
	t.Helper()
	f, err := os.Open("../demo/data/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tab, err := ReadCSV(zr, "income", ">50K", adultCategorical)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func TestLogisticOnAdult(t *testing.T) {
	trainT := readAdult(t, "adult_train.csv.gz")
	test := readAdult(t, "adult_test.csv.gz")
	var epochs []Progress
	m, err := Linear(trainT, test, LinearParams{Epochs: 5, Seed: 1}, func(p Progress) { epochs = append(epochs, p) })
	if err != nil {
		t.Fatal(err)
	}
	if len(epochs) != 5 {
		t.Fatalf("%d progress reports, want 5", len(epochs))
	}
	last := epochs[len(epochs)-1]
	// scikit-learn's LogisticRegression on the same one-hot features reaches
	// about 0.90 test AUC; a working trainer cannot be far off.
	if last.ValidAUC < 0.88 || last.ValidLoss > 0.36 {
		t.Fatalf("test AUC %.4f, log loss %.4f: the model did not learn", last.ValidAUC, last.ValidLoss)
	}
	if epochs[0].TrainLoss <= last.TrainLoss {
		t.Fatalf("train loss did not fall: %v -> %v", epochs[0].TrainLoss, last.TrainLoss)
	}

	// The model survives a round trip through its file format unchanged.
	var buf bytes.Buffer
	if err := m.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	back, err := model.Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	_, auc, err := ScoreBinary(back, test)
	if err != nil || auc != last.ValidAUC {
		t.Fatalf("round-tripped model AUC %v (%v), want %v", auc, err, last.ValidAUC)
	}

	// Same seed, same model.
	again, err := Linear(trainT, nil, LinearParams{Epochs: 5, Seed: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	m.Encode(&a)
	again.Encode(&b)
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two runs with the same seed produced different models")
	}
}

func TestLinearRegressionRecoversCoefficients(t *testing.T) {
	// y = 5 + 3*x1 - 2*x2 + 4*[c == "b"] + small noise; x3 is irrelevant.
	rng := rand.New(rand.NewPCG(3, 4))
	n := 4000
	x1, x2, x3 := make([]float64, n), make([]float64, n), make([]float64, n)
	c, y := make([]string, n), make([]float64, n)
	for i := range y {
		x1[i], x2[i], x3[i] = rng.NormFloat64()*2+10, rng.NormFloat64(), rng.NormFloat64()
		c[i] = []string{"a", "b"}[i%2]
		y[i] = 5 + 3*x1[i] - 2*x2[i] + 0.01*rng.NormFloat64()
		if c[i] == "b" {
			y[i] += 4
		}
	}
	tab := &Table{Label: y, Columns: []Column{
		{Name: "x1", Type: model.Float, Num: x1}, {Name: "x2", Type: model.Float, Num: x2},
		{Name: "x3", Type: model.Float, Num: x3}, {Name: "c", Type: model.Categorical, Cat: c},
	}}
	m, err := Linear(tab, tab, LinearParams{Objective: model.RegSquaredError, Epochs: 60, LearningRate: 0.02, L1: 1e-3, Seed: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	lin := m.Linear
	raw := func(j int) float64 { return lin.Terms[j].Weights[0] / lin.Terms[j].Scale } // weight per unit of x
	if math.Abs(raw(0)-3) > 0.05 || math.Abs(raw(1)+2) > 0.05 {
		t.Fatalf("coefficients x1 %.3f x2 %.3f, want 3 and -2", raw(0), raw(1))
	}
	if w := lin.Terms[2].Weights[0]; w != 0 {
		t.Fatalf("L1 left the irrelevant feature a weight of %g, want exactly 0", w)
	}
	cw := lin.Terms[3].CategoryWeights
	if gap := cw[1][0] - cw[0][0]; math.Abs(math.Abs(gap)-4) > 0.1 {
		t.Fatalf("category gap %.3f, want 4", gap)
	}
	rmse, _, _, err := Score(m, tab)
	if err != nil || rmse > 0.1 {
		t.Fatalf("training RMSE %v (%v), want under 0.1", rmse, err)
	}
}

func TestMultinomial(t *testing.T) {
	// Three classes around three centres.
	rng := rand.New(rand.NewPCG(5, 6))
	centres := [][2]float64{{0, 0}, {4, 0}, {0, 4}}
	n := 3000
	a, b, y := make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range y {
		k := i % 3
		a[i], b[i], y[i] = centres[k][0]+rng.NormFloat64(), centres[k][1]+rng.NormFloat64(), float64(k)
	}
	tab := &Table{Label: y, Columns: []Column{{Name: "a", Type: model.Float, Num: a}, {Name: "b", Type: model.Float, Num: b}}}
	var last Progress
	m, err := Linear(tab, tab, LinearParams{Objective: model.MultiSoftprob, NumClass: 3, Epochs: 10, Seed: 2}, func(p Progress) { last = p })
	if err != nil {
		t.Fatal(err)
	}
	if last.ValidAcc < 0.9 || !math.IsNaN(last.ValidAUC) {
		t.Fatalf("accuracy %.3f, AUC %v: want > 0.9 and NaN", last.ValidAcc, last.ValidAUC)
	}
	pred, err := PredictTable(m, tab)
	if err != nil {
		t.Fatal(err)
	}
	if s := pred[0] + pred[1] + pred[2]; math.Abs(s-1) > 1e-9 {
		t.Fatalf("class probabilities sum to %v", s)
	}
}

func TestLinearRejects(t *testing.T) {
	tab := &Table{Columns: []Column{{Name: "x", Type: model.Float, Num: []float64{1, 2}}}, Label: []float64{0, 2}}
	for _, tc := range []struct {
		p    LinearParams
		want string
	}{
		{LinearParams{}, "binary labels must be 0 or 1"},
		{LinearParams{Objective: model.MultiSoftprob, NumClass: 2}, "class labels must be integers 0..1"},
		{LinearParams{Objective: model.MultiSoftprob}, "num_class"},
		{LinearParams{Objective: "rank:pairwise"}, "not one of"},
		{LinearParams{Objective: model.RegSquaredError, L1: -1}, "must not be negative"},
	} {
		if _, err := Linear(tab, nil, tc.p, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Linear(%+v) error = %v, want %q", tc.p, err, tc.want)
		}
	}
}
