package duckdb

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/dataset"
)

var _ dataset.Checker = (*Engine)(nil)

// Check validates a batch against a source's spec in DuckDB. Every row gets
// the list of rules it breaks (type, not null, range, allowed values,
// uniqueness); then the batch-level rules (declared columns present, row
// counts, freshness, bad-row fraction) decide whether the whole batch is
// quarantined. Columns with a declared type are read as text and cast row
// by row, so one bad value quarantines its row instead of failing the read.
func (e *Engine) Check(ctx context.Context, spec dataset.Spec, input string, ingestedAt time.Time, good, bad string) (*dataset.Report, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	conn, err := e.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	defer conn.ExecContext(context.WithoutCancel(ctx), `DROP TABLE IF EXISTS __batch; DROP TABLE IF EXISTS __checked`)

	src, err := batchRelation(input, spec)
	if err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, `CREATE OR REPLACE TEMP TABLE __batch AS SELECT COLUMNS(c -> c NOT IN ('`+dataset.ReasonsColumn+`', '`+dataset.IngestedAt+`')) FROM `+src); err != nil {
		return nil, plinth.Invalid("input", "cannot read %s: %v", input, err)
	}
	fields, err := describe(ctx, conn, "__batch")
	if err != nil {
		return nil, err
	}
	present := map[string]bool{}
	for _, f := range fields {
		present[f.Name] = true
	}

	// Row-level rules.
	var batchReasons []string
	var checks []string
	for _, c := range spec.Columns {
		if !present[c.Name] {
			batchReasons = append(batchReasons, "missing column "+c.Name)
			continue
		}
		col := quote(c.Name)
		typed := col
		if c.Type != "" {
			typed = "TRY_CAST(" + col + " AS " + dataset.Types[c.Type] + ")"
			checks = append(checks, fmt.Sprintf("CASE WHEN %s IS NOT NULL AND %s IS NULL THEN %s END", col, typed, literal(c.Name+": not a "+c.Type)))
		}
		if c.NotNull {
			checks = append(checks, fmt.Sprintf("CASE WHEN %s IS NULL THEN %s END", col, literal(c.Name+": null")))
		}
		num := "TRY_CAST(" + col + " AS DOUBLE)"
		if c.Min != nil {
			checks = append(checks, fmt.Sprintf("CASE WHEN %s < %v THEN %s END", num, *c.Min, literal(fmt.Sprintf("%s: below min %v", c.Name, *c.Min))))
		}
		if c.Max != nil {
			checks = append(checks, fmt.Sprintf("CASE WHEN %s > %v THEN %s END", num, *c.Max, literal(fmt.Sprintf("%s: above max %v", c.Name, *c.Max))))
		}
		if len(c.In) > 0 {
			allowed := make([]string, len(c.In))
			for i, v := range c.In {
				allowed[i] = literal(v)
			}
			checks = append(checks, fmt.Sprintf("CASE WHEN %s IS NOT NULL AND CAST(%s AS VARCHAR) NOT IN (%s) THEN %s END", col, col, strings.Join(allowed, ", "), literal(c.Name+": not an allowed value")))
		}
		if c.Unique {
			checks = append(checks, fmt.Sprintf("CASE WHEN %s IS NOT NULL AND count(*) OVER (PARTITION BY %s) > 1 THEN %s END", col, col, literal(c.Name+": duplicate value")))
		}
	}
	reasons := "[]::VARCHAR[]"
	if len(checks) > 0 {
		reasons = "list_filter([" + strings.Join(checks, ", ") + "], x -> x IS NOT NULL)"
	}
	if _, err := conn.ExecContext(ctx, `CREATE OR REPLACE TEMP TABLE __checked AS SELECT *, `+reasons+` AS __reasons FROM __batch`); err != nil {
		return nil, plinth.Invalid("input", "checking %s: %v", input, err)
	}

	r := &dataset.Report{Reasons: map[string]int64{}}
	if err := conn.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE len(__reasons) > 0) FROM __checked`).Scan(&r.Rows, &r.Bad); err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}

	// Batch-level rules.
	if spec.MinRows > 0 && r.Rows < spec.MinRows {
		batchReasons = append(batchReasons, fmt.Sprintf("batch has %d rows, fewer than min_rows %d", r.Rows, spec.MinRows))
	}
	if spec.MaxRows > 0 && r.Rows > spec.MaxRows {
		batchReasons = append(batchReasons, fmt.Sprintf("batch has %d rows, more than max_rows %d", r.Rows, spec.MaxRows))
	}
	eventCol := ""
	if spec.EventTime != "" {
		if !present[spec.EventTime] {
			batchReasons = append(batchReasons, "missing event time column "+spec.EventTime)
		} else {
			eventCol = "TRY_CAST(" + quote(spec.EventTime) + " AS TIMESTAMPTZ)"
			var minEv, maxEv sql.NullTime
			if err := conn.QueryRowContext(ctx, `SELECT min(`+eventCol+`), max(`+eventCol+`) FROM __checked WHERE len(__reasons) = 0`).Scan(&minEv, &maxEv); err != nil {
				return nil, fmt.Errorf("check: event times: %w", err)
			}
			if minEv.Valid {
				lo, hi := minEv.Time.UTC(), maxEv.Time.UTC()
				r.MinEvent, r.MaxEvent = &lo, &hi
			}
			if maxAge := spec.MaxAge.Std(); maxAge > 0 && (r.MaxEvent == nil || ingestedAt.Sub(*r.MaxEvent) > maxAge) {
				batchReasons = append(batchReasons, fmt.Sprintf("stale: newest event is older than max_age %s", maxAge))
			}
		}
	}
	if spec.MaxBadFraction > 0 && r.Rows > 0 && float64(r.Bad)/float64(r.Rows) > spec.MaxBadFraction {
		batchReasons = append(batchReasons, fmt.Sprintf("%d of %d rows fail, more than max_bad_fraction %v", r.Bad, r.Rows, spec.MaxBadFraction))
	}

	// Outputs. A failed batch sends every row to quarantine, each with the
	// batch's reasons added to its own.
	badWhere := "len(__reasons) > 0"
	allReasons := "__reasons"
	if len(batchReasons) > 0 {
		r.WholeBatch = true
		badWhere = "true"
		lits := make([]string, len(batchReasons))
		for i, b := range batchReasons {
			lits[i] = literal(b)
		}
		allReasons = "list_concat([" + strings.Join(lits, ", ") + "], __reasons)"
	}
	if _, err := conn.ExecContext(ctx, `COPY (SELECT * EXCLUDE (__reasons), array_to_string(`+allReasons+`, '; ') AS `+dataset.ReasonsColumn+
		` FROM __checked WHERE `+badWhere+` ORDER BY rowid) TO `+literal(bad)+` (FORMAT parquet)`); err != nil {
		return nil, fmt.Errorf("check: write quarantine: %w", err)
	}
	rows, err := conn.QueryContext(ctx, `SELECT reason, count(*) FROM (SELECT unnest(`+allReasons+`) AS reason FROM __checked WHERE `+badWhere+`) GROUP BY reason`)
	if err != nil {
		return nil, fmt.Errorf("check: reasons: %w", err)
	}
	for rows.Next() {
		var reason string
		var n int64
		if err := rows.Scan(&reason, &n); err != nil {
			rows.Close()
			return nil, err
		}
		r.Reasons[reason] = n
	}
	rows.Close()
	if r.WholeBatch {
		r.Bad, r.Good = r.Rows, 0
		return r, nil
	}

	proj := make([]string, len(fields))
	for i, f := range fields {
		if c, ok := spec.Column(f.Name); ok && c.Type != "" {
			proj[i] = "CAST(" + quote(f.Name) + " AS " + dataset.Types[c.Type] + ") AS " + quote(f.Name)
		} else {
			proj[i] = quote(f.Name)
		}
	}
	stamp := fmt.Sprintf("make_timestamptz(%d) AS %s", ingestedAt.UnixMicro(), dataset.IngestedAt)
	if _, err := conn.ExecContext(ctx, `COPY (SELECT `+strings.Join(proj, ", ")+`, `+stamp+` FROM __checked WHERE len(__reasons) = 0 ORDER BY rowid) TO `+literal(good)+` (FORMAT parquet)`); err != nil {
		return nil, fmt.Errorf("check: write snapshot: %w", err)
	}
	r.Good = r.Rows - r.Bad
	schema, err := describe(ctx, conn, "read_parquet("+literal(good)+")")
	if err != nil {
		return nil, err
	}
	r.Schema = schema
	return r, nil
}

// batchRelation reads a batch file; columns with a declared type are read
// as text so that bad values reach the row checks.
func batchRelation(input string, spec dataset.Spec) (string, error) {
	lower := strings.ToLower(input)
	switch {
	case strings.HasSuffix(lower, ".parquet"):
		return "read_parquet(" + literal(input) + ")", nil
	case strings.HasSuffix(lower, ".csv"), strings.HasSuffix(lower, ".csv.gz"):
		var types []string
		for _, c := range spec.Columns {
			if c.Type != "" {
				types = append(types, literal(c.Name)+": 'VARCHAR'")
			}
		}
		opts := ", header = true, sample_size = -1"
		if len(types) > 0 {
			opts += ", types = {" + strings.Join(types, ", ") + "}"
		}
		return "read_csv(" + literal(input) + opts + ")", nil
	case strings.HasSuffix(lower, ".ndjson"):
		// Pushed events. Values that do not fit a declared type reach the
		// row checks, which cast them one by one.
		return "read_json_auto(" + literal(input) + ", format = 'newline_delimited')", nil
	}
	return "", plinth.Invalid("input", "%q is not a .csv, .csv.gz, .ndjson or .parquet file", input)
}

// describe returns the columns of a relation.
func describe(ctx context.Context, conn *sql.Conn, relation string) ([]dataset.Field, error) {
	rows, err := conn.QueryContext(ctx, `SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM `+relation+`)`)
	if err != nil {
		return nil, fmt.Errorf("describe: %w", err)
	}
	defer rows.Close()
	var out []dataset.Field
	for rows.Next() {
		var f dataset.Field
		if err := rows.Scan(&f.Name, &f.Type); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// Sample reads up to limit rows of a Parquet file as text.
func (e *Engine) Sample(ctx context.Context, file string, limit int) (*dataset.Sample, error) {
	s := &dataset.Sample{}
	rel := "read_parquet(" + literal(file) + ")"
	if err := e.db.QueryRowContext(ctx, `SELECT count(*) FROM `+rel).Scan(&s.Total); err != nil {
		return nil, fmt.Errorf("sample: %w", err)
	}
	rows, err := e.db.QueryContext(ctx, `SELECT COLUMNS(*)::VARCHAR FROM `+rel+` LIMIT `+fmt.Sprint(max(limit, 0)))
	if err != nil {
		return nil, fmt.Errorf("sample: %w", err)
	}
	defer rows.Close()
	if s.Columns, err = rows.Columns(); err != nil {
		return nil, err
	}
	for rows.Next() {
		vals := make([]sql.NullString, len(s.Columns))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("sample: %w", err)
		}
		rec := make([]string, len(vals))
		for i, v := range vals {
			rec[i] = v.String
		}
		s.Rows = append(s.Rows, rec)
	}
	return s, rows.Err()
}
