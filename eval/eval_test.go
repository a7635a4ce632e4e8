package eval

import (
	"math"
	"testing"
)

func TestAUC(t *testing.T) {
	for _, tc := range []struct {
		name string
		y, p []float64
		want float64
	}{
		{"perfect", []float64{0, 0, 1, 1}, []float64{0.1, 0.2, 0.8, 0.9}, 1},
		{"inverted", []float64{1, 1, 0, 0}, []float64{0.1, 0.2, 0.8, 0.9}, 0},
		{"all tied", []float64{0, 1, 0, 1}, []float64{0.5, 0.5, 0.5, 0.5}, 0.5},
		// sklearn.metrics.roc_auc_score([0,0,1,1],[0.1,0.4,0.35,0.8]) = 0.75
		{"sklearn example", []float64{0, 0, 1, 1}, []float64{0.1, 0.4, 0.35, 0.8}, 0.75},
		// One tie across classes: pairs (pos,neg) = 4, wins 3.5.
		{"tie across classes", []float64{0, 0, 1, 1}, []float64{0.1, 0.5, 0.5, 0.9}, 0.875},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := AUC(tc.y, tc.p)
			if err != nil || math.Abs(got-tc.want) > 1e-12 {
				t.Fatalf("AUC = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	if got, _ := AUC([]float64{1, 1}, []float64{0.2, 0.3}); !math.IsNaN(got) {
		t.Fatalf("AUC with one class = %v, want NaN", got)
	}
	if _, err := AUC([]float64{1}, nil); err != ErrLength {
		t.Fatalf("length mismatch error = %v", err)
	}
}

func TestLogLoss(t *testing.T) {
	// sklearn.metrics.log_loss([0,1,1],[0.1,0.9,0.8]) = 0.14462152754328741
	got, err := LogLoss([]float64{0, 1, 1}, []float64{0.1, 0.9, 0.8})
	if err != nil || math.Abs(got-0.14462152754328741) > 1e-12 {
		t.Fatalf("LogLoss = %v, %v", got, err)
	}
	if got, _ := LogLoss([]float64{1}, []float64{0}); math.IsInf(got, 0) || got < 30 {
		t.Fatalf("LogLoss of a confident miss = %v, want large and finite", got)
	}
}

func TestAtThreshold(t *testing.T) {
	b, err := AtThreshold([]float64{1, 1, 0, 0, 1}, []float64{0.9, 0.4, 0.6, 0.1, 0.7}, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if b.TP != 2 || b.FN != 1 || b.FP != 1 || b.TN != 1 || b.Accuracy != 0.6 ||
		math.Abs(b.Precision-2.0/3) > 1e-12 || math.Abs(b.Recall-2.0/3) > 1e-12 || math.Abs(b.F1-2.0/3) > 1e-12 {
		t.Fatalf("AtThreshold = %+v", b)
	}
}

func TestRegress(t *testing.T) {
	r, err := Regress([]float64{3, -0.5, 2, 7}, []float64{2.5, 0.0, 2, 8})
	if err != nil {
		t.Fatal(err)
	}
	// sklearn: mse 0.375, mae 0.5, r2 0.9486081370449679
	if math.Abs(r.RMSE-math.Sqrt(0.375)) > 1e-12 || r.MAE != 0.5 || math.Abs(r.R2-0.9486081370449679) > 1e-12 {
		t.Fatalf("Regress = %+v", r)
	}
}

func TestCalibration(t *testing.T) {
	// Perfectly calibrated in two bins: 0.25 predicted, 1 of 4 true; 0.75
	// predicted, 3 of 4 true.
	y := []float64{1, 0, 0, 0, 1, 1, 1, 0}
	p := []float64{0.25, 0.25, 0.25, 0.25, 0.75, 0.75, 0.75, 0.75}
	ece, bins, err := Calibration(y, p, 2)
	if err != nil || ece > 1e-12 || bins[0].Count != 4 || bins[1].FractionTrue != 0.75 {
		t.Fatalf("calibrated: ece %v bins %+v err %v", ece, bins, err)
	}
	// Always 0.9 but only half true: gap 0.4 everywhere.
	ece, _, _ = Calibration([]float64{1, 0, 1, 0}, []float64{0.9, 0.9, 0.9, 0.9}, 10)
	if math.Abs(ece-0.4) > 1e-12 {
		t.Fatalf("overconfident ece = %v, want 0.4", ece)
	}
}

func TestMulticlass(t *testing.T) {
	y := []float64{0, 1, 2, 2}
	prob := []float64{
		0.7, 0.2, 0.1,
		0.1, 0.8, 0.1,
		0.2, 0.5, 0.3, // wrong: predicts 1
		0.1, 0.1, 0.8,
	}
	m, err := Multiclass(y, prob, 3)
	if err != nil {
		t.Fatal(err)
	}
	// sklearn.metrics.log_loss([0,1,2,2], probs) = 0.5366749...
	want := -(math.Log(0.7) + math.Log(0.8) + math.Log(0.3) + math.Log(0.8)) / 4
	if m.Accuracy != 0.75 || math.Abs(m.LogLoss-want) > 1e-12 || m.Confusion[2][1] != 1 || m.Confusion[2][2] != 1 {
		t.Fatalf("Multiclass = %+v", m)
	}
	if _, err := Multiclass([]float64{5}, []float64{0.5, 0.5}, 2); err == nil {
		t.Fatal("out-of-range label accepted")
	}
}

func TestBinarySlices(t *testing.T) {
	col := []string{"a", "a", "a", "a", "b", "b"}
	y := []float64{0, 1, 0, 1, 1, 1}
	p := []float64{0.1, 0.9, 0.2, 0.8, 0.3, 0.4}
	s, err := BinarySlices(col, y, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 2 || s[0].Value != "a" || s[0].AUC != 1 || s[0].Accuracy != 1 || s[1].Accuracy != 0 || !math.IsNaN(s[1].AUC) {
		t.Fatalf("slices = %+v", s)
	}
}

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		name    string
		y, p    []float64
		outputs int
		binary  bool
		want    map[string]float64
	}{
		{"binary", []float64{0, 0, 1, 1}, []float64{0.1, 0.6, 0.8, 0.9}, 1, true,
			map[string]float64{"rows": 4, "auc": 1, "accuracy": 0.75, "precision": 2.0 / 3, "recall": 1, "f1": 0.8}},
		{"multiclass", []float64{0, 1}, []float64{0.9, 0.1, 0.2, 0.8}, 2, false,
			map[string]float64{"rows": 2, "accuracy": 1}},
		{"regression", []float64{1, 2, 3}, []float64{1, 2, 4}, 1, false,
			map[string]float64{"rows": 3, "mae": 1.0 / 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Summarize(tc.y, tc.p, tc.outputs, tc.binary)
			if err != nil {
				t.Fatal(err)
			}
			flat := s.Flat()
			for k, want := range tc.want {
				if got, ok := flat[k]; !ok || math.Abs(got-want) > 1e-12 {
					t.Errorf("%s = %v (present %v), want %v", k, got, ok, want)
				}
			}
		})
	}
	if _, err := Summarize(nil, nil, 1, true); err == nil {
		t.Fatal("no rows: no error")
	}
}
