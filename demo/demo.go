// Package demo is plinth's main job: it runs what the platform can do end to
// end on real data, against a real server over HTTP, and narrates it.
//
// Today that is ingestion with expectations (a corrupted batch is
// quarantined), experiment tracking, the model registry and serving: a
// baseline run
// and a hyperparameter search of real logistic regressions on the UCI Adult
// census data, each logging its learning curves; the best trial found by a
// filter query; two registered versions with lineage; and the champion
// alias moved from the baseline to the winner, with the audit trail to show
// for it; then the champion behind an endpoint, answering the test set over
// HTTP with the same AUC as offline. Each later capability (features, pipelines, serving, monitoring)
// adds its stage here.
package demo

import (
	"bytes"
	"compress/gzip"
	"context"
	"embed"
	"encoding/csv"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/plinthml/plinth/client"
	"github.com/plinthml/plinth/dataset"
	"github.com/plinthml/plinth/deploy"
	"github.com/plinthml/plinth/eval"
	"github.com/plinthml/plinth/model"
	"github.com/plinthml/plinth/progress"
	"github.com/plinthml/plinth/registry"
	"github.com/plinthml/plinth/server"
	"github.com/plinthml/plinth/track"
	"github.com/plinthml/plinth/train"
)

//go:embed data/*.csv.gz
var data embed.FS

// Config configures a demo run.
type Config struct {
	DataDir string // empty: a new temporary directory
	Addr    string // where the server listens; a busy port falls back to a free one
	Exit    bool   // stop when done instead of serving until ctx ends
	Out     io.Writer
}

// Result is what the demo achieved, for tests and scripts.
type Result struct {
	URL         string
	DataDir     string
	Experiment  string
	BaselineRun string
	BestRun     string
	Quarantined int64   // rows of the corrupted batch held back
	BestAUC     float64 // validation AUC of the best trial
	TestAUC     float64 // held-out test AUC of the champion
	Champion    int     // the version the champion alias points at
	// ServedVersion and ServedAUC are what the endpoint answered with.
	ServedVersion int
	ServedAUC     float64
	LatencyP99    time.Duration // of single-row requests over HTTP
	Runs          int
}

const (
	experimentName = "adult-income"
	modelName      = "income-classifier"
)

var categorical = []string{"workclass", "education", "marital_status", "occupation", "relationship", "race", "sex", "native_country"}

