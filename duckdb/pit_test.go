package duckdb_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/duckdb"
	"github.com/plinthml/plinth/feature"
)

// The property test: random labels and feature rows with timestamp ties,
// duplicate rows, TTL edges, late-arriving rows and missing entities; the
// engine's training set must equal a brute-force reference row for row.

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type featRow struct {
	keys     []string
	event    time.Time
	ingested time.Time
	value    int64
}

type labelRow struct {
	keys []string
	at   time.Time
}

type viewData struct {
	view feature.View
	rows []featRow
}

// reference is the brute-force point-in-time lookup: the latest row at or
// before t (ties: the last ingested), among rows ingested by asOf, if
// within the TTL.
func reference(v viewData, l labelRow, asOf *time.Time) (int64, bool) {
	var best *featRow
	for i := range v.rows {
		r := &v.rows[i]
		if !equal(r.keys, l.keys) || r.event.After(l.at) || asOf != nil && r.ingested.After(*asOf) {
			continue
		}
		if best == nil || r.event.After(best.event) || r.event.Equal(best.event) && r.ingested.After(best.ingested) {
			best = r
		}
	}
	if best == nil || v.view.TTL > 0 && l.at.Sub(best.event) > v.view.TTL.Std() {
		return 0, false
	}
	return best.value, true
}

func equal(a, b []string) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Views read tables with an ingestion column, or (snapshots) dataset
// snapshot files: one per ingested batch, oldest first, each with a single
// ingestion time, as the dataset store keeps them.
func TestTrainingSetMatchesBruteForce(t *testing.T) {
	for _, snapshots := range []bool{false, true} {
		for seed := uint64(1); seed <= 12; seed++ {
			t.Run(fmt.Sprintf("snapshots=%v/seed%d", snapshots, seed), func(t *testing.T) { checkSeed(t, seed, snapshots) })
		}
	}
}

