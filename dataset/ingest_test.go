package dataset_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/blob"
	"github.com/plinthml/plinth/blob/fsblob"
	"github.com/plinthml/plinth/dataset"
	"github.com/plinthml/plinth/duckdb"
	"github.com/plinthml/plinth/sqlstore"
)

const batch = `id,carrier,dep_delay,dep_time,tailnum
1,AA,12.5,2013-01-01T05:17:00Z,N14228
2,DL,-3,2013-01-01T05:33:00Z,N24211
3,UA,abc,2013-01-01T05:42:00Z,N619AA
4,ZZ,0,2013-01-01T05:44:00Z,N804JB
5,AA,7,,N668DN
6,DL,5000,2013-01-01T05:55:00Z,N39463
2,UA,1,2013-01-01T06:00:00Z,N516JB
8,AA,-1,2013-01-01T06:01:00Z,
`

func fptr(f float64) *float64 { return &f }

var spec = dataset.Spec{
	Name:      "flights",
	EventTime: "dep_time",
	Columns: []dataset.Column{
		{Name: "id", Type: "int", NotNull: true, Unique: true},
		{Name: "carrier", Type: "string", NotNull: true, In: []string{"AA", "DL", "UA"}},
		{Name: "dep_delay", Type: "float", Min: fptr(-60), Max: fptr(1500)},
		{Name: "dep_time", Type: "timestamp", NotNull: true},
	},
}

type fixture struct {
	in    *dataset.Ingester
	eng   *duckdb.Engine
	blobs *fsblob.Store
	input string
}

func newFixture(t *testing.T) *fixture {
	dir := t.TempDir()
	meta, err := sqlstore.Open(context.Background(), filepath.Join(dir, "plinth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close() })
	blobs, err := fsblob.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := duckdb.Open("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	input := filepath.Join(dir, "batch.csv")
	os.WriteFile(input, []byte(batch), 0o644)
	now := time.Date(2013, 1, 1, 8, 0, 0, 0, time.UTC)
	return &fixture{in: &dataset.Ingester{Store: meta, Blobs: blobs, Checker: eng, WorkDir: dir, Now: func() time.Time { return now }}, eng: eng, blobs: blobs, input: input}
}

// query reads a stored Parquet blob with DuckDB.
func (f *fixture) query(t *testing.T, digest, sql string) [][]string {
	t.Helper()
	path := f.blobs.Path(blob.Digest(digest))
	rows, err := f.eng.DB().Query(strings.ReplaceAll(sql, "FILE", "read_parquet('"+path+"')"))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		rows.Scan(ptrs...)
		rec := make([]string, len(cols))
		for i, v := range vals {
			rec[i] = toString(v)
		}
		out = append(out, rec)
	}
	return out
}

func toString(v any) string {
	switch v := v.(type) {
	case nil:
		return "NULL"
	case time.Time:
		return v.UTC().Format(time.RFC3339)
	case []byte:
		return string(v)
	default:
		return strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(fmtAny(v), "\n", " "), "  ", " "))
	}
}

func TestIngestQuarantinesBadRows(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	v, q, err := f.in.Ingest(ctx, spec, f.input)
	if err != nil {
		t.Fatal(err)
	}
	if v == nil || q == nil {
		t.Fatalf("version %v, quarantine %v; want both", v, q)
	}
	// Good: rows 1 and 8. Bad: 2 and the second 2 (duplicate id), 3 (type),
	// 4 (carrier), 5 (null time), 6 (range).
	if v.Version != 1 || v.Rows != 2 || v.Quarantined != 6 || q.Rows != 6 || q.WholeBatch {
		t.Fatalf("version %+v\nquarantine %+v", v, q)
	}
	for reason, n := range map[string]int64{"id: duplicate value": 2, "dep_delay: not a float": 1, "carrier: not an allowed value": 1, "dep_time: null": 1, "dep_delay: above max 1500": 1} {
		if q.Reasons[reason] != n {
			t.Errorf("reason %q: %d rows, want %d (all: %v)", reason, q.Reasons[reason], n, q.Reasons)
		}
	}
	if v.MinEvent == nil || !v.MinEvent.Equal(time.Date(2013, 1, 1, 5, 17, 0, 0, time.UTC)) || !v.MaxEvent.Equal(time.Date(2013, 1, 1, 6, 1, 0, 0, time.UTC)) {
		t.Errorf("event range %v .. %v", v.MinEvent, v.MaxEvent)
	}
	// The snapshot is typed and stamped with its ingestion time.
	schema := map[string]string{}
	for _, fld := range v.Schema {
		schema[fld.Name] = fld.Type
	}
	if schema["id"] != "BIGINT" || schema["dep_delay"] != "DOUBLE" || schema["dep_time"] != "TIMESTAMP WITH TIME ZONE" || schema[dataset.IngestedAt] != "TIMESTAMP WITH TIME ZONE" {
		t.Errorf("snapshot schema = %v", schema)
	}
	got := f.query(t, v.Digest, `SELECT id, carrier, dep_delay, _ingested_at FROM FILE ORDER BY id`)
	if len(got) != 2 || got[0][0] != "1" || got[1][2] != "-1" || got[0][3] != "2013-01-01T08:00:00Z" {
		t.Errorf("snapshot rows = %v", got)
	}
	// The quarantine keeps the rows as read, with their reasons.
	bad := f.query(t, q.Digest, `SELECT dep_delay, _reasons FROM FILE WHERE id = '3'`)
	if len(bad) != 1 || bad[0][0] != "abc" || bad[0][1] != "dep_delay: not a float" {
		t.Errorf("quarantined row 3 = %v", bad)
	}
}

