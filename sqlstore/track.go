package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/track"
)

// CreateExperiment stores e, assigning its ID and creation time.
func (s *Store) CreateExperiment(ctx context.Context, e *track.Experiment) error {
	e.ID = newID()
	e.CreatedAt = s.Now().UTC()
	tags, _ := json.Marshal(nonNil(e.Tags))
	res, err := s.exec(ctx, s.db, `INSERT INTO experiments (id, name, description, tags, created_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (name) DO NOTHING`, e.ID, e.Name, e.Description, string(tags), micros(e.CreatedAt))
	if err != nil {
		return fmt.Errorf("create experiment: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("create experiment: %w", err)
	} else if n == 0 {
		return plinth.Errorf(plinth.ECONFLICT, "experiment %q already exists", e.Name)
	}
	return nil
}

const experimentColumns = `id, name, description, tags, created_at`

func scanExperiment(sc interface{ Scan(...any) error }) (track.Experiment, error) {
	var e track.Experiment
	var tags string
	var created int64
	if err := sc.Scan(&e.ID, &e.Name, &e.Description, &tags, &created); err != nil {
		return e, err
	}
	e.CreatedAt = fromMicros(created)
	if err := json.Unmarshal([]byte(tags), &e.Tags); err != nil {
		return e, fmt.Errorf("experiment %s: tags: %w", e.ID, err)
	}
	return e, nil
}

// Experiment returns an experiment by ID or, failing that, by name.
func (s *Store) Experiment(ctx context.Context, idOrName string) (*track.Experiment, error) {
	e, err := scanExperiment(s.queryRow(ctx, s.db, `SELECT `+experimentColumns+` FROM experiments WHERE id = ? OR name = ? ORDER BY id = ? DESC LIMIT 1`, idOrName, idOrName, idOrName))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, plinth.NotFound("experiment", idOrName)
	}
	if err != nil {
		return nil, fmt.Errorf("get experiment: %w", err)
	}
	return &e, nil
}

// Experiments lists all experiments by name.
func (s *Store) Experiments(ctx context.Context) ([]track.Experiment, error) {
	rows, err := s.query(ctx, s.db, `SELECT `+experimentColumns+` FROM experiments ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list experiments: %w", err)
	}
	defer rows.Close()
	out := []track.Experiment{}
	for rows.Next() {
		e, err := scanExperiment(rows)
		if err != nil {
			return nil, fmt.Errorf("list experiments: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// CreateRun stores r with its initial params, tags and inputs, assigning its
// ID (and name, when empty).
func (s *Store) CreateRun(ctx context.Context, r *track.Run) error {
	r.ID = newID()
	if r.Name == "" {
		r.Name = "run-" + r.ID[:8]
	}
	if r.StartTime.IsZero() {
		r.StartTime = s.Now()
	}
	r.StartTime = r.StartTime.UTC()
	env, _ := json.Marshal(nonNil(r.Env))
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := s.queryRow(ctx, tx, `SELECT COUNT(*) FROM experiments WHERE id = ?`, r.ExperimentID).Scan(&n); err != nil {
			return fmt.Errorf("create run: %w", err)
		}
		if n == 0 {
			return plinth.NotFound("experiment", r.ExperimentID)
		}
		if r.ParentID != "" {
			if err := s.queryRow(ctx, tx, `SELECT COUNT(*) FROM runs WHERE id = ?`, r.ParentID).Scan(&n); err != nil {
				return fmt.Errorf("create run: %w", err)
			}
			if n == 0 {
				return &plinth.Error{Code: plinth.ENOTFOUND, Field: "parent_id", Message: fmt.Sprintf("parent run %q not found", r.ParentID)}
			}
		}
		var end any
		if r.EndTime != nil {
			end = micros(*r.EndTime)
		}
		_, err := s.exec(ctx, tx, `INSERT INTO runs (id, experiment_id, name, parent_id, status, start_time, end_time, note, code_repo, code_commit, code_dirty, env)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.ExperimentID, r.Name, r.ParentID, string(r.Status), micros(r.StartTime), end, r.Note,
			r.Code.Repo, r.Code.Commit, r.Code.Dirty, string(env))
		if err != nil {
			return fmt.Errorf("create run: %w", err)
		}
		if err := s.putParams(ctx, tx, r.ID, mapKVs(r.Params)); err != nil {
			return err
		}
		if err := s.putTags(ctx, tx, r.ID, mapKVs(r.Tags)); err != nil {
			return err
		}
		return s.putInputs(ctx, tx, r.ID, r.Inputs)
	})
}