// Run runs the demo. It serves the API until ctx is done unless cfg.Exit.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	out := cfg.Out
	start := time.Now()
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

	// 1. A real server on the embedded defaults, reached over HTTP.
	node, err := server.Open(ctx, server.Config{DataDir: res.DataDir})
	if err != nil {
		return nil, err
	}
	defer node.Close()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
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
	say("server", "%s on SQLite + local blobs in %s (%s)", res.URL, res.DataDir, node.Meta.Dialect())

	// 2. Data: the census income table, split into train / validation / test.
	all, err := readTable("adult_train.csv.gz")
	if err != nil {
		return nil, err
	}
	test, err := readTable("adult_test.csv.gz")
	if err != nil {
		return nil, err
	}
	trainT, valid := all.Split(0.8)
	say("data", "UCI Adult census income: %d train, %d validation, %d test rows, %d features (%d categorical)",
		trainT.Len(), valid.Len(), test.Len(), len(all.Columns), len(categorical))

	// 2b. Ingestion with expectations: the census rows become dataset
	// versions; a corrupted batch is quarantined, not loaded.
	trainVersion, testVersion, err := ingest(ctx, c, say, res)
	if err != nil {
		return nil, err
	}
	inputs := []track.DatasetInput{
		{Name: "adult", Version: fmt.Sprint(trainVersion.Version), Digest: trainVersion.Digest, Role: "train"},
		{Name: "adult", Version: fmt.Sprint(testVersion.Version), Digest: testVersion.Digest, Role: "test"},
	}

	exp, err := c.Experiment(ctx, experimentName)
	if err != nil {
		if exp, err = c.CreateExperiment(ctx, experimentName, "Who earns over $50K? Logistic regression on UCI Adult."); err != nil {
			return nil, err
		}
	}
	res.Experiment = exp.ID

	// 3. A baseline: a few epochs at a cautious learning rate.
	baseline, baseModel, err := trainRun(ctx, c, out, trainRunSpec{
		experiment: exp.ID, name: "baseline", note: "first cut: few epochs, small steps",
		params: train.LinearParams{Epochs: 3, LearningRate: 0.002, Seed: 1}, inputs: inputs,
	}, trainT, valid)
	if err != nil {
		return nil, err
	}
	res.BaselineRun = baseline.ID
	say("baseline", "run %s: validation AUC %.4f", baseline.ID, baseline.Metrics["valid_auc"].Value)

	// 4. A hyperparameter search: a parent run with one child per trial.
	search, err := c.CreateRun(ctx, client.NewRun{Experiment: exp.ID, Name: "search", Note: "grid over learning rate and L2", Inputs: inputs})
	if err != nil {
		return nil, err
	}
	grid := []train.LinearParams{}
	for _, lr := range []float64{0.003, 0.03, 0.3} {
		for _, l2 := range []float64{0, 1e-3} {
			grid = append(grid, train.LinearParams{Epochs: 12, LearningRate: lr, L2: l2, Seed: 7})
		}
	}
	// And gradient-boosted trees, with early stopping on validation AUC.
	gbt := train.DefaultGBTParams()
	gbt.Rounds, gbt.LearningRate, gbt.EarlyStoppingRounds, gbt.Metric, gbt.Seed = 150, 0.1, 20, "auc", 7
	bar := progress.New(out, "search", len(grid)+1)
	for i := 0; i <= len(grid); i++ {
		spec := trainRunSpec{experiment: exp.ID, name: fmt.Sprintf("trial-%d", i+1), parent: search.ID, inputs: inputs}
		if i < len(grid) {
			spec.params = grid[i]
		} else {
			spec.gbt = &gbt
		}
		if _, _, err := trainRun(ctx, c, io.Discard, spec, trainT, valid); err != nil {
			return nil, err
		}
		bar.Add(1)
	}
	bar.Done(fmt.Sprintf("(%d logistic regressions and one boosted-tree model, each logging its curves)", len(grid)))

	// 5. The best trial, found the way a user would: a filter and an order.
	page, err := c.SearchRuns(ctx, track.SearchRequest{
		ExperimentIDs: []string{exp.ID},
		Filter:        fmt.Sprintf("parent_id = %q and metrics.valid_auc > 0.85", search.ID),
		OrderBy:       []string{"metrics.valid_auc desc"},
		MaxResults:    1,
	})
	if err != nil {
		return nil, err
	}
	if len(page.Runs) == 0 {
		return nil, fmt.Errorf("no trial reached validation AUC 0.85")
	}
	best := page.Runs[0]
	res.BestRun, res.BestAUC = best.ID, best.Metrics["valid_auc"].Value
	say("search", "best trial %s (%s, learning rate %s): validation AUC %.4f", best.Name, best.Params["model"], best.Params["learning_rate"], res.BestAUC)

	cmp, err := c.CompareRuns(ctx, baseline.ID, best.ID)
	if err != nil {
		return nil, err
	}
	var differ []string
	for _, row := range cmp.Params {
		if row.Differs {
			differ = append(differ, fmt.Sprintf("%s %s -> %s", row.Key, deref(row.Values[0]), deref(row.Values[1])))
		}
	}
	say("compare", "baseline vs best, params that differ: %s", strings.Join(differ, ", "))

	// 6. The registry: the baseline becomes version 1 and champion; the
	// winner of the search, evaluated on the held-out test set, version 2.
	sig := signatureOf(baseModel)
	if _, err := c.Model(ctx, modelName); err != nil {
		if _, err := c.CreateModel(ctx, modelName, registry.Card{
			Description: "Probability that a person's income exceeds $50K a year, from census attributes.",
			IntendedUse: "Demonstrating plinth's tracking and registry; not for decisions about people.",
			Limitations: "Trained on the 1994 US census (UCI Adult); known to encode historical biases in sex and race.",
		}); err != nil {
			return nil, err
		}
	}
	v1, err := c.CreateVersion(ctx, modelName, registry.NewVersion{Format: "plinth", RunID: baseline.ID, RunArtifact: "model.json", Signature: sig, Description: "baseline"})
	if err != nil {
		return nil, err
	}
	if _, err := c.SetAlias(ctx, modelName, "champion", v1.Version, "first model"); err != nil {
		return nil, err
	}

	bestModel, err := downloadModel(ctx, c, best.ID)
	if err != nil {
		return nil, err
	}
	testLoss, testAUC, err := train.ScoreBinary(bestModel, test)
	if err != nil {
		return nil, err
	}
	res.TestAUC = testAUC
	if err := c.LogBatch(ctx, search.ID, track.Batch{
		Metrics: []track.Metric{{Key: "test_auc", Value: testAUC}, {Key: "test_loss", Value: testLoss}},
		Tags:    []track.KV{{Key: "best_trial", Value: best.ID}},
	}); err != nil {
		return nil, err
	}
	if _, err := c.EndRun(ctx, search.ID, track.Finished); err != nil {
		return nil, err
	}
	metrics := map[string]float64{"valid_auc": res.BestAUC, "test_auc": testAUC, "test_loss": testLoss}
	v2, err := c.CreateVersion(ctx, modelName, registry.NewVersion{Format: "plinth", RunID: best.ID, RunArtifact: "model.json", Signature: sig, Metrics: metrics, Description: "best trial of the search"})
	if err != nil {
		return nil, err
	}
	if _, err := c.Review(ctx, modelName, v2.Version, registry.Approved, fmt.Sprintf("test AUC %.4f on 9,769 held-out rows", testAUC)); err != nil {
		return nil, err
	}
	reason := fmt.Sprintf("validation AUC %.4f beats the baseline's %.4f", res.BestAUC, baseline.Metrics["valid_auc"].Value)
	m, err := c.SetAlias(ctx, modelName, "champion", v2.Version, reason)
	if err != nil {
		return nil, err
	}
	res.Champion = m.Aliases["champion"]
	say("registry", "%s v%d (baseline) then v%d (test AUC %.4f); champion moved v%d -> v%d: %s",
		modelName, v1.Version, v2.Version, testAUC, v1.Version, res.Champion, reason)

	// 7. Serving: the champion behind an endpoint, the test set through it.
	if err := serveStage(ctx, c, say, res); err != nil {
		return nil, err
	}

	events, err := c.Audit(ctx, modelName, 3)
	if err != nil {
		return nil, err
	}
	for _, ev := range events {
		what := fmt.Sprintf("%s v%d", ev.Action, ev.Version)
		if ev.Alias != "" {
			what += " @" + ev.Alias
		}
		if ev.Reason != "" {
			what += ": " + ev.Reason
		}
		say("audit", "%s by %s at %s", what, ev.Principal, ev.Time.Local().Format(time.TimeOnly))
	}
	all2, err := c.SearchRuns(ctx, track.SearchRequest{ExperimentIDs: []string{exp.ID}, MaxResults: 1000})
	if err != nil {
		return nil, err
	}
	res.Runs = len(all2.Runs)

	fmt.Fprintf(out, "\ndone in %s: %d runs tracked, %d model versions, champion = v%d.\n", time.Since(start).Round(100*time.Millisecond), res.Runs, v2.Version, res.Champion)
	if cfg.Exit {
		fmt.Fprintf(out, "\nThe data stays in %s; look at it with:\n", res.DataDir)
		fmt.Fprintf(out, "  export PLINTH_DATA=%s\n", res.DataDir)
	} else {
		fmt.Fprintf(out, "\nThe server is at %s; try:\n", res.URL)
		fmt.Fprintf(out, "  export PLINTH_URL=%s\n", res.URL)
		fmt.Fprintf(out, "  curl %s/openapi.json\n", res.URL)
	}
	fmt.Fprintf(out, "  plinth runs --experiment %s --filter 'metrics.valid_auc > 0.89' --order-by 'metrics.valid_auc desc'\n", experimentName)
	fmt.Fprintf(out, "  plinth runs compare %s %s\n", baseline.ID, best.ID)
	fmt.Fprintf(out, "  plinth models show %s\n", modelName)
	fmt.Fprintf(out, "  plinth models audit %s\n", modelName)
	fmt.Fprintf(out, "  plinth endpoints predict income --input age=39 --input education_num=13 --input hours_per_week=40 --explain 3\n")
	fmt.Fprintf(out, "  plinth datasets quarantines adult\n")
	if cfg.Exit {
		return res, nil
	}
	fmt.Fprintln(out, "\nServing until interrupted (Ctrl-C).")
	select {
	case <-ctx.Done():
	case err := <-served:
		return res, err
	}
	return res, nil
}

