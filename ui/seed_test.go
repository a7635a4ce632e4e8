package ui_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/deploy"
	"github.com/plinthml/plinth/model"
	"github.com/plinthml/plinth/monitor"
	"github.com/plinthml/plinth/pipeline"
	"github.com/plinthml/plinth/project"
	"github.com/plinthml/plinth/registry"
	"github.com/plinthml/plinth/serve"
	"github.com/plinthml/plinth/server"
	"github.com/plinthml/plinth/track"
	"github.com/plinthml/plinth/train"
	"github.com/plinthml/plinth/ui"
)

// fixture is a real node, seeded through its domain services with a small
// but complete story: a dataset with a quarantined batch, a feature view
// over it, three tracked runs, two model versions trained with the built-in
// GBT with their reference profiles, an endpoint serving one as stable and
// the other as a canary, eight hours of its traffic drifting away from the
// training data (hour and distance) with labels that show the AUC falling,
// a monitor with alerts, and a pipeline run with a cache hit, a success and
// a failure.
type fixture struct {
	node    *server.Node
	handler http.Handler
	runs    map[string]string // run name -> id
	pipeRun string
	// hour is the start of the hour the traffic was sent in; the eight
	// hours before it hold the dated traffic.
	hour time.Time
}

const projectYAML = `
datasets:
  - name: flights
    event_time: sched_dep
    columns:
      - {name: flight_id, type: string, not_null: true, unique: true}
      - {name: sched_dep, type: timestamp, not_null: true}
      - {name: origin, type: string, not_null: true, in: [EWR, JFK, LGA]}
      - {name: distance, type: float, min: 0}
      - {name: delayed, type: int, not_null: true}
  - name: delays_labels
    columns:
      - {name: request_id, type: string, not_null: true}
      - {name: delayed, type: int, not_null: true}
entities:
  - {name: airport, join_keys: [origin]}
feature_views:
  - name: route_stats
    entities: [airport]
    source: flights
    timestamp: sched_dep
    features: [distance]
    ttl: 24h
feature_services:
  - name: delays_features
    features: [route_stats]
pipelines:
  - name: retrain
    on_dataset: [flights]
    steps:
      - name: trainset
        kind: training_set
        inputs: {labels: "dataset:flights"}
        with: {service: delays_features, timestamp: sched_dep, holdout: 0.2}
      - name: train
        kind: train
        inputs: {train: trainset.train}
        with: {label: delayed}
      - name: evaluate
        kind: evaluate
        inputs: {model: train.model, data: trainset.holdout}
        with: {label: delayed}
monitors:
  - endpoint: delays
    lookback: 168h
    labels: {dataset: delays_labels, key: request_id, label: delayed, every: 2h}
    skew: {sample: 50}
    alerts:
      - {name: drift, when: "drift_share >= 0.3", severity: warning}
      - {name: auc_drop, when: "auc < 0.6", for: 1h, severity: critical}
    retrain: {pipeline: retrain}
`

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	n, err := server.Open(ctx, server.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	f := &fixture{node: n, runs: map[string]string{}}
	f.seedProject(t)
	f.seedData(t)
	f.seedRuns(t)
	f.seedModels(t)
	f.seedTraffic(t)
	f.seedPipelineRun(t)
	d := Deps(n)
	d.Logger = slog.New(slog.NewTextHandler(testLog{t}, nil))
	f.handler = ui.Handler(d)
	return f
}

// Deps wires the UI to a node the way the server does.
func Deps(n *server.Node) ui.Deps {
	return ui.Deps{
		Tracker: n.Tracker, Registry: n.Registry, Deployer: n.Deployer, Runtime: n.Runtime,
		Pipelines: n.Pipelines, PipelineDefs: n.API.PipelineDefs, Features: project.Catalog{Store: n.Meta},
		Datasets: n.Meta, Definitions: n.Meta, Watermarks: n.Meta, Blobs: n.Blobs,
		Monitors: project.Catalog{Store: n.Meta}, Alerts: n.Meta,
		Checker: n.Checker, LookupPrediction: n.LookupPrediction,
	}
}

// testLog sends the UI's log to the test's, so a template error shows up
// next to the failure it causes.
type testLog struct{ t testing.TB }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) seedProject(t testing.TB) {
	file, err := project.Parse([]byte(projectYAML))
	must(t, err)
	must(t, f.node.Meta.ApplyDefinitions(context.Background(), file.Definitions(), nil, "test"))
}