// Run returns a run with its params, tags, metric summaries, inputs and
// artifacts.
func (s *Store) Run(ctx context.Context, id string) (*track.Run, error) {
	runs, err := s.loadRuns(ctx, s.db, []string{id})
	if err != nil {
		return nil, err
	}
	if len(runs) == 0 {
		return nil, plinth.NotFound("run", id)
	}
	return &runs[0], nil
}

// UpdateRun changes a run's name, status, end time or note. Ending a run
// sets its end time to now unless one is given; an ended run cannot be
// restarted.
func (s *Store) UpdateRun(ctx context.Context, id string, u track.RunUpdate) (*track.Run, error) {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		status, err := s.lockRun(ctx, tx, id)
		if err != nil {
			return err
		}
		if u.Status != nil && *u.Status != status {
			if status.Terminal() {
				return plinth.Errorf(plinth.ECONFLICT, "run %s has ended (%s); an ended run cannot change status", id, status)
			}
			end := s.Now()
			if u.EndTime != nil {
				end = *u.EndTime
			}
			if *u.Status == track.Running {
				if _, err := s.exec(ctx, tx, `UPDATE runs SET status = ? WHERE id = ?`, string(*u.Status), id); err != nil {
					return fmt.Errorf("update run: %w", err)
				}
			} else if _, err := s.exec(ctx, tx, `UPDATE runs SET status = ?, end_time = ? WHERE id = ?`, string(*u.Status), micros(end), id); err != nil {
				return fmt.Errorf("update run: %w", err)
			}
		}
		if u.Name != nil {
			if _, err := s.exec(ctx, tx, `UPDATE runs SET name = ? WHERE id = ?`, *u.Name, id); err != nil {
				return fmt.Errorf("update run: %w", err)
			}
		}
		if u.Note != nil {
			if _, err := s.exec(ctx, tx, `UPDATE runs SET note = ? WHERE id = ?`, *u.Note, id); err != nil {
				return fmt.Errorf("update run: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.Run(ctx, id)
}

// lockRun returns the run's status, locking its row until the transaction
// ends so concurrent batches on one run serialize.
func (s *Store) lockRun(ctx context.Context, tx *sql.Tx, id string) (track.Status, error) {
	var status string
	err := s.queryRow(ctx, tx, `SELECT status FROM runs WHERE id = ?`+s.d.forUpdate, id).Scan(&status)
	if errors.Is(err, sql.ErrNoRows) {
		return "", plinth.NotFound("run", id)
	}
	if err != nil {
		return "", fmt.Errorf("get run %s: %w", id, err)
	}
	return track.Status(status), nil
}

// lockOpenRun is lockRun that also refuses runs that have ended.
func (s *Store) lockOpenRun(ctx context.Context, tx *sql.Tx, id string) error {
	status, err := s.lockRun(ctx, tx, id)
	if err != nil {
		return err
	}
	if status.Terminal() {
		return plinth.Errorf(plinth.ECONFLICT, "run %s has ended (%s); its params, metrics, inputs and artifacts are immutable", id, status)
	}
	return nil
}

// LogBatch writes params, tags, inputs and metric points in one transaction.
func (s *Store) LogBatch(ctx context.Context, runID string, b track.Batch) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if len(b.Metrics)+len(b.Params)+len(b.Inputs) > 0 {
			if err := s.lockOpenRun(ctx, tx, runID); err != nil {
				return err
			}
		} else if _, err := s.lockRun(ctx, tx, runID); err != nil {
			return err // tags stay editable after the run ends
		}
		if err := s.putParams(ctx, tx, runID, b.Params); err != nil {
			return err
		}
		if err := s.putTags(ctx, tx, runID, b.Tags); err != nil {
			return err
		}
		if err := s.putInputs(ctx, tx, runID, b.Inputs); err != nil {
			return err
		}
		return s.putMetrics(ctx, tx, runID, b.Metrics)
	})
}

