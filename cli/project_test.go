package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPlanApplyTrainingSet(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(text), 0o644)
		return p
	}
	proj := write("plinth.yaml", `
datasets:
  - name: weather
    event_time: time_hour
    columns: [{name: temp, type: float}, {name: time_hour, type: timestamp, not_null: true}]
entities:
  - {name: airport, join_keys: [origin]}
feature_views:
  - {name: weather, entities: [airport], source: weather, timestamp: time_hour, features: [temp], ttl: 2h}
feature_services:
  - {name: delays, features: [weather]}
`)
	if out := run(t, "plan", "-f", proj, "--data", data); !strings.Contains(out, "Plan: 4 to add") {
		t.Fatalf("plan:\n%s", out)
	}
	if out := run(t, "apply", "-f", proj, "--data", data); !strings.Contains(out, "Applied: 4 definitions written") {
		t.Fatalf("apply:\n%s", out)
	}
	if out := run(t, "plan", "-f", proj, "--data", data); !strings.Contains(out, "No changes") {
		t.Fatalf("plan after apply:\n%s", out)
	}
	run(t, "datasets", "ingest", "weather", write("w.csv", "origin,temp,time_hour\nJFK,39,2013-01-01T05:00:00Z\nLGA,30,2013-01-01T05:00:00Z\n"), "--data", data)
	labels := write("labels.csv", "origin,sched,late\nJFK,2013-01-01T06:00:00Z,1\nLGA,2013-01-01T04:00:00Z,0\n")
	out := filepath.Join(dir, "ts.parquet")
	msg := run(t, "features", "training-set", "delays", "--labels", labels, "--timestamp", "sched", "-o", out, "--data", data)
	if !strings.Contains(msg, "2 rows, features weather__temp") || !strings.Contains(msg, "dataset delays_training version 1") {
		t.Fatalf("training-set:\n%s", msg)
	}
	if st, err := os.Stat(out); err != nil || st.Size() == 0 {
		t.Fatalf("no training set file: %v", err)
	}
	if msg := run(t, "features", "materialize", "--data", data); !strings.Contains(msg, "weather  2         2       1") {
		t.Fatalf("materialize:\n%s", msg)
	}
	// The 2013 readings are far older than the view's 2h TTL today: stale.
	if msg := run(t, "features", "get", "delays", "--entity", "origin=JFK;origin=EWR", "--data", data); !strings.Contains(msg, "0    weather__temp  -      stale") || !strings.Contains(msg, "missing") {
		t.Fatalf("get:\n%s", msg)
	}
	// Pushed events are served online at once (stale here too: 2013).
	events := write("events.ndjson", `{"origin": "EWR", "temp": 28, "time_hour": "2013-01-01T07:00:00Z"}`+"\n")
	if msg := run(t, "datasets", "push", "weather", events, "--data", data); !strings.Contains(msg, "online view weather: 1 entities updated") {
		t.Fatalf("push:\n%s", msg)
	}
	// A second run finds no new dataset version and writes nothing.
	if msg := run(t, "features", "materialize", "--data", data); !strings.Contains(msg, "weather  0         0       2") {
		t.Fatalf("second materialize:\n%s", msg)
	}
	rangeOut := filepath.Join(dir, "range.parquet")
	if msg := run(t, "features", "range", "weather", "--start", "2013-01-01T00:00:00Z", "--end", "2013-01-02T00:00:00Z", "-o", rangeOut, "--data", data); !strings.Contains(msg, "wrote") {
		t.Fatalf("range: %s", msg)
	}
	if st, err := os.Stat(rangeOut); err != nil || st.Size() == 0 {
		t.Fatalf("no range file: %v", err)
	}
	if list := run(t, "features", "--data", data); !strings.Contains(list, "temp from weather by airport, TTL 2h0m0s") {
		t.Fatalf("features:\n%s", list)
	}
}
