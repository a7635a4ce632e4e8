// Package duckdb is plinth's offline compute engine: embedded DuckDB runs
// the point-in-time joins that build training sets, over Parquet and CSV
// files or tables, and writes Parquet.
package duckdb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"math/bits"
	"strings"

	duckdbdriver "github.com/duckdb/duckdb-go/v2"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/feature"
)

var _ feature.Offline = (*Engine)(nil)

// Engine is an embedded DuckDB database.
type Engine struct {
	db *sql.DB
}

// Open opens a DuckDB database at path ("" for an in-memory one). Every
// connection reads and writes times in UTC.
func Open(path string) (*Engine, error) {
	connector, err := duckdbdriver.NewConnector(path, func(execer driver.ExecerContext) error {
		_, err := execer.ExecContext(context.Background(), `SET TimeZone = 'UTC'`, nil)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open duckdb: %w", err)
	}
	db := sql.OpenDB(connector)
	// DuckDB parallelizes each query itself; a few connections let a
	// streaming read and a write (materialization, on-demand columns) run
	// side by side. Temporary tables live on the connection that made them.
	db.SetMaxOpenConns(4)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open duckdb: %w", err)
	}
	return &Engine{db: db}, nil
}

// DB is the underlying database, for loading data and ad-hoc queries.
func (e *Engine) DB() *sql.DB { return e.db }

// Close closes the database.
func (e *Engine) Close() error { return e.db.Close() }

// Relation renders a source as a DuckDB table expression: a Parquet or CSV
// file (or glob) is read directly, anything else names a table.
func Relation(source string) (string, error) {
	lower := strings.ToLower(source)
	switch {
	case strings.HasSuffix(lower, ".parquet"):
		return "read_parquet(" + literal(source) + ")", nil
	case strings.HasSuffix(lower, ".csv"), strings.HasSuffix(lower, ".csv.gz"):
		return "read_csv_auto(" + literal(source) + ")", nil
	}
	if !isIdent(source) {
		return "", plinth.Invalid("source", "%q is neither a .parquet or .csv file nor a table name", source)
	}
	return quote(source), nil
}

// viewRelation is the table expression of a view's rows: its resolved
// snapshot files, read together, or its source.
func viewRelation(v feature.View) (string, error) {
	if len(v.Paths) == 0 {
		return Relation(v.Source)
	}
	files := make([]string, len(v.Paths))
	for i, p := range v.Paths {
		files[i] = literal(p)
	}
	return "read_parquet([" + strings.Join(files, ", ") + "], union_by_name = true)", nil
}