// putParams inserts params. A param is written once: the same value again
// is a no-op, a different value a conflict.
func (s *Store) putParams(ctx context.Context, tx *sql.Tx, runID string, params []track.KV) error {
	if len(params) == 0 {
		return nil
	}
	existing := map[string]string{}
	rows, err := s.query(ctx, tx, `SELECT key, value FROM run_params WHERE run_id = ?`, runID)
	if err != nil {
		return fmt.Errorf("log params: %w", err)
	}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			rows.Close()
			return fmt.Errorf("log params: %w", err)
		}
		existing[k] = v
	}
	rows.Close()
	for i, p := range params {
		if v, ok := existing[p.Key]; ok {
			if v != p.Value {
				return &plinth.Error{Code: plinth.ECONFLICT, Field: fmt.Sprintf("params[%d]", i),
					Message: fmt.Sprintf("param %q is already %q; params cannot change once logged", p.Key, v)}
			}
			continue
		}
		existing[p.Key] = p.Value
		if _, err := s.exec(ctx, tx, `INSERT INTO run_params (run_id, key, value, num_value) VALUES (?, ?, ?, ?)`,
			runID, p.Key, p.Value, numValue(p.Value)); err != nil {
			return fmt.Errorf("log param %q: %w", p.Key, err)
		}
	}
	return nil
}

func (s *Store) putTags(ctx context.Context, tx *sql.Tx, runID string, tags []track.KV) error {
	for _, t := range tags {
		if _, err := s.exec(ctx, tx, `INSERT INTO run_tags (run_id, key, value, num_value) VALUES (?, ?, ?, ?)
			ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value, num_value = excluded.num_value`,
			runID, t.Key, t.Value, numValue(t.Value)); err != nil {
			return fmt.Errorf("set tag %q: %w", t.Key, err)
		}
	}
	return nil
}

func (s *Store) putInputs(ctx context.Context, tx *sql.Tx, runID string, inputs []track.DatasetInput) error {
	for _, in := range inputs {
		if _, err := s.exec(ctx, tx, `INSERT INTO run_inputs (run_id, name, version, digest, role) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (run_id, name, version, role) DO NOTHING`,
			runID, in.Name, in.Version, in.Digest, in.Role); err != nil {
			return fmt.Errorf("log input %q: %w", in.Name, err)
		}
	}
	return nil
}

// metricChunk is how many points one INSERT carries: multi-row inserts are
// several times faster than one statement per point on both engines, and
// 400 rows x 5 columns stays far below either engine's parameter limit.
const metricChunk = 400

func (s *Store) putMetrics(ctx context.Context, tx *sql.Tx, runID string, ms []track.Metric) error {
	if len(ms) == 0 {
		return nil
	}
	now := s.Now()
	row := "(?, ?, ?, ?, ?)"
	var full *sql.Stmt
	args := make([]any, 0, metricChunk*5)
	for start := 0; start < len(ms); start += metricChunk {
		chunk := ms[start:min(start+metricChunk, len(ms))]
		args = args[:0]
		for _, m := range chunk {
			ts := m.Time
			if ts.IsZero() {
				ts = now
			}
			args = append(args, runID, m.Key, m.Step, micros(ts), m.Value)
		}
		q := s.d.rebind(`INSERT INTO metrics (run_id, key, step, ts, value) VALUES ` + repeatJoin(row, len(chunk)))
		var err error
		if len(chunk) == metricChunk {
			if full == nil {
				if full, err = tx.PrepareContext(ctx, q); err != nil {
					return fmt.Errorf("log metrics: %w", err)
				}
				defer full.Close()
			}
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, q, args...)
		}
		if err != nil {
			return fmt.Errorf("log metrics: %w", err)
		}
	}
	return s.updateLatest(ctx, tx, runID, ms, now)
}

