package monitor

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/plinthml/plinth/eval"
)

// Joiner reads the prediction log and the labels: the offline engine's
// database (DuckDB) and the local files of a dataset's snapshots.
type Joiner struct {
	DB *sql.DB
	// Files returns a dataset's snapshot files, oldest first.
	Files func(ctx context.Context, dataset string) ([]string, error)
}

func quoteList(paths []string) string {
	q := make([]string, len(paths))
	for i, p := range paths {
		q[i] = "'" + strings.ReplaceAll(p, "'", "''") + "'"
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func ident(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// Performance joins the labels that have come in to the predictions of
// the prediction log dataset (by request id) and measures each model
// version per period of labels.Every over [from, to): AUC, log loss,
// accuracy and calibration for probabilities of a binary label, RMSE and
// MAE otherwise.
func (j *Joiner) Performance(ctx context.Context, predictions string, labels Labels, from, to time.Time) ([]Performance, error) {
	pf, err := j.Files(ctx, predictions)
	if err != nil || len(pf) == 0 {
		return nil, err
	}
	lf, err := j.Files(ctx, labels.Dataset)
	if err != nil || len(lf) == 0 {
		return nil, err
	}
	every := time.Duration(labels.Every)
	if every <= 0 {
		every = 24 * time.Hour
	}
	q := fmt.Sprintf(`SELECT p.time, p.model, p.version, p.outputs[1], l.y
		FROM read_parquet(%s, union_by_name = true) p
		JOIN (SELECT DISTINCT CAST(%s AS VARCHAR) AS k, CAST(%s AS DOUBLE) AS y FROM read_parquet(%s, union_by_name = true)) l
		ON p.request_id = l.k
		WHERE p.time >= ? AND p.time < ? AND l.y IS NOT NULL`,
		quoteList(pf), ident(labels.Key), ident(labels.Label), quoteList(lf))
	rows, err := j.DB.QueryContext(ctx, q, from.UTC(), to.UTC())
	if err != nil {
		return nil, fmt.Errorf("join labels %s to %s: %w", labels.Dataset, predictions, err)
	}
	defer rows.Close()
	type bucket struct {
		start   time.Time
		model   string
		version int
		y, p    []float64
	}
	buckets := map[string]*bucket{}
	for rows.Next() {
		var t time.Time
		var b bucket
		var p, y float64
		if err := rows.Scan(&t, &b.model, &b.version, &p, &y); err != nil {
			return nil, err
		}
		start := t.UTC().Truncate(every)
		key := fmt.Sprintf("%d/%s/%d", start.Unix(), b.model, b.version)
		cur := buckets[key]
		if cur == nil {
			cur = &bucket{start: start, model: b.model, version: b.version}
			buckets[key] = cur
		}
		cur.y, cur.p = append(cur.y, y), append(cur.p, p)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []Performance
	for _, b := range buckets {
		out = append(out, Performance{Start: b.start, End: b.start.Add(every), Model: b.model, Version: b.version,
			Rows: int64(len(b.y)), Metrics: measure(b.y, b.p)})
	}
	sort.Slice(out, func(i, k int) bool {
		if !out[i].Start.Equal(out[k].Start) {
			return out[i].Start.Before(out[k].Start)
		}
		return out[i].Version < out[k].Version
	})
	return out, nil
}

// measure scores predictions p of labels y: classification metrics when
// the labels are 0/1 and the predictions probabilities, regression ones
// otherwise.
func measure(y, p []float64) map[string]float64 {
	binary := true
	for i := range y {
		if (y[i] != 0 && y[i] != 1) || p[i] < 0 || p[i] > 1 {
			binary = false
			break
		}
	}
	m := map[string]float64{}
	if binary {
		if auc, err := eval.AUC(y, p); err == nil {
			m["auc"] = auc
		}
		if ll, err := eval.LogLoss(y, p); err == nil {
			m["log_loss"] = ll
		}
		if b, err := eval.AtThreshold(y, p, 0.5); err == nil {
			m["accuracy"], m["precision"], m["recall"] = b.Accuracy, b.Precision, b.Recall
		}
		if ece, _, err := eval.Calibration(y, p, 10); err == nil {
			m["calibration_error"] = ece
		}
		var pos float64
		for _, v := range y {
			pos += v
		}
		m["positive_rate"] = pos / float64(len(y))
		return finiteFigures(m)
	}
	if r, err := eval.Regress(y, p); err == nil {
		m["rmse"], m["mae"] = r.RMSE, r.MAE
	}
	return finiteFigures(m) // a period with one class has no AUC
}