// adultSpec is the contract census batches must meet.
func adultSpec() dataset.Spec {
	f := func(v float64) *float64 { return &v }
	return dataset.Spec{
		Name:    "adult",
		MinRows: 100,
		// A batch with more than 5% bad rows is suspect as a whole.
		MaxBadFraction: 0.05,
		Columns: []dataset.Column{
			{Name: "age", Type: "int", NotNull: true, Min: f(17), Max: f(90)},
			{Name: "workclass", Type: "string", In: []string{"Private", "Self-emp-not-inc", "Self-emp-inc", "Federal-gov", "Local-gov", "State-gov", "Without-pay", "Never-worked"}},
			{Name: "sex", Type: "string", NotNull: true, In: []string{"Male", "Female"}},
			{Name: "hours_per_week", Type: "int", Min: f(1), Max: f(99)},
			{Name: "income", Type: "string", NotNull: true, In: []string{"<=50K", ">50K"}},
		},
	}
}

// ingest loads the train and test files as versions of the "adult" dataset
// and sends a corrupted batch that the expectations must quarantine.
func ingest(ctx context.Context, c *client.Client, say func(stage, format string, args ...any), res *Result) (train, test *dataset.Version, err error) {
	if _, err := c.SetSpec(ctx, adultSpec()); err != nil {
		return nil, nil, err
	}
	load := func(name string) (*dataset.Version, error) {
		f, err := data.Open("data/" + name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, err
		}
		r, err := c.Ingest(ctx, "adult", "csv", zr)
		if err != nil {
			return nil, err
		}
		if r.Version == nil {
			return nil, fmt.Errorf("%s was quarantined: %v", name, r.Quarantine.Reasons)
		}
		return r.Version, nil
	}
	if train, err = load("adult_train.csv.gz"); err != nil {
		return nil, nil, err
	}
	if test, err = load("adult_test.csv.gz"); err != nil {
		return nil, nil, err
	}
	say("ingest", "dataset adult: version %d (%d rows) and version %d (%d rows) pass the expectations", train.Version, train.Rows, test.Version, test.Rows)

	bad, err := c.Ingest(ctx, "adult", "csv", strings.NewReader(corruptBatch()))
	if err != nil {
		return nil, nil, err
	}
	if bad.Version != nil || bad.Quarantine == nil {
		return nil, nil, fmt.Errorf("the corrupted batch was loaded")
	}
	q := bad.Quarantine
	res.Quarantined = q.Rows
	var reasons []string
	for r, n := range q.Reasons {
		reasons = append(reasons, fmt.Sprintf("%s (%d)", r, n))
	}
	sort.Strings(reasons)
	say("ingest", "a corrupted batch of %d rows was quarantined whole (%s): %s", q.Rows, q.ID, strings.Join(reasons, "; "))
	return train, test, nil
}

