package xgboost_test

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/model"
	"github.com/plinthml/plinth/model/xgboost"
)

// expected is what scripts/fixtures/xgboost_fixtures.py records from
// XGBoost itself for the test rows (null = NaN = missing).
type expected struct {
	Rows       [][]*float64   `json:"rows"`
	Margin     [][]float64    `json:"margin"`
	Prediction [][]float64    `json:"prediction"`
	Contribs   [][][]*float64 `json:"contribs"`
}

func nan(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// close reports whether a and b agree to tol, relative for large values.
func close(a, b, tol float64) bool {
	return math.Abs(a-b) <= tol*math.Max(1, math.Abs(b))
}

func fixtures(t *testing.T) []string {
	names, err := filepath.Glob("../testdata/xgboost/*.model.json")
	if err != nil || len(names) == 0 {
		t.Fatalf("no fixtures in ../testdata/xgboost (run scripts/fixtures/xgboost_fixtures.py): %v", err)
	}
	return names
}

func load(t *testing.T, path string) (*model.Model, *expected) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := xgboost.Decode(f)
	if err != nil {
		t.Fatalf("import %s: %v", path, err)
	}
	data, err := os.ReadFile(strings.TrimSuffix(path, ".model.json") + ".expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var exp expected
	if err := json.Unmarshal(data, &exp); err != nil {
		t.Fatal(err)
	}
	return m, &exp
}

// TestFixtures checks every fixture against XGBoost's own outputs: margins
// and predictions to 1e-6, SHAP values to XGBoost's contributions, and
// SHAP local accuracy (attributions + base = margin) to 1e-6.
func TestFixtures(t *testing.T) {
	for _, path := range fixtures(t) {
		name := strings.TrimSuffix(filepath.Base(path), ".model.json")
		t.Run(name, func(t *testing.T) {
			m, exp := load(t, path)
			p, err := m.Predictor()
			if err != nil {
				t.Fatal(err)
			}
			nf, nout := p.NumFeatures(), p.NumOutputs()
			row := make([]float64, nf)
			raw := make([]float64, nout)
			pred := make([]float64, nout)
			contrib := make([]float64, nout*(nf+1))
			var worstShap float64
			batch := model.Matrix{Rows: len(exp.Rows), Cols: nf}
			for r, vals := range exp.Rows {
				for c := range row {
					row[c] = nan(vals[c])
				}
				batch.Data = append(batch.Data, row...)
				if err := p.PredictRawRow(row, raw); err != nil {
					t.Fatal(err)
				}
				if err := p.PredictRow(row, pred); err != nil {
					t.Fatal(err)
				}
				if err := p.Explain(row, contrib); err != nil {
					t.Fatal(err)
				}
				for k := range nout {
					if !close(raw[k], exp.Margin[r][k], 1e-6) {
						t.Errorf("row %d output %d: margin %.9g, xgboost %.9g", r, k, raw[k], exp.Margin[r][k])
					}
					if !close(pred[k], exp.Prediction[r][k], 1e-6) {
						t.Errorf("row %d output %d: prediction %.9g, xgboost %.9g", r, k, pred[k], exp.Prediction[r][k])
					}
					sum := 0.0
					for f := 0; f <= nf; f++ {
						v := contrib[k*(nf+1)+f]
						sum += v
						want := nan(exp.Contribs[r][k][f])
						worstShap = math.Max(worstShap, math.Abs(v-want)/math.Max(1, math.Abs(want)))
					}
					if !close(sum, raw[k], 1e-6) {
						t.Errorf("row %d output %d: SHAP sums to %.9g, margin is %.9g", r, k, sum, raw[k])
					}
				}
			}
			// XGBoost computes SHAP values in float32 arithmetic, so its
			// contributions carry float32 rounding; ours are float64.
			if worstShap > 1e-5 {
				t.Errorf("SHAP differs from xgboost's pred_contribs by up to %.3g", worstShap)
			}
			t.Logf("%d rows, worst SHAP difference to xgboost %.2g", len(exp.Rows), worstShap)

			for _, colMajor := range []bool{false, true} {
				x := batch
				if colMajor {
					x = transpose(batch)
				}
				out := make([]float64, x.Rows*nout)
				if err := p.PredictRaw(x, out); err != nil {
					t.Fatal(err)
				}
				for r := range x.Rows {
					for k := range nout {
						if !close(out[r*nout+k], exp.Margin[r][k], 1e-6) {
							t.Fatalf("batch (col-major %v) row %d output %d: %.9g, xgboost %.9g", colMajor, r, k, out[r*nout+k], exp.Margin[r][k])
						}
					}
				}
			}

			// The native form of the imported model predicts the same.
			var buf bytes.Buffer
			if err := m.Encode(&buf); err != nil {
				t.Fatal(err)
			}
			back, err := model.Parse(buf.Bytes())
			if err != nil {
				t.Fatalf("re-read native form: %v", err)
			}
			for r, vals := range exp.Rows {
				for c := range row {
					row[c] = nan(vals[c])
				}
				got, err := back.Predict(row)
				if err != nil {
					t.Fatal(err)
				}
				for k := range nout {
					if !close(got[k], exp.Prediction[r][k], 1e-6) {
						t.Fatalf("native round trip row %d: %.9g, xgboost %.9g", r, got[k], exp.Prediction[r][k])
					}
				}
			}
		})
	}
}

func transpose(x model.Matrix) model.Matrix {
	out := model.Matrix{Rows: x.Rows, Cols: x.Cols, ColMajor: true, Data: make([]float64, len(x.Data))}
	for r := range x.Rows {
		for c := range x.Cols {
			out.Data[c*x.Rows+r] = x.Data[r*x.Cols+c]
		}
	}
	return out
}

func TestBadFiles(t *testing.T) {
	good, err := os.ReadFile("../testdata/xgboost/higgs_dart.model.json")
	if err != nil {
		t.Fatal(err)
	}
	replace := func(old, new string) []byte {
		if !bytes.Contains(good, []byte(old)) {
			t.Fatalf("fixture lacks %q", old)
		}
		return bytes.Replace(good, []byte(old), []byte(new), 1)
	}
	cases := []struct {
		name  string
		data  []byte
		field string // expected Field of the error, or "" to check only the message
		msg   string
	}{
		{"empty", nil, "", "truncated"},
		{"truncated", good[:len(good)/2], "", "truncated"},
		{"not json", []byte("tree\nversion=v3\n"), "", "not valid JSON"},
		{"no learner", []byte(`{"version":[1,7,4]}`), "learner", "missing"},
		{"child out of range", replace(`"left_children":[1,`, `"left_children":[99,`), "learner.gradient_booster.gbtree.model.trees[0].left_children[0]", "out of range"},
		{"cycle", replace(`"left_children":[1,3,`, `"left_children":[1,0,`), "learner.gradient_booster.gbtree.model.trees[0].left_children[1]", "out of range"},
		{"shared child", replace(`"left_children":[1,3,`, `"left_children":[1,2,`), "learner.gradient_booster.gbtree.model.trees[0].left_children[1]", "reached twice"},
		{"short array", replace(`"sum_hessian":[5E2,`, `"sum_hessian":[`), "learner.gradient_booster.gbtree.model.trees[0].sum_hessian", "entries"},
		{"bad feature", replace(`"split_indices":[25,`, `"split_indices":[2500,`), "learner.gradient_booster.gbtree.model.trees[0].split_indices[0]", "out of range"},
		{"bad objective", replace(`"name":"binary:logistic"`, `"name":"rank:pairwise"`), "learner.objective.name", "not supported"},
		{"bad base score", replace(`"base_score":"5E-1"`, `"base_score":"7"`), "learner.learner_model_param.base_score", "probability"},
		{"wrong type", replace(`"left_children":[1,`, `"left_children":["a",`), "", "cannot hold"},
		{"deep nesting", []byte(strings.Repeat("[", 100000)), "", "deeper"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := xgboost.Parse(c.data)
			if err == nil {
				t.Fatal("parsed a bad file")
			}
			if !plinth.IsCode(err, plinth.EINVALID) {
				t.Errorf("code %q, want invalid: %v", plinth.ErrorCode(err), err)
			}
			var pe *plinth.Error
			if c.field != "" && (!asError(err, &pe) || pe.Field != c.field) {
				t.Errorf("error %q does not name field %q", err, c.field)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %q does not say %q", err, c.msg)
			}
		})
	}
}

