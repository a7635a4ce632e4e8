// Package tracktest is the contract every track.Store passes. It drives the
// store through track.Tracker, as the server does.
package tracktest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/blob/fsblob"
	"github.com/plinthml/plinth/track"
)

// Run runs the suite; open returns a fresh, empty store for each subtest.
func Run(t *testing.T, open func(t *testing.T) track.Store) {
	newTracker := func(t *testing.T) *track.Tracker {
		blobs, err := fsblob.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return &track.Tracker{Store: open(t), Blobs: blobs}
	}
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, tr *track.Tracker)
	}{
		{"Experiments", testExperiments},
		{"RunLifecycle", testRunLifecycle},
		{"ParamsAreWrittenOnce", testParamsOnce},
		{"BatchIsAtomic", testBatchAtomic},
		{"MetricSummaries", testMetricSummaries},
		{"EndedRunsAreImmutable", testEndedRunImmutable},
		{"ParentAndChildRuns", testParentChild},
		{"Artifacts", testArtifacts},
		{"Search", testSearch},
		{"SearchPaging", testSearchPaging},
		{"ConcurrentBatches", testConcurrentBatches},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newTracker(t)) })
	}
}

func mustExperiment(t *testing.T, tr *track.Tracker, name string) *track.Experiment {
	t.Helper()
	e := &track.Experiment{Name: name}
	if err := tr.CreateExperiment(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	return e
}

func mustRun(t *testing.T, tr *track.Tracker, r *track.Run) *track.Run {
	t.Helper()
	if err := tr.CreateRun(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return r
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := plinth.ErrorCode(err); got != code {
		t.Fatalf("error = %v (code %q), want code %q", err, got, code)
	}
}

func testExperiments(t *testing.T, tr *track.Tracker) {
	ctx := context.Background()
	e := &track.Experiment{Name: "churn", Description: "who leaves", Tags: map[string]string{"team": "growth"}}
	if err := tr.CreateExperiment(ctx, e); err != nil {
		t.Fatal(err)
	}
	if e.ID == "" || e.CreatedAt.IsZero() {
		t.Fatalf("created experiment lacks ID or time: %+v", e)
	}
	wantCode(t, tr.CreateExperiment(ctx, &track.Experiment{Name: "churn"}), plinth.ECONFLICT)
	wantCode(t, tr.CreateExperiment(ctx, &track.Experiment{Name: ""}), plinth.EINVALID)
	for _, key := range []string{e.ID, "churn"} {
		got, err := tr.Experiment(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != e.ID || got.Description != "who leaves" || got.Tags["team"] != "growth" {
			t.Fatalf("Experiment(%q) = %+v", key, got)
		}
	}
	_, err := tr.Experiment(ctx, "nope")
	wantCode(t, err, plinth.ENOTFOUND)
	mustExperiment(t, tr, "ads")
	all, err := tr.Experiments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].Name != "ads" || all[1].Name != "churn" {
		t.Fatalf("Experiments = %+v, want ads, churn", all)
	}
}

func testRunLifecycle(t *testing.T, tr *track.Tracker) {
	ctx := context.Background()
	mustExperiment(t, tr, "exp")
	r := mustRun(t, tr, &track.Run{
		ExperimentID: "exp", Note: "first try", Params: map[string]string{"depth": "6"},
		Tags: map[string]string{"owner": "ana"}, Code: track.Code{Commit: "abc123", Dirty: true},
		Env:    map[string]string{"os": "linux"},
		Inputs: []track.DatasetInput{{Name: "flights", Version: "v1", Role: "train"}},
	})
	if r.ID == "" || r.Name == "" || r.Status != track.Running {
		t.Fatalf("new run = %+v", r)
	}
	got, err := tr.Run(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Params["depth"] != "6" || got.Tags["owner"] != "ana" || got.Note != "first try" ||
		got.Code.Commit != "abc123" || !got.Code.Dirty || got.Env["os"] != "linux" || got.EndTime != nil {
		t.Fatalf("Run = %+v", got)
	}
	if len(got.Inputs) != 1 || got.Inputs[0].Name != "flights" || got.Inputs[0].Role != "train" {
		t.Fatalf("inputs = %+v", got.Inputs)
	}
	note, name, done := "better features", "baseline", track.Finished
	got, err = tr.UpdateRun(ctx, r.ID, track.RunUpdate{Note: &note, Name: &name, Status: &done})
	if err != nil {
		t.Fatal(err)
	}
	if got.Note != note || got.Name != name || got.Status != done || got.EndTime == nil {
		t.Fatalf("after update: %+v", got)
	}
	running := track.Running
	_, err = tr.UpdateRun(ctx, r.ID, track.RunUpdate{Status: &running})
	wantCode(t, err, plinth.ECONFLICT)
	_, err = tr.Run(ctx, "0000000000000000")
	wantCode(t, err, plinth.ENOTFOUND)
	wantCode(t, tr.CreateRun(ctx, &track.Run{ExperimentID: "missing"}), plinth.ENOTFOUND)
}

func testParamsOnce(t *testing.T, tr *track.Tracker) {
	ctx := context.Background()
	mustExperiment(t, tr, "exp")
	r := mustRun(t, tr, &track.Run{ExperimentID: "exp", Params: map[string]string{"lr": "0.1"}})
	if err := tr.LogBatch(ctx, r.ID, track.Batch{Params: []track.KV{{Key: "lr", Value: "0.1"}, {Key: "depth", Value: "4"}}}); err != nil {
		t.Fatalf("re-logging an identical param: %v", err)
	}
	wantCode(t, tr.LogBatch(ctx, r.ID, track.Batch{Params: []track.KV{{Key: "lr", Value: "0.2"}}}), plinth.ECONFLICT)
	got, _ := tr.Run(ctx, r.ID)
	if got.Params["lr"] != "0.1" || got.Params["depth"] != "4" {
		t.Fatalf("params = %v", got.Params)
	}
}

func testBatchAtomic(t *testing.T, tr *track.Tracker) {
	ctx := context.Background()
	mustExperiment(t, tr, "exp")
	r := mustRun(t, tr, &track.Run{ExperimentID: "exp", Params: map[string]string{"lr": "0.1"}})
	// The conflicting param comes last: nothing before it may stick.
	err := tr.LogBatch(ctx, r.ID, track.Batch{
		Metrics: []track.Metric{{Key: "loss", Value: 1, Step: 0}},
		Tags:    []track.KV{{Key: "stage", Value: "x"}},
		Params:  []track.KV{{Key: "depth", Value: "3"}, {Key: "lr", Value: "0.5"}},
	})
	wantCode(t, err, plinth.ECONFLICT)
	got, _ := tr.Run(ctx, r.ID)
	if len(got.Metrics) != 0 || len(got.Tags) != 0 || got.Params["depth"] != "" {
		t.Fatalf("failed batch left data behind: metrics %v tags %v params %v", got.Metrics, got.Tags, got.Params)
	}
	// Validation errors name the field.
	err = tr.LogBatch(ctx, r.ID, track.Batch{Metrics: []track.Metric{{Key: "ok", Value: 1}, {Key: "", Value: 2}}})
	var pe *plinth.Error
	if !asError(err, &pe) || pe.Field != "metrics[1].key" {
		t.Fatalf("error = %v, want invalid metrics[1].key", err)
	}
	wantCode(t, tr.LogBatch(ctx, "0000000000000000", track.Batch{Tags: []track.KV{{Key: "a", Value: "b"}}}), plinth.ENOTFOUND)
}

func testMetricSummaries(t *testing.T, tr *track.Tracker) {
	ctx := context.Background()
	mustExperiment(t, tr, "exp")
	r := mustRun(t, tr, &track.Run{ExperimentID: "exp"})
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var pts []track.Metric
	for step := int64(0); step < 1000; step++ {
		pts = append(pts, track.Metric{Key: "loss", Value: 1 / float64(step+1), Step: step, Time: t0.Add(time.Duration(step) * time.Second)})
	}
	// Logged in two batches, out of order, so the summary must merge.
	if err := tr.LogBatch(ctx, r.ID, track.Batch{Metrics: pts[500:]}); err != nil {
		t.Fatal(err)
	}
	if err := tr.LogBatch(ctx, r.ID, track.Batch{Metrics: pts[:500]}); err != nil {
		t.Fatal(err)
	}
	got, _ := tr.Run(ctx, r.ID)
	m := got.Metrics["loss"]
	if m.Step != 999 || m.Value != 1.0/1000 || m.Min != 1.0/1000 || m.Max != 1 || m.Count != 1000 || !m.Time.Equal(t0.Add(999*time.Second)) {
		t.Fatalf("summary = %+v", m)
	}
	hist, err := tr.MetricHistory(ctx, r.ID, "loss")
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 1000 {
		t.Fatalf("history has %d points, want 1000", len(hist))
	}
	for i, p := range hist {
		if p.Step != int64(i) || p.Value != pts[i].Value || !p.Time.Equal(pts[i].Time) {
			t.Fatalf("history[%d] = %+v, want %+v", i, p, pts[i])
		}
	}
	_, err = tr.MetricHistory(ctx, r.ID, "nope")
	wantCode(t, err, plinth.ENOTFOUND)
}

func testEndedRunImmutable(t *testing.T, tr *track.Tracker) {
	ctx := context.Background()
	mustExperiment(t, tr, "exp")
	r := mustRun(t, tr, &track.Run{ExperimentID: "exp"})
	failed := track.Failed
	if _, err := tr.UpdateRun(ctx, r.ID, track.RunUpdate{Status: &failed}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, tr.LogBatch(ctx, r.ID, track.Batch{Metrics: []track.Metric{{Key: "x", Value: 1}}}), plinth.ECONFLICT)
	wantCode(t, tr.LogBatch(ctx, r.ID, track.Batch{Params: []track.KV{{Key: "p", Value: "1"}}}), plinth.ECONFLICT)
	_, err := tr.PutArtifact(ctx, r.ID, "model.json", strings.NewReader("{}"))
	wantCode(t, err, plinth.ECONFLICT)
	// Tags and the note remain annotations a person may edit.
	if err := tr.LogBatch(ctx, r.ID, track.Batch{Tags: []track.KV{{Key: "reviewed", Value: "yes"}}}); err != nil {
		t.Fatalf("tagging an ended run: %v", err)
	}
	note := "diverged at step 40"
	if _, err := tr.UpdateRun(ctx, r.ID, track.RunUpdate{Note: &note}); err != nil {
		t.Fatalf("noting an ended run: %v", err)
	}
}

func testParentChild(t *testing.T, tr *track.Tracker) {
	ctx := context.Background()
	mustExperiment(t, tr, "exp")
	parent := mustRun(t, tr, &track.Run{ExperimentID: "exp", Name: "search"})
	for i := 0; i < 3; i++ {
		mustRun(t, tr, &track.Run{ExperimentID: "exp", ParentID: parent.ID, Params: map[string]string{"trial": fmt.Sprint(i)}})
	}
	page, err := tr.Search(ctx, track.SearchRequest{Filter: fmt.Sprintf("parent_id = %q", parent.ID)})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Runs) != 3 {
		t.Fatalf("children = %d, want 3", len(page.Runs))
	}
	wantCode(t, tr.CreateRun(ctx, &track.Run{ExperimentID: "exp", ParentID: "ffffffffffffffff"}), plinth.ENOTFOUND)
}

func testArtifacts(t *testing.T, tr *track.Tracker) {
	ctx := context.Background()
	mustExperiment(t, tr, "exp")
	r := mustRun(t, tr, &track.Run{ExperimentID: "exp"})
	a, err := tr.PutArtifact(ctx, r.ID, "model/model.json", strings.NewReader(`{"trees": []}`))
	if err != nil {
		t.Fatal(err)
	}
	if a.Size != 13 || !strings.HasPrefix(a.Digest, "sha256:") {
		t.Fatalf("artifact = %+v", a)
	}
	if _, err := tr.PutArtifact(ctx, r.ID, "model/model.json", strings.NewReader(`{"trees": []}`)); err != nil {
		t.Fatalf("same artifact again: %v", err)
	}
	_, err = tr.PutArtifact(ctx, r.ID, "model/model.json", strings.NewReader(`other`))
	wantCode(t, err, plinth.ECONFLICT)
	for _, bad := range []string{"", "/abs", "../escape", "a//b", "a/./b"} {
		_, err := tr.PutArtifact(ctx, r.ID, bad, strings.NewReader("x"))
		wantCode(t, err, plinth.EINVALID)
	}
	rc, got, err := tr.OpenArtifact(ctx, r.ID, "model/model.json")
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if got != a {
		t.Fatalf("OpenArtifact = %+v, want %+v", got, a)
	}
	run, _ := tr.Run(ctx, r.ID)
	if len(run.Artifacts) != 1 || run.Artifacts[0] != a {
		t.Fatalf("run artifacts = %+v", run.Artifacts)
	}
}

// searchFixture makes runs with known params, tags and metrics:
// run i has params.depth = i%4+2, params.lr = 0.1/(i+1), tags.team = ads or
// search, metrics.auc = 0.5 + i/100, and only even runs have metrics.loss.
func searchFixture(t *testing.T, tr *track.Tracker, n int) []*track.Run {
	ctx := context.Background()
	mustExperiment(t, tr, "a")
	mustExperiment(t, tr, "b")
	var runs []*track.Run
	for i := 0; i < n; i++ {
		exp := "a"
		if i%2 == 1 {
			exp = "b"
		}
		team := "ads"
		if i%3 == 0 {
			team = "Search"
		}
		r := mustRun(t, tr, &track.Run{
			ExperimentID: exp, Name: fmt.Sprintf("run-%02d", i), StartTime: time.Date(2026, 1, 1, 0, i, 0, 0, time.UTC),
			Params: map[string]string{"depth": fmt.Sprint(i%4 + 2), "lr": fmt.Sprint(0.1 / float64(i+1))},
			Tags:   map[string]string{"team": team},
		})
		b := track.Batch{Metrics: []track.Metric{{Key: "auc", Value: 0.5 + float64(i)/100, Step: 1}}}
		if i%2 == 0 {
			b.Metrics = append(b.Metrics, track.Metric{Key: "loss", Value: 1 - float64(i)/100})
		}
		if err := tr.LogBatch(ctx, r.ID, b); err != nil {
			t.Fatal(err)
		}
		runs = append(runs, r)
	}
	return runs
}

func testSearch(t *testing.T, tr *track.Tracker) {
	ctx := context.Background()
	searchFixture(t, tr, 20)
	names := func(p track.Page) string {
		var s []string
		for _, r := range p.Runs {
			s = append(s, strings.TrimPrefix(r.Name, "run-"))
		}
		return strings.Join(s, " ")
	}
	for _, tc := range []struct {
		filter string
		order  []string
		exps   []string
		want   string
	}{
		{filter: "", want: "19 18 17 16 15 14 13 12 11 10 09 08 07 06 05 04 03 02 01 00"},
		{filter: "metrics.auc > 0.6", order: []string{"metrics.auc desc"}, want: "19 18 17 16 15 14 13 12 11"},
		{filter: "metrics.auc >= 0.6 and metrics.auc <= 0.62", order: []string{"metrics.auc"}, want: "10 11 12"},
		{filter: `params.depth = "5" and metrics.auc > 0.6`, order: []string{"name"}, want: "11 15 19"},
		{filter: `params.depth = 5`, order: []string{"name"}, want: "03 07 11 15 19"},
		{filter: `params.lr < 0.006`, order: []string{"params.lr"}, want: "19 18 17 16"},
		{filter: `params.depth != "2"`, order: []string{"name"}, exps: []string{"a"}, want: "02 06 10 14 18"},
		{filter: `tags.team = "Search" or metrics.auc = 0.51`, order: []string{"name"}, want: "00 01 03 06 09 12 15 18"},
		{filter: `tags.team like "S%"`, order: []string{"name"}, want: "00 03 06 09 12 15 18"},
		{filter: `tags.team like "s%"`, want: ""},
		{filter: `tags.team ilike "s%"`, order: []string{"name"}, want: "00 03 06 09 12 15 18"},
		{filter: `params.depth in ("2", "3") and not (name = "run-00")`, order: []string{"name asc"}, want: "01 04 05 08 09 12 13 16 17"},
		{filter: `params.depth not in ("2", "3", "4")`, order: []string{"name"}, want: "03 07 11 15 19"},
		{filter: `metrics.loss is null and metrics.auc > 0.65`, order: []string{"name"}, want: "17 19"},
		{filter: `metrics.loss is not null and metrics.auc > 0.65`, order: []string{"name"}, want: "16 18"},
		{filter: `metrics.loss < 0.85`, order: []string{"metrics.loss"}, want: "18 16"},
		{filter: "metrics.auc > 0.6", order: []string{"metrics.loss desc", "name"}, want: "12 14 16 18 11 13 15 17 19"},
		{filter: `start_time >= "2026-01-01T00:17:00Z"`, want: "19 18 17"},
		{filter: `attributes.start_time < 1767225720000`, want: "01 00"},
		{filter: `status = "running" and metrics.nonexistent > 1`, want: ""},
		{filter: `tags.team = "ads"`, order: []string{"tags.team", "metrics.auc desc"}, exps: []string{"b"}, want: "19 17 13 11 07 05 01"},
	} {
		t.Run(tc.filter, func(t *testing.T) {
			page, err := tr.Search(ctx, track.SearchRequest{Filter: tc.filter, OrderBy: tc.order, ExperimentIDs: tc.exps})
			if err != nil {
				t.Fatal(err)
			}
			if got := names(page); got != tc.want {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
	for _, bad := range []string{"metrics.auc >", "metrics.auc > 'x'", "bogus.x = 1", "attributes.color = 'red'", "(metrics.a > 1", "metrics.a ~ 1"} {
		_, err := tr.Search(ctx, track.SearchRequest{Filter: bad})
		wantCode(t, err, plinth.EINVALID)
	}
	_, err := tr.Search(ctx, track.SearchRequest{OrderBy: []string{"metrics.auc sideways"}})
	wantCode(t, err, plinth.EINVALID)
	_, err = tr.Search(ctx, track.SearchRequest{ExperimentIDs: []string{"nope"}})
	wantCode(t, err, plinth.ENOTFOUND)
	// A page of search results carries whole runs.
	page, _ := tr.Search(ctx, track.SearchRequest{Filter: `name = "run-04"`})
	if len(page.Runs) != 1 || page.Runs[0].Params["depth"] != "2" || page.Runs[0].Tags["team"] != "ads" || page.Runs[0].Metrics["auc"].Value != 0.54 {
		t.Fatalf("search result = %+v", page.Runs)
	}
}

func testSearchPaging(t *testing.T, tr *track.Tracker) {
	ctx := context.Background()
	searchFixture(t, tr, 25)
	seen := map[string]bool{}
	req := track.SearchRequest{MaxResults: 10, OrderBy: []string{"metrics.auc desc"}}
	pages := 0
	for {
		page, err := tr.Search(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, r := range page.Runs {
			if seen[r.ID] {
				t.Fatalf("run %s on two pages", r.Name)
			}
			seen[r.ID] = true
		}
		if page.NextPageToken == "" {
			break
		}
		req.PageToken = page.NextPageToken
	}
	if pages != 3 || len(seen) != 25 {
		t.Fatalf("%d pages, %d runs; want 3 pages, 25 runs", pages, len(seen))
	}
	_, err := tr.Search(ctx, track.SearchRequest{PageToken: "garbage!"})
	wantCode(t, err, plinth.EINVALID)
	_, err = tr.Search(ctx, track.SearchRequest{MaxResults: track.MaxPageSize + 1})
	wantCode(t, err, plinth.EINVALID)
}

func testConcurrentBatches(t *testing.T, tr *track.Tracker) {
	ctx := context.Background()
	mustExperiment(t, tr, "exp")
	r := mustRun(t, tr, &track.Run{ExperimentID: "exp"})
	const writers, points = 4, 250
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b track.Batch
			for i := 0; i < points; i++ {
				b.Metrics = append(b.Metrics, track.Metric{Key: "loss", Value: float64(w*points + i), Step: int64(w*points + i)})
			}
			errs[w] = tr.LogBatch(ctx, r.ID, b)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got, _ := tr.Run(ctx, r.ID)
	m := got.Metrics["loss"]
	if m.Count != writers*points || m.Step != writers*points-1 || m.Min != 0 || m.Max != writers*points-1 {
		t.Fatalf("summary after concurrent batches = %+v", m)
	}
}

func asError(err error, target **plinth.Error) bool {
	e, ok := err.(*plinth.Error)
	if ok {
		*target = e
	}
	return ok
}