// corruptBatch is 200 census rows in which an upstream bug garbled every
// fourth one: ages shifted negative, sex coded as a letter, income lost.
func corruptBatch() string {
	var b strings.Builder
	b.WriteString("age,workclass,fnlwgt,education,education_num,marital_status,occupation,relationship,race,sex,capital_gain,capital_loss,hours_per_week,native_country,income\n")
	for i := 0; i < 200; i++ {
		age, sex, income := 25+i%40, "Female", "<=50K"
		if i%4 == 0 {
			age, sex, income = -age, "F", ""
		}
		fmt.Fprintf(&b, "%d,Private,200000,Bachelors,13,Never-married,Sales,Not-in-family,White,%s,0,0,40,United-States,%s\n", age, sex, income)
	}
	return b.String()
}

// serveStage deploys the champion as endpoint "income", sends test rows
// one request each to measure latency, then the whole test set in one
// request, and checks the served predictions score what the offline
// evaluation did.
func serveStage(ctx context.Context, c *client.Client, say func(stage, format string, args ...any), res *Result) error {
	ep, err := c.Deploy(ctx, "income", deploy.Spec{Model: modelName + "@champion", Reason: "demo launch"})
	if err != nil {
		return err
	}
	instances, labels, err := rawRows("adult_test.csv.gz", "income", ">50K")
	if err != nil {
		return err
	}
	var lat []time.Duration
	for _, inst := range instances[:500] {
		start := time.Now()
		if _, err := c.Predict(ctx, "income", []map[string]any{inst}, 0); err != nil {
			return err
		}
		lat = append(lat, time.Since(start))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	all, err := c.Predict(ctx, "income", instances, 0)
	if err != nil {
		return err
	}
	scores := make([]float64, len(all.Predictions))
	for i, p := range all.Predictions {
		scores[i] = p.Outputs[0]
	}
	auc, err := eval.AUC(labels, scores)
	if err != nil {
		return err
	}
	res.ServedVersion, res.ServedAUC = all.Version, auc
	res.LatencyP99 = lat[len(lat)*99/100]
	say("serve", "endpoint income serves v%d; 500 single-row requests over HTTP: p50 %s, p99 %s; served AUC on %d test rows %.4f",
		ep.Stable.Version, lat[len(lat)/2].Round(time.Microsecond), res.LatencyP99.Round(time.Microsecond), len(instances), auc)
	return nil
}

// rawRows reads an embedded CSV as request instances (numbers as numbers,
// empty cells absent) and its label column as 0/1.
func rawRows(name, label, positive string) ([]map[string]any, []float64, error) {
	f, err := data.Open("data/" + name)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, nil, err
	}
	recs, err := csv.NewReader(zr).ReadAll()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	header := recs[0]
	var rows []map[string]any
	var labels []float64
	for _, rec := range recs[1:] {
		row := map[string]any{}
		for i, v := range rec {
			switch {
			case header[i] == label:
				labels = append(labels, map[bool]float64{true: 1, false: 0}[v == positive])
			case v == "":
			default:
				if x, err := strconv.ParseFloat(v, 64); err == nil {
					row[header[i]] = x
				} else {
					row[header[i]] = v
				}
			}
		}
		rows = append(rows, row)
	}
	return rows, labels, nil
}

