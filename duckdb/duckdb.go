// Package duckdb is plinth's offline compute engine: embedded DuckDB runs
// the point-in-time joins that build training sets, over Parquet and CSV
// files or tables, and writes Parquet.
package duckdb

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	_ "github.com/duckdb/duckdb-go/v2" // registers the "duckdb" driver

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/feature"
)

var _ feature.Offline = (*Engine)(nil)

// Engine is an embedded DuckDB database.
type Engine struct {
	db *sql.DB
}

// Open opens a DuckDB database at path ("" for an in-memory one). Times
// are read and written in UTC.
func Open(path string) (*Engine, error) {
	db, err := sql.Open("duckdb", path)
	if err != nil {
		return nil, fmt.Errorf("open duckdb: %w", err)
	}
	// One connection: temporary tables and settings live per connection.
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`SET TimeZone = 'UTC'`); err != nil {
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

// TrainingSet builds a point-in-time-correct training set (see package
// feature for the rules) as one DuckDB query: each view's rows are reduced
// to one per (keys, event time) — the last ingested, among those ingested
// by AsOf — and joined to the labels with ASOF LEFT JOIN on the keys and
// "event time <= label time"; values past the view's TTL become null.
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

// trainingSetSQL renders the training set query over the __labels table and
// the output's feature columns.
func trainingSetSQL(spec feature.TrainingSetSpec) (string, []string, error) {
	var with, joins, selects []string
	var columns []string
	ts := quote(spec.Timestamp)
	for i, v := range spec.Views {
		keys, err := spec.JoinKeys(v)
		if err != nil {
			return "", nil, err
		}
		src, err := Relation(v.Source)
		if err != nil {
			return "", nil, plinth.Invalid(fmt.Sprintf("views[%d].source", i), "%s", plinth.ErrorMessage(err))
		}
		alias := fmt.Sprintf("v%d", i)
		vts := "__ts_" + alias
		var proj []string
		for _, k := range keys {
			proj = append(proj, quote(k))
		}
		proj = append(proj, "CAST("+quote(v.Timestamp)+" AS TIMESTAMPTZ) AS "+vts)
		for _, f := range v.Features {
			proj = append(proj, quote(f)+" AS "+quote(feature.Column(v.Name, f)))
		}
		var where, order string
		if v.Ingested != "" {
			order = " ORDER BY " + quote(v.Ingested) + " DESC"
			if spec.AsOf != nil {
				where = " WHERE CAST(" + quote(v.Ingested) + " AS TIMESTAMPTZ) <= " + timestamp(*spec.AsOf)
			}
		}
		partition := strings.Join(append(quoteAll(keys), quote(v.Timestamp)), ", ")
		with = append(with, fmt.Sprintf("%s AS (SELECT %s FROM %s%s QUALIFY row_number() OVER (PARTITION BY %s%s) = 1)",
			alias, strings.Join(proj, ", "), src, where, partition, order))

		var on []string
		for _, k := range keys {
			on = append(on, "l."+quote(k)+" = "+alias+"."+quote(k))
		}
		on = append(on, "CAST(l."+ts+" AS TIMESTAMPTZ) >= "+alias+"."+vts)
		joins = append(joins, "ASOF LEFT JOIN "+alias+" ON "+strings.Join(on, " AND "))
		for _, f := range v.Features {
			col := quote(feature.Column(v.Name, f))
			expr := alias + "." + col
			if v.TTL > 0 {
				expr = fmt.Sprintf("CASE WHEN CAST(l.%s AS TIMESTAMPTZ) - %s.%s <= INTERVAL '%d microseconds' THEN %s END",
					ts, alias, vts, v.TTL.Microseconds(), expr)
			}
			selects = append(selects, expr+" AS "+col)
			columns = append(columns, feature.Column(v.Name, f))
		}
	}
	q := "WITH " + strings.Join(with, ", ") +
		" SELECT l.* EXCLUDE (__row), " + strings.Join(selects, ", ") +
		" FROM (SELECT *, rowid AS __row FROM __labels) l " + strings.Join(joins, " ") +
		" ORDER BY l.__row"
	return q, columns, nil
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

func timestamp(t time.Time) string {
	return "TIMESTAMPTZ " + literal(t.UTC().Format("2006-01-02 15:04:05.999999+00"))
}

func isIdent(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
