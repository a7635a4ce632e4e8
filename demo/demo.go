// Package demo is plinth's main job: the whole production ML lifecycle on
// real data (nycflights13: will a flight from New York arrive more than 15
// minutes late?), against a real server over HTTP, narrated.
//
// Ingestion with expectations (a corrupted batch is quarantined) ->
// feature views (weather at the origin, plane attributes, windowed delays
// per airline and airport, on-demand features) -> a point-in-time training
// set of January–March -> a short hyperparameter search -> a registered
// model with lineage and a frozen reference profile -> an endpoint -> the
// following months served over HTTP -> monitoring sees the weather drift as
// the seasons change and the performance drop once arrival delays come in
// -> the alert starts the retraining pipeline -> the challenger beats the
// champion on the same recent holdout, goes out as a canary and is
// promoted -> a deliberately broken model is rolled back by the canary
// gate. Everything runs through the platform's own API and pipelines.
package demo

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/plinthml/plinth/blob"
	"github.com/plinthml/plinth/client"
	"github.com/plinthml/plinth/deploy"
	"github.com/plinthml/plinth/examples/flights"
	"github.com/plinthml/plinth/feature"
	"github.com/plinthml/plinth/model"
	"github.com/plinthml/plinth/monitor"
	"github.com/plinthml/plinth/pipeline"
	"github.com/plinthml/plinth/progress"
	"github.com/plinthml/plinth/project"
	"github.com/plinthml/plinth/registry"
	"github.com/plinthml/plinth/server"
)

// Config configures a demo run.
type Config struct {
	DataDir string // empty: a new temporary directory
	Addr    string // where the server listens; a busy port falls back to a free one
	Exit    bool   // stop when done instead of serving until ctx ends
	Out     io.Writer
	// PerMonth is how many of a month's flights are sent to the endpoint
	// (default 3,000).
	PerMonth int
}

// Month is what happened while one month of flights was served.
type Month struct {
	Name       string        `json:"name"`
	Served     int           `json:"served"`
	P50, P99   time.Duration `json:"-"`
	Candidate  int           `json:"candidate_requests"` // served by a canary
	DriftShare float64       `json:"drift_share"`
	Drifted    []string      `json:"drifted"`
	AUC        float64       `json:"auc"` // on the month's labels, for the version(s) that served it
	Alerts     []string      `json:"alerts"`
}

// Result is what the demo achieved, for tests and scripts.
type Result struct {
	URL, DataDir   string
	Quarantined    int64   // rows of the corrupted batch held back
	FirstVersion   int     // the model trained on January–March
	FirstAUC       float64 // its AUC on the holdout
	Months         []Month
	Alerts         []string // the rules that fired, in order
	RetrainRun     string   // the run an alert started
	Challenger     int      // the version it registered
	ChallengerAUC  float64  // on the recent holdout
	ChampionAUC    float64  // the champion on the same holdout
	Promoted       bool     // the canary gate promoted the challenger
	BadVersion     int      // the deliberately broken model
	RolledBack     bool     // and the gate rolled it back
	RollbackReason string
	Elapsed        time.Duration
}

const endpoint = "delays"

