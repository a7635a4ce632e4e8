package ui_test

import (
	"context"
	"database/sql"
	"fmt"
	"html"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plinthml/plinth/server"
	"github.com/plinthml/plinth/sqlstore"
	"github.com/plinthml/plinth/track"
	"github.com/plinthml/plinth/ui"
)

const scaleRuns = 100_000

// seedScale writes 100,000 runs (three params, a tag and two metrics each,
// in 20 experiments) straight into a new SQLite store in one transaction,
// as cmd/plinth's benchmarks do: going through the tracker would time the
// seeding, not the page.
func seedScale(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "plinth.db")
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, path) // creates the schema
	must(t, err)
	s.Close()
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_synchronous=OFF")
	must(t, err)
	defer db.Close()
	tx, err := db.Begin()
	must(t, err)
	defer tx.Rollback()
	prep := func(q string) *sql.Stmt {
		st, err := tx.Prepare(q)
		must(t, err)
		return st
	}
	exp := prep(`INSERT INTO experiments (id, name, created_at) VALUES (?, ?, ?)`)
	run := prep(`INSERT INTO runs (id, experiment_id, name, status, start_time, end_time) VALUES (?, ?, ?, 'finished', ?, ?)`)
	param := prep(`INSERT INTO run_params (run_id, key, value, num_value) VALUES (?, ?, ?, ?)`)
	tag := prep(`INSERT INTO run_tags (run_id, key, value) VALUES (?, ?, ?)`)
	point := prep(`INSERT INTO metrics (run_id, key, step, ts, value) VALUES (?, ?, ?, ?, ?)`)
	latest := prep(`INSERT INTO latest_metrics (run_id, key, value, step, ts, min_value, max_value, n) VALUES (?, ?, ?, 9, ?, ?, ?, 10)`)
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	for e := 0; e < 20; e++ {
		_, err := exp.Exec(fmt.Sprintf("e%015d", e), fmt.Sprintf("experiment-%d", e), t0)
		must(t, err)
	}
	for i := 0; i < scaleRuns; i++ {
		id := fmt.Sprintf("%016x", i)
		ts := t0 + int64(i)*1e6
		auc := 0.5 + 0.5*rng.Float64()
		loss := 1 - auc + 0.1*rng.Float64()
		_, err := run.Exec(id, fmt.Sprintf("e%015d", i%20), fmt.Sprintf("run-%d", i), ts, ts+60e6)
		must(t, err)
		for _, p := range [][2]string{{"depth", fmt.Sprint(2 + i%8)}, {"lr", fmt.Sprint(0.001 * float64(1+i%100))}, {"optimizer", []string{"adam", "sgd"}[i%2]}} {
			var num any
			if v, err := strconv.ParseFloat(p[1], 64); err == nil {
				num = v
			}
			param.Exec(id, p[0], p[1], num)
		}
		tag.Exec(id, "team", []string{"search", "ads", "feed"}[i%3])
		for k, v := range map[string]float64{"auc": auc, "loss": loss} {
			point.Exec(id, k, 9, ts, v)
			latest.Exec(id, k, v, ts, v, v)
		}
	}
	must(t, tx.Commit())
	return dir
}

// scaleNode opens a node on 100,000 runs and adds one run with a
// 100,000-point metric series.
func scaleNode(t testing.TB) (http.Handler, string) {
	t.Helper()
	dir := seedScale(t)
	ctx := context.Background()
	n, err := server.Open(ctx, server.Config{DataDir: dir})
	must(t, err)
	t.Cleanup(func() { n.Close() })
	r := &track.Run{ExperimentID: "experiment-0", Name: "long"}
	must(t, n.Tracker.CreateRun(ctx, r))
	var b track.Batch
	now := time.Now()
	for s := 0; s < 100_000; s++ {
		b.Metrics = append(b.Metrics, track.Metric{Key: "loss", Value: 1/(1+float64(s)/2000) + 0.02*math.Sin(float64(s)/50), Step: int64(s), Time: now})
	}
	must(t, n.Tracker.LogBatch(ctx, r.ID, b))
	return ui.Handler(Deps(n)), r.ID
}

// TestScale: with 100,000 runs in the store, every page of the run table
// (first page, filtered, ordered by a metric, a later page) and a run page
// with a 100,000-point curve render in under a second.
func TestScale(t *testing.T) {
	if testing.Short() {
		t.Skip("seeding 100,000 runs is not short")
	}
	start := time.Now()
	h, long := scaleNode(t)
	t.Logf("seeded 100,000 runs and a 100,000-point series in %v", time.Since(start))
	for _, tc := range []struct {
		name, path, want string
	}{
		{"runs, newest first", "/ui/runs", "run-99999"},
		{"runs, 200 a page", "/ui/runs?n=200", "run-99801"},
		{"ordered by a metric", "/ui/runs?order=" + url.QueryEscape("metrics.auc desc"), `aria-sort="descending"`},
		{"filtered and ordered", "/ui/runs?filter=" + url.QueryEscape(`metrics.loss < 0.2 and params.optimizer = "adam"`) + "&order=" + url.QueryEscape("metrics.auc desc"), "adam"},
		{"one experiment", "/ui/runs?experiment=experiment-3", "run-99983"},
		{"a later page", "/ui/runs?page=" + nextToken(t, h) + "&back=-", "run-99949"},
		{"100k-point curve", "/ui/runs/" + long, "<polyline"},
		{"overview", "/ui/", "experiments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			get(t, h, tc.path) // warm the caches, as a second visit would
			start := time.Now()
			code, body := get(t, h, tc.path)
			d := time.Since(start)
			if code != http.StatusOK || !strings.Contains(body, tc.want) {
				t.Fatalf("status %d, want %q in the page", code, tc.want)
			}
			t.Logf("%s: %v, %d KiB", tc.path, d, len(body)>>10)
			if d > time.Second {
				t.Errorf("took %v, want under 1s", d)
			}
		})
	}
}

// nextToken reads the page token of the first page's Next link.
func nextToken(t *testing.T, h http.Handler) string {
	_, body := get(t, h, "/ui/runs")
	m := regexp.MustCompile(`href="([^"]*)" rel="next"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no next page")
	}
	u, err := url.Parse(html.UnescapeString(m[1]))
	must(t, err)
	return url.QueryEscape(u.Query().Get("page"))
}

func httptestGet(h http.Handler, path string) int {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec.Code
}

func BenchmarkRunsPage100k(b *testing.B) {
	h, long := scaleNode(b)
	for _, bc := range []struct{ name, path string }{
		{"newest", "/ui/runs"},
		{"order=auc", "/ui/runs?order=" + url.QueryEscape("metrics.auc desc")},
		{"filter", "/ui/runs?filter=" + url.QueryEscape(`metrics.loss < 0.2 and params.optimizer = "adam"`) + "&order=" + url.QueryEscape("metrics.auc desc")},
		{"run-100k-points", "/ui/runs/" + long},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				rec := httptestGet(h, bc.path)
				if rec != http.StatusOK {
					b.Fatalf("status %d", rec)
				}
			}
		})
	}
}
