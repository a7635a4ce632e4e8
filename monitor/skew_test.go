package monitor

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/plinthml/plinth/duckdb"
)

// The skew check samples the newest requests by entity from as few of the
// newest log files as hold the sample, and from all of them when they are
// too few. Each record has the features its own file holds: JSON text in
// files older than typed columns, a struct in newer ones, whose fields
// differ between model versions.
func TestNewestByEntity(t *testing.T) {
	ctx := context.Background()
	eng, err := duckdb.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	dir := t.TempDir()
	var files []string
	// Three batches, oldest first: requests 0-4, 5-7 and 8-9 by entity,
	// the last batch also with two requests that carried their features.
	// The first holds inputs as JSON text, the others a struct, of another
	// model version in the last: its feature y is missing from request 9.
	features := []string{`'{"x":' || i || '}' AS inputs`, `{'x': i} AS features`, `{'x': i, 'y': CASE WHEN i < 9 THEN 1.5::DOUBLE END} AS features`}
	for i, batch := range [][2]int{{0, 5}, {5, 8}, {8, 10}} {
		path := filepath.Join(dir, fmt.Sprintf("batch%d.parquet", i))
		q := fmt.Sprintf(`COPY (SELECT 'r' || i AS request_id, TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_seconds(i) AS time,
			'{"flight":"f' || i || '"}' AS request, %s FROM range(%d, %d) t(i)`, features[i], batch[0], batch[1])
		if i == 2 {
			q += ` UNION ALL SELECT 'raw' || i, TIMESTAMPTZ '2026-01-02 00:00:00+00', NULL, {'x': 0, 'y': 0} FROM range(2) t(i)`
		}
		if _, err := eng.DB().ExecContext(ctx, q+`) TO '`+path+`' (FORMAT parquet)`); err != nil {
			t.Fatal(err)
		}
		files = append(files, path)
	}
	j := &Joiner{DB: eng.DB()}
	for _, tc := range []struct {
		sample int
		want   []string
	}{
		{2, []string{"r9", "r8"}},                                                  // the newest file holds them
		{4, []string{"r9", "r8", "r7", "r6"}},                                      // two files
		{20, []string{"r9", "r8", "r7", "r6", "r5", "r4", "r3", "r2", "r1", "r0"}}, // all there are
	} {
		got, keys, err := j.newestByEntity(ctx, files, tc.sample)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, l := range got {
			ids = append(ids, l.id)
		}
		if !slices.Equal(ids, tc.want) || !keys["flight"] || len(keys) != 1 {
			t.Errorf("sample %d: %v (keys %v), want %v", tc.sample, ids, keys, tc.want)
		}
		for _, l := range got {
			n, _ := strconv.Atoi(l.id[1:])
			want := map[string]any{"x": int64(n)}
			switch {
			case n < 5:
				want["x"] = float64(n) // from JSON
			case n == 8:
				want["y"] = 1.5
			case n == 9:
				want["y"] = nil
			}
			if !reflect.DeepEqual(l.inputs, want) || l.request["flight"] != "f"+l.id[1:] {
				t.Errorf("%s: inputs %v, request %v; want inputs %v", l.id, l.inputs, l.request, want)
			}
		}
	}
}