func checkSeed(t *testing.T, seed uint64, snapshots bool) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 99))
	e, err := duckdb.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	db := e.DB()

	minute := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	drivers := []string{"d1", "d2", "d3", "d4"}
	origins := []string{"JFK", "LGA", "EWR"}

	// A view keyed by one entity with a TTL, and one keyed by two join
	// keys without.
	views := []viewData{
		{view: feature.View{Name: "driver_stats", Entities: []string{"driver"}, Source: "driver_rows", Timestamp: "event_ts", Ingested: "ingested_ts", Features: []string{"trips"}, TTL: plinth.Duration(30 * time.Minute)}},
		{view: feature.View{Name: "route_stats", Entities: []string{"route"}, Source: "route_rows", Timestamp: "event_ts", Ingested: "ingested_ts", Features: []string{"delay"}}},
	}
	// In snapshot mode a row's ingestion time is its batch's; rows that
	// tie on keys and event time within a batch are ambiguous, so they go
	// to another batch or are skipped.
	batches := 1 + rng.IntN(5)
	batchTime := func(b int) time.Time { return minute(17 * b) }
	seen := map[string]bool{}
	place := func(view int, r featRow) (featRow, bool) {
		if !snapshots {
			return r, true
		}
		for try := 0; try < batches; try++ {
			b := rng.IntN(batches)
			k := fmt.Sprint(view, r.keys, r.event, b)
			if !seen[k] {
				seen[k] = true
				r.ingested = batchTime(b)
				return r, true
			}
		}
		return r, false
	}
	for i := 0; i < 150; i++ {
		// Event minutes from a small range force ties; ingestion usually
		// follows the event, sometimes an hour later (a late backfill).
		ev := minute(rng.IntN(60))
		lag := time.Duration(rng.IntN(5)) * time.Minute
		if rng.IntN(6) == 0 {
			lag += time.Hour
		}
		if r, ok := place(0, featRow{keys: []string{drivers[rng.IntN(3)]}, event: ev, ingested: ev.Add(lag).Add(time.Duration(i) * time.Microsecond), value: int64(i)}); ok {
			views[0].rows = append(views[0].rows, r)
		}
	}
	for i := 0; i < 150; i++ {
		ev := minute(rng.IntN(60))
		if r, ok := place(1, featRow{keys: []string{origins[rng.IntN(3)], origins[rng.IntN(2)]}, event: ev, ingested: ev.Add(time.Duration(i) * time.Microsecond), value: int64(1000 + i)}); ok {
			views[1].rows = append(views[1].rows, r)
		}
	}
	// Exact duplicates of some rows (same keys, times and value).
	for i := 0; i < 10; i++ {
		views[0].rows = append(views[0].rows, views[0].rows[rng.IntN(len(views[0].rows))])
	}

	var labels []labelRow
	for i := 0; i < 300; i++ {
		at := minute(rng.IntN(100))
		switch rng.IntN(5) {
		case 0: // exactly at a feature row's event time
			at = views[0].rows[rng.IntN(len(views[0].rows))].event
		case 1: // exactly at the TTL edge of one, or one microsecond past it
			at = views[0].rows[rng.IntN(len(views[0].rows))].event.Add(30*time.Minute + time.Duration(rng.IntN(2))*time.Microsecond)
		}
		d := drivers[rng.IntN(len(drivers))] // d4 never has features
		labels = append(labels, labelRow{keys: []string{d, origins[rng.IntN(3)], origins[rng.IntN(3)]}, at: at})
	}
	labels = append(labels, labels[:20]...) // duplicate label rows keep their place

	mustExec(t, db, `CREATE TABLE driver_rows (driver_id VARCHAR, event_ts TIMESTAMPTZ, ingested_ts TIMESTAMPTZ, trips BIGINT)`)
	mustExec(t, db, `CREATE TABLE route_rows (origin VARCHAR, dest VARCHAR, event_ts TIMESTAMPTZ, ingested_ts TIMESTAMPTZ, delay BIGINT)`)
	mustExec(t, db, `CREATE TABLE labels (driver_id VARCHAR, origin VARCHAR, dest VARCHAR, ts TIMESTAMPTZ, label INTEGER)`)
	// Insert rows in a shuffled order: the engine may not rely on it.
	for _, r := range shuffled(rng, views[0].rows) {
		mustExec(t, db, `INSERT INTO driver_rows VALUES (?, ?, ?, ?)`, r.keys[0], r.event, r.ingested, r.value)
	}
	for _, r := range shuffled(rng, views[1].rows) {
		mustExec(t, db, `INSERT INTO route_rows VALUES (?, ?, ?, ?, ?)`, r.keys[0], r.keys[1], r.event, r.ingested, r.value)
	}
	for i, l := range labels {
		mustExec(t, db, `INSERT INTO labels VALUES (?, ?, ?, ?, ?)`, l.keys[0], l.keys[1], l.keys[2], l.at, i)
	}

	if snapshots {
		dir := t.TempDir()
		for i, table := range []string{"driver_rows", "route_rows"} {
			views[i].view.Paths = nil
			for b := 0; b < batches; b++ {
				path := filepath.Join(dir, fmt.Sprintf("%s-%d.parquet", table, b))
				mustExec(t, db, fmt.Sprintf(`COPY (SELECT * FROM %s WHERE ingested_ts = ?) TO '%s' (FORMAT parquet)`, table, path), batchTime(b))
				views[i].view.Paths = append(views[i].view.Paths, path)
			}
		}
	}

	var asOf *time.Time
	if seed%2 == 0 {
		cut := minute(45)
		asOf = &cut
	}
	out := filepath.Join(t.TempDir(), "training.parquet")
	ts, err := e.TrainingSet(ctx, feature.TrainingSetSpec{
		Labels: "labels", Timestamp: "ts", AsOf: asOf, Output: out,
		Entities: []feature.Entity{{Name: "driver", JoinKeys: []string{"driver_id"}}, {Name: "route", JoinKeys: []string{"origin", "dest"}}},
		Views:    []feature.View{views[0].view, views[1].view},
	})
	if err != nil {
		t.Fatal(err)
	}
	if ts.Rows != int64(len(labels)) {
		t.Fatalf("training set has %d rows, want %d (one per label row)", ts.Rows, len(labels))
	}
	rows, err := db.Query(`SELECT label, driver_stats__trips, route_stats__delay FROM read_parquet(?)`, out)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	i := 0
	for rows.Next() {
		var label int
		var trips, delay sql.NullInt64
		if err := rows.Scan(&label, &trips, &delay); err != nil {
			t.Fatal(err)
		}
		if label != i {
			t.Fatalf("output row %d holds label row %d: the label order was not kept", i, label)
		}
		l := labels[i]
		wantTrips, okTrips := reference(views[0], labelRow{keys: l.keys[:1], at: l.at}, asOf)
		wantDelay, okDelay := reference(views[1], labelRow{keys: l.keys[1:], at: l.at}, asOf)
		if trips.Valid != okTrips || okTrips && trips.Int64 != wantTrips {
			t.Errorf("row %d (%v at %s): driver_stats__trips = %v, want %v (present %v)", i, l.keys, l.at.Format(time.TimeOnly), trips, wantTrips, okTrips)
		}
		if delay.Valid != okDelay || okDelay && delay.Int64 != wantDelay {
			t.Errorf("row %d (%v at %s): route_stats__delay = %v, want %v (present %v)", i, l.keys, l.at.Format(time.TimeOnly), delay, wantDelay, okDelay)
		}
		i++
	}
	if i != len(labels) {
		t.Fatalf("read %d rows, want %d", i, len(labels))
	}
}