// updateLatest folds a batch of points into the per-series summaries.
func (s *Store) updateLatest(ctx context.Context, tx *sql.Tx, runID string, ms []track.Metric, now time.Time) error {
	sums := map[string]*track.MetricSummary{}
	var keys []string
	for _, m := range ms {
		ts := m.Time
		if ts.IsZero() {
			ts = now
		}
		sum, ok := sums[m.Key]
		if !ok {
			sums[m.Key] = &track.MetricSummary{Value: m.Value, Step: m.Step, Time: ts, Min: m.Value, Max: m.Value, Count: 1}
			keys = append(keys, m.Key)
			continue
		}
		mergePoint(sum, track.MetricSummary{Value: m.Value, Step: m.Step, Time: ts, Min: m.Value, Max: m.Value, Count: 1})
	}
	for _, chunk := range chunks(keys, 500) {
		args := []any{runID}
		for _, k := range chunk {
			args = append(args, k)
		}
		rows, err := s.query(ctx, tx, `SELECT key, value, step, ts, min_value, max_value, n FROM latest_metrics WHERE run_id = ? AND key IN (`+placeholders(len(chunk))+`)`, args...)
		if err != nil {
			return fmt.Errorf("log metrics: %w", err)
		}
		for rows.Next() {
			var k string
			var old track.MetricSummary
			var ts int64
			if err := rows.Scan(&k, &old.Value, &old.Step, &ts, &old.Min, &old.Max, &old.Count); err != nil {
				rows.Close()
				return fmt.Errorf("log metrics: %w", err)
			}
			old.Time = fromMicros(ts)
			mergePoint(&old, *sums[k])
			*sums[k] = old
		}
		rows.Close()
	}
	for _, k := range keys {
		m := sums[k]
		if _, err := s.exec(ctx, tx, `INSERT INTO latest_metrics (run_id, key, value, step, ts, min_value, max_value, n) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value, step = excluded.step, ts = excluded.ts,
			min_value = excluded.min_value, max_value = excluded.max_value, n = excluded.n`,
			runID, k, m.Value, m.Step, micros(m.Time), m.Min, m.Max, m.Count); err != nil {
			return fmt.Errorf("log metrics: %w", err)
		}
	}
	return nil
}

// mergePoint folds summary b into a. The latest point is the one with the
// highest step, then the latest time; on a full tie the later write wins.
func mergePoint(a *track.MetricSummary, b track.MetricSummary) {
	if b.Step > a.Step || b.Step == a.Step && !b.Time.Before(a.Time) {
		a.Value, a.Step, a.Time = b.Value, b.Step, b.Time
	}
	a.Min = min(a.Min, b.Min)
	a.Max = max(a.Max, b.Max)
	a.Count += b.Count
}

// MetricHistory returns every point of one series, by step then time.
func (s *Store) MetricHistory(ctx context.Context, runID, key string) ([]track.Metric, error) {
	if _, err := s.Run(ctx, runID); err != nil {
		return nil, err
	}
	rows, err := s.query(ctx, s.db, `SELECT step, ts, value FROM metrics WHERE run_id = ? AND key = ? ORDER BY step, ts`, runID, key)
	if err != nil {
		return nil, fmt.Errorf("metric history: %w", err)
	}
	defer rows.Close()
	out := []track.Metric{}
	for rows.Next() {
		m := track.Metric{Key: key}
		var ts int64
		if err := rows.Scan(&m.Step, &ts, &m.Value); err != nil {
			return nil, fmt.Errorf("metric history: %w", err)
		}
		m.Time = fromMicros(ts)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, plinth.NotFound("metric", key)
	}
	return out, nil
}

// AddArtifact records a file of an open run. Logging the same path again
// with the same content is a no-op; with other content, a conflict.
func (s *Store) AddArtifact(ctx context.Context, runID string, a track.Artifact) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockOpenRun(ctx, tx, runID); err != nil {
			return err
		}
		var digest string
		err := s.queryRow(ctx, tx, `SELECT digest FROM run_artifacts WHERE run_id = ? AND path = ?`, runID, a.Path).Scan(&digest)
		switch {
		case err == nil && digest == a.Digest:
			return nil
		case err == nil:
			return plinth.Errorf(plinth.ECONFLICT, "run %s already has a different artifact at %q", runID, a.Path)
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("add artifact: %w", err)
		}
		_, err = s.exec(ctx, tx, `INSERT INTO run_artifacts (run_id, path, digest, size) VALUES (?, ?, ?, ?)`, runID, a.Path, a.Digest, a.Size)
		if err != nil {
			return fmt.Errorf("add artifact: %w", err)
		}
		return nil
	})
}

