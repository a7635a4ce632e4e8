package duckdb_test

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/duckdb"
	"github.com/plinthml/plinth/feature"
)

type event struct {
	carrier  string
	at, ing  time.Time
	delay    *float64
	tailnum  string
	sequence int
}

var aggregations = []feature.Aggregation{
	{Function: "count", Window: plinth.Duration(time.Hour)},
	{Function: "count", Column: "delay", Window: plinth.Duration(time.Hour), Name: "n_delays_1h"},
	{Function: "sum", Column: "delay", Window: plinth.Duration(time.Hour)},
	{Function: "mean", Column: "delay", Window: plinth.Duration(2 * time.Hour)},
	{Function: "min", Column: "delay", Window: plinth.Duration(30 * time.Minute)},
	{Function: "max", Column: "delay", Window: plinth.Duration(30 * time.Minute)},
	{Function: "last", Column: "delay", Window: plinth.Duration(time.Hour)},
	{Function: "distinct_count", Column: "tailnum", Window: plinth.Duration(24 * time.Hour)},
}

// referenceAgg computes one aggregation at time t by brute force; ok is
// false where the engine must return null. ambiguous marks a "last" with
// several latest events.
func referenceAgg(events []event, carrier string, t time.Time, asOf *time.Time, a feature.Aggregation) (v float64, ok, ambiguous bool) {
	seen := false
	var in []event
	for _, e := range events {
		if e.carrier != carrier || e.at.After(t) || asOf != nil && e.ing.After(*asOf) {
			continue
		}
		seen = true
		if t.Sub(e.at) < a.Window.Std() {
			in = append(in, e)
		}
	}
	if !seen {
		return 0, false, false // no change point at or before t: nothing known
	}
	var vals []float64
	distinct := map[string]bool{}
	var last *event
	for i, e := range in {
		if e.delay != nil {
			vals = append(vals, *e.delay)
			if last == nil || e.at.After(last.at) {
				last, ambiguous = &in[i], false
			} else if e.at.Equal(last.at) {
				ambiguous = ambiguous || *e.delay != *last.delay
			}
		}
		if e.tailnum != "" {
			distinct[e.tailnum] = true
		}
	}
	switch a.Function {
	case "count":
		if a.Column == "" {
			return float64(len(in)), true, false
		}
		return float64(len(vals)), true, false
	case "sum":
		var s float64
		for _, x := range vals {
			s += x
		}
		return s, true, false
	case "distinct_count":
		return float64(len(distinct)), true, false
	}
	if len(vals) == 0 {
		return 0, false, false
	}
	switch a.Function {
	case "mean":
		var s float64
		for _, x := range vals {
			s += x
		}
		return s / float64(len(vals)), true, false
	case "min", "max":
		m := vals[0]
		for _, x := range vals {
			if a.Function == "min" {
				m = math.Min(m, x)
			} else {
				m = math.Max(m, x)
			}
		}
		return m, true, false
	case "last":
		return *last.delay, true, ambiguous
	}
	panic(a.Function)
}

func TestAggregationsMatchBruteForce(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { checkAggSeed(t, seed) })
	}
}

