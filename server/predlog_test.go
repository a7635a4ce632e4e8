package server

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

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
	sink := newLogSink(n.Ingester)
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
