package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/plinthml/plinth/api"
	"github.com/plinthml/plinth/blob/fsblob"
	"github.com/plinthml/plinth/dataset"
	"github.com/plinthml/plinth/deploy"
	"github.com/plinthml/plinth/duckdb"
	"github.com/plinthml/plinth/feature"
	"github.com/plinthml/plinth/model"
	"github.com/plinthml/plinth/online/pebble"
	"github.com/plinthml/plinth/project"
	"github.com/plinthml/plinth/registry"
	"github.com/plinthml/plinth/serve"
	"github.com/plinthml/plinth/sqlstore"
	"github.com/plinthml/plinth/track"
)

func newServer(t testing.TB) *httptest.Server {
	srv, _ := newAPI(t)
	return srv
}

// newAPI is newServer that also hands back the API server, for tests that
// drive its services directly.
func newAPI(t testing.TB) (*httptest.Server, *api.Server) {
	t.Helper()
	return newAPIWith(t, nil)
}

// newAPIWith is newAPI with configure run on the server (given its
// metadata store) before its handler is built.
func newAPIWith(t testing.TB, configure func(*api.Server, *sqlstore.Store)) (*httptest.Server, *api.Server) {
	t.Helper()
	dir := t.TempDir()
	meta, err := sqlstore.Open(context.Background(), filepath.Join(dir, "plinth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close() })
	blobs, err := fsblob.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	engine, err := duckdb.Open("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Close() })
	tr := &track.Tracker{Store: meta, Blobs: blobs}
	s := &api.Server{
		Tracker: tr, Registry: &registry.Registry{Store: meta, Blobs: blobs, Runs: tr}, Blobs: blobs, Ready: meta.Ping,
		Ingester:    &dataset.Ingester{Store: meta, Blobs: blobs, Checker: engine, WorkDir: dir},
		Definitions: meta,
		Features: &feature.Builder{Catalog: project.Catalog{Store: meta}, Offline: engine,
			Snapshots: &dataset.Snapshots{Store: meta, Blobs: blobs, CacheDir: dir}},
	}
	onlineStore, err := pebble.Open(filepath.Join(dir, "online"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { onlineStore.Close() })
	s.Materializer = &feature.Materializer{Catalog: project.Catalog{Store: meta}, Snapshots: s.Features.Snapshots, Engine: engine, Online: onlineStore, Watermarks: meta}
	s.FeatureServer = &feature.Server{Catalog: project.Catalog{Store: meta}, Online: onlineStore}
	s.Metrics = prometheus.NewRegistry()
	s.Runtime = &serve.Runtime{Registry: s.Registry, Blobs: blobs, Metrics: serve.NewMetrics(s.Metrics)}
	s.Deployer = &deploy.Deployer{Store: meta, Registry: s.Registry, Runtime: s.Runtime}
	s.Registry.InUse = append(s.Registry.InUse, s.Deployer.InUse)
	if configure != nil {
		configure(s, meta)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv, s
}

type response struct {
	status int
	body   map[string]any
	raw    string
}

func call(t testing.TB, srv *httptest.Server, method, path, body string) response {
	t.Helper()
	r, _ := callWith(t, srv, method, path, body, nil)
	return r
}

// callWith is call with request headers; it also returns the response's.
func callWith(t testing.TB, srv *httptest.Server, method, path, body string, header http.Header) (response, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, raw: string(raw)}
	json.Unmarshal(raw, &r.body)
	return r, resp.Header
}

func (r response) errField(key string) string {
	e, _ := r.body["error"].(map[string]any)
	s, _ := e[key].(string)
	return s
}

func TestErrors(t *testing.T) {
	srv := newServer(t)
	call(t, srv, "POST", "/api/v1/experiments", `{"name": "exp"}`)
	run := call(t, srv, "POST", "/api/v1/runs", `{"experiment": "exp"}`)
	runID, _ := run.body["id"].(string)
	if run.status != 201 || runID == "" {
		t.Fatalf("create run: %d %s", run.status, run.raw)
	}
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		code, field, message     string
	}{
		{"malformed JSON", "POST", "/api/v1/experiments", `{"name": `, 400, "invalid", "", "ends in the middle"},
		{"syntax error", "POST", "/api/v1/experiments", `{"name" "x"}`, 400, "invalid", "", "malformed JSON at offset"},
		{"unknown field", "POST", "/api/v1/experiments", `{"name": "x", "colour": "red"}`, 400, "invalid", "colour", "unknown field"},
		{"wrong type", "POST", "/api/v1/experiments", `{"name": 7}`, 400, "invalid", "name", "want a string"},
		{"empty body", "POST", "/api/v1/experiments", ``, 400, "invalid", "", "empty"},
		{"trailing data", "POST", "/api/v1/experiments", `{"name": "y"} {}`, 400, "invalid", "", "after the JSON value"},
		{"not an object", "POST", "/api/v1/experiments", `[1, 2]`, 400, "invalid", "", "want an object, have array"},
		{"empty name", "POST", "/api/v1/experiments", `{"name": ""}`, 400, "invalid", "name", "must not be empty"},
		{"duplicate", "POST", "/api/v1/experiments", `{"name": "exp"}`, 409, "conflict", "", "already exists"},
		{"missing run", "GET", "/api/v1/runs/ffffffffffffffff", ``, 404, "not_found", "", "not found"},
		{"missing experiment", "POST", "/api/v1/runs", `{"experiment": "nope"}`, 404, "not_found", "", "not found"},
		{"bad metric", "POST", "/api/v1/runs/" + runID + "/batch", `{"metrics": [{"key": "a", "value": 1}, {"key": "b", "value": "high"}]}`, 400, "invalid", "metrics.value", "want a number"},
		{"negative step", "POST", "/api/v1/runs/" + runID + "/batch", `{"metrics": [{"key": "a", "value": 1, "step": -1}]}`, 400, "invalid", "metrics[0].step", "negative"},
		{"bad time", "POST", "/api/v1/runs/" + runID + "/batch", `{"metrics": [{"key": "a", "value": 1, "timestamp": "yesterday"}]}`, 400, "invalid", "", "parsing time"},
		{"bad filter", "POST", "/api/v1/runs/search", `{"filter": "metrics.auc >> 1"}`, 400, "invalid", "filter", "want a number or a quoted string"},
		{"bad status", "PATCH", "/api/v1/runs/" + runID, `{"status": "paused"}`, 400, "invalid", "status", "not one of"},
		{"bad artifact path", "PUT", "/api/v1/runs/" + runID + "/artifacts/a/%01b", `x`, 400, "invalid", "path", "control character"},
		{"bad digest", "GET", "/api/v1/blobs/sha256:zz", ``, 400, "invalid", "", "digest"},
		{"missing blob", "GET", "/api/v1/blobs/sha256:" + strings.Repeat("a", 64), ``, 404, "not_found", "", "not found"},
		{"missing model", "GET", "/api/v1/models/nope", ``, 404, "not_found", "", "not found"},
		{"bad version", "DELETE", "/api/v1/models/nope/versions/x", ``, 400, "invalid", "version", "version number"},
		{"compare one", "POST", "/api/v1/runs/compare", `{"run_ids": ["a"]}`, 400, "invalid", "run_ids", "2 to 100"},
		{"unknown path", "GET", "/api/v1/nothing", ``, 404, "not_found", "", "no endpoint"},
		{"wrong method", "DELETE", "/api/v1/experiments", ``, 404, "not_found", "", "no endpoint"},
		{"spec unknown field", "PUT", "/api/v1/datasets/d/spec", `{"columns": [{"name": "x", "kind": "int"}]}`, 400, "invalid", "kind", "unknown field"},
		{"spec bad type", "PUT", "/api/v1/datasets/d/spec", `{"columns": [{"name": "x", "type": "complex"}]}`, 400, "invalid", "columns[0].type", "not one of"},
		{"spec bad duration", "PUT", "/api/v1/datasets/d/spec", `{"event_time": "t", "max_age": "a week"}`, 400, "invalid", "", "not a duration"},
		{"spec name mismatch", "PUT", "/api/v1/datasets/d/spec", `{"name": "e"}`, 400, "invalid", "name", "the path"},
		{"batch without spec", "POST", "/api/v1/datasets/nospec/batches", `a,b`, 404, "not_found", "", "no spec"},
		{"batch source with a newline", "POST", "/api/v1/datasets/nospec/batches?source=a%0Ab", `a,b`, 400, "invalid", "source", "printable"},
		{"batch source too long", "POST", "/api/v1/datasets/nospec/batches?source=" + strings.Repeat("x", 513), `a,b`, 400, "invalid", "source", "at most 512 bytes"},
		{"missing quarantine", "GET", "/api/v1/datasets/d/quarantines/nope", ``, 404, "not_found", "", "not found"},
		{"apply bad kind", "POST", "/api/v1/definitions/apply", `{"set": [{"kind": "table", "name": "t", "spec": {}}]}`, 400, "invalid", "kind", "not one of"},
		{"apply dangling view", "POST", "/api/v1/definitions/apply", `{"set": [{"kind": "feature_view", "name": "v", "spec": {"name": "v", "entities": ["e"], "source": "x.csv", "timestamp": "t", "features": ["f"]}}]}`, 400, "invalid", "views.v.entities", "unknown entity"},
		{"online without entities", "POST", "/api/v1/features/online", `{"service": "s", "entities": []}`, 400, "invalid", "entities", "want 1 to"},
		{"online unknown service", "POST", "/api/v1/features/online", `{"service": "s", "entities": [{"a": 1}]}`, 404, "not_found", "", "not found"},
		{"materialize unknown view", "POST", "/api/v1/materialize", `{"views": ["nope"]}`, 404, "not_found", "", "not found"},
		{"training set without service", "POST", "/api/v1/training-sets?timestamp=ts", `a`, 400, "invalid", "service", "required"},
		{"training set unknown service", "POST", "/api/v1/training-sets?service=s&timestamp=ts", `a`, 404, "not_found", "", "not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, srv, tc.method, tc.path, tc.body)
			if r.status != tc.status || r.errField("code") != tc.code || r.errField("field") != tc.field || !strings.Contains(r.errField("message"), tc.message) {
				t.Fatalf("%s %s -> %d %s\nwant %d code %q field %q message containing %q", tc.method, tc.path, r.status, r.raw, tc.status, tc.code, tc.field, tc.message)
			}
		})
	}
}

func TestHealthAndReadiness(t *testing.T) {
	srv := newServer(t)
	for _, p := range []string{"/healthz", "/readyz"} {
		if r := call(t, srv, "GET", p, ""); r.status != 200 {
			t.Fatalf("%s = %d %s", p, r.status, r.raw)
		}
	}
	r := call(t, srv, "GET", "/openapi.json", "")
	if r.status != 200 || r.body["openapi"] != "3.1.0" {
		t.Fatalf("/openapi.json = %d", r.status)
	}
}

// TestOpenAPIMatchesRoutes keeps the document honest: every endpoint the
// server has is documented, and every documented one exists.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(api.OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	served := api.Routes()
	for i, r := range served {
		served[i] = strings.ReplaceAll(r, "...}", "}")
	}
	sort.Strings(documented)
	sort.Strings(served)
	if strings.Join(documented, "\n") != strings.Join(served, "\n") {
		t.Fatalf("openapi.json and the routes differ:\ndocumented:\n%s\n\nserved:\n%s", strings.Join(documented, "\n"), strings.Join(served, "\n"))
	}
}

func TestArtifactStreamsAndVerifies(t *testing.T) {
	srv := newServer(t)
	call(t, srv, "POST", "/api/v1/experiments", `{"name": "exp"}`)
	run := call(t, srv, "POST", "/api/v1/runs", `{"experiment": "exp"}`)
	id := run.body["id"].(string)
	payload := bytes.Repeat([]byte("weights "), 1<<17)
	req, _ := http.NewRequest("PUT", srv.URL+"/api/v1/runs/"+id+"/artifacts/model/weights.bin", bytes.NewReader(payload))
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("upload status %d", resp.StatusCode)
	}
	got, err := srv.Client().Get(srv.URL + "/api/v1/runs/" + id + "/artifacts/model/weights.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer got.Body.Close()
	body, _ := io.ReadAll(got.Body)
	if !bytes.Equal(body, payload) || !strings.HasPrefix(got.Header.Get("Digest"), "sha256:") {
		t.Fatalf("download: %d bytes, digest header %q", len(body), got.Header.Get("Digest"))
	}
}

// TestPushServesAtOnce: pushed events pass the dataset's expectations, are
// appended offline, and the online store answers with them right away;
// bad events are quarantined.
func TestPushServesAtOnce(t *testing.T) {
	srv := newServer(t)
	must := func(r response, status int) response {
		t.Helper()
		if r.status != status {
			t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
		}
		return r
	}
	must(call(t, srv, "PUT", "/api/v1/datasets/trips/spec", `{"event_time": "ts", "columns": [{"name": "fare", "type": "float", "min": 0}, {"name": "ts", "type": "timestamp", "not_null": true}]}`), 200)
	must(call(t, srv, "POST", "/api/v1/definitions/apply", `{"set": [
		{"kind": "entity", "name": "driver", "spec": {"name": "driver", "join_keys": ["driver_id"]}},
		{"kind": "feature_view", "name": "fares", "spec": {"name": "fares", "entities": ["driver"], "source": "trips", "timestamp": "ts", "ingested": "_ingested_at", "features": ["fare"]}},
		{"kind": "feature_service", "name": "pricing", "spec": {"name": "pricing", "features": ["fares.fare"]}}]}`), 200)
	now := time.Now().UTC().Format(time.RFC3339)
	r := must(call(t, srv, "POST", "/api/v1/datasets/trips/push", `{"rows": [
		{"driver_id": "d1", "fare": 12.5, "ts": "`+now+`"},
		{"driver_id": "d2", "fare": -3, "ts": "`+now+`"}]}`), 201)
	if q, _ := r.body["quarantine"].(map[string]any); q == nil || q["rows"] != 1.0 {
		t.Fatalf("the negative fare was not quarantined: %s", r.raw)
	}
	got := must(call(t, srv, "POST", "/api/v1/features/online", `{"service": "pricing", "entities": [{"driver_id": "d1"}, {"driver_id": "d2"}]}`), 200)
	rows := got.body["rows"].([]any)
	d1 := rows[0].(map[string]any)["fares__fare"].(map[string]any)
	d2 := rows[1].(map[string]any)["fares__fare"].(map[string]any)
	if d1["value"] != 12.5 || d1["status"] != "present" || d2["status"] != "missing" {
		t.Fatalf("online after push: %s", got.raw)
	}
	must(call(t, srv, "POST", "/api/v1/datasets/trips/push", `{"rows": []}`), 400)
}

// TestServing deploys an imported XGBoost model, predicts through the API
// and the Open Inference Protocol v2 with XGBoost's own numbers, refuses
// bad input and the deletion of a served version, and rolls back.
func TestServing(t *testing.T) {
	srv, apiServer := newAPI(t)
	raw, err := os.ReadFile("../model/testdata/xgboost/adult_binary.model.json")
	if err != nil {
		t.Fatal(err)
	}
	var expected struct {
		Names      []string    `json:"feature_names"`
		Rows       [][]any     `json:"rows"`
		Prediction [][]float64 `json:"prediction"`
	}
	exp, _ := os.ReadFile("../model/testdata/xgboost/adult_binary.expected.json")
	json.Unmarshal(exp, &expected)
	put := call(t, srv, "PUT", "/api/v1/blobs", string(raw))
	digest := put.body["digest"].(string)
	for i := 0; i < 2; i++ {
		r := call(t, srv, "POST", "/api/v1/models/income/versions", `{"format": "xgboost-json", "artifacts": [{"path": "model.json", "digest": "`+digest+`"}]}`)
		if r.status != 201 {
			t.Fatalf("register: %s", r.raw)
		}
	}
	call(t, srv, "PUT", "/api/v1/models/income/aliases/champion", `{"version": 1}`)
	stableVersion := func(r response) any { st, _ := r.body["stable"].(map[string]any); return st["version"] }
	if r := call(t, srv, "POST", "/api/v1/endpoints/income/deploy", `{"model": "income@champion", "reason": "first deploy"}`); r.status != 200 || stableVersion(r) != 1.0 {
		t.Fatalf("deploy: %d %s", r.status, r.raw)
	}

	// Predictions equal XGBoost's own.
	var instances []map[string]any
	for _, row := range expected.Rows[:20] {
		inst := map[string]any{}
		for j, name := range expected.Names {
			inst[name] = row[j]
		}
		instances = append(instances, inst)
	}
	body, _ := json.Marshal(map[string]any{"instances": instances, "explain": 3})
	armed := api.TimersArmed()
	r := call(t, srv, "POST", "/api/v1/endpoints/income/predict", string(body))
	if n := api.TimersArmed() - armed; n != 0 {
		t.Errorf("a prediction armed %d deadline timers, want none: the serving path should only check its deadline", n)
	}
	if r.status != 200 || r.body["version"] != 1.0 || r.body["request_id"] == "" {
		t.Fatalf("predict: %d %s", r.status, r.raw)
	}
	preds := r.body["predictions"].([]any)
	for i, p := range preds {
		got := p.(map[string]any)["outputs"].([]any)[0].(float64)
		if math.Abs(got-expected.Prediction[i][0]) > 1e-6 {
			t.Fatalf("instance %d: %v, XGBoost says %v", i, got, expected.Prediction[i][0])
		}
		if len(p.(map[string]any)["explanation"].([]any)) != 3 {
			t.Fatalf("instance %d: explanation %v", i, p)
		}
	}

	// The same through the Open Inference Protocol: one [N, 14] tensor.
	var data []any
	for _, row := range expected.Rows[:3] {
		data = append(data, row...) // JSON null is a missing value
	}
	v2body, _ := json.Marshal(map[string]any{"inputs": []map[string]any{{"name": "input-0", "shape": []int{3, 14}, "datatype": "FP64", "data": data}}})
	r = call(t, srv, "POST", "/v2/models/income/infer", string(v2body))
	if r.status != 200 || r.body["model_version"] != "1" {
		t.Fatalf("v2 infer: %d %s", r.status, r.raw)
	}
	out := r.body["outputs"].([]any)[0].(map[string]any)
	if shape := out["shape"].([]any); shape[0] != 3.0 || shape[1] != 1.0 || math.Abs(out["data"].([]any)[2].(float64)-expected.Prediction[2][0]) > 1e-6 {
		t.Fatalf("v2 output: %v", out)
	}
	for path, want := range map[string]int{"/v2/health/live": 200, "/v2/health/ready": 200, "/v2/models/income": 200, "/v2/models/income/ready": 200,
		"/v2/models/income/versions/1/ready": 200, "/v2/models/income/versions/2": 404, "/v2/models/nope": 404} {
		if got := call(t, srv, "GET", path, ""); got.status != want {
			t.Errorf("GET %s = %d %s, want %d", path, got.status, got.raw, want)
		} else if want == 404 && got.body["error"] == nil {
			t.Errorf("GET %s: v2 error body %s lacks \"error\"", path, got.raw)
		}
	}
	if got := call(t, srv, "POST", "/v2/models/income/infer", `{"inputs": [{"name": "age", "shape": [2], "datatype": "FP64", "data": [1]}]}`); got.status != 400 || got.body["error"] == nil {
		t.Errorf("v2 bad shape: %d %s", got.status, got.raw)
	}

	// Bad input names the instance and the feature.
	if got := call(t, srv, "POST", "/api/v1/endpoints/income/predict", `{"instances": [{"age": 30}, {"age": "old"}]}`); got.status != 400 || got.errField("field") != "instances[1].age" {
		t.Fatalf("bad instance: %d %s", got.status, got.raw)
	}
	if got := call(t, srv, "POST", "/api/v1/endpoints/income/predict", `{"instances": [{"height": 1}]}`); got.status != 400 || !strings.Contains(got.errField("field"), "height") {
		t.Fatalf("unknown feature: %d %s", got.status, got.raw)
	}
	// A served version cannot be deleted, even with no alias on it.
	call(t, srv, "DELETE", "/api/v1/models/income/aliases/champion", "")
	if got := call(t, srv, "DELETE", "/api/v1/models/income/versions/1", ""); got.status != 409 || !strings.Contains(got.errField("message"), "endpoint income") {
		t.Fatalf("delete served version: %d %s", got.status, got.raw)
	}
	// Deploy v2, then roll back to v1 in one step.
	call(t, srv, "POST", "/api/v1/endpoints/income/deploy", `{"model": "income@2", "reason": "try v2"}`)
	if got := call(t, srv, "POST", "/api/v1/endpoints/income/predict", string(body)); got.body["version"] != 2.0 {
		t.Fatalf("after deploying v2: %s", got.raw)
	}
	if got := call(t, srv, "POST", "/api/v1/endpoints/income/rollback", `{}`); got.status != 200 || stableVersion(got) != 1.0 || got.body["action"] != "rollback" {
		t.Fatalf("rollback: %d %s", got.status, got.raw)
	}
	hist := call(t, srv, "GET", "/api/v1/endpoints/income/history", "")
	if revs := hist.body["revisions"].([]any); len(revs) != 3 || revs[2].(map[string]any)["reason"] != "first deploy" {
		t.Fatalf("history: %s", hist.raw)
	}
	if got := call(t, srv, "POST", "/api/v1/endpoints/nope/predict", string(body)); got.status != 404 {
		t.Fatalf("unknown endpoint: %d", got.status)
	}
	// Predictions show in /metrics by endpoint, version and variant.
	if m := call(t, srv, "GET", "/metrics", ""); !strings.Contains(m.raw, `plinth_predictions_total{endpoint="income",model="income",variant="stable",version="2"}`) ||
		!strings.Contains(m.raw, `plinth_prediction_errors_total{endpoint="income"} 2`) {
		t.Fatalf("/metrics:\n%s", m.raw)
	}

	// An endpoint that serves an alias follows it when it moves.
	call(t, srv, "PUT", "/api/v1/models/income/aliases/champion", `{"version": 1}`)
	call(t, srv, "POST", "/api/v1/endpoints/income/deploy", `{"model": "income@champion"}`)
	call(t, srv, "PUT", "/api/v1/models/income/aliases/champion", `{"version": 2}`)
	changed, err := apiServer.Deployer.Follow(context.Background())
	if err != nil || len(changed) != 1 || changed[0].Stable.Version != 2 || changed[0].UpdatedBy != "plinth" {
		t.Fatalf("follow = %+v, %v", changed, err)
	}
	if got := call(t, srv, "POST", "/api/v1/endpoints/income/predict", string(body)); got.body["version"] != 2.0 {
		t.Fatalf("after the alias moved: %s", got.raw)
	}
	if again, _ := apiServer.Deployer.Follow(context.Background()); len(again) != 0 {
		t.Fatalf("a second follow changed %+v", again)
	}

	// A canary: both versions answer, each about half the requests.
	one := `{"instances": [{"age": 39}]}`
	if got := call(t, srv, "POST", "/api/v1/endpoints/income/deploy", `{"model": "income@1", "strategy": "canary", "candidate": "income@2", "weight": 0.5}`); got.status != 200 {
		t.Fatalf("canary: %s", got.raw)
	}
	seen := map[any]int{}
	for i := 0; i < 200; i++ {
		seen[call(t, srv, "POST", "/api/v1/endpoints/income/predict", one).body["variant"]]++
	}
	if seen["stable"] < 60 || seen["candidate"] < 60 {
		t.Fatalf("canary split %v", seen)
	}
	// Without a prediction log there is nothing to trace, and the answer
	// says so.
	if got := call(t, srv, "GET", "/api/v1/endpoints/income/predictions/r-1", ""); got.status != 503 || !strings.Contains(got.raw, "no prediction log") {
		t.Fatalf("trace without a log: %d %s", got.status, got.raw)
	}
	// Each answer counts under the variant and version that gave it.
	if m := call(t, srv, "GET", "/metrics", ""); !strings.Contains(m.raw, fmt.Sprintf(`plinth_predictions_total{endpoint="income",model="income",variant="candidate",version="2"} %d`+"\n", seen["candidate"])) {
		t.Fatalf("%d candidate answers; /metrics:\n%s", seen["candidate"], m.raw)
	}
	// A/B: the same key always gets the same version.
	call(t, srv, "POST", "/api/v1/endpoints/income/deploy", `{"model": "income@1", "strategy": "ab", "candidate": "income@2", "weight": 0.5, "sticky_key": "user"}`)
	variants := map[string]map[any]bool{}
	for i := 0; i < 100; i++ {
		user := fmt.Sprint("u", i%10)
		v := call(t, srv, "POST", "/api/v1/endpoints/income/predict", `{"instances": [{"user": "`+user+`", "age": 39}]}`)
		if v.status != 200 {
			t.Fatalf("ab predict: %s", v.raw)
		}
		if variants[user] == nil {
			variants[user] = map[any]bool{}
		}
		variants[user][v.body["variant"]] = true
	}
	for user, vs := range variants {
		if len(vs) != 1 {
			t.Fatalf("user %s got both versions: %v", user, vs)
		}
	}
	// A shadow: the stable version answers, the candidate is compared.
	call(t, srv, "POST", "/api/v1/endpoints/income/deploy", `{"model": "income@1", "strategy": "shadow", "candidate": "income@2"}`)
	for i := 0; i < 20; i++ {
		if v := call(t, srv, "POST", "/api/v1/endpoints/income/predict", string(body)); v.body["variant"] != "stable" || v.body["version"] != 1.0 {
			t.Fatalf("shadow answered: %s", v.raw)
		}
	}
	var st response
	for i := 0; i < 100; i++ {
		if st = call(t, srv, "GET", "/api/v1/endpoints/income/shadow", ""); st.body["compared"] == 400.0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Versions 1 and 2 are the same file: the shadow agrees exactly.
	if st.body["compared"] != 400.0 || st.body["max_abs_diff"] != 0.0 || st.body["shadow_version"] != 2.0 {
		t.Fatalf("shadow stats: %s", st.raw)
	}
	if got := call(t, srv, "POST", "/api/v1/endpoints/income/promote", `{"reason": "shadow agrees"}`); got.status != 200 || stableVersion(got) != 2.0 || got.body["strategy"] != "single" {
		t.Fatalf("promote: %s", got.raw)
	}
	// Canary gates: a broken candidate (constant predictions) is rolled
	// back automatically with the reason; a sound one is promoted.
	constant := &model.Model{FormatVersion: model.FormatVersion, Objective: model.Objective{Name: model.BinaryLogistic}, BaseScore: []float64{0},
		Linear: &model.Linear{Intercept: []float64{0}}}
	for j, name := range expected.Names {
		constant.Signature.Features = append(constant.Signature.Features, model.Feature{Name: name, Type: model.Float, Nullable: true})
		constant.Linear.Terms = append(constant.Linear.Terms, model.Term{Feature: j, Scale: 1, Weights: []float64{0}})
	}
	var cb strings.Builder
	constant.Encode(&cb)
	cput := call(t, srv, "PUT", "/api/v1/blobs", cb.String())
	if r := call(t, srv, "POST", "/api/v1/models/income/versions", `{"format": "plinth", "artifacts": [{"path": "m.json", "digest": "`+cput.body["digest"].(string)+`"}]}`); r.status != 201 || r.body["version"] != 3.0 {
		t.Fatalf("register the broken version: %s", r.raw)
	}
	// Varied rows show up a constant candidate. Versions 1 and 2 are the
	// same model, but the canary splits traffic at random, so varied rows
	// could give the two variants different mean predictions by chance:
	// the sound candidate gets one row, repeated.
	traffic := func(vary bool) {
		for i := 0; i < 120; i++ {
			age, edu := 20+i%50, 5+i%10
			if !vary {
				age, edu = 40, 12
			}
			if r := call(t, srv, "POST", "/api/v1/endpoints/income/predict", fmt.Sprintf(`{"instances": [{"age": %d, "education_num": %d}]}`, age, edu)); r.status != 200 {
				t.Fatalf("predict under canary: %s", r.raw)
			}
		}
	}
	if r := call(t, srv, "POST", "/api/v1/endpoints/income/deploy", `{"model": "income@2", "strategy": "canary", "candidate": "income@3", "weight": 0.5, "gate": {"min_requests": 20, "window": "1h"}}`); r.status != 200 {
		t.Fatalf("canary with a gate: %s", r.raw)
	}
	traffic(true)
	judged, err := apiServer.Deployer.Judge(context.Background(), time.Now())
	if err != nil || len(judged) != 1 || judged[0].Action != "rollback" || !strings.Contains(judged[0].Reason, "constant") || judged[0].Candidate != nil {
		t.Fatalf("gate on a broken candidate = %+v, %v", judged, err)
	}
	if r := call(t, srv, "POST", "/api/v1/endpoints/income/deploy", `{"model": "income@2", "strategy": "canary", "candidate": "income@1", "weight": 0.5, "gate": {"min_requests": 20, "window": "1ms"}}`); r.status != 200 {
		t.Fatalf("canary with a gate: %s", r.raw)
	}
	traffic(false)
	judged, err = apiServer.Deployer.Judge(context.Background(), time.Now())
	if err != nil || len(judged) != 1 || judged[0].Action != "promote" || judged[0].Stable.Version != 1 || judged[0].UpdatedBy != "plinth" {
		t.Fatalf("gate on a sound candidate = %+v, %v", judged, err)
	}
	if st := call(t, srv, "GET", "/api/v1/endpoints/income/stats", ""); st.status != 200 || st.body["strategy"] != "single" {
		t.Fatalf("stats: %s", st.raw)
	}

	for _, bad := range []string{
		`{"model": "income@1", "strategy": "single", "gate": {"min_requests": 5}}`,
		`{"model": "income@1", "strategy": "canary", "candidate": "income@2", "weight": 0.5, "gate": {"max_latency_ratio": 0.5}}`,
		`{"model": "income@1", "strategy": "canary", "candidate": "income@2", "weight": 1.5}`,
		`{"model": "income@1", "strategy": "ab", "candidate": "income@2", "weight": 0.5}`,
		`{"model": "income@1", "strategy": "blue"}`,
		`{"model": "income@1", "candidate": "income@2"}`,
	} {
		if got := call(t, srv, "POST", "/api/v1/endpoints/income/deploy", bad); got.status != 400 {
			t.Errorf("deploy %s: %d %s", bad, got.status, got.raw)
		}
	}
}

// Requests are counted by route, method and status whether they take the
// cached series of a route's 200s or not.
func TestRequestMetrics(t *testing.T) {
	srv, s := newAPI(t)
	call(t, srv, "GET", "/healthz", "")
	call(t, srv, "GET", "/healthz", "")
	call(t, srv, "HEAD", "/healthz", "")
	call(t, srv, "GET", "/api/v1/experiments/nope", "")
	call(t, srv, "DELETE", "/nowhere", "")
	families, err := s.Metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "plinth_http_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			got[l["route"]+" "+l["method"]+" "+l["code"]] = m.GetCounter().GetValue()
		}
	}
	want := map[string]float64{
		"GET /healthz GET 200":                         2,
		"GET /healthz HEAD 200":                        1,
		"GET /api/v1/experiments/{experiment} GET 404": 1,
		"unmatched DELETE 404":                         1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %v requests counted, want %v (all: %v)", k, got[k], v, got)
		}
	}
}
