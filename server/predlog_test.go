package server

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plinthml/plinth/blob"
	"github.com/plinthml/plinth/dataset"
	"github.com/plinthml/plinth/model"
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
	sink := newLogSink(n.Ingester, b.TempDir(), nil)
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

// A segment that cannot be written is lost whole, and Flush says how many
// records that was: none stored, the error named.
func TestLogSinkLostBatch(t *testing.T) {
	ctx := context.Background()
	n, err := Open(ctx, Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	sink := newLogSink(n.Ingester, filepath.Join(t.TempDir(), "missing"), nil)
	rec := serve.LogRecord{RequestID: "r", Time: time.Now(), Endpoint: "score", Model: "score", Version: 1,
		Inputs: serve.Inputs{Names: []string{"x"}, Values: []any{1.0}}, Outputs: []float64{0.5}}
	for range 300 {
		sink.Add(ctx, rec)
	}
	stored, err := sink.Flush(ctx)
	if stored != 0 || err == nil || !strings.Contains(err.Error(), "300 records lost") {
		t.Fatalf("Flush = %d, %v", stored, err)
	}
	// The next batch is a new one.
	sink.dir = t.TempDir()
	sink.Add(ctx, rec)
	if stored, err := sink.Flush(ctx); stored != 1 || err != nil {
		t.Fatalf("after: Flush = %d, %v", stored, err)
	}
}

// A server's spool outlives a kill -9; the next server takes the
// segments of processes that are gone, removes what else they left, and
// leaves the running ones' directories alone.
func TestLogDir(t *testing.T) {
	work := t.TempDir()
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Skip("no true command:", err)
	}
	write := func(pid int, name string) string {
		dir := filepath.Join(work, "prediction-log", strconv.Itoa(pid))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte("data"), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	older := write(gone.Process.Pid, "segment-1.spool")
	newer := write(gone.Process.Pid, "segment-2.spool")
	os.Chtimes(older, time.Now().Add(-time.Minute), time.Now().Add(-time.Minute))
	unfinished := write(gone.Process.Pid, "predictions-1.parquet")
	running := write(os.Getppid(), "segment-3.spool")
	dir, orphans, err := logDir(work)
	if err != nil {
		t.Fatal(err)
	}
	if dir != filepath.Join(work, "prediction-log", strconv.Itoa(os.Getpid())) {
		t.Fatalf("dir %s", dir)
	}
	if !slices.Equal(orphans, []string{older, newer}) {
		t.Errorf("orphans %v, want %v", orphans, []string{older, newer})
	}
	if _, err := os.Stat(unfinished); !os.IsNotExist(err) {
		t.Errorf("a gone process's unfinished file is still there: %v", err)
	}
	if _, err := os.Stat(running); err != nil {
		t.Errorf("a running process's segment was touched: %v", err)
	}
}

// A batch larger than a row group is converted, by a converter process,
// into a file of several row groups, which is moved into the blob store
// whole: the dataset's version reads back (its digest checked) with every
// row, and nothing is left in the log's directory.
func TestLogSinkBatchMoved(t *testing.T) {
	ctx := context.Background()
	n, err := Open(ctx, Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	dir := t.TempDir()
	conv := &converter{}
	defer conv.Close()
	sink := newLogSink(n.Ingester, dir, conv.convert)
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
	if conv.cmd == nil {
		t.Error("the segment was not converted by a converter process")
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("the log's directory holds %d files after the flush", len(left))
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
		WHERE CAST(features.x AS BIGINT) = CAST(request_id AS BIGINT)
		  AND features.y = request_id
		  AND json_extract_string(request, '$.entity_id') = 'e' || request_id`, files[0]).Scan(&matching); err != nil {
		t.Fatal(err)
	}
	if matching != records {
		t.Errorf("%d of %d rows hold their own inputs and request", matching, records)
	}
}

// The log stores each model version's inputs in a struct typed as its
// signature says, and in files of their own: a lookup shows a record the
// features of its version only, a missing one as null.
func TestLogSinkTyped(t *testing.T) {
	ctx := context.Background()
	n, err := Open(ctx, Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	sink := newLogSink(n.Ingester, t.TempDir(), nil)
	v1 := []model.Feature{{Name: "f", Type: model.Float, Nullable: true}, {Name: "n", Type: model.Int}, {Name: "b", Type: model.Bool},
		{Name: "c", Type: model.Categorical, Categories: []string{"AA", "BB"}, Nullable: true}, {Name: "k", Type: model.Categorical}, {Name: "dep delay", Type: model.Float}}
	v2 := []model.Feature{{Name: "f", Type: model.Float}, {Name: "time", Type: model.Float}} // DuckDB quotes its keywords in types
	names := func(fs []model.Feature) []string {
		var out []string
		for _, f := range fs {
			out = append(out, f.Name)
		}
		return out
	}
	n1, n2 := names(v1), names(v2)
	add := func(id string, version int, features []model.Feature, names []string, values ...any) {
		sink.Add(ctx, serve.LogRecord{RequestID: id, Time: time.Now(), Endpoint: "score", Model: "score", Version: version,
			Inputs: serve.Inputs{Names: names, Values: values, Features: features}, Outputs: []float64{0.25, 0.75}})
	}
	add("a", 1, v1, n1, 1.5, 3.0, true, "BB", 2.0, 7.0)
	add("b", 1, v1, n1, math.NaN(), int64(4), 1.0, 0.0, json.Number("1"), 8.0)
	add("c", 1, v1, n1, nil, 5, false, "ZZ", 0.0, 9.0) // a category training never saw stays as sent
	add("d", 2, v2, n2, 2.5, 3.5)
	if stored, err := sink.Flush(ctx); stored != 4 || err != nil {
		t.Fatalf("Flush = %d, %v", stored, err)
	}
	vs, err := n.Meta.DatasetVersions(ctx, PredictionDataset("score"))
	if err != nil || len(vs) != 2 {
		t.Fatalf("versions = %+v, %v", vs, err)
	}
	want := map[string]map[string]any{
		"a": {"f": 1.5, "n": int64(3), "b": true, "c": "BB", "k": int64(2), "dep delay": 7.0},
		"b": {"f": nil, "n": int64(4), "b": true, "c": "AA", "k": int64(1), "dep delay": 8.0},
		"c": {"f": nil, "n": int64(5), "b": false, "c": "ZZ", "k": int64(0), "dep delay": 9.0},
		"d": {"f": 2.5, "time": 3.5},
	}
	for id, features := range want {
		recs, err := n.LookupPrediction(ctx, "score", id)
		if err != nil || len(recs) != 1 {
			t.Fatalf("LookupPrediction(%s) = %+v, %v", id, recs, err)
		}
		if got := recs[0].Inputs.Map(); !reflect.DeepEqual(got, features) || !slices.Equal(recs[0].Outputs, []float64{0.25, 0.75}) {
			t.Errorf("%s: inputs %v, outputs %v; want %v", id, got, recs[0].Outputs, features)
		}
	}
	// Each version's schema is its file's, as the engine reads it; read
	// together, the structs merge by name.
	for _, v := range vs {
		path := n.Blobs.(interface{ Path(blob.Digest) string }).Path(blob.Digest(v.Digest))
		var typ string
		if err := n.Offline.DB().QueryRowContext(ctx, `SELECT column_type FROM (DESCRIBE SELECT * FROM read_parquet(?)) WHERE column_name = 'features'`, path).Scan(&typ); err != nil {
			t.Fatal(err)
		}
		if recorded := v.Schema[len(v.Schema)-1]; recorded.Name != "features" || recorded.Type != typ {
			t.Errorf("recorded %v, the file's features are %s", recorded, typ)
		}
	}
	snapshots := &dataset.Snapshots{Store: n.Meta, Blobs: n.Blobs, CacheDir: t.TempDir()}
	files, err := snapshots.Files(ctx, PredictionDataset("score"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	if err := n.Offline.DB().QueryRowContext(ctx, `SELECT sum(features.f) FROM read_parquet(?, union_by_name = true)`, files).Scan(&sum); err != nil || sum != 4 {
		t.Errorf("sum of f over both versions = %v, %v", sum, err)
	}
}

// A log written before the features were typed (inputs as JSON text) is
// read beside the typed files that follow it: a lookup finds records of
// either kind, each with its own features.
func TestLookupOlderLog(t *testing.T) {
	ctx := context.Background()
	n, err := Open(ctx, Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	old := filepath.Join(t.TempDir(), "old.parquet")
	if _, err := n.Offline.DB().ExecContext(ctx, `COPY (SELECT 'r-old' AS request_id, TIMESTAMPTZ '2026-11-01 10:00:00+00' AS time, 'score' AS endpoint,
		'score' AS model, 1::BIGINT AS version, 'stable' AS variant, '{"x":1.5,"c":"AA"}' AS inputs, '{"entity_id":"e1"}' AS request,
		[0.25]::DOUBLE[] AS outputs, 120::BIGINT AS latency_us, TIMESTAMPTZ '2026-11-01 10:00:01+00' AS _ingested_at) TO '`+old+`' (FORMAT parquet)`); err != nil {
		t.Fatal(err)
	}
	spec := dataset.Spec{Name: PredictionDataset("score"), EventTime: "time", Columns: []dataset.Column{{Name: "time", Type: "timestamp", NotNull: true}}}
	if err := n.Meta.SetSpec(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Ingester.Record(ctx, spec, dataset.Written{File: old, Rows: 1, At: time.Now()}, "prediction log"); err != nil {
		t.Fatal(err)
	}
	sink := newLogSink(n.Ingester, t.TempDir(), nil)
	sink.Add(ctx, serve.LogRecord{RequestID: "r-new", Time: time.Now(), Endpoint: "score", Model: "score", Version: 2, Variant: "stable",
		Inputs:  serve.Inputs{Names: []string{"x", "z"}, Values: []any{2.5, true}, Features: []model.Feature{{Name: "x", Type: model.Float}, {Name: "z", Type: model.Bool}}},
		Request: map[string]any{"entity_id": "e2"}, Outputs: []float64{0.75}})
	if _, err := sink.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]map[string]any{"r-old": {"x": 1.5, "c": "AA"}, "r-new": {"x": 2.5, "z": true}} {
		recs, err := n.LookupPrediction(ctx, "score", id)
		if err != nil || len(recs) != 1 {
			t.Fatalf("LookupPrediction(%s) = %+v, %v", id, recs, err)
		}
		if got := recs[0].Inputs.Map(); !reflect.DeepEqual(got, want) || recs[0].Request["entity_id"] == nil {
			t.Errorf("%s: inputs %v, request %v; want inputs %v", id, got, recs[0].Request, want)
		}
	}
}
