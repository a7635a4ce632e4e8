package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/blob"
	"github.com/plinthml/plinth/blob/s3blob/s3test"
	"github.com/plinthml/plinth/client"
	"github.com/plinthml/plinth/dataset"
	"github.com/plinthml/plinth/deploy"
	"github.com/plinthml/plinth/feature"
	"github.com/plinthml/plinth/model"
	"github.com/plinthml/plinth/online/redis/redistest"
	"github.com/plinthml/plinth/project"
	"github.com/plinthml/plinth/registry"
	"github.com/plinthml/plinth/server"
	"github.com/plinthml/plinth/sqlstore/pgtest"
	"github.com/plinthml/plinth/track"
)

func TestMain(m *testing.M) {
	code := m.Run()
	s3test.Stop()
	redistest.Stop()
	os.Exit(code)
}

// TestNode runs one flow through a node on each configuration a user can
// choose: the embedded defaults, and PostgreSQL, S3 and Redis as a team
// would run it. The same API must behave the same on both.
func TestNode(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func(t *testing.T) server.Config
	}{
		{"embedded", func(t *testing.T) server.Config { return server.Config{DataDir: t.TempDir()} }},
		{"postgres+s3+redis", func(t *testing.T) server.Config {
			return server.Config{
				Metadata: pgtest.URL(t),
				Blobs:    s3test.Gateway(t).URL("node-test/" + strings.ToLower(t.Name()) + "/"),
				Online:   redistest.Start(t).URL("node-test:"),
				WorkDir:  t.TempDir(),
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := server.Open(context.Background(), tc.cfg(t))
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			flow(t, client.Local(n.Handler()))
		})
	}
}