func TestWholeBatchQuarantine(t *testing.T) {
	f := newFixture(t)
	strict := spec
	strict.MinRows = 100
	strict.MaxAge = plinth.Duration(time.Hour) // the newest event is two hours old
	v, q, err := f.in.Ingest(context.Background(), strict, f.input)
	if err != nil {
		t.Fatal(err)
	}
	if v != nil || q == nil || !q.WholeBatch || q.Rows != 8 {
		t.Fatalf("version %+v, quarantine %+v: want the whole batch quarantined", v, q)
	}
	if q.Reasons["batch has 8 rows, fewer than min_rows 100"] != 8 || q.Reasons["stale: newest event is older than max_age 1h0m0s"] != 8 {
		t.Fatalf("reasons = %v", q.Reasons)
	}
	names, _ := f.in.Store.Datasets(context.Background())
	if vs, _ := f.in.Store.DatasetVersions(context.Background(), "flights"); len(names) != 1 || len(vs) != 0 {
		t.Fatalf("a rejected batch produced versions: %v", vs)
	}
}

func TestReplay(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, q, err := f.in.Ingest(ctx, spec, f.input)
	if err != nil {
		t.Fatal(err)
	}
	// The spec was wrong about carriers: ZZ is real. Replaying with the
	// corrected spec loads row 4; the others fail again, into a new
	// quarantine.
	fixed := spec
	fixed.Columns = append([]dataset.Column(nil), spec.Columns...)
	fixed.Columns[1].In = append(fixed.Columns[1].In, "ZZ")
	v, q2, err := f.in.Replay(ctx, fixed, q.ID)
	if err != nil {
		t.Fatal(err)
	}
	if v == nil || v.Version != 2 || v.Rows != 1 || v.ReplayOf != q.ID || q2 == nil || q2.Rows != 5 {
		t.Fatalf("replay: version %+v, quarantine %+v", v, q2)
	}
	if got := f.query(t, v.Digest, `SELECT carrier FROM FILE`); len(got) != 1 || got[0][0] != "ZZ" {
		t.Fatalf("replayed rows = %v", got)
	}
	sample, err := f.in.Inspect(ctx, q2.ID, 10)
	if err != nil || sample.Total != 5 || len(sample.Rows) != 5 || sample.Columns[len(sample.Columns)-1] != dataset.ReasonsColumn {
		t.Fatalf("Inspect = %+v, %v", sample, err)
	}
	old, _ := f.in.Store.Quarantine(ctx, q.ID)
	if old.ReplayedAs != 2 {
		t.Fatalf("quarantine not marked replayed: %+v", old)
	}
	if _, _, err := f.in.Replay(ctx, fixed, q.ID); !plinth.IsCode(err, plinth.ECONFLICT) {
		t.Fatalf("second replay error = %v, want conflict", err)
	}
}

func TestIngestErrors(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, _, err := f.in.Ingest(ctx, spec, "/nope/missing.csv"); !plinth.IsCode(err, plinth.EINVALID) {
		t.Errorf("missing file: %v", err)
	}
	if _, _, err := f.in.Ingest(ctx, spec, "data.xlsx"); !plinth.IsCode(err, plinth.EINVALID) {
		t.Errorf("unknown format: %v", err)
	}
	bad := spec
	bad.Columns = []dataset.Column{{Name: "x", Type: "complex"}}
	if _, _, err := f.in.Ingest(ctx, bad, f.input); !plinth.IsCode(err, plinth.EINVALID) {
		t.Errorf("bad spec: %v", err)
	}
}

func fmtAny(v any) string { return fmt.Sprint(v) }

// Record moves a written file its writer hashed into the blob store, and
// copies one it did not; either way the version points at its bytes.
func TestRecordMovesHashedFile(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	pred := dataset.Spec{Name: "predictions", EventTime: "time", Columns: []dataset.Column{{Name: "time", Type: "timestamp", NotNull: true}}}
	if err := f.in.Store.SetSpec(ctx, pred); err != nil {
		t.Fatal(err)
	}
	for _, hashed := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "batch.parquet")
		if _, err := f.eng.DB().ExecContext(ctx, fmt.Sprintf(`COPY (SELECT TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_seconds(i) AS time FROM range(%d) t(i)) TO '%s' (FORMAT parquet)`, 10+btoi(hashed), path)); err != nil {
			t.Fatal(err)
		}
		w := dataset.Written{File: path, Rows: int64(10 + btoi(hashed)), Schema: []dataset.Field{{Name: "time", Type: "TIMESTAMP WITH TIME ZONE"}}, At: time.Now()}
		if hashed {
			data, _ := os.ReadFile(path)
			h := blob.NewHasher()
			h.Write(data)
			info := h.Info()
			w.Info = &info
		}
		v, err := f.in.Record(ctx, pred, w, "test")
		if err != nil {
			t.Fatal(err)
		}
		_, statErr := os.Stat(path)
		if moved := os.IsNotExist(statErr); moved != hashed {
			t.Errorf("hashed %v: file moved %v", hashed, moved)
		}
		if got := f.query(t, v.Digest, `SELECT count(*) FROM FILE`); got[0][0] != fmt.Sprint(10+btoi(hashed)) {
			t.Errorf("hashed %v: read back %v rows", hashed, got)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
