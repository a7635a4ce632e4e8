package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plinthml/plinth/client"
	"github.com/plinthml/plinth/dataset"
	"github.com/plinthml/plinth/sqlstore/pgtest"
)

func TestDatasetCommands(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	spec := write("flights.yaml", `
event_time: dep_time
max_bad_fraction: 0.5
columns:
  - {name: carrier, type: string, not_null: true, in: [AA, DL, UA]}
  - {name: dep_delay, type: float, min: -60, max: 1500}
  - {name: dep_time, type: timestamp, not_null: true}
`)
	batch := write("batch.csv", "carrier,dep_delay,dep_time\nAA,3,2013-01-01T05:00:00Z\nDL,-2,2013-01-01T06:00:00Z\nZZ,1,2013-01-01T07:00:00Z\nUA,9999,2013-01-01T08:00:00Z\n")

	if out := run(t, "datasets", "spec", "flights", spec, "--data", data); !strings.Contains(out, "event_time: dep_time") {
		t.Fatalf("spec printed:\n%s", out)
	}
	var res client.IngestResult
	json.Unmarshal([]byte(run(t, "datasets", "ingest", "flights", batch, "--data", data, "--output", "json")), &res)
	if res.Version == nil || res.Version.Rows != 2 || res.Quarantine == nil || res.Quarantine.Rows != 2 {
		t.Fatalf("ingest = %+v", res)
	}
	out := run(t, "datasets", "inspect", "flights", res.Quarantine.ID, "--data", data)
	for _, want := range []string{"carrier: not an allowed value", "dep_delay: above max 1500", "ZZ", "9999"} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect lacks %q:\n%s", want, out)
		}
	}
	if list := run(t, "datasets", "--data", data); !strings.Contains(list, "flights") {
		t.Fatalf("list:\n%s", list)
	}
	// Allow ZZ and replay: one row loads, the other is quarantined again.
	write("flights.yaml", strings.Replace(mustRead(t, spec), "UA]", "UA, ZZ]", 1))
	run(t, "datasets", "spec", "flights", spec, "--data", data)
	json.Unmarshal([]byte(run(t, "datasets", "replay", "flights", res.Quarantine.ID, "--data", data, "--output", "json")), &res)
	if res.Version == nil || res.Version.Version != 2 || res.Version.Rows != 1 {
		t.Fatalf("replay = %+v", res)
	}
	var vs []dataset.Version
	json.Unmarshal([]byte(run(t, "datasets", "versions", "flights", "--data", data, "--output", "json")), &vs)
	if len(vs) != 2 {
		t.Fatalf("versions = %+v", vs)
	}
	if qs := run(t, "datasets", "quarantines", "flights", "--data", data); !strings.Contains(qs, "version 2") {
		t.Fatalf("quarantines:\n%s", qs)
	}
}

func mustRead(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestIngestFromPostgres reads a batch from a real PostgreSQL table (and a
// query) through the same expectations as a file: a bad row is
// quarantined, the rest becomes a version.
func TestIngestFromPostgres(t *testing.T) {
	if !pgtest.Available(t) {
		t.Skip(pgtest.SkipMessage)
	}
	url := pgtest.URL(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	table := fmt.Sprintf("weather_src_%d", time.Now().UnixNano())
	if _, err := conn.Exec(ctx, `CREATE TABLE `+table+` (origin TEXT, temp DOUBLE PRECISION, time_hour TIMESTAMPTZ)`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO `+table+` VALUES ('JFK', 39.5, '2013-01-01T05:00:00Z'), ('LGA', 30, '2013-01-01T06:00:00Z'), ('EWR', NULL, NULL)`); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	spec := filepath.Join(dir, "weather.yaml")
	os.WriteFile(spec, []byte("name: weather\nevent_time: time_hour\ncolumns: [{name: temp, type: float}, {name: time_hour, type: timestamp, not_null: true}]\n"), 0o644)
	run(t, "datasets", "spec", "weather", spec, "--data", data)
	out := run(t, "datasets", "ingest", "weather", table, "--postgres", url, "--data", data)
	if !strings.Contains(out, "weather version 1: 2 rows") || !strings.Contains(out, "time_hour: null") {
		t.Fatalf("ingest from a table:\n%s", out)
	}
	out = run(t, "datasets", "ingest", "weather", "SELECT origin, temp + 1 AS temp, time_hour FROM "+table+" WHERE origin = 'JFK'", "--postgres", url, "--data", data)
	if !strings.Contains(out, "weather version 2: 1 rows") {
		t.Fatalf("ingest from a query:\n%s", out)
	}
}