// loadRuns reads whole runs for ids, in the order of ids; missing ids are
// skipped.
func (s *Store) loadRuns(ctx context.Context, q querier, ids []string) ([]track.Run, error) {
	if len(ids) == 0 {
		return []track.Run{}, nil
	}
	byID := make(map[string]*track.Run, len(ids))
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	in := `(` + placeholders(len(ids)) + `)`

	rows, err := s.query(ctx, q, `SELECT id, experiment_id, name, parent_id, status, start_time, end_time, note, code_repo, code_commit, code_dirty, env FROM runs WHERE id IN `+in, args...)
	if err != nil {
		return nil, fmt.Errorf("load runs: %w", err)
	}
	for rows.Next() {
		r := &track.Run{Params: map[string]string{}, Tags: map[string]string{}, Metrics: map[string]track.MetricSummary{},
			Inputs: []track.DatasetInput{}, Artifacts: []track.Artifact{}}
		var start int64
		var end sql.NullInt64
		var status, env string
		if err := rows.Scan(&r.ID, &r.ExperimentID, &r.Name, &r.ParentID, &status, &start, &end, &r.Note,
			&r.Code.Repo, &r.Code.Commit, &r.Code.Dirty, &env); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load runs: %w", err)
		}
		r.Status = track.Status(status)
		r.StartTime = fromMicros(start)
		if end.Valid {
			t := fromMicros(end.Int64)
			r.EndTime = &t
		}
		if err := json.Unmarshal([]byte(env), &r.Env); err != nil {
			rows.Close()
			return nil, fmt.Errorf("run %s: env: %w", r.ID, err)
		}
		byID[r.ID] = r
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load runs: %w", err)
	}

	kv := func(table string, set func(r *track.Run, k, v string)) error {
		rows, err := s.query(ctx, q, `SELECT run_id, key, value FROM `+table+` WHERE run_id IN `+in, args...)
		if err != nil {
			return fmt.Errorf("load runs: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id, k, v string
			if err := rows.Scan(&id, &k, &v); err != nil {
				return fmt.Errorf("load runs: %w", err)
			}
			if r := byID[id]; r != nil {
				set(r, k, v)
			}
		}
		return rows.Err()
	}
	if err := kv("run_params", func(r *track.Run, k, v string) { r.Params[k] = v }); err != nil {
		return nil, err
	}
	if err := kv("run_tags", func(r *track.Run, k, v string) { r.Tags[k] = v }); err != nil {
		return nil, err
	}

	rows, err = s.query(ctx, q, `SELECT run_id, key, value, step, ts, min_value, max_value, n FROM latest_metrics WHERE run_id IN `+in, args...)
	if err != nil {
		return nil, fmt.Errorf("load runs: %w", err)
	}
	for rows.Next() {
		var id, k string
		var m track.MetricSummary
		var ts int64
		if err := rows.Scan(&id, &k, &m.Value, &m.Step, &ts, &m.Min, &m.Max, &m.Count); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load runs: %w", err)
		}
		m.Time = fromMicros(ts)
		if r := byID[id]; r != nil {
			r.Metrics[k] = m
		}
	}
	rows.Close()

	rows, err = s.query(ctx, q, `SELECT run_id, name, version, digest, role FROM run_inputs WHERE run_id IN `+in+` ORDER BY name, version`, args...)
	if err != nil {
		return nil, fmt.Errorf("load runs: %w", err)
	}
	for rows.Next() {
		var id string
		var in track.DatasetInput
		if err := rows.Scan(&id, &in.Name, &in.Version, &in.Digest, &in.Role); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load runs: %w", err)
		}
		if r := byID[id]; r != nil {
			r.Inputs = append(r.Inputs, in)
		}
	}
	rows.Close()

	rows, err = s.query(ctx, q, `SELECT run_id, path, digest, size FROM run_artifacts WHERE run_id IN `+in+` ORDER BY path`, args...)
	if err != nil {
		return nil, fmt.Errorf("load runs: %w", err)
	}
	for rows.Next() {
		var id string
		var a track.Artifact
		if err := rows.Scan(&id, &a.Path, &a.Digest, &a.Size); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load runs: %w", err)
		}
		if r := byID[id]; r != nil {
			r.Artifacts = append(r.Artifacts, a)
		}
	}
	rows.Close()

	out := make([]track.Run, 0, len(ids))
	for _, id := range ids {
		if r := byID[id]; r != nil {
			out = append(out, *r)
		}
	}
	return out, nil
}

// numValue is the param or tag as a number, or NULL.
func numValue(v string) any {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f != f || f > 1.7e308 || f < -1.7e308 {
		return nil
	}
	return f
}

func mapKVs(m map[string]string) []track.KV {
	out := make([]track.KV, 0, len(m))
	for k, v := range m {
		out = append(out, track.KV{Key: k, Value: v})
	}
	return out
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func repeatJoin(s string, n int) string {
	b := make([]byte, 0, n*(len(s)+2))
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, s...)
	}
	return string(b)
}

func chunks[T any](xs []T, n int) [][]T {
	var out [][]T
	for len(xs) > n {
		out = append(out, xs[:n])
		xs = xs[n:]
	}
	if len(xs) > 0 {
		out = append(out, xs)
	}
	return out
}