func shuffled(rng *rand.Rand, rows []featRow) []featRow {
	out := append([]featRow(nil), rows...)
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func mustExec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func TestTrainingSetErrors(t *testing.T) {
	e, err := duckdb.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	mustExec(t, e.DB(), `CREATE TABLE labels (driver_id VARCHAR, ts TIMESTAMP)`)
	mustExec(t, e.DB(), `CREATE TABLE rows (driver_id VARCHAR, ts TIMESTAMP, trips BIGINT)`)
	good := func() feature.TrainingSetSpec {
		return feature.TrainingSetSpec{
			Labels: "labels", Timestamp: "ts", Output: filepath.Join(t.TempDir(), "o.parquet"),
			Entities: []feature.Entity{{Name: "driver", JoinKeys: []string{"driver_id"}}},
			Views:    []feature.View{{Name: "v", Entities: []string{"driver"}, Source: "rows", Timestamp: "ts", Features: []string{"trips"}}},
		}
	}
	if _, err := e.TrainingSet(context.Background(), good()); err != nil {
		t.Fatalf("valid spec: %v", err)
	}
	for _, tc := range []struct {
		name  string
		edit  func(s *feature.TrainingSetSpec)
		field string
	}{
		{"unknown entity", func(s *feature.TrainingSetSpec) { s.Views[0].Entities = []string{"plane"} }, "views.v.entities"},
		{"sql in a name", func(s *feature.TrainingSetSpec) { s.Views[0].Features = []string{"trips; DROP TABLE rows"} }, "views[0].features[0]"},
		{"bad source", func(s *feature.TrainingSetSpec) { s.Views[0].Source = "rows; --" }, "views[0].source"},
		{"missing column", func(s *feature.TrainingSetSpec) { s.Views[0].Features = []string{"speed"} }, "views"},
		{"negative ttl", func(s *feature.TrainingSetSpec) { s.Views[0].TTL = plinth.Duration(-time.Second) }, "views[0].ttl"},
		{"no views", func(s *feature.TrainingSetSpec) { s.Views = nil }, "views"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := good()
			tc.edit(&spec)
			_, err := e.TrainingSet(context.Background(), spec)
			pe, ok := err.(*plinth.Error)
			if !ok || pe.Code != plinth.EINVALID || pe.Field != tc.field {
				t.Fatalf("error = %v, want invalid %s", err, tc.field)
			}
		})
	}
}

func TestRange(t *testing.T) {
	e, err := duckdb.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	db := e.DB()
	mustExec(t, db, `CREATE TABLE temps (origin VARCHAR, obs TIMESTAMPTZ, ingested TIMESTAMPTZ, temp DOUBLE)`)
	for _, r := range []struct {
		origin, at, ing string
		temp            float64
	}{
		{"JFK", "05:00", "05:01", 1}, {"JFK", "06:00", "06:01", 2}, {"JFK", "06:00", "09:00", 3}, // a correction ingested later
		{"LGA", "06:30", "06:31", 4}, {"LGA", "07:00", "07:01", 5},
	} {
		mustExec(t, db, `INSERT INTO temps VALUES (?, ?, ?, ?)`, r.origin, "2013-01-01 "+r.at+":00+00", "2013-01-01 "+r.ing+":00+00", r.temp)
	}
	view := feature.View{Name: "w", Entities: []string{"airport"}, Source: "temps", Timestamp: "obs", Ingested: "ingested", Features: []string{"temp"}}
	read := func(asOf *time.Time) string {
		out := filepath.Join(t.TempDir(), "r.parquet")
		_, err := e.Range(context.Background(), feature.RangeSpec{
			Entities: []feature.Entity{{Name: "airport", JoinKeys: []string{"origin"}}}, View: view,
			Start: time.Date(2013, 1, 1, 5, 30, 0, 0, time.UTC), End: time.Date(2013, 1, 1, 7, 0, 0, 0, time.UTC), AsOf: asOf, Output: out,
		})
		if err != nil {
			t.Fatal(err)
		}
		rows, _ := db.Query(`SELECT origin, w__temp FROM read_parquet(?)`, out)
		defer rows.Close()
		var got []string
		for rows.Next() {
			var o string
			var v float64
			rows.Scan(&o, &v)
			got = append(got, fmt.Sprintf("%s=%g", o, v))
		}
		return fmt.Sprint(got)
	}
	if got := read(nil); got != "[JFK=3 LGA=4]" {
		t.Fatalf("range = %s", got)
	}
	before := time.Date(2013, 1, 1, 8, 0, 0, 0, time.UTC)
	if got := read(&before); got != "[JFK=2 LGA=4]" {
		t.Fatalf("range as of 08:00 = %s", got)
	}
}