func checkAggSeed(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	e, err := duckdb.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	db := e.DB()
	minute := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	carriers := []string{"AA", "DL", "UA"}
	var events []event
	for i := 0; i < 120; i++ {
		ev := event{carrier: carriers[rng.IntN(2)], at: minute(rng.IntN(300)), sequence: i}
		ev.ing = ev.at.Add(time.Duration(rng.IntN(3)) * time.Minute)
		if rng.IntN(8) == 0 {
			ev.ing = ev.ing.Add(3 * time.Hour) // late
		}
		if rng.IntN(6) != 0 {
			d := float64(rng.IntN(120) - 20)
			ev.delay = &d
		}
		if rng.IntN(5) != 0 {
			ev.tailnum = fmt.Sprintf("N%d", rng.IntN(6))
		}
		events = append(events, ev)
	}
	mustExec(t, db, `CREATE TABLE flights (carrier VARCHAR, dep TIMESTAMPTZ, ingested TIMESTAMPTZ, delay DOUBLE, tailnum VARCHAR)`)
	for _, ev := range events {
		var tail any
		if ev.tailnum != "" {
			tail = ev.tailnum
		}
		mustExec(t, db, `INSERT INTO flights VALUES (?, ?, ?, ?, ?)`, ev.carrier, ev.at, ev.ing, ev.delay, tail)
	}
	type label struct {
		carrier string
		at      time.Time
	}
	var labels []label
	for i := 0; i < 250; i++ {
		at := minute(rng.IntN(420))
		switch rng.IntN(4) {
		case 0:
			at = events[rng.IntN(len(events))].at
		case 1: // an expiry edge, or a microsecond before it
			at = events[rng.IntN(len(events))].at.Add(aggregations[rng.IntN(len(aggregations))].Window.Std() - time.Duration(rng.IntN(2))*time.Microsecond)
		}
		labels = append(labels, label{carriers[rng.IntN(3)], at})
	}
	mustExec(t, db, `CREATE TABLE labels (carrier VARCHAR, ts TIMESTAMPTZ, id INTEGER)`)
	for i, l := range labels {
		mustExec(t, db, `INSERT INTO labels VALUES (?, ?, ?)`, l.carrier, l.at, i)
	}
	var asOf *time.Time
	if seed%2 == 0 {
		cut := minute(200)
		asOf = &cut
	}
	view := feature.View{Name: "carrier", Entities: []string{"carrier"}, Source: "flights", Timestamp: "dep", Ingested: "ingested", Aggregations: aggregations}
	out := filepath.Join(t.TempDir(), "ts.parquet")
	ts, err := e.TrainingSet(context.Background(), feature.TrainingSetSpec{
		Labels: "labels", Timestamp: "ts", AsOf: asOf, Output: out,
		Entities: []feature.Entity{{Name: "carrier", JoinKeys: []string{"carrier"}}},
		Views:    []feature.View{view},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ts.Columns) != len(aggregations) || ts.Columns[0] != "carrier__count_1h" || ts.Columns[7] != "carrier__distinct_count_tailnum_1d" {
		t.Fatalf("columns = %v", ts.Columns)
	}
	rows, err := db.Query(`SELECT * EXCLUDE (carrier, ts, id) FROM read_parquet(?)`, out)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	checked := 0
	for i := 0; rows.Next(); i++ {
		got := make([]sql.NullFloat64, len(aggregations))
		ptrs := make([]any, len(got))
		for j := range got {
			ptrs[j] = &got[j]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		l := labels[i]
		for j, a := range aggregations {
			want, ok, ambiguous := referenceAgg(events, l.carrier, l.at, asOf, a)
			if ambiguous {
				continue
			}
			if got[j].Valid != ok || ok && math.Abs(got[j].Float64-want) > 1e-9 {
				t.Errorf("label %d (%s at %s): %s = %v, want %v (present %v)", i, l.carrier, l.at.Format(time.TimeOnly), ts.Columns[j], got[j], want, ok)
			}
			checked++
		}
	}
	if checked < 1000 {
		t.Fatalf("only %d values checked", checked)
	}
}

func TestAggregationValidation(t *testing.T) {
	for _, tc := range []struct {
		agg  feature.Aggregation
		want string
	}{
		{feature.Aggregation{Function: "median", Column: "x", Window: plinth.Duration(time.Hour)}, "not one of"},
		{feature.Aggregation{Function: "sum", Window: plinth.Duration(time.Hour)}, "needs a column"},
		{feature.Aggregation{Function: "count"}, "positive duration"},
	} {
		v := feature.View{Name: "v", Aggregations: []feature.Aggregation{tc.agg}}
		if err := v.Normalize(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Normalize(%+v) = %v, want %q", tc.agg, err, tc.want)
		}
	}
	v := feature.View{Name: "v", Aggregations: []feature.Aggregation{{Function: "mean", Column: "dep_delay", Window: plinth.Duration(90 * time.Minute)}, {Function: "count", Window: plinth.Duration(168 * time.Hour)}}}
	if err := v.Normalize(); err != nil || v.Features[0] != "mean_dep_delay_1h30m" || v.Features[1] != "count_7d" {
		t.Fatalf("features = %v, %v", v.Features, err)
	}
}

// TestOnlineAggregatesMatchBruteForce: materializing a windowed
// aggregation view at a time gives each entity the value the brute-force
// reference (and so the training set) has at that time.
func TestOnlineAggregatesMatchBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 7))
	e, err := duckdb.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	db := e.DB()
	minute := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	var events []event
	for i := 0; i < 200; i++ {
		ev := event{carrier: []string{"AA", "DL", "UA", "B6"}[rng.IntN(4)], at: minute(rng.IntN(600)), sequence: i}
		ev.ing = ev.at
		if rng.IntN(6) != 0 {
			d := float64(rng.IntN(120) - 20)
			ev.delay = &d
		}
		if rng.IntN(5) != 0 {
			ev.tailnum = fmt.Sprintf("N%d", rng.IntN(6))
		}
		events = append(events, ev)
	}
	mustExec(t, db, `CREATE TABLE flights (carrier VARCHAR, dep TIMESTAMPTZ, ingested TIMESTAMPTZ, delay DOUBLE, tailnum VARCHAR)`)
	for _, ev := range events {
		var tail any
		if ev.tailnum != "" {
			tail = ev.tailnum
		}
		mustExec(t, db, `INSERT INTO flights VALUES (?, ?, ?, ?, ?)`, ev.carrier, ev.at, ev.ing, ev.delay, tail)
	}
	view := feature.View{Name: "carrier", Entities: []string{"carrier"}, Source: "flights", Timestamp: "dep", Aggregations: aggregations}
	if err := view.Normalize(); err != nil {
		t.Fatal(err)
	}
	for _, at := range []time.Time{minute(120), minute(601), minute(900), minute(2000)} {
		got := map[string][]any{}
		_, err := e.Latest(context.Background(), feature.LatestSpec{View: view, Keys: []string{"carrier"}, At: at, Emit: func(rows []feature.LatestRow) error {
			for _, r := range rows {
				if !r.EventTime.Equal(at) {
					t.Errorf("stamped %v, want %v", r.EventTime, at)
				}
				got[r.Key] = r.Values
			}
			return nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []string{"AA", "DL", "UA", "B6"} {
			for j, a := range aggregations {
				want, ok, ambiguous := referenceAgg(events, c, at, nil, a)
				if ambiguous {
					continue
				}
				v := got[c][j]
				var f float64
				switch x := v.(type) {
				case float64:
					f = x
				case int64:
					f = float64(x)
				}
				if (v != nil) != ok || ok && math.Abs(f-want) > 1e-9 {
					t.Errorf("%s at %s: %s = %v, want %v (present %v)", c, at.Format(time.TimeOnly), a.FeatureName(), v, want, ok)
				}
			}
		}
	}
	if _, err := e.Latest(context.Background(), feature.LatestSpec{View: view, Keys: []string{"carrier"}, Emit: func([]feature.LatestRow) error { return nil }}); plinth.ErrorCode(err) != plinth.EINVALID {
		t.Fatalf("no time to aggregate at: %v", err)
	}
}