func asError(err error, target **plinth.Error) bool {
	for err != nil {
		if e, ok := err.(*plinth.Error); ok {
			*target = e
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

// TestCategoricalSemantics pins XGBoost's categorical rule on a stump:
// the listed categories go right, others left, missing by default_left.
func TestCategoricalSemantics(t *testing.T) {
	const stump = `{"learner":{"feature_names":["x","color"],"feature_types":["float","c"],"gradient_booster":{"model":{"tree_info":[0],"trees":[{"categories":[1,3],"categories_nodes":[0],"categories_segments":[0],"categories_sizes":[2],"default_left":[1,0,0],"left_children":[1,-1,-1],"loss_changes":[3.5,0,0],"right_children":[2,-1,-1],"split_conditions":[NaN,0.25,-0.5],"split_indices":[1,0,0],"split_type":[1,0,0],"sum_hessian":[10,6,4],"tree_param":{"num_nodes":"3"}}]},"name":"gbtree"},"learner_model_param":{"base_score":"5E-1","num_class":"0","num_feature":"2"},"objective":{"name":"reg:squarederror"}},"version":[1,7,4]}`
	m, err := xgboost.Parse([]byte(stump))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		color, want float64
	}{
		{0, 0.5 + 0.25}, {1, 0.5 - 0.5}, {2, 0.5 + 0.25}, {3, 0.5 - 0.5}, {math.NaN(), 0.5 + 0.25},
	} {
		got, err := m.Predict([]float64{0, c.color})
		if err != nil {
			t.Fatal(err)
		}
		if got[0] != c.want {
			t.Errorf("color %v: %v, want %v", c.color, got[0], c.want)
		}
	}
}
