package cli

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/plinthml/plinth/bundle"
	"github.com/plinthml/plinth/serve"
)

// TestFlightsPipeline runs the flights example project's retraining
// pipeline as a user would: on two months, then again with nothing new
// (every step a cache hit), then after a new month arrives (the training
// set is rebuilt but, for the same months, holds the same rows: training
// is a cache hit), then on three months (a challenger compared with the
// production model on the same holdout, shipped as a canary).
func TestFlightsPipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("trains models on real data")
	}
	data := t.TempDir()
	proj := filepath.Join("..", "examples", "flights", "plinth.yaml")
	flights := filepath.Join("..", "examples", "flights", "data")
	run(t, "apply", "-f", proj, "--data", data)
	for _, f := range []string{"weather", "planes"} {
		run(t, "datasets", "ingest", f, filepath.Join(flights, f+".csv.gz"), "--data", data)
	}
	for _, m := range []string{"01", "02"} {
		run(t, "datasets", "ingest", "flights", filepath.Join(flights, "flights-2013-"+m+".csv.gz"), "--data", data)
	}
	params := []string{"--param", "train_until=2013-02-15", "--data", data}
	out := run(t, append([]string{"pipelines", "run", "retrain"}, params...)...)
	for _, want := range []string{"succeeded (manual)", "version: delays@1", "endpoint: delays rev 1"} {
		if !strings.Contains(out, want) {
			t.Fatalf("first run lacks %q:\n%s", want, out)
		}
	}
	if auc := regexp.MustCompile(` auc=([0-9.]+)`).FindStringSubmatch(out); auc == nil || auc[1] < "0.6" {
		t.Fatalf("first model's AUC: %v\n%s", auc, out)
	}
	if eps := run(t, "endpoints", "list", "--data", data); !strings.Contains(eps, "delays@1 (production)") {
		t.Fatalf("endpoint:\n%s", eps)
	}

	// The first run made its model production, so the next run compares
	// the same model with itself: the gate halts the run, nothing is
	// registered or deployed.
	out = run(t, append([]string{"pipelines", "run", "retrain"}, params...)...)
	if !regexp.MustCompile(`gate +1 +halted`).MatchString(out) || !regexp.MustCompile(`deploy +1 +skipped`).MatchString(out) ||
		!regexp.MustCompile(`train +1 +cached`).MatchString(out) {
		t.Fatalf("second run:\n%s", out)
	}
	// Nothing changed since: the plan and the run say so.
	plan := run(t, append([]string{"pipelines", "plan", "retrain"}, params...)...)
	if strings.Count(plan, " hit ") != 4 || strings.Count(plan, "skipped: upstream") != 2 {
		t.Fatalf("plan with nothing new:\n%s", plan)
	}
	out = run(t, append([]string{"pipelines", "run", "retrain"}, params...)...)
	if strings.Count(out, " cached ") != 4 || !strings.Contains(out, "cost: 0.0s wall") {
		t.Fatalf("rerun with nothing new:\n%s", out)
	}

	// A new month changes the labels dataset; the Jan–Feb training set
	// it yields is the same, so training is not repeated.
	run(t, "datasets", "ingest", "flights", filepath.Join(flights, "flights-2013-03.csv.gz"), "--data", data)
	plan = run(t, append([]string{"pipelines", "plan", "retrain"}, params...)...)
	if !strings.Contains(plan, "input labels has new contents (flights@3, was flights@2)") {
		t.Fatalf("plan after a new month:\n%s", plan)
	}
	out = run(t, append([]string{"pipelines", "run", "retrain"}, params...)...)
	if !regexp.MustCompile(`train +1 +cached`).MatchString(out) || !regexp.MustCompile(`trainset +1 +succeeded`).MatchString(out) {
		t.Fatalf("run after a new month:\n%s", out)
	}

	// A rerun of the first run reads what it read (flights@2), not the
	// newest version: every deterministic step repeats from the cache.
	first := regexp.MustCompile(`(?m)^([0-9a-f]{16}) `).FindAllStringSubmatch(run(t, "pipelines", "runs", "retrain", "--data", data), -1)
	out = run(t, "pipelines", "rerun", first[len(first)-1][1], "--data", data)
	if !regexp.MustCompile(`trainset +1 +cached`).MatchString(out) || !regexp.MustCompile(`train +1 +cached`).MatchString(out) {
		t.Fatalf("rerun of the first run:\n%s", out)
	}
	// Three months: a challenger, compared with production, goes out as
	// a canary.
	out = run(t, "pipelines", "run", "retrain", "--param", "train_until=2013-04-01", "--data", data)
	if !strings.Contains(out, "has_reference=1") || !strings.Contains(out, "version: delays@2") {
		t.Fatalf("challenger run:\n%s", out)
	}
	if eps := run(t, "endpoints", "list", "--data", data); !strings.Contains(eps, "canary") || !strings.Contains(eps, "delays@2") {
		t.Fatalf("canary:\n%s", eps)
	}
	runs := run(t, "pipelines", "runs", "retrain", "--data", data)
	if strings.Count(runs, "succeeded") != 6 {
		t.Fatalf("runs:\n%s", runs)
	}
	out = run(t, "pipelines", "run", "baseline", "--data", data)
	if !regexp.MustCompile(`score +1 +succeeded .*scores: baseline_scores@1`).MatchString(out) || !strings.Contains(out, "auc=") {
		t.Fatalf("baseline:\n%s", out)
	}
	holdout := regexp.MustCompile(`delays holdout \((\d+) rows\)`).FindStringSubmatch(out)
	if v := run(t, "datasets", "versions", "baseline_scores", "--data", data); holdout == nil || !strings.Contains(v, holdout[1]) || !strings.Contains(v, "scores-of-run-") {
		t.Fatalf("batch scores as a dataset (%v rows):\n%s", holdout, v)
	}
	out = run(t, "pipelines", "run", "per_origin", "--data", data)
	for _, o := range []string{"EWR", "JFK", "LGA"} {
		if !strings.Contains(out, "version: delays_"+o+"@1") || !regexp.MustCompile(`evaluate\[`+o+`\] +1 +succeeded .*auc=0\.[5-9]`).MatchString(out) {
			t.Fatalf("per-origin model %s:\n%s", o, out)
		}
	}
	if m := run(t, "models", "show", "delays_JFK", "--output", "json", "--data", data); !strings.Contains(m, `"slice":"origin=JFK"`) && !strings.Contains(m, `"slice": "origin=JFK"`) {
		t.Fatalf("the family's slice is not on the model:\n%s", m)
	}
	if exp := run(t, "runs", "list", "--experiment", "retrain", "--data", data); strings.Count(exp, "train trial") < 8 {
		t.Fatalf("tuning trials are not tracked as runs:\n%s", exp)
	}
	// Ingest and materialize as pipeline steps: the same file twice loads
	// once.
	out = run(t, "pipelines", "run", "refresh_weather", "--data", data)
	if !regexp.MustCompile(`load +1 +succeeded .*dataset: weather@2`).MatchString(out) || !strings.Contains(out, "entities=3") {
		t.Fatalf("refresh_weather:\n%s", out)
	}
	out = run(t, "pipelines", "run", "refresh_weather", "--data", data)
	if !regexp.MustCompile(`load +1 +cached`).MatchString(out) || !regexp.MustCompile(`online +1 +succeeded`).MatchString(out) {
		t.Fatalf("refresh_weather again:\n%s", out)
	}
	// By entity: the endpoint looks the features up online, windowed
	// aggregations included (aggregated at materialization).
	if out := run(t, "features", "materialize", "--data", data); !strings.Contains(out, "airline_delays") {
		t.Fatalf("materialize:\n%s", out)
	}
	if out := run(t, "endpoints", "predict", "delays", "--input", "origin=JFK", "--input", "carrier=UA", "--input", "tailnum=N14228",
		"--input", "sched_hour=19", "--input", "distance=1000", "--input", "weekday=3", "--input", "dest=ORD", "--data", data); !strings.Contains(out, "delays version") {
		t.Fatalf("by-entity prediction:\n%s", out)
	}
	// Training–serving skew: what that request was served online against
	// the offline store's features at the same time.
	if out := run(t, "monitor", "skew", "delays", "--output", "json", "--data", data); !strings.Contains(out, `"skewed": []`) || !strings.Contains(out, `"feature": "plane__seats"`) {
		t.Fatalf("skew:\n%s", out)
	}
	// The monitor asks for the same check in every periodic check; its
	// skew rule reads the figures and stays quiet.
	if out := run(t, "monitor", "check", "delays", "--output", "json", "--data", data); !regexp.MustCompile(`"skew": \{\s+"endpoint": "delays"`).MatchString(out) ||
		strings.Contains(out, `"rule": "skew"`) || strings.Contains(out, `"skew: `) {
		t.Fatalf("check with skew:\n%s", out)
	}
	// Embedded inference: the production model, exported and scored in
	// Go without a server, answers as the endpoint does.
	bundlePath := filepath.Join(t.TempDir(), "delays.tar.gz")
	if out := run(t, "export", "delays@production", "-o", bundlePath, "--data", data); !strings.Contains(out, "2 on-demand") {
		t.Fatalf("export:\n%s", out)
	}
	b, err := bundle.Open(bundlePath)
	if err != nil {
		t.Fatal(err)
	}
	inst := map[string]any{"sched_hour": 19.0, "distance": 1000.0, "weather__temp": 30.0, "weather__precip": 0.1}
	p, err := b.Predict(inst)
	if err != nil || len(p) != 1 || p[0] <= 0 || p[0] >= 1 {
		t.Fatalf("bundle predict: %v %v", p, err)
	}
	// The endpoint gets every feature (null for missing), the on-demand
	// ones computed as the bundle did.
	full := map[string]any{}
	for _, f := range b.Model.Signature.Features {
		full[f.Name] = inst[f.Name]
	}
	full["evening"], full["freezing_rain"] = true, true
	raw, _ := json.Marshal([]map[string]any{full})
	served := run(t, "endpoints", "predict", "delays", "--variant", "stable", "--instances", string(raw), "--output", "json", "--data", data)
	var res serve.Response
	if err := json.Unmarshal([]byte(served), &res); err != nil || len(res.Predictions) != 1 || len(res.Predictions[0].Outputs) != 1 ||
		math.Abs(res.Predictions[0].Outputs[0]-p[0]) > 1e-9 {
		t.Fatalf("the bundle says %v, the endpoint (%v):\n%s", p, err, served)
	}
	id := regexp.MustCompile(`(?m)^([0-9a-f]{16}) `).FindStringSubmatch(runs)[1]
	if show := run(t, "pipelines", "show", id, "--data", data); !strings.Contains(show, "--- trainset attempt 1") || !strings.Contains(show, "training set of delays") {
		t.Fatalf("show:\n%s", show)
	}
	if _, err := os.Stat(filepath.Join(data, "work", "pipelines")); err == nil {
		entries, _ := os.ReadDir(filepath.Join(data, "work", "pipelines"))
		for _, e := range entries {
			sub, _ := os.ReadDir(filepath.Join(data, "work", "pipelines", e.Name()))
			if len(sub) > 0 {
				t.Fatalf("scratch folders left behind: %s/%v", e.Name(), sub)
			}
		}
	}
}

