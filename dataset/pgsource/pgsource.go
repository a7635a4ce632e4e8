// Package pgsource reads a PostgreSQL table or query as a batch for
// ingestion: the rows stream out as CSV with a header, so a source in a
// team's database goes through the same expectations, quarantine and
// versioned snapshots as a file.
package pgsource

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plinthml/plinth"
)

// Query returns the SELECT a source names: a query as it is, or every
// column of a table (schema.table accepted).
func Query(tableOrQuery string) string {
	s := strings.TrimSpace(tableOrQuery)
	if strings.HasPrefix(strings.ToLower(s), "select ") || strings.HasPrefix(strings.ToLower(s), "with ") {
		return s
	}
	parts := strings.Split(s, ".")
	for i, p := range parts {
		parts[i] = `"` + strings.ReplaceAll(p, `"`, `""`) + `"`
	}
	return "SELECT * FROM " + strings.Join(parts, ".")
}

// Copy runs the query on the database at url and writes its rows to w as
// CSV with a header; NULL is an empty cell. It returns the rows written.
// The query runs in a read-only transaction.
func Copy(ctx context.Context, url, tableOrQuery string, w io.Writer) (int64, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, plinth.Errorf(plinth.EUNAVAILABLE, "postgres source: %v", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return 0, plinth.Errorf(plinth.EUNAVAILABLE, "postgres source: %v", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	rows, err := tx.Query(ctx, Query(tableOrQuery))
	if err != nil {
		return 0, plinth.Invalid("query", "%v", err)
	}
	defer rows.Close()
	cw := csv.NewWriter(w)
	var header []string
	for _, f := range rows.FieldDescriptions() {
		header = append(header, f.Name)
	}
	if err := cw.Write(header); err != nil {
		return 0, err
	}
	var n int64
	rec := make([]string, len(header))
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return n, fmt.Errorf("postgres source: row %d: %w", n+1, err)
		}
		for i, v := range vals {
			rec[i] = cell(v)
		}
		if err := cw.Write(rec); err != nil {
			return n, err
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return n, plinth.Invalid("query", "%v", err)
	}
	cw.Flush()
	return n, cw.Error()
}

// cell writes a value the way the engine reads CSV back: timestamps in
// RFC 3339, numbers in full precision, NULL empty.
func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case []byte:
		return string(x)
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v)
}