func (f *fixture) seedData(t testing.TB) {
	ctx := context.Background()
	spec, err := f.node.Meta.Spec(ctx, "flights")
	must(t, err)
	dir := t.TempDir()
	var good strings.Builder
	good.WriteString("flight_id,sched_dep,origin,distance,delayed\n")
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&good, "f%d,2026-01-%02dT10:00:00Z,%s,%d,%d\n", i, 1+i%28, []string{"EWR", "JFK", "LGA"}[i%3], 200+10*i, i%2)
	}
	path := filepath.Join(dir, "good.csv")
	must(t, os.WriteFile(path, []byte(good.String()), 0o644))
	if _, _, err := f.node.Ingester.Ingest(ctx, *spec, path); err != nil {
		t.Fatal(err)
	}
	// A batch with a negative distance and an unknown airport: those rows
	// are quarantined with their reasons.
	bad := "flight_id,sched_dep,origin,distance,delayed\nb1,2026-02-01T10:00:00Z,EWR,-5,0\nb2,2026-02-01T11:00:00Z,XXX,100,1\nb3,2026-02-01T12:00:00Z,JFK,300,0\n"
	path = filepath.Join(dir, "bad.csv")
	must(t, os.WriteFile(path, []byte(bad), 0o644))
	_, q, err := f.node.Ingester.Ingest(ctx, *spec, path)
	must(t, err)
	if q == nil {
		t.Fatal("the bad batch was not quarantined")
	}
}

func (f *fixture) seedRuns(t testing.TB) {
	ctx := context.Background()
	tr := f.node.Tracker
	must(t, tr.CreateExperiment(ctx, &track.Experiment{Name: "delays", Description: "Will a flight be late?"}))
	start := time.Now().Add(-time.Hour)
	for i, r := range []struct {
		name, depth string
		auc         float64
		status      track.Status
	}{
		{"baseline", "3", 0.78, track.Finished},
		{"deep", "6", 0.86, track.Finished},
		{"broken", "12", 0.51, track.Failed},
	} {
		run := &track.Run{ExperimentID: "delays", Name: r.name, StartTime: start.Add(time.Duration(i) * time.Minute),
			Params: map[string]string{"max_depth": r.depth, "learning_rate": "0.1", "rounds": "50"},
			Tags:   map[string]string{"team": "ops"},
			Inputs: []track.DatasetInput{{Name: "flights", Version: "1", Role: "train"}}}
		must(t, tr.CreateRun(ctx, run))
		var b track.Batch
		for s := 0; s < 50; s++ {
			frac := float64(s) / 49
			b.Metrics = append(b.Metrics,
				track.Metric{Key: "auc", Value: 0.5 + (r.auc-0.5)*math.Sqrt(frac), Step: int64(s), Time: start},
				track.Metric{Key: "loss", Value: 0.7 - 0.3*frac*(r.auc-0.5)/0.36, Step: int64(s), Time: start})
		}
		must(t, tr.LogBatch(ctx, run.ID, b))
		end := start.Add(time.Duration(i)*time.Minute + 30*time.Second)
		status := r.status
		note := ""
		if r.name == "deep" {
			note = "Deeper trees find the evening peak."
		}
		_, err := tr.UpdateRun(ctx, run.ID, track.RunUpdate{Status: &status, EndTime: &end, Note: &note})
		must(t, err)
		f.runs[r.name] = run.ID
	}
}

// trainRows are the training rows of the fixture's models, like the flights
// data: distance, an hour and a categorical airport, and whether the
// flight was late.
func trainRows(seed uint64) (dist, hour []float64, origin []string, late []float64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	const rows = 400
	for i := 0; i < rows; i++ {
		dist = append(dist, 100+2000*rng.Float64())
		hour = append(hour, float64(rng.IntN(24)))
		origin = append(origin, []string{"EWR", "JFK", "LGA"}[rng.IntN(3)])
		p := 0.2 + 0.4*hour[i]/23
		if origin[i] == "EWR" {
			p += 0.2
		}
		late = append(late, 0)
		if rng.Float64() < p {
			late[i] = 1
		}
	}
	return dist, hour, origin, late
}