// TestPythonCommandStep trains with scikit-learn and XGBoost in a command
// step (Debian's python3-sklearn and python3-xgboost), then evaluates and
// registers the XGBoost model natively.
func TestPythonCommandStep(t *testing.T) {
	python := "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import sklearn, xgboost").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI needs python3-sklearn and python3-xgboost: %v", err)
		}
		t.Skipf("no python3 with sklearn and xgboost (apt-get install python3-sklearn python3-xgboost): %v", err)
	}
	data := t.TempDir()
	flights := filepath.Join("..", "examples", "flights", "data")
	run(t, "apply", "-f", filepath.Join("..", "examples", "flights", "plinth.yaml"), "--data", data)
	for _, f := range []string{"weather", "planes", "flights-2013-01"} {
		name := strings.TrimSuffix(f, "-2013-01")
		run(t, "datasets", "ingest", name, filepath.Join(flights, f+".csv.gz"), "--data", data)
	}
	out := run(t, "pipelines", "run", "python", "--param", "python="+python, "--data", data)
	if !strings.Contains(out, "valid_auc=") || !strings.Contains(out, "version: delays_xgboost@1") {
		t.Fatalf("python pipeline:\n%s", out)
	}
	auc := regexp.MustCompile(`evaluate .* auc=([0-9.]+)`).FindStringSubmatch(out)
	if auc == nil || auc[1] < "0.6" {
		t.Fatalf("the XGBoost model scored natively: %v\n%s", auc, out)
	}
	if v := run(t, "models", "versions", "delays_xgboost", "--data", data); !strings.Contains(v, "xgboost") {
		t.Fatalf("registered format:\n%s", v)
	}
}
