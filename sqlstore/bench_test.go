package sqlstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/plinthml/plinth/track"
)

// BenchmarkLogBatch writes 100,000 metric points in one batch straight into
// the store: the database's share of the API benchmark in cmd/plinth.
func BenchmarkLogBatch(b *testing.B) {
	for name, open := range engines(b) {
		b.Run(name, func(b *testing.B) {
			s := open(b)
			ctx := context.Background()
			e := &track.Experiment{Name: "bench"}
			if err := s.CreateExperiment(ctx, e); err != nil {
				b.Fatal(err)
			}
			now := time.Now()
			var batch track.Batch
			for k := 0; k < 10; k++ {
				for i := 0; i < 10_000; i++ {
					batch.Metrics = append(batch.Metrics, track.Metric{Key: fmt.Sprintf("series-%d", k), Value: float64(i), Step: int64(i), Time: now})
				}
			}
			for b.Loop() {
				b.StopTimer()
				r := &track.Run{ExperimentID: e.ID, Status: track.Running}
				if err := s.CreateRun(ctx, r); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if err := s.LogBatch(ctx, r.ID, batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
