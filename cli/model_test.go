package cli

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plinthml/plinth/duckdb"
)

// run calls the command line as a user would and returns stdout.
func run(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := runMain(args...)
	if code != 0 {
		t.Fatalf("plinth %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// runMain runs the command line in process, with an empty environment.
func runMain(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = Main(context.Background(), args, &Env{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }})
	return code, out.String(), errOut.String()
}

func gunzipTo(t *testing.T, src, dst string) {
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	io.Copy(out, zr)
}

func TestModelCommands(t *testing.T) {
	dir := t.TempDir()
	trainCSV, testCSV, m := filepath.Join(dir, "train.csv"), filepath.Join(dir, "test.csv"), filepath.Join(dir, "m.json")
	gunzipTo(t, "../demo/data/adult_train.csv.gz", trainCSV)
	gunzipTo(t, "../demo/data/adult_test.csv.gz", testCSV)

	if out := run(t, "model", "train", "--algo", "linear", "--data", trainCSV, "--label", "income", "--positive", ">50K", "--param", "epochs=4", "-o", m); !strings.Contains(out, "validation AUC 0.8") {
		t.Fatalf("train printed %q", out)
	}
	gbt := filepath.Join(dir, "gbt.json")
	if out := run(t, "model", "train", "--data", trainCSV, "--valid", testCSV, "--label", "income", "--positive", ">50K",
		"--param", "rounds=60", "--param", "eta=0.1", "--param", "eval_metric=auc", "--param", "early_stopping_rounds=10", "-o", gbt); !strings.Contains(out, "validation auc 0.9") {
		t.Fatalf("gbt train printed %q", out)
	}
	var ex0 explanation
	json.Unmarshal([]byte(run(t, "model", "explain", gbt, "--data", testCSV, "--row", "1", "--top", "0", "--output", "json")), &ex0)
	sum0 := ex0.Base
	for _, c := range ex0.Contributions {
		sum0 += c.SHAP
	}
	if math.Abs(sum0-ex0.Margin) > 1e-6 {
		t.Fatalf("TreeSHAP of a trained model does not add up: %v vs margin %v", sum0, ex0.Margin)
	}
	var report struct {
		AUC    float64 `json:"auc"`
		Slices []struct {
			Value string `json:"value"`
		} `json:"slices"`
	}
	json.Unmarshal([]byte(run(t, "model", "evaluate", m, "--data", testCSV, "--label", "income", "--positive", ">50K", "--slice", "sex", "--output", "json")), &report)
	if report.AUC < 0.88 || len(report.Slices) != 2 {
		t.Fatalf("evaluate = %+v", report)
	}

	// An explanation adds up: base value plus contributions is the margin.
	var ex explanation
	json.Unmarshal([]byte(run(t, "model", "explain", m, "--data", testCSV, "--row", "7", "--top", "0", "--output", "json")), &ex)
	sum := ex.Base
	for _, c := range ex.Contributions {
		sum += c.SHAP
	}
	if len(ex.Contributions) != 14 || math.Abs(sum-ex.Margin) > 1e-9 || math.Abs(1/(1+math.Exp(-ex.Margin))-ex.Prediction) > 1e-9 {
		t.Fatalf("explanation does not add up: base %v + contributions = %v, margin %v, prediction %v", ex.Base, sum, ex.Margin, ex.Prediction)
	}

	// Parquet in works as CSV does.
	testParquet := filepath.Join(dir, "test.parquet")
	if err := parquetFromCSV(testCSV, testParquet); err != nil {
		t.Fatal(err)
	}
	var pq struct {
		AUC float64 `json:"auc"`
	}
	json.Unmarshal([]byte(run(t, "model", "evaluate", m, "--data", testParquet, "--label", "income", "--positive", ">50K", "--output", "json")), &pq)
	if math.Abs(pq.AUC-report.AUC) > 1e-12 {
		t.Fatalf("AUC on Parquet %v, on CSV %v", pq.AUC, report.AUC)
	}

	preds := strings.Split(strings.TrimSpace(run(t, "model", "predict", m, "--data", testCSV)), "\n")
	if len(preds) != 9770 || preds[0] != "prediction" {
		t.Fatalf("predict wrote %d lines, first %q", len(preds), preds[0])
	}

	// An XGBoost model imports to the native format and scores the same.
	native := filepath.Join(dir, "xgb.json")
	xgb := "../model/testdata/xgboost/higgs_binary.model.json"
	run(t, "model", "import", xgb, "-o", native)
	if info := run(t, "model", "info", native); !strings.Contains(info, "format  plinth") {
		t.Fatalf("info of the imported model:\n%s", info)
	}
}

func TestModelUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"model"},
		{"model", "train", "--data", "x.csv"},
		{"model", "predict", "nope.json", "--data", "x.csv"},
		{"model", "train", "--data", "x.csv", "--label", "y", "-o", "m.json", "--param", "depth=3"},
		{"model", "train", "--algo", "forest", "--data", "x.csv", "--label", "y", "-o", "m.json"},
	} {
		var out, errOut bytes.Buffer
		if code := Main(context.Background(), args, &Env{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}); code == 0 {
			t.Errorf("plinth %s succeeded", strings.Join(args, " "))
		} else if errOut.Len() == 0 {
			t.Errorf("plinth %s failed silently", strings.Join(args, " "))
		}
	}
}

// parquetFromCSV writes a CSV file as Parquet with DuckDB.
func parquetFromCSV(src, dst string) error {
	eng, err := duckdb.Open("")
	if err != nil {
		return err
	}
	defer eng.Close()
	_, err = eng.DB().Exec(`COPY (SELECT * FROM read_csv_auto('` + src + `')) TO '` + dst + `' (FORMAT parquet)`)
	return err
}