// Run runs the demo.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	start := time.Now()
	out := cfg.Out
	if cfg.PerMonth <= 0 {
		cfg.PerMonth = 3000
	}
	res := &Result{DataDir: cfg.DataDir}
	if res.DataDir == "" {
		dir, err := os.MkdirTemp("", "plinth-demo-")
		if err != nil {
			return nil, err
		}
		res.DataDir = dir
	}
	say := func(stage, format string, args ...any) {
		fmt.Fprintf(out, "%-9s %s\n", stage, fmt.Sprintf(format, args...))
	}

	// A real server on the embedded defaults, reached over HTTP. Its
	// monitoring windows are days of the flights' own time: the months
	// are replayed in seconds.
	node, err := server.Open(ctx, server.Config{DataDir: res.DataDir, MonitorWindow: 24 * time.Hour, MonitorEvery: time.Hour, LogSampleRate: 1})
	if err != nil {
		return nil, err
	}
	defer node.Close()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("listen: %w", err)
		}
	}
	res.URL = "http://" + ln.Addr().String()
	serveCtx, stopServing := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- node.Serve(serveCtx, ln, 5*time.Second) }()
	defer func() {
		stopServing()
		<-served
	}()
	c, err := client.New(res.URL)
	if err != nil {
		return nil, err
	}
	say("server", "%s on SQLite, Pebble, DuckDB and local blobs in %s", res.URL, res.DataDir)

	d := &demo{c: c, node: node, say: say, out: out, res: res, cfg: cfg}
	for _, stage := range []func(context.Context) error{
		d.project, d.ingest, d.firstModel, d.serveMonths, d.brokenModel, d.report,
	} {
		if err := stage(ctx); err != nil {
			return res, err
		}
	}
	res.Elapsed = time.Since(start)
	say("done", "in %s. Open %s/ for the UI: the search's trials at %s/ui/experiments, the drift at %s/ui/monitors/%s,"+
		" the retraining at %s/ui/pipelines/retrain, the canary and the rollback at %s/ui/endpoints/%s.",
		res.Elapsed.Round(time.Second), res.URL, res.URL, res.URL, endpoint, res.URL, res.URL, endpoint)
	if cfg.Exit {
		return res, nil
	}
	say("serving", "until interrupted (Ctrl-C)")
	<-ctx.Done()
	return res, nil
}

type demo struct {
	c    *client.Client
	node *server.Node
	say  func(stage, format string, args ...any)
	out  io.Writer
	res  *Result
	cfg  Config
	dir  string // the project folder
	// september is the traffic the canary gates decide on.
	september *traffic
	// challengerRejected is set when the gate rolled the challenger back.
	challengerRejected bool
}

// project writes the flights project where a user can read and edit it,
// and registers it.
func (d *demo) project(ctx context.Context) error {
	d.dir = filepath.Join(d.res.DataDir, "project")
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		return err
	}
	for _, name := range []string{"plinth.yaml", "train_xgb.py"} {
		raw, err := flights.Files.ReadFile(name)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(d.dir, name), raw, 0o644); err != nil {
			return err
		}
	}
	f, err := project.Load(filepath.Join(d.dir, "plinth.yaml"))
	if err != nil {
		return err
	}
	if err := d.c.ApplyDefinitions(ctx, f.Definitions(), nil); err != nil {
		return err
	}
	d.say("project", "%s: %d datasets, %d entities, %d feature views, %d on-demand features, %d feature service, %d pipelines, %d monitor",
		filepath.Join(d.dir, "plinth.yaml"), len(f.Datasets), len(f.Entities), len(f.Views), len(f.OnDemand), len(f.Services), len(f.Pipelines), len(f.Monitors))
	return nil
}

