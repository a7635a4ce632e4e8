package server

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plinthml/plinth/dataset"
	"github.com/plinthml/plinth/serve"
)

// BenchmarkLogSink adds and flushes batches of 20,000 records of 30
// features, as the prediction log's writer does under load: ns/op is per
// record, all of it on the writer, off the request path.
func BenchmarkLogSink(b *testing.B) {
	ctx := context.Background()
	n, err := Open(ctx, Config{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	sink := newLogSink(n.Ingester, b.TempDir())
	recs := make([]serve.LogRecord, 1000)
	names := make([]string, 30) // shared by the records, as a model's are
	for f := range names {
		names[f] = fmt.Sprintf("stats__f%02d", f)
	}
	for i := range recs {
		values := make([]any, len(names))
		for f := range values {
			values[f] = rand.Float64()
		}
		recs[i] = serve.LogRecord{RequestID: fmt.Sprintf("%016x", rand.Uint64()), Time: time.Now(), Endpoint: "score", Model: "score",
			Version: 1, Variant: "stable", Inputs: serve.Inputs{Names: names, Values: values}, Request: map[string]any{"entity_id": fmt.Sprint("e", i)}, Outputs: []float64{rand.Float64()}, LatencyUS: 120}
	}
	b.ResetTimer()
	var flush time.Duration
	for i := 0; i < b.N; i++ {
		sink.Add(ctx, recs[i%len(recs)])
		if (i+1)%20_000 == 0 || i == b.N-1 {
			start := time.Now()
			if _, err := sink.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			flush += time.Since(start)
		}
	}
	b.ReportMetric(float64(flush.Nanoseconds())/float64(b.N), "flush-ns/record")
}

// A batch that cannot be written is lost whole, and Flush says how many
// records that was: none stored, the error named.
func TestLogSinkLostBatch(t *testing.T) {
	ctx := context.Background()
	n, err := Open(ctx, Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	sink := newLogSink(n.Ingester, filepath.Join(t.TempDir(), "missing"))
	rec := serve.LogRecord{RequestID: "r", Time: time.Now(), Endpoint: "score", Model: "score", Version: 1,
		Inputs: serve.Inputs{Names: []string{"x"}, Values: []any{1.0}}, Outputs: []float64{0.5}}
	for range 300 {
		sink.Add(ctx, rec)
	}
	stored, err := sink.Flush(ctx)
	if stored != 0 || err == nil || !strings.Contains(err.Error(), "predictions_score") {
		t.Fatalf("Flush = %d, %v", stored, err)
	}
	// The next batch is a new one.
	sink.dir = t.TempDir()
	sink.Add(ctx, rec)
	if stored, err := sink.Flush(ctx); stored != 1 || err != nil {
		t.Fatalf("after: Flush = %d, %v", stored, err)
	}
}

// A server's batch directory outlives a kill -9; the next server removes
// those of processes that are gone and leaves the running ones'.
func TestLogDir(t *testing.T) {
	work := t.TempDir()
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Skip("no true command:", err)
	}
	for _, pid := range []int{gone.Process.Pid, os.Getppid()} {
		dir := filepath.Join(work, "prediction-log", strconv.Itoa(pid))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "predictions-1.parquet"), []byte("PAR1"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dir, err := logDir(work)
	if err != nil {
		t.Fatal(err)
	}
	if dir != filepath.Join(work, "prediction-log", strconv.Itoa(os.Getpid())) {
		t.Fatalf("dir %s", dir)
	}
	if _, err := os.Stat(filepath.Join(work, "prediction-log", strconv.Itoa(gone.Process.Pid))); !os.IsNotExist(err) {
		t.Errorf("a gone process's batches are still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(work, "prediction-log", strconv.Itoa(os.Getppid()), "predictions-1.parquet")); err != nil {
		t.Errorf("a running process's batch was removed: %v", err)
	}
}

// A batch larger than a row group reaches its file a row group at a time
// and is moved into the blob store whole: the dataset's version reads back
// (its digest checked) with every row, and nothing is left in the batch
// directory.
func TestLogSinkBatchMoved(t *testing.T) {
	ctx := context.Background()
	n, err := Open(ctx, Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	dir := t.TempDir()
	sink := newLogSink(n.Ingester, dir)
	const records = 2*rowGroupRows + 100
	names := []string{"x", "y"}
	for i := range records {
		sink.Add(ctx, serve.LogRecord{RequestID: strconv.Itoa(i), Time: time.Now(), Endpoint: "score", Model: "score", Version: 1,
			Inputs:  serve.Inputs{Names: names, Values: []any{float64(i), strconv.Itoa(i)}},
			Request: map[string]any{"entity_id": "e" + strconv.Itoa(i)}, Outputs: []float64{float64(i) / 2}})
	}
	if stored, err := sink.Flush(ctx); stored != records || err != nil {
		t.Fatalf("Flush = %d, %v", stored, err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("batch directory holds %d files after the flush", len(left))
	}
	snapshots := &dataset.Snapshots{Store: n.Meta, Blobs: n.Blobs, CacheDir: t.TempDir()}
	files, err := snapshots.Files(ctx, PredictionDataset("score"), nil)
	if err != nil || len(files) != 1 {
		t.Fatalf("Files = %v, %v", files, err)
	}
	var rows, distinct, groups int
	if err := n.Offline.DB().QueryRowContext(ctx, `SELECT count(*), count(DISTINCT request_id) FROM read_parquet(?)`, files[0]).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if err := n.Offline.DB().QueryRowContext(ctx, `SELECT count(DISTINCT row_group_id) FROM parquet_metadata(?)`, files[0]).Scan(&groups); err != nil {
		t.Fatal(err)
	}
	if rows != records || distinct != records || groups != 3 {
		t.Errorf("read back %d rows, %d request ids, %d row groups; want %d, %d, 3", rows, distinct, groups, records, records)
	}
	// Every row's text is its own, though rows are encoded into one reused
	// buffer.
	var matching int
	if err := n.Offline.DB().QueryRowContext(ctx, `SELECT count(*) FROM read_parquet(?)
		WHERE CAST(json_extract(inputs, '$.x') AS BIGINT) = CAST(request_id AS BIGINT)
		  AND json_extract_string(inputs, '$.y') = request_id
		  AND json_extract_string(request, '$.entity_id') = 'e' || request_id`, files[0]).Scan(&matching); err != nil {
		t.Fatal(err)
	}
	if matching != records {
		t.Errorf("%d of %d rows hold their own inputs and request", matching, records)
	}
}
