package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/plinthml/plinth/client"
	"github.com/plinthml/plinth/dataset"
	"github.com/plinthml/plinth/feature"
	"github.com/plinthml/plinth/project"
	"github.com/plinthml/plinth/server"
)

const (
	benchEntities = 200_000
	benchFeatures = 50
)

// featureNode is a node holding one dataset of 200,000 entities x
// features random floats, registered as view "stats" and service "svc".
func featureNode(b *testing.B, features int) (*server.Node, string) {
	ctx := context.Background()
	dir := b.TempDir()
	n, err := server.Open(ctx, server.Config{DataDir: dir})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { n.Close() })
	var cols, names []string
	for i := 0; i < features; i++ {
		cols = append(cols, fmt.Sprintf("random() AS f%02d", i))
		names = append(names, fmt.Sprintf("f%02d", i))
	}
	file := filepath.Join(dir, "batch.parquet")
	if _, err := n.Offline.DB().Exec(`COPY (SELECT 'e' || i AS entity_id, TIMESTAMPTZ '2026-11-01' + to_seconds(i % 3600) AS ts, ` +
		strings.Join(cols, ", ") + ` FROM range(` + fmt.Sprint(benchEntities) + `) t(i)) TO '` + file + `' (FORMAT parquet)`); err != nil {
		b.Fatal(err)
	}
	if _, _, err := n.Ingester.Ingest(ctx, dataset.Spec{Name: "stats", EventTime: "ts"}, file); err != nil {
		b.Fatal(err)
	}
	f := &project.File{
		Entities: []feature.Entity{{Name: "entity", JoinKeys: []string{"entity_id"}}},
		Views:    []feature.View{{Name: "stats", Entities: []string{"entity"}, Source: "stats", Timestamp: "ts", Features: names}},
		Services: []feature.Service{{Name: "svc", Features: []string{"stats"}}},
	}
	f.Datasets = []dataset.Spec{{Name: "stats", EventTime: "ts"}}
	if err := f.Validate(); err != nil {
		b.Fatal(err)
	}
	if err := project.Apply(ctx, n.Meta, f, project.Plan(f, nil, false)); err != nil {
		b.Fatal(err)
	}
	return n, dir
}

// servedFeatureNode is featureNode with its features materialized online
// and the node serving HTTP on loopback until the benchmark ends; it
// returns the node and its base URL.
func servedFeatureNode(b *testing.B, features int) (*server.Node, string) {
	ctx := context.Background()
	n, _ := featureNode(b, features)
	if _, err := n.API.Materializer.Materialize(ctx, nil, nil); err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	go n.Serve(sctx, ln, time.Second)
	b.Cleanup(stop)
	return n, "http://" + ln.Addr().String()
}

// BenchmarkMaterialize copies 200,000 entities x 50 features (10M values)
// from their Parquet snapshot into the embedded online store (Pebble).
// Target: at least 1M values/s.
func BenchmarkMaterialize(b *testing.B) {
	n, _ := featureNode(b, benchFeatures)
	m := n.API.Materializer
	ctx := context.Background()
	var values int64
	for b.Loop() {
		b.StopTimer()
		// Forget the watermark so every iteration does the full copy.
		ents, views, _ := m.Catalog.Features(ctx)
		keys, _ := (&feature.TrainingSetSpec{Entities: ents}).JoinKeys(views[0])
		n.Meta.SetWatermark(ctx, feature.OnlineView(views[0], keys), 0, 0)
		b.StartTimer()
		res, err := m.Materialize(ctx, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		values = res[0].Values
	}
	if values != benchEntities*benchFeatures {
		b.Fatalf("materialized %d values", values)
	}
	b.ReportMetric(float64(values)*float64(b.N)/b.Elapsed().Seconds(), "values/s")
}

// BenchmarkOnlineGet fetches one entity's 50 features of a feature service,
// in process (feature.Server) and over HTTP on loopback (the API), and
// reports latency percentiles. Targets: p99 at most 100 µs in process and
// 1 ms over HTTP.
func BenchmarkOnlineGet(b *testing.B) {
	ctx := context.Background()
	n, base := servedFeatureNode(b, benchFeatures)
	fs := n.API.FeatureServer
	c, _ := client.New(base)

	for _, bc := range []struct {
		name string
		rows int
		get  func(rows []map[string]any) error
	}{
		{"in-process/1x50", 1, func(rows []map[string]any) error { _, _, err := fs.Get(ctx, "svc", rows); return err }},
		{"in-process/100x50", 100, func(rows []map[string]any) error { _, _, err := fs.Get(ctx, "svc", rows); return err }},
		{"http/1x50", 1, func(rows []map[string]any) error { _, _, err := c.OnlineFeatures(ctx, "svc", rows); return err }},
		{"http/100x50", 100, func(rows []map[string]any) error { _, _, err := c.OnlineFeatures(ctx, "svc", rows); return err }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			rows := make([]map[string]any, bc.rows)
			var lat []time.Duration
			i := 0
			for b.Loop() {
				for j := range rows {
					rows[j] = map[string]any{"entity_id": fmt.Sprintf("e%d", (i*7919+j*104729)%benchEntities)}
				}
				i++
				start := time.Now()
				if err := bc.get(rows); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
	// The answer is what a client reads: check one.
	_, got, err := c.OnlineFeatures(ctx, "svc", []map[string]any{{"entity_id": "e42"}})
	if err != nil || got[0]["stats__f07"].Status != feature.Present {
		raw, _ := json.Marshal(got)
		b.Fatalf("online get: %s, %v", raw, err)
	}
}