func (d *demo) ingestFile(ctx context.Context, ds, name string) (*client.IngestResult, error) {
	rc, err := flights.Files.Open("data/" + name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	zr, err := gzip.NewReader(rc)
	if err != nil {
		return nil, err
	}
	return d.c.Ingest(ctx, ds, "csv", name, zr)
}

// ingest loads the weather, the planes and January–March, then a batch
// that a broken upstream job corrupted.
func (d *demo) ingest(ctx context.Context) error {
	for _, f := range []struct{ ds, file string }{
		{"weather", "weather.csv.gz"}, {"planes", "planes.csv.gz"},
		{"flights", "flights-2013-01.csv.gz"}, {"flights", "flights-2013-02.csv.gz"}, {"flights", "flights-2013-03.csv.gz"},
	} {
		r, err := d.ingestFile(ctx, f.ds, f.file)
		if err != nil {
			return fmt.Errorf("ingest %s: %w", f.file, err)
		}
		msg := fmt.Sprintf("%s version %d: %d rows", f.ds, r.Version.Version, r.Version.Rows)
		if r.Quarantine != nil {
			msg += fmt.Sprintf(" (%d rows quarantined: %v)", r.Quarantine.Rows, r.Quarantine.Reasons)
		}
		d.say("ingest", "%s", msg)
	}
	bad, err := corruptBatch()
	if err != nil {
		return err
	}
	r, err := d.c.Ingest(ctx, "flights", "csv", "flights-2013-04-corrupt.csv", bytes.NewReader(bad))
	if err != nil {
		return err
	}
	if r.Quarantine == nil || !r.Quarantine.WholeBatch {
		return errors.New("the corrupted batch was not quarantined")
	}
	d.res.Quarantined = r.Quarantine.Rows
	var reasons []string
	for reason, n := range r.Quarantine.Reasons {
		reasons = append(reasons, fmt.Sprintf("%s (%d)", reason, n))
	}
	sort.Strings(reasons)
	d.say("validate", "a corrupted batch of %d flights was quarantined whole, not loaded: %s; inspect with: plinth datasets inspect flights %s",
		r.Quarantine.Rows, strings.Join(reasons, ", "), r.Quarantine.ID)
	return nil
}

// corruptBatch is 200 April flights as a broken export would send them:
// airports renamed and distances negative.
func corruptBatch() ([]byte, error) {
	rows, header, err := readFlights("flights-2013-04.csv.gz")
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write(header)
	col := func(name string) int { return indexOf(header, name) }
	for i, r := range rows[:200] {
		r = append([]string(nil), r...)
		r[col("flight_id")] += "-x"
		if i%2 == 0 {
			r[col("origin")] = "XXX"
		}
		r[col("distance")] = "-" + r[col("distance")]
		w.Write(r)
	}
	w.Flush()
	return buf.Bytes(), w.Error()
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

func readFlights(name string) ([][]string, []string, error) {
	rc, err := flights.Files.Open("data/" + name)
	if err != nil {
		return nil, nil, err
	}
	defer rc.Close()
	zr, err := gzip.NewReader(rc)
	if err != nil {
		return nil, nil, err
	}
	rows, err := csv.NewReader(bufio.NewReader(zr)).ReadAll()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	return rows[1:], rows[0], nil
}

// runPipeline runs a pipeline (or follows a run already started) and
// narrates each step as it ends.
func (d *demo) follow(ctx context.Context, id string) (*pipeline.Report, error) {
	seen := map[string]bool{}
	for {
		r, err := d.c.PipelineRun(ctx, id)
		if err != nil {
			return nil, err
		}
		for _, st := range r.Spec.Steps {
			a := r.Latest()[st.Name]
			if a == nil || !a.State.Final() || seen[st.Name] {
				continue
			}
			seen[st.Name] = true
			d.say("  "+st.Name, "%s", stepSummary(a))
		}
		if r.State.Final() {
			if r.State != pipeline.Succeeded {
				return r, fmt.Errorf("pipeline run %s %s: %s", r.ID, r.State, r.Error)
			}
			return r, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func stepSummary(a *pipeline.Attempt) string {
	state := string(a.State)
	if a.Cached {
		state = "cached"
	}
	var outs []string
	for _, name := range []string{"train", "holdout", "model", "version", "endpoint"} {
		if v, ok := a.Outputs[name]; ok && v.Ref != "" {
			outs = append(outs, v.Ref)
		}
	}
	if m, ok := a.Outputs["metrics"]; ok {
		for _, k := range []string{"auc", "reference_auc", "best_value", "trials", "pruned"} {
			if v, ok := m.Metrics[k]; ok && !(k == "reference_auc" && m.Metrics["has_reference"] == 0) {
				outs = append(outs, fmt.Sprintf("%s %.4g", k, v))
			}
		}
	}
	if a.Error != "" {
		outs = append(outs, a.Error)
	}
	return fmt.Sprintf("%-9s %5.1fs  %s", state, a.Cost.WallSeconds, strings.Join(outs, "; "))
}

// firstModel runs the retraining pipeline on January–March: training
// set, search, evaluation, registration, a new endpoint.
func (d *demo) firstModel(ctx context.Context) error {
	d.say("pipeline", "retrain on January–March: point-in-time training set, TPE search with ASHA, evaluation, registration, deployment")
	r, err := d.c.StartPipeline(ctx, "retrain", map[string]any{"train_until": "2013-04-01", "canary_window": "5s"})
	if err != nil {
		return err
	}
	run, err := d.follow(ctx, r.ID)
	if err != nil {
		return err
	}
	v, ok := run.Latest()["register"].Outputs["version"]
	if !ok {
		return errors.New("the first run registered no model")
	}
	d.res.FirstVersion = atoiAttr(v.Attrs["version"])
	d.res.FirstAUC = run.Latest()["evaluate"].Outputs["metrics"].Metrics["auc"]
	ver, err := d.c.Version(ctx, "delays", fmt.Sprint(d.res.FirstVersion))
	if err != nil {
		return err
	}
	d.say("registry", "delays@%d (production): run %s, feature service %s v%d, trained on %v; reference profile frozen",
		ver.Version, ver.RunID, ver.FeatureService, ver.FeatureServiceVersion, datasets(ver.Datasets))
	return nil
}

func datasets(refs []registry.DatasetRef) string {
	var s []string
	for _, r := range refs {
		s = append(s, r.Name+"@"+r.Version)
	}
	return strings.Join(s, ", ")
}

func atoiAttr(s string) int {
	var n int
	fmt.Sscan(s, &n)
	return n
}

// serveMonths replays April to September: each month's flights are scored
// over HTTP as their departures come, then their arrival delays come in,
// then the monitor checks the month.
func (d *demo) serveMonths(ctx context.Context) error {
	names := []string{"04", "05", "06", "07", "08"}
	for _, m := range names {
		month := Month{Name: "2013-" + m}
		rows, header, err := readFlights("flights-2013-" + m + ".csv.gz")
		if err != nil {
			return err
		}
		// Every nth flight: a steady sample of the month.
		step := max(len(rows)/d.cfg.PerMonth, 1)
		var sample [][]string
		for i := 0; i < len(rows) && len(sample) < d.cfg.PerMonth; i += step {
			sample = append(sample, rows[i])
		}
		instances, ids, times, err := d.features(ctx, header, sample)
		if err != nil {
			return err
		}
		lat, candidate, err := d.send(ctx, instances, ids, times, month.Name)
		if err != nil {
			return err
		}
		month.Served, month.Candidate = len(instances), candidate
		month.P50, month.P99 = lat[len(lat)/2], lat[len(lat)*99/100]
		// The arrival delays come in: the month's flights, labels included.
		if _, err := d.ingestFile(ctx, "flights", "flights-2013-"+m+".csv.gz"); err != nil {
			return err
		}
		rep, fired, err := d.c.CheckMonitor(ctx, endpoint)
		if err != nil {
			return err
		}
		if rep.Drift != nil {
			month.DriftShare = rep.Drift.Share
			for _, f := range rep.Drift.Features {
				if f.Drifted && len(month.Drifted) < 4 {
					month.Drifted = append(month.Drifted, f.Feature)
				}
			}
		}
		month.AUC = monthAUC(rep.Performance)
		line := fmt.Sprintf("%d flights scored over HTTP (p50 %s, p99 %s", month.Served, month.P50.Round(time.Microsecond), month.P99.Round(time.Microsecond))
		if candidate > 0 {
			line += fmt.Sprintf(", %d by the canary", candidate)
		}
		line += fmt.Sprintf("); drift share %.2f", month.DriftShare)
		if len(month.Drifted) > 0 {
			line += " (" + strings.Join(month.Drifted, ", ") + ", ...)"
		}
		line += fmt.Sprintf("; AUC on arrived labels %.3f", month.AUC)
		d.say(month.Name, "%s", line)
		for _, a := range fired {
			month.Alerts = append(month.Alerts, a.Rule)
			d.res.Alerts = append(d.res.Alerts, a.Rule)
			d.say("alert", "%s", a.Message)
		}
		d.res.Months = append(d.res.Months, month)
		if len(fired) > 0 && d.res.RetrainRun == "" {
			if err := d.retrained(ctx); err != nil {
				return err
			}
		}
		if err := d.gateDecisions(ctx); err != nil {
			return err
		}
	}
	if d.res.RetrainRun == "" {
		return errors.New("no alert fired: the monitor missed the drift")
	}
	return nil
}

// monthAUC is the AUC over the report's labelled periods (weeks),
// weighted by their rows.
func monthAUC(perf []monitor.Performance) float64 {
	var sum, n float64
	for _, p := range perf {
		sum += p.Metrics["auc"] * float64(p.Rows)
		n += float64(p.Rows)
	}
	if n == 0 {
		return 0
	}
	return sum / n
}

// retrained follows the run the alert started, to its canary.
func (d *demo) retrained(ctx context.Context) error {
	var runID string
	deadline := time.Now().Add(30 * time.Second)
	for runID == "" {
		runs, err := d.c.PipelineRuns(ctx, "retrain", 5)
		if err != nil {
			return err
		}
		for _, r := range runs {
			if strings.HasPrefix(r.Trigger, "alert ") {
				runID = r.ID
				break
			}
		}
		if runID == "" {
			if time.Now().After(deadline) {
				return errors.New("the alert started no retraining run")
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	d.res.RetrainRun = runID
	d.say("retrain", "the alert started run %s of the retraining pipeline, on every labelled flight so far", runID)
	run, err := d.follow(ctx, runID)
	if err != nil {
		return err
	}
	m := run.Latest()["evaluate"].Outputs["metrics"].Metrics
	d.res.ChallengerAUC, d.res.ChampionAUC = m["auc"], m["reference_auc"]
	if v, ok := run.Latest()["register"].Outputs["version"]; ok {
		d.res.Challenger = atoiAttr(v.Attrs["version"])
	}
	d.say("canary", "challenger delays@%d (holdout AUC %.4f) beat production (%.4f) on the same recent holdout; it serves 20%% of traffic until the gate decides",
		d.res.Challenger, d.res.ChallengerAUC, d.res.ChampionAUC)
	return nil
}

// gateDecisions narrates what the canary gate decided since last time.
func (d *demo) gateDecisions(ctx context.Context) error {
	hist, err := d.c.EndpointHistory(ctx, endpoint)
	if err != nil {
		return err
	}
	for _, e := range hist {
		if e.UpdatedBy != "plinth" || !strings.HasPrefix(e.Reason, "gate:") {
			continue
		}
		switch e.Action {
		case "promote":
			if !d.res.Promoted && d.res.Challenger > 0 && e.Stable.Version == d.res.Challenger {
				d.res.Promoted = true
				d.say("promote", "the gate promoted delays@%d: %s; production now points at it", e.Stable.Version, strings.TrimPrefix(e.Reason, "gate: "))
			}
		case "rollback":
			if d.res.BadVersion == 0 && d.res.Challenger > 0 && !d.challengerRejected {
				d.challengerRejected = true
				d.say("rollback", "the gate rolled the challenger delays@%d back: %s", d.res.Challenger, strings.TrimPrefix(e.Reason, "gate: "))
			}
			if !d.res.RolledBack && d.res.BadVersion > 0 {
				d.res.RolledBack, d.res.RollbackReason = true, strings.TrimPrefix(e.Reason, "gate: ")
				d.say("rollback", "the gate rolled delays@%d back automatically: %s", d.res.BadVersion, d.res.RollbackReason)
			}
		}
	}
	return nil
}

// features computes the sampled flights' features as of their scheduled
// departures — point-in-time, from the offline store — the way the
// upstream booking system would send them; the request carries the
// flight id, for labels to be joined to later.
func (d *demo) features(ctx context.Context, header []string, rows [][]string) ([]map[string]any, []string, []time.Time, error) {
	tmp, err := os.CreateTemp(d.res.DataDir, "month-*.csv")
	if err != nil {
		return nil, nil, nil, err
	}
	defer os.Remove(tmp.Name())
	w := csv.NewWriter(tmp)
	// The label and what is known only after departure stay out.
	keep := []string{"flight_id", "sched_dep", "origin", "dest", "carrier", "tailnum", "distance", "sched_hour", "weekday"}
	w.Write(keep)
	for _, r := range rows {
		rec := make([]string, len(keep))
		for i, k := range keep {
			rec[i] = r[indexOf(header, k)]
		}
		w.Write(rec)
	}
	w.Flush()
	tmp.Close()
	out := tmp.Name() + ".parquet"
	defer os.Remove(out)
	if _, err := d.node.API.Features.Build(ctx, feature.Request{Service: "delays", Labels: tmp.Name(), Timestamp: "sched_dep", Output: out}); err != nil {
		return nil, nil, nil, err
	}
	sig, err := d.servedSignature(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	db := d.node.Offline.DB()
	q := fmt.Sprintf(`SELECT * FROM read_parquet('%s')`, strings.ReplaceAll(out, "'", "''"))
	rs, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, nil, nil, err
	}
	defer rs.Close()
	cols, _ := rs.Columns()
	var instances []map[string]any
	var ids []string
	var times []time.Time
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rs.Next() {
		if err := rs.Scan(ptrs...); err != nil {
			return nil, nil, nil, err
		}
		inst := map[string]any{}
		for i, c := range cols {
			switch c {
			case "flight_id":
				ids = append(ids, fmt.Sprint(vals[i]))
			case "sched_dep":
				t, _ := vals[i].(time.Time)
				times = append(times, t)
			}
			if sig[c] {
				inst[c] = jsonValue(vals[i]) // null when missing: the request carries every feature
			}
		}
		instances = append(instances, inst)
	}
	return instances, ids, times, rs.Err()
}

func jsonValue(v any) any {
	switch v := v.(type) {
	case int64:
		return float64(v)
	case int32:
		return float64(v)
	case float32:
		return float64(v)
	case []byte:
		return string(v)
	}
	return v
}

// servedSignature is the set of features the production model reads.
func (d *demo) servedSignature(ctx context.Context) (map[string]bool, error) {
	v, err := d.c.Version(ctx, "delays", "production")
	if err != nil {
		return nil, err
	}
	sig := map[string]bool{}
	for _, f := range v.Signature.Inputs {
		sig[f.Name] = true
	}
	return sig, nil
}

// send scores instances one request each, eight at a time, and returns
// the sorted latencies and how many the canary answered.
func (d *demo) send(ctx context.Context, instances []map[string]any, ids []string, times []time.Time, label string) ([]time.Duration, int, error) {
	bar := progress.New(d.out, label, len(instances))
	lat := make([]time.Duration, len(instances))
	var candidate int
	var mu sync.Mutex
	var firstErr error
	next := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				start := time.Now()
				resp, err := d.c.PredictAt(ctx, endpoint, ids[i], times[i], []map[string]any{instances[i]})
				lat[i] = time.Since(start)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("predict flight %s: %w", ids[i], err)
				}
				if err == nil && resp.Variant == "candidate" {
					candidate++
				}
				mu.Unlock()
				bar.Add(1)
			}
		}()
	}
	for i := range instances {
		next <- i
	}
	close(next)
	wg.Wait()
	bar.Done("")
	if firstErr != nil {
		return nil, 0, firstErr
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return lat, candidate, nil
}

// brokenModel ships a model that a bug in a training job inverted — it
// predicts on time when it should predict late — as a canary, and lets
// the gate catch it on September's traffic.
func (d *demo) brokenModel(ctx context.Context) error {
	// The challenger's canary decides first.
	if err := d.septemberUntil(ctx, func() bool { return d.res.Promoted || d.challengerRejected }, "the gate did not promote the challenger"); err != nil {
		return err
	}
	if d.challengerRejected {
		return errors.New("the gate rolled the challenger back instead of promoting it")
	}
	prod, err := d.c.Version(ctx, "delays", "production")
	if err != nil {
		return err
	}
	m, err := d.download(ctx, prod)
	if err != nil {
		return err
	}
	if m.Trees == nil {
		return errors.New("the production model is not a tree ensemble")
	}
	for i := range m.BaseScore {
		m.BaseScore[i] = -m.BaseScore[i]
	}
	for t := range m.Trees.Trees {
		for n := range m.Trees.Trees[t].Nodes {
			if m.Trees.Trees[t].Nodes[n].IsLeaf() {
				m.Trees.Trees[t].Nodes[n].Value = -m.Trees.Trees[t].Nodes[n].Value
			}
		}
	}
	var buf bytes.Buffer
	if err := m.Encode(&buf); err != nil {
		return err
	}
	info, err := d.c.PutBlob(ctx, &buf)
	if err != nil {
		return err
	}
	bad, err := d.c.CreateVersion(ctx, "delays", registry.NewVersion{Format: "plinth", Artifacts: []registry.Artifact{{Path: "model.json", Digest: info.Digest.String()}},
		Signature: prod.Signature, Description: "a training job with its labels inverted by a bug"})
	if err != nil {
		return err
	}
	d.res.BadVersion = bad.Version
	if _, err := d.c.Deploy(ctx, endpoint, deploy.Spec{Model: "delays@production", Strategy: deploy.Canary, Candidate: fmt.Sprintf("delays@%d", bad.Version),
		Weight: 0.3, Gate: &deploy.Gate{Window: 0, MinRequests: 100}, Reason: "ship the nightly model"}); err != nil {
		return err
	}
	d.say("canary", "delays@%d (a training bug inverted its labels) goes out as a canary to 30%% of traffic", bad.Version)
	return d.septemberUntil(ctx, func() bool { return d.res.RolledBack }, "the gate did not roll the broken canary back")
}

// september sends September's flights, a few hundred at a time, until done
// says the gate has decided.
func (d *demo) septemberUntil(ctx context.Context, done func() bool, failure string) error {
	if d.september == nil {
		rows, header, err := readFlights("flights-2013-09.csv.gz")
		if err != nil {
			return err
		}
		step := max(len(rows)/2000, 1)
		var sample [][]string
		for i := 0; i < len(rows) && len(sample) < 2000; i += step {
			sample = append(sample, rows[i])
		}
		instances, ids, times, err := d.features(ctx, header, sample)
		if err != nil {
			return err
		}
		d.september = &traffic{instances, ids, times, 0}
	}
	t := d.september
	deadline := time.Now().Add(120 * time.Second) // generous: CI machines are slow and shared
	for !done() {
		if time.Now().After(deadline) {
			return errors.New(failure)
		}
		if n := min(250, len(t.instances)-t.sent); n > 0 {
			if _, _, err := d.send(ctx, t.instances[t.sent:t.sent+n], t.ids[t.sent:t.sent+n], t.times[t.sent:t.sent+n], "2013-09"); err != nil {
				return err
			}
			t.sent += n
		} else {
			t.sent = 0 // replay the sample again
		}
		time.Sleep(500 * time.Millisecond)
		if err := d.gateDecisions(ctx); err != nil {
			return err
		}
	}
	return nil
}

type traffic struct {
	instances []map[string]any
	ids       []string
	times     []time.Time
	sent      int
}

func (d *demo) download(ctx context.Context, v *registry.Version) (*model.Model, error) {
	if len(v.Artifacts) == 0 {
		return nil, fmt.Errorf("delays@%d has no model file", v.Version)
	}
	if _, err := blob.ParseDigest(v.Artifacts[0].Digest); err != nil {
		return nil, err
	}
	rc, err := d.c.OpenBlob(ctx, v.Artifacts[0].Digest)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return model.Decode(rc)
}

// report writes the monitoring report of the whole replay as HTML.
func (d *demo) report(ctx context.Context) error {
	from := time.Date(2013, 4, 1, 0, 0, 0, 0, time.UTC)
	to := time.Date(2013, 10, 1, 0, 0, 0, 0, time.UTC)
	rc, err := d.c.MonitorReportHTML(ctx, endpoint, from, to)
	if err != nil {
		return err
	}
	defer rc.Close()
	path := filepath.Join(d.res.DataDir, "report.html")
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	d.say("report", "drift, quality and performance April–September with plots: %s (also at %s/api/v1/monitors/%s/report?format=html)", path, d.res.URL, endpoint)
	return nil
}
