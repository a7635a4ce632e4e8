package lightgbm_test

import (
	"bytes"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/model"
	"github.com/plinthml/plinth/model/lightgbm"
)

func readTable(t *testing.T, path string) [][]float64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]float64
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var row []float64
		for _, tok := range strings.Fields(line) {
			v, err := strconv.ParseFloat(tok, 64)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			row = append(row, v)
		}
		rows = append(rows, row)
	}
	return rows
}

func load(t *testing.T, path string) *model.Predictor {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := lightgbm.Decode(f)
	if err != nil {
		t.Fatalf("import %s: %v", path, err)
	}
	p, err := m.Predictor()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func close(a, b, tol float64) bool { return math.Abs(a-b) <= tol*math.Max(1, math.Abs(b)) }

// TestFixtures compares with predictions LightGBM itself wrote for these
// models (see testdata/README.md for their provenance), and checks that
// TreeSHAP attributions add up to the margin.
func TestFixtures(t *testing.T) {
	for _, c := range []struct {
		name      string
		dropLabel bool   // the test file's first column is the label
		raw, pred string // LightGBM's raw scores and/or predictions
	}{
		{"multiclass", true, "multiclass.raw.txt", "multiclass.pred.txt"},
		{"kddcup99", false, "kddcup99.raw.txt", ""},
		{"breast_cancer_dart", false, "", "breast_cancer_dart.pred.txt"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := "../testdata/lightgbm/"
			p := load(t, dir+c.name+".model")
			rows := readTable(t, dir+c.name+".test.tsv")
			var raw, pred [][]float64
			if c.raw != "" {
				raw = readTable(t, dir+c.raw)
			}
			if c.pred != "" {
				pred = readTable(t, dir+c.pred)
			}
			nf, nout := p.NumFeatures(), p.NumOutputs()
			out := make([]float64, nout)
			expl := make([]float64, nout*(nf+1))
			for r, row := range rows {
				if c.dropLabel {
					row = row[1:]
				}
				// The test files may have fewer columns than the model has
				// features (trailing unused ones); LightGBM reads them as 0.
				for len(row) < nf {
					row = append(row, 0)
				}
				if err := p.PredictRawRow(row, out); err != nil {
					t.Fatal(err)
				}
				if raw != nil {
					for k := range nout {
						if !close(out[k], raw[r][k], 1e-6) {
							t.Errorf("row %d output %d: raw %.17g, lightgbm %.17g", r, k, out[k], raw[r][k])
						}
					}
				}
				if err := p.Explain(row, expl); err != nil {
					t.Fatal(err)
				}
				for k := range nout {
					sum := 0.0
					for _, v := range expl[k*(nf+1) : (k+1)*(nf+1)] {
						sum += v
					}
					if !close(sum, out[k], 1e-6) {
						t.Errorf("row %d output %d: SHAP sums to %.17g, margin %.17g", r, k, sum, out[k])
					}
				}
				if pred != nil {
					if err := p.PredictRow(row, out); err != nil {
						t.Fatal(err)
					}
					for k := range nout {
						if !close(out[k], pred[r][k], 1e-6) {
							t.Errorf("row %d output %d: prediction %.17g, lightgbm %.17g", r, k, out[k], pred[r][k])
						}
					}
				}
			}
		})
	}
}

// small is a hand-written model exercising every decision rule. Tree 0:
//
//	node 0: f0 <= 1.5, missing type NaN, default left (decision_type 10)
//	  left:  node 1: f1 categorical, categories {1, 3, 33} (decision_type 1)
//	           left: leaf 0 = 10, right: leaf 1 = 20
//	  right: node 2: f2 <= 0, missing type Zero, default right (decision_type 4)
//	           left: leaf 2 = 30, right: leaf 3 = 40
//
// Tree 1 is a single leaf of 0.5; tree 2 splits f2 <= -1 with missing type
// None (NaN read as 0): left leaf -1, right leaf 1.
const small = `tree
version=v3
num_class=1
num_tree_per_iteration=1
label_index=0
max_feature_idx=2
objective=regression
feature_names=a b c
feature_infos=[0:3] 1:3:33 [-2:2]
tree_sizes=1 1 1

Tree=0
num_leaves=4
num_cat=1
split_feature=0 1 2
split_gain=5 3 1
threshold=1.5 0 0
decision_type=10 1 4
left_child=1 -1 -3
right_child=2 -2 -4
leaf_value=10 20 30 40
leaf_count=4 3 2 1
internal_value=0 0 0
internal_count=10 7 3
cat_boundaries=0 2
cat_threshold=10 2
shrinkage=1

Tree=1
num_leaves=1
num_cat=0
split_feature=
split_gain=
threshold=
decision_type=
left_child=
right_child=
leaf_value=0.5
leaf_count=10
internal_value=
internal_count=
shrinkage=1

Tree=2
num_leaves=2
num_cat=0
split_feature=2
split_gain=2
threshold=-1
decision_type=0
left_child=-1
right_child=-2
leaf_value=-1 1
leaf_count=5 5
internal_value=0
internal_count=10
shrinkage=1

end of trees

feature_importances:
a=1
`

