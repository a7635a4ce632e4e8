package api

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/plinthml/plinth/feature"
)

// TestAppendOnlineResponse: the hand-written response decodes to what
// encoding/json makes of the maps feature.Server.Get returns.
func TestAppendOnlineResponse(t *testing.T) {
	t1 := time.Date(2026, 11, 22, 10, 30, 0, 123456789, time.UTC)
	t2 := time.Date(2026, 11, 21, 0, 0, 0, 0, time.FixedZone("x", 3600))
	names := []string{"v__a", "v__b", "w__\"quoted\"", "od"}
	rows := [][]feature.Value{
		{{Value: 1.5, Status: feature.Present, EventTime: &t1}, {Value: "JFK", Status: feature.Present, EventTime: &t1},
			{Status: feature.Stale, EventTime: &t2}, {Value: true, Status: feature.Present}},
		{{Status: feature.Missing}, {Status: feature.Missing}, {Value: int64(7), Status: feature.Present, EventTime: &t2}, {Status: feature.Missing}},
	}
	maps := make([]feature.OnlineRow, len(rows))
	for i, r := range rows {
		maps[i] = feature.OnlineRow{}
		for j, n := range names {
			maps[i][n] = r[j]
		}
	}
	want, err := json.Marshal(map[string]any{"features": names, "rows": maps})
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, appendOnlineResponse(nil, names, rows), want)
}

// sameJSON fails t unless got is JSON that decodes to what want does.
func sameJSON(t *testing.T, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}
