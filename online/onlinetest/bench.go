package onlinetest

import (
	"context"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/plinthml/plinth/online"
)

// Benchmark sizes, as the issue states its targets.
const (
	benchWriteRecords = 100_000 // records per Write
	benchWriteValues  = 10      // values per record
	benchEntities     = 100_000 // entities stored for the Get benchmarks
	benchFeatures     = 50      // features per entity
	benchBatch        = 100     // entities per batch Get
)

// Bench runs the benchmarks every store reports:
//
//   - Write/insert and Write/update: Writes of 100k records x 10 values, of
//     new keys and of newer versions of stored keys; metric values/s.
//   - Get/1x50: one entity with 50 features per Get, random keys over 100k
//     stored entities; metrics p50-us and p99-us of the per-call latency.
//   - Get/100x50: 100 entities per Get; the same metrics per call.
func Bench(b *testing.B, open Opener) {
	b.Run("Write/insert", func(b *testing.B) { benchWrite(b, openStore(b, open), false) })
	b.Run("Write/update", func(b *testing.B) { benchWrite(b, openStore(b, open), true) })
	b.Run("Get", func(b *testing.B) {
		s := openStore(b, open)
		recs := Records("bench", benchEntities, benchFeatures, base)
		for chunk := range slices.Chunk(recs, 10_000) {
			write(b, s, chunk...)
		}
		b.Run("1x50", func(b *testing.B) { benchGet(b, s, 1) })
		b.Run("100x50", func(b *testing.B) { benchGet(b, s, benchBatch) })
	})
}

func benchWrite(b *testing.B, s online.Store, update bool) {
	ctx := context.Background()
	recs := Records("bench", benchWriteRecords, benchWriteValues, base)
	if update {
		write(b, s, recs...)
	}
	i := 0
	b.ResetTimer()
	for b.Loop() {
		i++
		b.StopTimer()
		shift := time.Duration(i) * time.Hour
		for j := range recs {
			if update {
				recs[j].EventTime = base.Add(shift + time.Duration(j))
			} else {
				recs[j].Key = strconv.Itoa(i) + "/" + key(j)
			}
		}
		b.StartTimer()
		if err := s.Write(ctx, recs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*benchWriteRecords*benchWriteValues)/b.Elapsed().Seconds(), "values/s")
}

func benchGet(b *testing.B, s online.Store, batch int) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	keys := make([]string, batch)
	dst := make([]online.Result, batch)
	lat := make([]time.Duration, 0, 1<<16)
	for b.Loop() {
		for i := range keys {
			keys[i] = key(rng.IntN(benchEntities))
		}
		start := time.Now()
		err := s.Get(ctx, "bench", keys, dst)
		lat = append(lat, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		if !dst[0].Found || len(dst[0].Values) != benchFeatures {
			b.Fatalf("Get %s: found=%v, %d values", keys[0], dst[0].Found, len(dst[0].Values))
		}
	}
	slices.Sort(lat)
	q := func(p float64) float64 {
		return float64(lat[int(p*float64(len(lat)-1))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(q(0.50), "p50-us")
	b.ReportMetric(q(0.99), "p99-us")
	b.ReportMetric(float64(batch*benchFeatures*b.N)/b.Elapsed().Seconds(), "values/s")
}