// trainModel trains a small GBT on trainRows.
func trainModel(t testing.TB, seed uint64, rounds int) *model.Model {
	dist, hour, origin, late := trainRows(seed)
	tbl := &train.Table{Label: late, Columns: []train.Column{
		{Name: "distance", Type: model.Float, Num: dist},
		{Name: "hour", Type: model.Float, Num: hour},
		{Name: "origin", Type: model.Categorical, Cat: origin}}}
	params := train.DefaultGBTParams()
	params.Rounds, params.MaxDepth, params.Seed = rounds, 3, seed
	m, err := train.GBT(tbl, nil, params, nil)
	must(t, err)
	return m
}

// referenceProfile freezes a model's reference profile from its training
// rows and its predictions on them, as the register step does.
func referenceProfile(t testing.TB, m *model.Model, seed uint64) *monitor.Profile {
	dist, hour, origin, _ := trainRows(seed)
	rows := make([][]float64, len(dist))
	var preds []float64
	for i := range rows {
		rows[i] = make([]float64, len(m.Signature.Features))
		must(t, m.Signature.EncodeRow(map[string]any{"distance": dist[i], "hour": hour[i], "origin": origin[i]}, rows[i]))
		out, err := m.Predict(rows[i])
		must(t, err)
		preds = append(preds, out...)
	}
	ref, err := monitor.Reference(m, rows, preds)
	must(t, err)
	return ref
}

