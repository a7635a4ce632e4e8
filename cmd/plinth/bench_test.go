package main_test

// Benchmarks of the performance targets, end to end: a real server
// process, the HTTP API, JSON, and the embedded SQLite store. Figures and
// the commands that reproduce them are in BENCHMARKS.md.

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/plinthml/plinth/client"
	"github.com/plinthml/plinth/sqlstore"
	"github.com/plinthml/plinth/track"
)

const (
	seedRuns     = 100_000
	seedVersions = 1_000
)

var (
	seedOnce sync.Once
	seedDir  string
	seedErr  error
)

// seededDir returns a data directory holding 100,000 runs (each with three
// params, two metric series and a tag) in 20 experiments and 1,000 model
// versions. It is written once per process straight into SQLite, in one
// transaction: going through the API would time the seeding, not the
// subject.
func seededDir(b *testing.B) string {
	seedOnce.Do(func() {
		seedDir, seedErr = os.MkdirTemp("", "plinth-bench-")
		if seedErr != nil {
			return
		}
		seedErr = seed(filepath.Join(seedDir, "plinth.db"))
	})
	if seedErr != nil {
		b.Fatal(seedErr)
	}
	return seedDir
}

func seed(path string) error {
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, path) // creates the schema
	if err != nil {
		return err
	}
	s.Close()
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_synchronous=OFF")
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	prep := func(q string) *sql.Stmt {
		st, e := tx.Prepare(q)
		if e != nil && err == nil {
			err = e
		}
		return st
	}
	exp := prep(`INSERT INTO experiments (id, name, created_at) VALUES (?, ?, ?)`)
	run := prep(`INSERT INTO runs (id, experiment_id, name, status, start_time, end_time) VALUES (?, ?, ?, 'finished', ?, ?)`)
	param := prep(`INSERT INTO run_params (run_id, key, value, num_value) VALUES (?, ?, ?, ?)`)
	tag := prep(`INSERT INTO run_tags (run_id, key, value) VALUES (?, ?, ?)`)
	point := prep(`INSERT INTO metrics (run_id, key, step, ts, value) VALUES (?, ?, ?, ?, ?)`)
	latest := prep(`INSERT INTO latest_metrics (run_id, key, value, step, ts, min_value, max_value, n) VALUES (?, ?, ?, 9, ?, ?, ?, 10)`)
	model := prep(`INSERT INTO models (name, latest_version, created_at, updated_at) VALUES (?, ?, ?, ?)`)
	version := prep(`INSERT INTO model_versions (model, version, format, artifacts, signature, run_id, created_at, created_by) VALUES (?, ?, 'plinth', '[]', '{}', ?, ?, 'anonymous')`)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	for e := 0; e < 20; e++ {
		exp.Exec(fmt.Sprintf("e%015d", e), fmt.Sprintf("experiment-%d", e), t0)
	}
	for i := 0; i < seedRuns; i++ {
		id := fmt.Sprintf("%016x", i)
		ts := t0 + int64(i)*1e6
		auc := 0.5 + 0.5*rng.Float64()
		loss := 1 - auc + 0.1*rng.Float64()
		if _, err := run.Exec(id, fmt.Sprintf("e%015d", i%20), fmt.Sprintf("run-%d", i), ts, ts+60e6); err != nil {
			return err
		}
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
	for m := 0; m < 10; m++ {
		name := fmt.Sprintf("model-%d", m)
		model.Exec(name, seedVersions/10, t0, t0)
		for v := 1; v <= seedVersions/10; v++ {
			version.Exec(name, v, fmt.Sprintf("%016x", m*100+v), t0)
		}
	}
	return tx.Commit()
}

// BenchmarkServerStartToReady times `plinth server` from exec to the first
// successful /readyz on a directory with 100,000 runs and 1,000 versions.
// Target: at most 1 s.
func BenchmarkServerStartToReady(b *testing.B) {
	dir := seededDir(b)
	for b.Loop() {
		addr := freeAddr(b)
		cmd := exec.Command(binary, "server", "--data", dir, "--addr", addr)
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		c, _ := client.New("http://" + addr)
		for c.Ready(context.Background()) != nil {
			if time.Since(start) > 30*time.Second {
				b.Fatal("not ready after 30s")
			}
			time.Sleep(time.Millisecond)
		}
		b.StopTimer()
		cmd.Process.Kill()
		cmd.Wait()
		b.StartTimer()
	}
}

// BenchmarkSearchRuns100k searches 100,000 runs with a metric filter and
// ordering through the API and returns the first page of 100 whole runs.
// Target: at most 200 ms.
func BenchmarkSearchRuns100k(b *testing.B) {
	dir := seededDir(b)
	c, _ := client.New(startServer(b, dir).url)
	for _, bc := range []struct {
		name string
		req  track.SearchRequest
	}{
		{"filter=order", track.SearchRequest{Filter: `metrics.auc > 0.9 and params.optimizer = "adam"`, OrderBy: []string{"metrics.auc desc"}}},
		{"filter!=order", track.SearchRequest{Filter: `metrics.loss < 0.2 and params.optimizer = "adam"`, OrderBy: []string{"metrics.auc desc"}}},
		{"param-filter", track.SearchRequest{Filter: `params.depth = "4" and tags.team = "ads"`, OrderBy: []string{"start_time desc"}}},
		{"no-filter", track.SearchRequest{OrderBy: []string{"metrics.loss"}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			bc.req.MaxResults = 100
			var n int
			for b.Loop() {
				page, err := c.SearchRuns(context.Background(), bc.req)
				if err != nil {
					b.Fatal(err)
				}
				n = len(page.Runs)
			}
			if n != 100 {
				b.Fatalf("search returned %d runs, want a full page of 100", n)
			}
		})
	}
}

// BenchmarkLogBatch100k logs 100,000 metric points (10 series of 10,000
// steps) through the batch API in one request. Target: at most 1 s.
func BenchmarkLogBatch100k(b *testing.B) {
	c, _ := client.New(startServer(b, b.TempDir()).url)
	ctx := context.Background()
	if _, err := c.CreateExperiment(ctx, "bench", ""); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	var batch track.Batch
	for k := 0; k < 10; k++ {
		for s := 0; s < 10_000; s++ {
			batch.Metrics = append(batch.Metrics, track.Metric{Key: fmt.Sprintf("series-%d", k), Value: float64(s) * 0.001, Step: int64(s), Time: now})
		}
	}
	for b.Loop() {
		b.StopTimer()
		run, err := c.CreateRun(ctx, client.NewRun{Experiment: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := c.LogBatch(ctx, run.ID, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(batch.Metrics))*float64(b.N)/b.Elapsed().Seconds(), "points/s")
}
