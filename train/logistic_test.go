package train

import (
	"bytes"
	"compress/gzip"
	"os"
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
	m, err := Logistic(trainT, test, LogisticParams{Epochs: 5, Seed: 1}, func(p Progress) { epochs = append(epochs, p) })
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
	again, err := Logistic(trainT, nil, LogisticParams{Epochs: 5, Seed: 1}, nil)
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

func TestLogisticRejectsBadLabels(t *testing.T) {
	tab := &Table{Columns: []Column{{Name: "x", Type: model.Float, Num: []float64{1, 2}}}, Label: []float64{0, 2}}
	if _, err := Logistic(tab, nil, LogisticParams{}, nil); err == nil {
		t.Fatal("label 2 accepted")
	}
}
