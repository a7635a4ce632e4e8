package duckdb

import (
	"context"
	"database/sql/driver"
	"fmt"
	"os"
	"strings"

	duckdbdriver "github.com/duckdb/duckdb-go/v2"

	"github.com/plinthml/plinth/feature"
)

// sqlTypes maps on-demand result types to DuckDB's.
var sqlTypes = map[string]string{"float": "DOUBLE", "int": "BIGINT", "bool": "BOOLEAN", "string": "VARCHAR"}

// AddColumns rewrites the Parquet file at path with columns appended whose
// values fn computes, row by row in Go, from each row's values. It streams:
// rows are read one at a time and the results appended to a table as they
// come.
func (e *Engine) AddColumns(ctx context.Context, path string, columns []feature.NewColumn, fn func(row map[string]any) []any) error {
	conn, err := e.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	defs := []string{"__row BIGINT"}
	for _, c := range columns {
		t, ok := sqlTypes[c.Type]
		if !ok {
			return fmt.Errorf("add columns: type %q of %s", c.Type, c.Name)
		}
		defs = append(defs, quote(c.Name)+" "+t)
	}
	if _, err := conn.ExecContext(ctx, `CREATE OR REPLACE TEMP TABLE __added (`+strings.Join(defs, ", ")+`)`); err != nil {
		return fmt.Errorf("add columns: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `DROP TABLE IF EXISTS __added`)

	rows, err := e.db.QueryContext(ctx, `SELECT * FROM read_parquet(`+literal(path)+`, file_row_number = true)`)
	if err != nil {
		return fmt.Errorf("add columns: %w", err)
	}
	defer rows.Close()
	names, err := rows.Columns()
	if err != nil {
		return err
	}
	err = conn.Raw(func(dc any) error {
		app, err := duckdbdriver.NewAppenderFromConn(dc.(driver.Conn), "", "__added")
		if err != nil {
			return err
		}
		vals := make([]any, len(names))
		ptrs := make([]any, len(names))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				app.Close()
				return err
			}
			row := make(map[string]any, len(names))
			var rowNum int64
			for i, n := range names {
				if n == "file_row_number" {
					rowNum, _ = vals[i].(int64)
					continue
				}
				row[n] = vals[i]
			}
			out := fn(row)
			args := make([]driver.Value, 0, len(out)+1)
			args = append(args, rowNum)
			for _, v := range out {
				args = append(args, v)
			}
			if err := app.AppendRow(args...); err != nil {
				app.Close()
				return err
			}
		}
		if err := rows.Err(); err != nil {
			app.Close()
			return err
		}
		return app.Close()
	})
	if err != nil {
		return fmt.Errorf("add columns: %w", err)
	}
	rows.Close()
	tmp := path + ".tmp"
	var cols []string
	for _, c := range columns {
		cols = append(cols, "a."+quote(c.Name))
	}
	if _, err := conn.ExecContext(ctx, `COPY (SELECT p.* EXCLUDE (file_row_number), `+strings.Join(cols, ", ")+
		` FROM read_parquet(`+literal(path)+`, file_row_number = true) p JOIN __added a ON a.__row = p.file_row_number ORDER BY p.file_row_number) TO `+
		literal(tmp)+` (FORMAT parquet)`); err != nil {
		return fmt.Errorf("add columns: %w", err)
	}
	return os.Rename(tmp, path)
}