// TrainingSet builds a point-in-time-correct training set (see package
// feature for the rules) as one DuckDB query: each view joins the labels
// with ASOF LEFT JOIN on its keys and an ordering key of (event time,
// ingestion time), among the rows ingested by AsOf; values past the view's
// TTL become null; the labels keep their order.
func (e *Engine) TrainingSet(ctx context.Context, spec feature.TrainingSetSpec) (*feature.TrainingSet, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	query, columns, err := trainingSetSQL(spec)
	if err != nil {
		return nil, err
	}
	conn, err := e.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	labels, err := Relation(spec.Labels)
	if err != nil {
		return nil, plinth.Invalid("labels", "%s", plinth.ErrorMessage(err))
	}
	// The labels are copied into a temporary table so that rowid keeps
	// their order, which the output restores.
	if _, err := conn.ExecContext(ctx, `CREATE OR REPLACE TEMP TABLE __labels AS SELECT * FROM `+labels); err != nil {
		return nil, plinth.Invalid("labels", "%v", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `DROP TABLE IF EXISTS __labels`)
	if _, err := conn.ExecContext(ctx, `COPY (`+query+`) TO `+literal(spec.Output)+` (FORMAT parquet)`); err != nil {
		return nil, plinth.Invalid("views", "training set query failed: %v", err)
	}
	var rows int64
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM read_parquet(`+literal(spec.Output)+`)`).Scan(&rows); err != nil {
		return nil, fmt.Errorf("count training set: %w", err)
	}
	return &feature.TrainingSet{Path: spec.Output, Rows: rows, Columns: columns}, nil
}

// Range writes the rows of a view with event time in [Start, End): for a
// plain view, one row per keys and event time (the last ingested by AsOf);
// for an aggregated view, its change points in the range.
func (e *Engine) Range(ctx context.Context, spec feature.RangeSpec) (*feature.TrainingSet, error) {
	ts := feature.TrainingSetSpec{Labels: "range", Timestamp: "ts", Entities: spec.Entities, Views: []feature.View{spec.View}, AsOf: spec.AsOf, Output: spec.Output}
	if err := ts.Validate(); err != nil {
		return nil, err
	}
	if !spec.End.After(spec.Start) {
		return nil, plinth.Invalid("end", "must be after start")
	}
	v := ts.Views[0]
	keys, err := ts.JoinKeys(v)
	if err != nil {
		return nil, err
	}
	src, err := viewRelation(v)
	if err != nil {
		return nil, plinth.Invalid("view.source", "%s", plinth.ErrorMessage(err))
	}
	ev := "epoch_us(CAST(" + quote(v.Timestamp) + " AS TIMESTAMPTZ))"
	var where string
	order := ev
	if v.Ingested != "" {
		ing := "epoch_us(CAST(" + quote(v.Ingested) + " AS TIMESTAMPTZ))"
		order = ing
		if spec.AsOf != nil {
			where = " WHERE " + ing + " <= " + fmt.Sprint(spec.AsOf.UnixMicro())
		}
	}
	var inner string
	if len(v.Aggregations) > 0 {
		inner = aggregateSQL(v, keys, src, ev, where)
	} else {
		proj := append(quoteAll(keys), ev+" AS __ev", order+" AS __ord")
		for _, f := range v.Features {
			proj = append(proj, quote(f)+" AS "+quote(feature.Column(v.Name, f)))
		}
		inner = "SELECT " + strings.Join(proj, ", ") + " FROM " + src + where +
			" QUALIFY row_number() OVER (PARTITION BY " + strings.Join(quoteAll(keys), ", ") + ", __ev ORDER BY __ord DESC) = 1"
	}
	var cols []string
	for _, f := range v.Features {
		cols = append(cols, quote(feature.Column(v.Name, f)))
	}
	q := "SELECT " + strings.Join(quoteAll(keys), ", ") + ", make_timestamptz(__ev) AS event_time, " + strings.Join(cols, ", ") +
		" FROM (" + inner + ") WHERE __ev >= " + fmt.Sprint(spec.Start.UnixMicro()) + " AND __ev < " + fmt.Sprint(spec.End.UnixMicro()) +
		" ORDER BY event_time, " + strings.Join(quoteAll(keys), ", ")
	if _, err := e.db.ExecContext(ctx, `COPY (`+q+`) TO `+literal(spec.Output)+` (FORMAT parquet)`); err != nil {
		return nil, plinth.Invalid("view", "range query failed: %v", err)
	}
	var rows int64
	if err := e.db.QueryRowContext(ctx, `SELECT count(*) FROM read_parquet(`+literal(spec.Output)+`)`).Scan(&rows); err != nil {
		return nil, fmt.Errorf("count range: %w", err)
	}
	columns := make([]string, len(v.Features))
	for i, f := range v.Features {
		columns[i] = feature.Column(v.Name, f)
	}
	return &feature.TrainingSet{Path: spec.Output, Rows: rows, Columns: columns}, nil
}

// tieScale makes one 128-bit ordering key of an event time and an
// ingestion time (both unix microseconds): event * tieScale + ingested.
// ASOF JOIN on that key picks the latest event at or before the label time
// and, among equal events, the last ingested — the tie rule — without a
// window over the whole view. Ingestion times must lie in [0, tieScale)
// microseconds after 1970 (until the year 5138).
const tieScale = "100000000000000000"

// ordering is how a view's rows are ordered for the point-in-time join:
// the view's key (__ord) and the label's (compared with >=).
type ordering struct {
	view, label string
	src         string // the view's relation, when ordering changes it
}

// viewOrdering picks the cheapest exact ordering key for a view. Without
// ingestion times, or with one snapshot (one ingestion time), it is the
// event time. Over several snapshots it is a 64-bit event time shifted to
// make room for the snapshot's position, which orders their ingestion
// times: ASOF sorts 64-bit keys far faster than 128-bit ones (0.45 s of a
// 2.5 s training set in BenchmarkTrainingSet). Other sources with an
// ingestion column get the 128-bit key.
func viewOrdering(v feature.View, ev, lts string) ordering {
	switch {
	case v.Ingested == "" || len(v.Paths) == 1:
		return ordering{view: ev, label: lts}
	case len(v.Paths) > 1 && len(v.Paths) <= 1<<20:
		shift := bits.Len(uint(len(v.Paths) - 1))
		// Event times beyond ±2^(62-shift) µs (year 2112 at a million
		// snapshots, far later for fewer) are clamped rather than
		// overflowing; only their order among themselves is lost.
		bound := int64(1) << (62 - shift)
		clamp := func(t string) string { return fmt.Sprintf("least(greatest(%s, %d), %d)", t, -bound, bound-1) }
		scans := make([]string, len(v.Paths))
		for i, p := range v.Paths {
			scans[i] = fmt.Sprintf("SELECT *, %d AS __batch FROM read_parquet(%s)", i, literal(p))
		}
		return ordering{
			view:  fmt.Sprintf("%s * %d + __batch", clamp(ev), 1<<shift),
			label: fmt.Sprintf("%s * %d + %d", clamp(lts), 1<<shift, 1<<shift-1),
			src:   "(" + strings.Join(scans, " UNION ALL BY NAME ") + ")",
		}
	}
	ing := "epoch_us(CAST(" + quote(v.Ingested) + " AS TIMESTAMPTZ))"
	return ordering{
		view:  "CAST(" + ev + " AS HUGEINT) * " + tieScale + " + " + ing,
		label: "CAST(" + lts + " AS HUGEINT) * " + tieScale + " + (" + tieScale + " - 1)",
	}
}

// trainingSetSQL renders the training set query over the __labels table and
// the output's feature columns.
func trainingSetSQL(spec feature.TrainingSetSpec) (string, []string, error) {
	var with, joins, selects, labelKeys, internal []string
	var columns []string
	lts := "epoch_us(CAST(" + quote(spec.Timestamp) + " AS TIMESTAMPTZ))"
	for i, v := range spec.Views {
		keys, err := spec.JoinKeys(v)
		if err != nil {
			return "", nil, err
		}
		src, err := viewRelation(v)
		if err != nil {
			return "", nil, plinth.Invalid(fmt.Sprintf("views[%d].source", i), "%s", plinth.ErrorMessage(err))
		}
		alias := fmt.Sprintf("v%d", i)
		ev := "epoch_us(CAST(" + quote(v.Timestamp) + " AS TIMESTAMPTZ))"
		var where string
		if v.Ingested != "" && spec.AsOf != nil {
			where = " WHERE epoch_us(CAST(" + quote(v.Ingested) + " AS TIMESTAMPTZ)) <= " + fmt.Sprint(spec.AsOf.UnixMicro())
		}
		labelOrder := "l.__lts"
		if len(v.Aggregations) > 0 {
			// One row per change point of the aggregates, no ties: the
			// ASOF key is the change point's time alone.
			with = append(with, alias+" AS ("+aggregateSQL(v, keys, src, ev, where)+")")
		} else {
			ord := viewOrdering(v, ev, "__lts")
			if ord.src != "" {
				src = ord.src
			}
			if ord.label != "__lts" {
				key := fmt.Sprintf("__lk%d", i)
				labelKeys = append(labelKeys, ord.label+" AS "+key)
				internal = append(internal, key)
				labelOrder = "l." + key
			}
			proj := quoteAll(keys)
			proj = append(proj, ev+" AS __ev", ord.view+" AS __ord")
			for _, f := range v.Features {
				proj = append(proj, quote(f)+" AS "+quote(feature.Column(v.Name, f)))
			}
			with = append(with, fmt.Sprintf("%s AS (SELECT %s FROM %s%s)", alias, strings.Join(proj, ", "), src, where))
		}

		var on []string
		for _, k := range keys {
			on = append(on, "l."+quote(k)+" = "+alias+"."+quote(k))
		}
		on = append(on, labelOrder+" >= "+alias+".__ord")
		joins = append(joins, "ASOF LEFT JOIN "+alias+" ON "+strings.Join(on, " AND "))
		for _, f := range v.Features {
			col := quote(feature.Column(v.Name, f))
			expr := alias + "." + col
			if ttl := v.TTL.Std(); ttl > 0 {
				// Integer microseconds: comparing INTERVALs costs DuckDB far more.
				expr = fmt.Sprintf("CASE WHEN l.__lts - %s.__ev <= %d THEN %s END", alias, ttl.Microseconds(), expr)
			}
			selects = append(selects, expr+" AS "+col)
			columns = append(columns, feature.Column(v.Name, f))
		}
	}
	labels := "SELECT *, rowid AS __row, " + lts + " AS __lts FROM __labels"
	if len(labelKeys) > 0 {
		labels = "SELECT *, " + strings.Join(labelKeys, ", ") + " FROM (" + labels + ")"
	}
	internal = append([]string{"__row", "__lts"}, internal...)
	q := "WITH " + strings.Join(with, ", ") +
		" SELECT l.* EXCLUDE (" + strings.Join(internal, ", ") + "), " + strings.Join(selects, ", ") +
		" FROM (" + labels + ") l " + strings.Join(joins, " ") +
		" ORDER BY l.__row"
	return q, columns, nil
}

// aggregateSQL renders a windowed-aggregation view as a step function: a
// row at every time its aggregates change — each event, and each moment an
// event leaves a window (its time plus the window) — holding the aggregates
// over (t - window, t]. RANGE frames over integer microseconds give exactly
// that window; synthetic expiry rows carry no values, so aggregates skip
// them. The point-in-time join then reads the aggregate at any label time.
func aggregateSQL(v feature.View, keys []string, src, ev, where string) string {
	k := strings.Join(quoteAll(keys), ", ")
	cols := map[string]string{} // source column -> alias in the union
	var rawCols, nulls []string
	for _, a := range v.Aggregations {
		if a.Column == "" {
			continue
		}
		if _, ok := cols[a.Column]; !ok {
			cols[a.Column] = fmt.Sprintf("__c%d", len(cols))
			rawCols = append(rawCols, quote(a.Column)+" AS "+cols[a.Column])
			nulls = append(nulls, "NULL")
		}
	}
	raw := "SELECT " + k + ", " + ev + " AS __t, 1 AS __e"
	for _, c := range rawCols {
		raw += ", " + c
	}
	raw += " FROM " + src + where
	windows := map[int64]string{}
	var windowDefs []string
	union := []string{"SELECT * FROM raw"}
	for _, a := range v.Aggregations {
		w := a.Window.Std().Microseconds()
		if _, ok := windows[w]; ok {
			continue
		}
		name := fmt.Sprintf("w%d", len(windows))
		windows[w] = name
		windowDefs = append(windowDefs, fmt.Sprintf("%s AS (PARTITION BY %s ORDER BY __t RANGE BETWEEN %d PRECEDING AND CURRENT ROW)", name, k, w-1))
		expiry := "SELECT " + k + fmt.Sprintf(", __t + %d, NULL", w)
		for _, n := range nulls {
			expiry += ", " + n
		}
		union = append(union, expiry+" FROM raw")
	}
	var aggs []string
	for _, a := range v.Aggregations {
		c, over := cols[a.Column], " OVER "+windows[a.Window.Std().Microseconds()]
		var expr string
		switch a.Function {
		case "count":
			arg := "__e"
			if c != "" {
				arg = c
			}
			expr = "count(" + arg + ")" + over
		case "sum":
			expr = "COALESCE(sum(" + c + ")" + over + ", 0)"
		case "mean":
			expr = "avg(" + c + ")" + over
		case "min", "max":
			expr = a.Function + "(" + c + ")" + over
		case "last":
			expr = "last_value(" + c + " IGNORE NULLS)" + over
		case "distinct_count":
			expr = "count(DISTINCT " + c + ")" + over
		}
		aggs = append(aggs, expr+" AS "+quote(feature.Column(v.Name, a.FeatureName())))
	}
	return "WITH raw AS (" + raw + "), u AS (" + strings.Join(union, " UNION ALL ") + ")" +
		" SELECT " + k + ", __t AS __ev, __t AS __ord, " + strings.Join(aggs, ", ") +
		" FROM u WINDOW " + strings.Join(windowDefs, ", ") +
		" QUALIFY row_number() OVER (PARTITION BY " + k + ", __t ORDER BY __e NULLS LAST) = 1"
}

func quote(ident string) string { return `"` + strings.ReplaceAll(ident, `"`, `""`) + `"` }

func quoteAll(idents []string) []string {
	out := make([]string, len(idents))
	for i, s := range idents {
		out[i] = quote(s)
	}
	return out
}

func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func isIdent(s string) bool { return s != "" && len(s) <= 128 && isPlain(s) }