func flow(t *testing.T, c *client.Client) {
	ctx := context.Background()
	if err := c.Ready(ctx); err != nil {
		t.Fatalf("not ready: %v", err)
	}
	if _, err := c.CreateExperiment(ctx, "flow", ""); err != nil {
		t.Fatal(err)
	}
	run, err := c.CreateRun(ctx, client.NewRun{Experiment: "flow", Params: map[string]string{"depth": "6"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.LogBatch(ctx, run.ID, track.Batch{Metrics: []track.Metric{{Key: "auc", Value: 0.91, Step: 1}}}); err != nil {
		t.Fatal(err)
	}
	artifact := strings.Repeat("tree ", 300000) // larger than one S3 part
	if _, err := c.PutArtifact(ctx, run.ID, "model.json", strings.NewReader(artifact)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.EndRun(ctx, run.ID, track.Finished); err != nil {
		t.Fatal(err)
	}
	page, err := c.SearchRuns(ctx, track.SearchRequest{Filter: `metrics.auc > 0.9 and params.depth = "6"`})
	if err != nil || len(page.Runs) != 1 {
		t.Fatalf("search = %+v, %v", page, err)
	}
	v, err := c.CreateVersion(ctx, "m", registry.NewVersion{Format: "other", RunID: run.ID, RunArtifact: "model.json"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetAlias(ctx, "m", "champion", v.Version, "test"); err != nil {
		t.Fatal(err)
	}
	got, err := c.Version(ctx, "m", "champion")
	if err != nil || got.Metrics["auc"] != 0.91 || got.Artifacts[0].Size != int64(len(artifact)) {
		t.Fatalf("champion = %+v, %v", got, err)
	}
	rc, err := c.OpenBlob(ctx, got.Artifacts[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	back, err := io.ReadAll(rc)
	if err != nil || string(back) != artifact {
		t.Fatalf("model read back: %d bytes, %v", len(back), err)
	}

	// The feature store: a validated batch, a registered view and service,
	// a point-in-time training set, materialization and online serving.
	if _, err := c.SetSpec(ctx, dataset.Spec{Name: "weather", EventTime: "ts", Columns: []dataset.Column{{Name: "temp", Type: "float", NotNull: true}}}); err != nil {
		t.Fatal(err)
	}
	res, err := c.Ingest(ctx, "weather", "csv", "", strings.NewReader("origin,temp,ts\nJFK,39,2026-11-01T05:00:00Z\nJFK,41,2026-11-01T06:00:00Z\nLGA,,2026-11-01T06:00:00Z\n"))
	if err != nil || res.Version == nil || res.Version.Rows != 2 || res.Quarantine == nil || res.Quarantine.Rows != 1 {
		t.Fatalf("ingest = %+v, %v", res, err)
	}
	f := &project.File{
		Entities: []feature.Entity{{Name: "airport", JoinKeys: []string{"origin"}}},
		Views:    []feature.View{{Name: "weather", Entities: []string{"airport"}, Source: "weather", Timestamp: "ts", Features: []string{"temp"}}},
		Services: []feature.Service{{Name: "delays", Features: []string{"weather.temp"}}},
	}
	if err := c.ApplyDefinitions(ctx, f.Definitions(), nil); err != nil {
		t.Fatal(err)
	}
	ts, err := c.BuildTrainingSet(ctx, "delays", "at", nil, "csv", strings.NewReader("origin,at\nJFK,2026-11-01T05:30:00Z\nJFK,2026-11-01T07:00:00Z\n"))
	if err != nil || ts.Built.Rows != 2 {
		t.Fatalf("training set = %+v, %v", ts, err)
	}
	if mat, err := c.Materialize(ctx); err != nil || len(mat) != 1 || mat[0].Entities != 1 {
		t.Fatalf("materialize = %+v, %v", mat, err)
	}
	names, rows, err := c.OnlineFeatures(ctx, "delays", []map[string]any{{"origin": "JFK"}, {"origin": "LGA"}})
	if err != nil || rows[0][names[0]].Value != 41.0 || rows[1][names[0]].Status != feature.Missing {
		t.Fatalf("online = %v %+v, %v", names, rows, err)
	}

	// A model trained on the service answers requests by entity key: the
	// serving path fetches its features from the online store.
	m := &model.Model{
		FormatVersion: model.FormatVersion,
		Signature:     model.Signature{Features: []model.Feature{{Name: "weather__temp", Type: model.Float, Nullable: true}}},
		Objective:     model.Objective{Name: model.BinaryLogistic},
		BaseScore:     []float64{0},
		Linear:        &model.Linear{Intercept: []float64{0}, Terms: []model.Term{{Feature: 0, Scale: 1, Weights: []float64{0.1}}}},
	}
	var buf bytes.Buffer
	m.Encode(&buf)
	mb, err := c.PutBlob(ctx, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateVersion(ctx, "delays_model", registry.NewVersion{Format: "plinth", FeatureService: "delays", FeatureServiceVersion: 1,
		Artifacts: []registry.Artifact{{Path: "model.json", Digest: mb.Digest.String()}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Deploy(ctx, "delays", deploy.Spec{Model: "delays_model"}); err != nil {
		t.Fatal(err)
	}
	pred, err := c.Predict(ctx, "delays", []map[string]any{{"origin": "JFK"}, {"origin": "LGA"}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	jfk, lga := pred.Predictions[0].Outputs[0], pred.Predictions[1].Outputs[0]
	if math.Abs(jfk-1/(1+math.Exp(-4.1))) > 1e-12 || lga != 0.5 {
		t.Fatalf("by-entity predictions JFK %v (want sigmoid(0.1*41)), LGA %v (want 0.5: temperature missing)", jfk, lga)
	}
}

// TestMetrics: /metrics reports requests by route and predictions by
// endpoint and version in the Prometheus text format.
func TestMetrics(t *testing.T) {
	n, err := server.Open(context.Background(), server.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	h := n.Handler()
	c := client.Local(h)
	ctx := context.Background()
	c.Experiments(ctx)
	// The in-process client hands over the response before the handler's
	// deferred bookkeeping has run, so the series may show up a moment later.
	wants := []string{`plinth_http_requests_total{code="200",method="GET",route="GET /api/v1/experiments"} 1`, "go_goroutines", "plinth_http_request_duration_seconds_bucket"}
	var body string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		req, _ := http.NewRequest("GET", "/metrics", nil)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		body = rec.Body.String()
		if containsAll(body, wants) || time.Now().After(deadline) {
			break
		}
	}
	for _, want := range wants {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// TestDashboard keeps the Grafana dashboard in step with the metrics: every
// plinth series it queries exists.
func TestDashboard(t *testing.T) {
	raw, err := os.ReadFile("../ops/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Targets []struct{ Expr string } `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil || len(d.Panels) == 0 {
		t.Fatalf("dashboard: %v", err)
	}
	known := map[string]bool{}
	for _, name := range []string{"plinth_predictions_total", "plinth_prediction_errors_total", "plinth_prediction_duration_seconds",
		"plinth_prediction_output", "plinth_http_requests_total", "plinth_http_request_duration_seconds",
		"plinth_monitor_drift_share", "plinth_monitor_auc", "plinth_monitor_alert_firing", "plinth_pipeline_step_duration_seconds",
		"plinth_pipeline_step_attempts_total", "plinth_prediction_log_written_total", "plinth_prediction_log_dropped_total"} {
		known[name] = true
	}
	series := regexp.MustCompile(`plinth_[a-z_]+`)
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			for _, s := range series.FindAllString(tg.Expr, -1) {
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(s, "_bucket"), "_sum"), "_count")
				if !known[base] {
					t.Errorf("dashboard queries %s, which plinth does not export", s)
				}
			}
		}
	}
}

// TestPredictionLog: predictions are logged asynchronously and, when the
// node closes, stored as a dataset the offline engine can query.
func TestPredictionLog(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	n, err := server.Open(ctx, server.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("../model/testdata/xgboost/adult_binary.model.json")
	if err != nil {
		t.Fatal(err)
	}
	info, err := n.Blobs.Put(ctx, f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Registry.CreateVersion(ctx, "income", registry.NewVersion{Format: "xgboost-json", Artifacts: []registry.Artifact{{Path: "m.json", Digest: info.Digest.String()}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Deployer.Deploy(ctx, "income", deploy.Spec{Model: "income@1"}); err != nil {
		t.Fatal(err)
	}
	// Monitoring reads the served version's model from the runtime, not
	// by parsing its file again.
	served, err := n.Runtime.Serving("income")
	if err != nil {
		t.Fatal(err)
	}
	if m, err := n.Monitor.Models.Model(ctx, "income", 1); err != nil || m != served.Predictor.Model() {
		t.Fatalf("monitor's model %p, %v; the served one %p", m, err, served.Predictor.Model())
	}
	for i := 0; i < 3; i++ {
		rctx := plinth.WithRequestID(ctx, fmt.Sprint("req-", i))
		if _, err := n.Runtime.Predict(rctx, "income", []map[string]any{{"age": 30.0 + float64(i)}, {"age": 50.0}}, 0); err != nil {
			t.Fatal(err)
		}
	}
	n.Close() // flushes the log

	n, err = server.Open(ctx, server.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	vs, err := n.Meta.DatasetVersions(ctx, server.PredictionDataset("income"))
	if err != nil || len(vs) != 1 || vs[0].Rows != 6 {
		t.Fatalf("prediction log versions = %+v, %v", vs, err)
	}
	var ids, ages string
	row := n.Offline.DB().QueryRow(`SELECT string_agg(DISTINCT request_id, ',' ORDER BY request_id), string_agg(features.age::VARCHAR, ',' ORDER BY request_id, features.age)
		FROM read_parquet(?)`, n.Blobs.(interface{ Path(blob.Digest) string }).Path(blob.Digest(vs[0].Digest)))
	if err := row.Scan(&ids, &ages); err != nil {
		t.Fatal(err)
	}
	if ids != "req-0,req-1,req-2" || ages != "30.0,50.0,31.0,50.0,32.0,50.0" {
		t.Fatalf("logged request ids %q, ages %q", ids, ages)
	}
	// The version's schema is the file's, as the engine reads it.
	rows, err := n.Offline.DB().Query(`SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(?))`,
		n.Blobs.(interface{ Path(blob.Digest) string }).Path(blob.Digest(vs[0].Digest)))
	if err != nil {
		t.Fatal(err)
	}
	var described []dataset.Field
	for rows.Next() {
		var f dataset.Field
		if err := rows.Scan(&f.Name, &f.Type); err != nil {
			t.Fatal(err)
		}
		described = append(described, f)
	}
	rows.Close()
	if !reflect.DeepEqual(described, vs[0].Schema) {
		t.Fatalf("recorded schema %v, the file's %v", vs[0].Schema, described)
	}
	recs, err := n.LookupPrediction(ctx, "income", "req-1")
	if err != nil || len(recs) != 2 || recs[0].Version != 1 || recs[0].Inputs.Map()["age"] == nil || len(recs[0].Outputs) != 1 || recs[0].Request != nil {
		t.Fatalf("LookupPrediction = %+v, %v", recs, err)
	}
	// The API traces a request by its id; an id the log does not hold is
	// a 404 naming it.
	srv := httptest.NewServer(n.Handler())
	defer srv.Close()
	c, err := client.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	traced, err := c.TracePrediction(ctx, "income", "req-1")
	if err != nil || len(traced) != 2 || traced[0].RequestID != "req-1" || traced[0].Inputs.Map()["age"] != 31.0 || traced[1].Inputs.Map()["age"] != 50.0 {
		t.Fatalf("TracePrediction = %+v, %v", traced, err)
	}
	if _, err := c.TracePrediction(ctx, "income", "req-9"); !plinth.IsCode(err, plinth.ENOTFOUND) || !strings.Contains(err.Error(), `"req-9"`) {
		t.Fatalf("tracing an unknown request: %v", err)
	}
	// A lookup flushes the log only for a request waiting in it: one of an
	// unknown id stores nothing, and a request just answered is found at
	// once.
	if _, err := n.Runtime.Predict(plinth.WithRequestID(ctx, "req-new"), "income", []map[string]any{{"age": 40.0}}, 0); err != nil {
		t.Fatal(err)
	}
	versions := func() int {
		vs, err := n.Meta.DatasetVersions(ctx, server.PredictionDataset("income"))
		if err != nil {
			t.Fatal(err)
		}
		return len(vs)
	}
	before := versions()
	if recs, err := n.LookupPrediction(ctx, "income", "req-none"); err != nil || len(recs) != 0 || versions() != before {
		t.Fatalf("looking up an unknown id: %v, %v; %d versions, were %d", recs, err, versions(), before)
	}
	if recs, err := n.LookupPrediction(ctx, "income", "req-new"); err != nil || len(recs) != 1 || versions() != before+1 {
		t.Fatalf("looking up a request just answered: %v, %v; %d versions, were %d", recs, err, versions(), before)
	}
}
