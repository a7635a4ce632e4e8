package pipeline

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/model"
	"github.com/plinthml/plinth/train"
)

// tables reads and writes the Parquet files that flow between steps,
// through the embedded DuckDB.
type tables struct{ db *sql.DB }

func quote(path string) string { return "'" + strings.ReplaceAll(path, "'", "''") + "'" }

// isParquet tells a Parquet file from a CSV by its magic number: blob
// paths carry no extension.
func isParquet(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var magic [4]byte
	_, err = io.ReadFull(f, magic[:])
	return err == nil && bytes.Equal(magic[:], []byte("PAR1"))
}

// scan is the DuckDB table function that reads a file (or files).
func scan(paths ...string) string {
	q := make([]string, len(paths))
	for i, p := range paths {
		q[i] = quote(p)
	}
	list := "[" + strings.Join(q, ", ") + "]"
	if len(paths) > 0 && isParquet(paths[0]) {
		return "read_parquet(" + list + ", union_by_name = true)"
	}
	return "read_csv(" + list + ", header = true, union_by_name = true)"
}

// query writes the result of a SELECT over the files to a Parquet file.
// The SELECT reads the input as "input".
func (t tables) query(ctx context.Context, dst, sel string, inputs ...string) error {
	q := fmt.Sprintf(`COPY (WITH input AS (SELECT * FROM %s) %s) TO %s (FORMAT parquet)`, scan(inputs...), sel, quote(dst))
	if _, err := t.db.ExecContext(ctx, q); err != nil {
		return plinth.Invalid("with", "%v", err)
	}
	return nil
}

// count returns the rows of a file.
func (t tables) count(ctx context.Context, path string) (int64, error) {
	var n int64
	err := t.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+scan(path)).Scan(&n)
	return n, err
}

// toCSV writes a file as CSV with a header, for train.ReadCSV.
func (t tables) toCSV(ctx context.Context, src, dst string) error {
	q := fmt.Sprintf(`COPY (SELECT * FROM %s) TO %s (HEADER, DELIMITER ',')`, scan(src), quote(dst))
	if _, err := t.db.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("read %s: %w", filepath.Base(src), err)
	}
	return nil
}

// read reads a table file for training or scoring. Columns listed in
// drop are left out; when m is given, the model's numeric features are
// read as numbers and every other column as text, so columns the model
// does not read cannot fail.
func (t tables) read(ctx context.Context, dir, path, label, positive string, drop []string, m *model.Model) (*train.Table, error) {
	csvPath := filepath.Join(dir, fmt.Sprintf("table-%d.csv", len(drop)))
	cols := "*"
	if len(drop) > 0 {
		q := make([]string, len(drop))
		for i, d := range drop {
			q[i] = `"` + strings.ReplaceAll(d, `"`, `""`) + `"`
		}
		cols = "* EXCLUDE (" + strings.Join(q, ", ") + ")"
	}
	q := fmt.Sprintf(`COPY (SELECT %s FROM %s) TO %s (HEADER, DELIMITER ',')`, cols, scan(path), quote(csvPath))
	if _, err := t.db.ExecContext(ctx, q); err != nil {
		return nil, plinth.Invalid("with.drop", "%v", err)
	}
	defer os.Remove(csvPath)
	var categorical []string
	if m != nil {
		f, err := os.Open(csvPath)
		if err != nil {
			return nil, err
		}
		header, err := csv.NewReader(f).Read()
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("read header: %w", err)
		}
		numeric := map[string]bool{}
		for _, ft := range m.Signature.Features {
			if ft.Type != model.Categorical || len(ft.Categories) == 0 {
				numeric[ft.Name] = true
			}
		}
		categorical = []string{}
		for _, h := range header {
			if !numeric[h] && h != label {
				categorical = append(categorical, h)
			}
		}
	}
	f, err := os.Open(csvPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tbl, err := train.ReadCSV(f, label, positive, categorical)
	if err != nil {
		return nil, plinth.Invalid("with.label", "%v", err)
	}
	return tbl, nil
}
