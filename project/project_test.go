package project_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plinthml/plinth/blob/fsblob"
	"github.com/plinthml/plinth/dataset"
	"github.com/plinthml/plinth/duckdb"
	"github.com/plinthml/plinth/feature"
	"github.com/plinthml/plinth/online/pebble"
	"github.com/plinthml/plinth/project"
	"github.com/plinthml/plinth/sqlstore"
)

const projectYAML = `
datasets:
  - name: weather
    event_time: time_hour
    columns:
      - {name: origin, type: string, not_null: true, in: [EWR, JFK, LGA]}
      - {name: temp, type: float, min: -40, max: 120}
      - {name: time_hour, type: timestamp, not_null: true}
entities:
  - {name: airport, join_keys: [origin]}
feature_views:
  - name: weather_hourly
    entities: [airport]
    source: weather
    timestamp: time_hour
    features: [temp]
    ttl: 1h
on_demand_features:
  - name: cold_and_late
    expression: "weather_hourly__temp < 42.0 && request.flight > 1"
    type: bool
feature_services:
  - name: delays
    features: [weather_hourly.temp]
    on_demand: [cold_and_late]
`

func TestProjectToTrainingSet(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	meta, err := sqlstore.Open(ctx, filepath.Join(dir, "plinth.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	blobs, _ := fsblob.Open(filepath.Join(dir, "blobs"))
	engine, err := duckdb.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(text), 0o644)
		return p
	}

	// Plan and apply the project; a second plan finds nothing to do.
	file := write("plinth.yaml", projectYAML)
	f, err := project.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	plan := project.Plan(f, nil, false)
	if len(plan) != 5 || !strings.Contains(project.Render(plan), "Plan: 5 to add, 0 to change, 0 to remove.") {
		t.Fatalf("first plan:\n%s", project.Render(plan))
	}
	if err := project.Apply(ctx, meta, f, plan); err != nil {
		t.Fatal(err)
	}
	defs, _ := meta.Definitions(ctx)
	if again := project.Plan(f, defs, false); len(again) != 0 {
		t.Fatalf("plan after apply:\n%s", project.Render(again))
	}

	// A changed TTL shows as a readable diff and bumps the version.
	write("plinth.yaml", strings.Replace(projectYAML, "ttl: 1h", "ttl: 2h", 1))
	f2, err := project.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	plan = project.Plan(f2, defs, false)
	out := project.Render(plan)
	if len(plan) != 1 || !strings.Contains(out, "~ feature_view weather_hourly (version 1 -> 2)") || !strings.Contains(out, "- ttl: 1h0m0s") || !strings.Contains(out, "+ ttl: 2h0m0s") {
		t.Fatalf("plan of a TTL change:\n%s", out)
	}
	// Put it back: version 3 is the 1h TTL again.
	if err := project.Apply(ctx, meta, f2, plan); err != nil {
		t.Fatal(err)
	}
	defs, _ = meta.Definitions(ctx)
	if err := project.Apply(ctx, meta, f, project.Plan(f, defs, false)); err != nil {
		t.Fatal(err)
	}

	// Ingest weather in two batches; the second arrives late.
	now := time.Date(2013, 1, 1, 12, 0, 0, 0, time.UTC)
	in := &dataset.Ingester{Store: meta, Blobs: blobs, Checker: engine, WorkDir: dir, Now: func() time.Time { return now }}
	spec, err := meta.Spec(ctx, "weather")
	if err != nil {
		t.Fatal(err)
	}
	if _, q, err := in.Ingest(ctx, *spec, write("w1.csv", "origin,temp,time_hour\nJFK,39.0,2013-01-01T05:00:00Z\nJFK,41.0,2013-01-01T06:00:00Z\nLGA,35.1,2013-01-01T06:00:00Z\nXXX,1,2013-01-01T06:00:00Z\n")); err != nil || q == nil || q.Rows != 1 {
		t.Fatalf("first batch: quarantine %+v, %v", q, err)
	}
	firstBatch := now
	now = now.Add(24 * time.Hour)
	if _, _, err := in.Ingest(ctx, *spec, write("w2.csv", "origin,temp,time_hour\nJFK,45.0,2013-01-01T06:30:00Z\n")); err != nil {
		t.Fatal(err)
	}

	labels := write("labels.csv", "flight,origin,sched_dep,late\n1,JFK,2013-01-01T06:45:00Z,1\n2,LGA,2013-01-01T06:10:00Z,0\n3,JFK,2013-01-01T08:00:00Z,0\n4,EWR,2013-01-01T06:00:00Z,1\n")
	b := &feature.Builder{Catalog: project.Catalog{Store: meta}, Snapshots: &dataset.Snapshots{Store: meta, Blobs: blobs, CacheDir: dir}, Offline: engine}
	temps := func(asOf *time.Time) string {
		t.Helper()
		built, err := b.Build(ctx, feature.Request{Service: "delays", Labels: labels, Timestamp: "sched_dep", AsOf: asOf, Output: filepath.Join(dir, "ts.parquet")})
		if err != nil {
			t.Fatal(err)
		}
		if built.ServiceVersion != 1 || built.Rows != 4 {
			t.Fatalf("built %+v", built)
		}
		rows, err := engine.DB().Query(`SELECT weather_hourly__temp FROM read_parquet(?)`, built.Path)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []string
		for rows.Next() {
			var v sql.NullFloat64
			rows.Scan(&v)
			if v.Valid {
				got = append(got, fmtFloat(v.Float64))
			} else {
				got = append(got, "null")
			}
		}
		return strings.Join(got, " ")
	}
	// Flight 1 at 06:45 sees the late 06:30 reading; flight 3 at 08:00 is
	// past the 1h TTL of every reading; EWR has none.
	if got := temps(nil); got != "45 35.1 null null" {
		t.Fatalf("training set temps = %s", got)
	}
	// As of the first batch, the late reading did not exist yet.
	if got := temps(&firstBatch); got != "41 35.1 null null" {
		t.Fatalf("as-of training set temps = %s", got)
	}
	// The on-demand feature was computed per row from the label row and the
	// joined features.
	rows, err := engine.DB().Query(`SELECT cold_and_late FROM read_parquet(?)`, filepath.Join(dir, "ts.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	var ods []string
	for rows.Next() {
		var v sql.NullBool
		rows.Scan(&v)
		ods = append(ods, map[bool]string{true: strconv.FormatBool(v.Bool), false: "null"}[v.Valid])
	}
	rows.Close()
	if got := strings.Join(ods, " "); got != "false true null null" {
		t.Fatalf("on-demand column (as of the first batch) = %s", got)
	}

	// Materialized online, the same flights at the same times get exactly
	// the training set's values: one transformation, two paths.
	store, err := pebble.Open(filepath.Join(dir, "online"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	m := &feature.Materializer{Catalog: project.Catalog{Store: meta}, Snapshots: b.Snapshots, Engine: engine, Online: store, Watermarks: meta}
	res, err := m.Materialize(ctx, nil, nil)
	if err != nil || len(res) != 1 || res[0].Entities != 2 || res[0].Watermark != 2 {
		t.Fatalf("materialize = %+v, %v", res, err)
	}
	for _, tc := range []struct {
		origin string
		at     string
		want   any
		status string
	}{
		{"JFK", "2013-01-01T06:45:00Z", 45.0, feature.Present},
		{"LGA", "2013-01-01T06:10:00Z", 35.1, feature.Present},
		{"JFK", "2013-01-01T08:00:00Z", nil, feature.Stale}, // past the 1h TTL, as in the training set
		{"EWR", "2013-01-01T06:00:00Z", nil, feature.Missing},
	} {
		at, _ := time.Parse(time.RFC3339, tc.at)
		srv := &feature.Server{Catalog: project.Catalog{Store: meta}, Online: store, Now: func() time.Time { return at }}
		names, rows, err := srv.Get(ctx, "delays", []map[string]any{{"origin": tc.origin, "flight": 2.0}})
		if err != nil {
			t.Fatal(err)
		}
		got := rows[0][names[0]]
		if got.Status != tc.status || got.Value != tc.want {
			t.Errorf("online %s at %s = %+v, want %v (%s)", tc.origin, tc.at, got, tc.want, tc.status)
		}
		// The on-demand feature, by the same code as the training set.
		od := rows[0]["cold_and_late"]
		if wantOD := any(nil); tc.want != nil {
			wantOD = tc.want.(float64) < 42.0
			if od.Value != wantOD {
				t.Errorf("online cold_and_late for %s = %v, want %v", tc.origin, od.Value, wantOD)
			}
		} else if od.Value != nil || od.Status != feature.Missing {
			t.Errorf("online cold_and_late without its input = %+v, want missing", od)
		}
	}
	// Nothing new: a second run writes nothing and keeps the watermark.
	if res, err := m.Materialize(ctx, nil, nil); err != nil || res[0].Entities != 0 || res[0].Watermark != 2 {
		t.Fatalf("second materialize = %+v, %v", res, err)
	}
}

func TestPlanKeepsAndPrunes(t *testing.T) {
	f := &project.File{Entities: []feature.Entity{{Name: "airport", JoinKeys: []string{"origin"}}}}
	registered := append(f.Definitions(), project.Definition{Kind: project.KindEntity, Name: "plane", Spec: []byte(`{"name":"plane","join_keys":["tailnum"]}`), Version: 2})
	if plan := project.Plan(f, registered, false); len(plan) != 1 || plan[0].Action != "keep" {
		t.Fatalf("plan without prune = %+v", plan)
	}
	plan := project.Plan(f, registered, true)
	if len(plan) != 1 || plan[0].Action != "remove" || !strings.Contains(project.Render(plan), "- entity plane (removed)") {
		t.Fatalf("plan with prune:\n%s", project.Render(plan))
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ yaml, want string }{
		{"entities:\n  - {name: a, joinkeys: [x]}\n", "field joinkeys not found"},
		{"feature_views:\n  - {name: v, entities: [e], source: nowhere, timestamp: t, features: [f]}\n", "neither a dataset of the project nor a file"},
		{"entities:\n  - {name: e, join_keys: [k]}\nfeature_views:\n  - {name: v, entities: [e], source: x.parquet, timestamp: t, features: [f]}\nfeature_services:\n  - {name: s, features: [v.nope]}\n", `view "v" has no feature "nope"`},
		{"datasets:\n  - {name: d, columns: [{name: c, type: money}]}\n", "not one of"},
		{"entities:\n  - {name: e, join_keys: [k]}\n  - {name: e, join_keys: [k]}\n", "defined twice"},
		{"feature_views:\n  - {name: v, entities: [e], source: x.csv, timestamp: t, features: [f], ttl: forever}\n", "not a duration"},
	} {
		p := filepath.Join(dir, "plinth.yaml")
		os.WriteFile(p, []byte(tc.yaml), 0o644)
		if _, err := project.Load(p); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%q) error = %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
