package duckdb_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/duckdb"
	"github.com/plinthml/plinth/feature"
)

// BenchmarkTrainingSet builds a training set of 1M label rows against 3
// feature views holding 10M rows in total, and, in the same process on the
// same data, the anchor: a hand-written DuckDB ASOF JOIN that ignores
// ingestion time, ties and TTLs. The target is at most 1.2x the
// anchor. The views' rows are Parquet snapshots, as the dataset store
// keeps them: one file per ingested batch (4 per view), each with one
// ingestion time. Both sides read those files and write Parquet.
func BenchmarkTrainingSet(b *testing.B) {
	e, err := duckdb.Open("")
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	db := e.DB()
	dir := b.TempDir()
	start := time.Now()
	// Each view covers 40 hours in 4 batches of 10 hours, a batch ingested
	// when its hours have passed.
	for _, q := range []string{
		`CREATE TABLE driver_hourly AS SELECT (i % 100000) AS driver_id,
			TIMESTAMPTZ '2026-01-01' + to_seconds((i // 100000) * 3600 + (i % 97)) AS event_ts,
			(i // 100000) // 10 AS batch, random() AS trips, random() AS rating FROM range(4000000) t(i)`,
		`CREATE TABLE driver_daily AS SELECT (i % 100000) AS driver_id,
			TIMESTAMPTZ '2026-01-01' + to_seconds((i // 100000) * 7200) AS event_ts,
			(i // 100000) // 8 AS batch, random() AS acceptance FROM range(3000000) t(i)`,
		`CREATE TABLE route_hourly AS SELECT (i % 300) AS origin, ((i // 300) % 100) AS dest,
			TIMESTAMPTZ '2026-01-01' + to_seconds((i // 30000) * 3600) AS event_ts,
			(i // 30000) // 25 AS batch, random() AS delay FROM range(3000000) t(i)`,
		`CREATE TABLE labels AS SELECT (i * 7919) % 100000 AS driver_id, (i % 300) AS origin, (i % 100) AS dest,
			TIMESTAMPTZ '2026-01-01' + to_seconds(3600 + (i * 104729) % (40 * 3600)) AS ts,
			(i % 3 = 0) AS label FROM range(1000000) t(i)`,
	} {
		if _, err := db.Exec(q); err != nil {
			b.Fatal(err)
		}
	}
	files := map[string][]string{}
	for _, view := range []string{"driver_hourly", "driver_daily", "route_hourly"} {
		for batch := 0; batch < 4; batch++ {
			path := filepath.Join(dir, fmt.Sprintf("%s-%d.parquet", view, batch))
			q := fmt.Sprintf(`COPY (SELECT * EXCLUDE (batch), TIMESTAMPTZ '2026-01-01' + to_seconds(36000 * (batch + 1)) AS _ingested_at
				FROM %s WHERE batch = %d) TO '%s' (FORMAT parquet)`, view, batch, path)
			if _, err := db.Exec(q); err != nil {
				b.Fatal(err)
			}
			files[view] = append(files[view], path)
		}
		if _, err := db.Exec(`DROP TABLE ` + view); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("generated 10M feature rows and 1M labels in %s", time.Since(start).Round(time.Millisecond))

	b.Run("plinth", func(b *testing.B) {
		view := func(name string, entity string, features []string, ttl time.Duration) feature.View {
			return feature.View{Name: name, Entities: []string{entity}, Source: name, Paths: files[name], Timestamp: "event_ts",
				Ingested: "_ingested_at", Features: features, TTL: plinth.Duration(ttl)}
		}
		spec := feature.TrainingSetSpec{
			Labels: "labels", Timestamp: "ts", Output: filepath.Join(dir, "plinth.parquet"),
			Entities: []feature.Entity{{Name: "driver", JoinKeys: []string{"driver_id"}}, {Name: "route", JoinKeys: []string{"origin", "dest"}}},
			Views: []feature.View{
				view("driver_hourly", "driver", []string{"trips", "rating"}, 2*time.Hour),
				view("driver_daily", "driver", []string{"acceptance"}, 24*time.Hour),
				view("route_hourly", "route", []string{"delay"}, 0),
			},
		}
		for b.Loop() {
			ts, err := e.TrainingSet(context.Background(), spec)
			if err != nil {
				b.Fatal(err)
			}
			if ts.Rows != 1_000_000 {
				b.Fatalf("%d rows", ts.Rows)
			}
		}
		reportPeak(b, db)
	})

	b.Run("anchor-handwritten-asof", func(b *testing.B) {
		read := func(view string) string { return "read_parquet(['" + strings.Join(files[view], "', '") + "'])" }
		q := `COPY (SELECT l.*, a.trips, a.rating, d.acceptance, r.delay FROM labels l
			ASOF LEFT JOIN ` + read("driver_hourly") + ` a ON l.driver_id = a.driver_id AND l.ts >= a.event_ts
			ASOF LEFT JOIN ` + read("driver_daily") + ` d ON l.driver_id = d.driver_id AND l.ts >= d.event_ts
			ASOF LEFT JOIN ` + read("route_hourly") + ` r ON l.origin = r.origin AND l.dest = r.dest AND l.ts >= r.event_ts)
			TO '` + filepath.Join(dir, "anchor.parquet") + `' (FORMAT parquet)`
		for b.Loop() {
			if _, err := db.Exec(q); err != nil {
				b.Fatal(err)
			}
		}
		reportPeak(b, db)
	})
}

// reportPeak reports the process's peak resident memory, DuckDB included.
func reportPeak(b *testing.B, db *sql.DB) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MiB")
	}
}