type trainRunSpec struct {
	experiment, name, note, parent string
	params                         train.LinearParams
	gbt                            *train.GBTParams // set: train trees instead
	inputs                         []track.DatasetInput
}

// trainRun trains one logistic regression as a tracked run: params up
// front, the learning curves as they come, the model file as an artifact.
func trainRun(ctx context.Context, c *client.Client, out io.Writer, spec trainRunSpec, trainT, valid *train.Table) (*track.Run, *model.Model, error) {
	p := spec.params
	params := map[string]string{
		"model": "logistic", "epochs": fmt.Sprint(p.Epochs), "learning_rate": fmt.Sprint(p.LearningRate),
		"l2": fmt.Sprint(p.L2), "batch_size": "256", "seed": fmt.Sprint(p.Seed),
	}
	if g := spec.gbt; g != nil {
		params = map[string]string{
			"model": "gbt", "rounds": fmt.Sprint(g.Rounds), "learning_rate": fmt.Sprint(g.LearningRate), "max_depth": fmt.Sprint(g.MaxDepth),
			"early_stopping_rounds": fmt.Sprint(g.EarlyStoppingRounds), "seed": fmt.Sprint(g.Seed),
		}
	}
	run, err := c.CreateRun(ctx, client.NewRun{
		Experiment: spec.experiment, Name: spec.name, ParentID: spec.parent, Note: spec.note, Inputs: spec.inputs, Params: params,
	})
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) (*track.Run, *model.Model, error) {
		c.EndRun(context.WithoutCancel(ctx), run.ID, track.Failed)
		return nil, nil, err
	}
	var logErr error
	var m *model.Model
	if spec.gbt != nil {
		lastRound := 0
		m, err = train.GBT(trainT, valid, *spec.gbt, func(pr train.GBTProgress) {
			lastRound = pr.Round
			if logErr == nil {
				now, step := time.Now(), int64(pr.Round)
				logErr = c.LogBatch(ctx, run.ID, track.Batch{Metrics: []track.Metric{
					{Key: "train_auc", Value: pr.Train, Step: step, Time: now},
					{Key: "valid_auc", Value: pr.Valid, Step: step, Time: now},
				}})
			}
		})
		if err == nil {
			// Early stopping kept the best round's trees: the model's AUC,
			// one step after the last round, is the run's final figure.
			_, auc, err2 := train.ScoreBinary(m, valid)
			if err = err2; err == nil && logErr == nil {
				logErr = c.LogBatch(ctx, run.ID, track.Batch{Metrics: []track.Metric{{Key: "valid_auc", Value: auc, Step: int64(lastRound + 1)}}})
			}
		}
	} else {
		m, err = train.Linear(trainT, valid, p, func(pr train.Progress) {
			if logErr != nil {
				return
			}
			now := time.Now()
			step := int64(pr.Epoch)
			logErr = c.LogBatch(ctx, run.ID, track.Batch{Metrics: []track.Metric{
				{Key: "train_loss", Value: pr.TrainLoss, Step: step, Time: now},
				{Key: "valid_loss", Value: pr.ValidLoss, Step: step, Time: now},
				{Key: "valid_auc", Value: pr.ValidAUC, Step: step, Time: now},
			}})
			fmt.Fprintf(out, "  %s epoch %d: train loss %.4f, validation loss %.4f, AUC %.4f\n", spec.name, pr.Epoch, pr.TrainLoss, pr.ValidLoss, pr.ValidAUC)
		})
	}
	if err == nil {
		err = logErr
	}
	if err != nil {
		return fail(err)
	}
	var buf bytes.Buffer
	if err := m.Encode(&buf); err != nil {
		return fail(err)
	}
	if _, err := c.PutArtifact(ctx, run.ID, "model.json", &buf); err != nil {
		return fail(err)
	}
	if run, err = c.EndRun(ctx, run.ID, track.Finished); err != nil {
		return nil, nil, err
	}
	return run, m, nil
}

func downloadModel(ctx context.Context, c *client.Client, runID string) (*model.Model, error) {
	rc, err := c.OpenArtifact(ctx, runID, "model.json")
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return model.Decode(rc)
}

// signatureOf turns the model's feature list into the registry signature.
func signatureOf(m *model.Model) registry.Signature {
	var sig registry.Signature
	for _, f := range m.Signature.Features {
		sig.Inputs = append(sig.Inputs, registry.Field{Name: f.Name, Type: string(f.Type), Nullable: f.Nullable})
	}
	sig.Outputs = []registry.Field{{Name: "p_income_over_50k", Type: "float"}}
	return sig
}

func readTable(name string) (*train.Table, error) {
	f, err := data.Open("data/" + name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	t, err := train.ReadCSV(zr, "income", ">50K", categorical)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return t, nil
}

func deref(s *string) string {
	if s == nil {
		return "-"
	}
	return *s
}