func TestHandWrittenModel(t *testing.T) {
	m, err := lightgbm.Parse([]byte(small))
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Predictor()
	if err != nil {
		t.Fatal(err)
	}
	nan := math.NaN()
	for _, c := range []struct {
		row  []float64
		want float64
	}{
		{[]float64{1.5, 3, 0}, 10 + 0.5 + 1},     // <= threshold goes left; category 3 in set
		{[]float64{1, 2, 0}, 20 + 0.5 + 1},       // category 2 not in set
		{[]float64{1, 33, 0}, 10 + 0.5 + 1},      // category 33 in the second bitset word
		{[]float64{1, 1.9, 0}, 10 + 0.5 + 1},     // 1.9 truncates to category 1
		{[]float64{1, -1, 0}, 20 + 0.5 + 1},      // negative: right
		{[]float64{1, nan, 0}, 20 + 0.5 + 1},     // NaN category: right
		{[]float64{nan, 3, 0}, 10 + 0.5 + 1},     // NaN with missing type NaN: default left
		{[]float64{2, 0, -0.5}, 30 + 0.5 + 1},    // f2 <= 0
		{[]float64{2, 0, 0}, 40 + 0.5 + 1},       // zero is missing: default right
		{[]float64{2, 0, 1e-36}, 40 + 0.5 + 1},   // tiny counts as zero
		{[]float64{2, 0, nan}, 40 + 0.5 + 1},     // NaN too
		{[]float64{2, 0, -1}, 30 + 0.5 - 1},      // tree 2: -1 <= -1
		{[]float64{2, 0, 3}, 40 + 0.5 + 1},       // > 0
		{[]float64{1.6, 0, -1.5}, 30 + 0.5 - 1},  // both trees left
		{[]float64{1.5000001, 0, nan}, 40 + 1.5}, // tree 2: NaN read as 0 > -1
	} {
		out := []float64{0}
		if err := p.PredictRow(c.row, out); err != nil {
			t.Fatal(err)
		}
		if out[0] != c.want {
			t.Errorf("predict %v = %v, want %v", c.row, out[0], c.want)
		}
	}
	if f := m.Signature.Features[1]; f.Type != model.Categorical {
		t.Errorf("feature b imported as %q, want categorical", f.Type)
	}
	gain := m.GainImportance()
	if gain[0].Value != 5 || gain[1].Value != 3 || gain[2].Value != 3 {
		t.Errorf("gain importance %v", gain)
	}
	// average_output divides by the number of iterations.
	avg, err := lightgbm.Parse([]byte(strings.Replace(small, "tree_sizes", "average_output\ntree_sizes", 1)))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := avg.Predict([]float64{1.5, 3, 0})
	if want := (10 + 0.5 + 1) / 3.0; !close(got[0], want, 1e-15) {
		t.Errorf("average_output: %v, want %v", got[0], want)
	}
	var buf bytes.Buffer
	if err := m.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	if _, err := model.Parse(buf.Bytes()); err != nil {
		t.Fatalf("native round trip: %v", err)
	}
}

func TestBadFiles(t *testing.T) {
	rep := func(old, new string) string {
		if !strings.Contains(small, old) {
			t.Fatalf("model lacks %q", old)
		}
		return strings.Replace(small, old, new, 1)
	}
	for _, c := range []struct {
		name, data, msg string
	}{
		{"empty", "", "empty"},
		{"json", `{"learner":{}}`, "not a LightGBM text model"},
		{"truncated", small[:len(small)/2], "truncated"},
		{"child out of range", rep("left_child=1 -1 -3", "left_child=1 -9 -3"), "Tree=0.left_child[1]"},
		{"cycle", rep("right_child=2 -2 -4", "right_child=2 -2 1"), "not form a tree"},
		{"root as child", rep("left_child=1 -1 -3", "left_child=1 0 -3"), "out of range"},
		{"short array", rep("leaf_value=10 20 30 40", "leaf_value=10 20 30"), "Tree=0.leaf_value: has 3 values, expected 4"},
		{"long array", rep("leaf_value=10 20 30 40", "leaf_value=10 20 30 40 50"), "more than the 4 values"},
		{"bad number", rep("threshold=1.5 0 0", "threshold=1.5 x 0"), "Tree=0.threshold[1]"},
		{"feature out of range", rep("split_feature=0 1 2", "split_feature=0 1 7"), "Tree=0.split_feature[2]"},
		{"huge num_leaves", rep("num_leaves=4", "num_leaves=99999999999"), "Tree=0.num_leaves"},
		{"cat index", rep("threshold=1.5 0 0", "threshold=1.5 5 0"), "category split"},
		{"cat bitset short", rep("cat_boundaries=0 2", "cat_boundaries=0 3"), "Tree=0.cat_threshold"},
		{"objective", rep("objective=regression", "objective=lambdarank"), "not supported"},
		{"tree order", rep("Tree=1", "Tree=7"), "expected Tree=1"},
		{"nan threshold", rep("threshold=1.5 0 0", "threshold=nan 0 0"), "threshold"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := lightgbm.Parse([]byte(c.data))
			if err == nil || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("Parse = %v, want an error saying %q", err, c.msg)
			}
			if !plinth.IsCode(err, plinth.EINVALID) {
				t.Errorf("code %q, want invalid", plinth.ErrorCode(err))
			}
		})
	}
}