func (f *fixture) seedModels(t testing.TB) {
	ctx := context.Background()
	n := f.node
	must(t, n.Registry.CreateModel(ctx, &registry.Model{Name: "delays", Card: registry.Card{
		Description: "Predicts whether a flight arrives more than 15 minutes late.", IntendedUse: "Ops planning", Limitations: "New York airports only"}}))
	for i, run := range []string{"baseline", "deep"} {
		m := trainModel(t, uint64(i+1), 10+10*i)
		var buf bytes.Buffer
		must(t, m.Encode(&buf))
		info, err := n.Blobs.Put(ctx, &buf)
		must(t, err)
		v, err := n.Registry.CreateVersion(ctx, "delays", registry.NewVersion{Format: "plinth", RunID: f.runs[run],
			Artifacts: []registry.Artifact{{Path: "model.json", Digest: info.Digest.String(), Size: info.Size}},
			Signature: registry.SignatureOf(m), FeatureService: "delays_features", FeatureServiceVersion: 1})
		must(t, err)
		must(t, n.Meta.SaveReference(ctx, "delays", v.Version, referenceProfile(t, m, uint64(i+1))))
	}
	must(t, n.Registry.SetAlias(ctx, "delays", "champion", 2, "deep wins on auc"))
	must(t, n.Registry.SetAlias(ctx, "delays", "production", 1, "first release"))
	if _, err := n.Deployer.Deploy(ctx, "delays", deploy.Spec{Model: "delays@production", Reason: "first release"}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Deployer.Deploy(ctx, "delays", deploy.Spec{Model: "delays@production", Strategy: deploy.Canary, Candidate: "delays@champion", Weight: 0.2,
		Gate: &deploy.Gate{Window: plinth.Duration(2 * time.Minute), MinRequests: 200}, Reason: "canary the champion"}); err != nil {
		t.Fatal(err)
	}
	fired := time.Now().Add(-10 * time.Minute)
	must(t, n.Meta.SaveAlert(ctx, &monitor.Alert{Endpoint: "delays", Rule: "drift", Severity: "warning", State: "firing",
		Message: "drift_share 0.5 >= 0.3", Features: []string{"hour", "distance"}, StartedAt: fired, FiredAt: &fired,
		Figures: map[string]float64{"drift_share": 0.5}}))
	started, resolved := time.Now().Add(-30*time.Hour), time.Now().Add(-26*time.Hour)
	must(t, n.Meta.SaveAlert(ctx, &monitor.Alert{Endpoint: "delays", Rule: "auc_drop", Severity: "critical", State: "resolved",
		Message: "auc_drop: auc < 0.6 no longer holds", StartedAt: started, FiredAt: &started, ResolvedAt: &resolved,
		Figures: map[string]float64{"auc": 0.66}}))
	for i := 0; i < 20; i++ {
		_, err := n.Runtime.Predict(ctx, "delays", []map[string]any{{"distance": 500.0 + float64(i), "hour": 18.0, "origin": "EWR"}}, 0)
		must(t, err)
	}
}

// trafficHours is how many hours of traffic seedTraffic sends, and
// perHour how many predictions each.
const trafficHours, perHour = 8, 30

// seedTraffic sends eight hours of predictions through the runtime, dated
// in the past hours so that monitoring windows fill: flights later in the
// day and longer, hour after hour, and some without a distance. Labels
// come in for them as a dataset, more and more unlike what the model
// predicted.
func (f *fixture) seedTraffic(t testing.TB) {
	ctx := context.Background()
	n := f.node
	rng := rand.New(rand.NewPCG(42, 1))
	now := time.Now().UTC().Truncate(time.Hour)
	f.hour = now
	var labels strings.Builder
	labels.WriteString("request_id,delayed\n")
	for h := trafficHours; h >= 1; h-- {
		k := float64(trafficHours-h) / (trafficHours - 1) // 0, then up to 1: how far the traffic has moved
		start := now.Add(-time.Duration(h) * time.Hour)
		for i := 0; i < perHour; i++ {
			in := map[string]any{"distance": 100 + 2000*rng.Float64() + 1500*k, "hour": float64(rng.IntN(24)),
				"origin": []string{"EWR", "JFK", "LGA"}[rng.IntN(3)]}
			if rng.Float64() < k {
				in["hour"] = float64(17 + rng.IntN(7))
			}
			if k > 0.5 && i%5 == 0 {
				in["distance"] = nil
			}
			id := fmt.Sprintf("req-%d-%02d", h, i)
			pctx := serve.WithEventTime(plinth.WithRequestID(ctx, id), start.Add(time.Duration(i)*time.Minute))
			res, err := n.Runtime.Predict(pctx, "delays", []map[string]any{in}, 0)
			must(t, err)
			p := res.Predictions[0].Outputs[0]
			if rng.Float64() < 0.9*k {
				p = 1 - p // the world no longer works as the model learned
			}
			late := 0
			if rng.Float64() < p {
				late = 1
			}
			fmt.Fprintf(&labels, "%s,%d\n", id, late)
		}
	}
	spec, err := n.Meta.Spec(ctx, "delays_labels")
	must(t, err)
	path := filepath.Join(t.TempDir(), "labels.csv")
	must(t, os.WriteFile(path, []byte(labels.String()), 0o644))
	_, _, err = n.Ingester.Ingest(ctx, *spec, path)
	must(t, err)
}

func (f *fixture) seedPipelineRun(t testing.TB) {
	ctx := context.Background()
	p, err := pipeline.Lookup(ctx, project.Catalog{Store: f.node.Meta}, "retrain")
	must(t, err)
	eng := f.node.Pipelines
	run, err := eng.Create(ctx, p.Spec, pipeline.RunOptions{Version: p.Version, Trigger: "dataset flights@1"})
	must(t, err)
	now := time.Now()
	finished := now.Add(2 * time.Second)
	attempt := func(step string, state pipeline.State, cached bool, log, errMsg string, out map[string]pipeline.Value) {
		a := &pipeline.Attempt{Run: run.ID, Step: step, State: pipeline.Running, StartedAt: now, Key: "k-" + step}
		must(t, eng.Store.StartAttempt(ctx, a))
		a.State, a.Cached, a.Log, a.Error, a.Outputs, a.FinishedAt = state, cached, log, errMsg, out, &finished
		a.Cost = pipeline.Cost{CPUSeconds: 1.5, WallSeconds: 2, PeakRSS: 64 << 20}
		if cached {
			a.CachedFrom = "earlier-run"
			a.Cost = pipeline.Cost{}
		}
		must(t, eng.Store.FinishAttempt(ctx, a))
	}
	attempt("trainset", pipeline.Succeeded, true, "", "", map[string]pipeline.Value{"train": {Type: pipeline.Table, Digest: "sha256:aa"}})
	attempt("train", pipeline.Succeeded, false, "round 10 logloss 0.52\n", "", map[string]pipeline.Value{
		"model": {Type: pipeline.Model, Digest: "sha256:bb", Metrics: map[string]float64{"auc": 0.81}, Attrs: map[string]string{"run": f.runs["deep"]}}})
	attempt("evaluate", pipeline.Failed, false, "reading holdout\n", "label column delayed is missing", nil)
	must(t, eng.Store.FinishPipelineRun(ctx, run.ID, pipeline.Failed, "step evaluate failed", finished))
	f.pipeRun = run.ID
}
