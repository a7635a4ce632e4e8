package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/pipeline"
)

var _ pipeline.Store = (*Store)(nil)

// CreateRun records a new run, numbering nothing: its id is random.
func (s *Store) CreatePipelineRun(ctx context.Context, r *pipeline.Run) error {
	r.ID = newID()
	spec, err := json.Marshal(r.Spec)
	if err != nil {
		return fmt.Errorf("create run: spec: %w", err)
	}
	params, err := json.Marshal(nonNilMap(r.Params))
	if err != nil {
		return plinth.Invalid("params", "%v", err)
	}
	var fire any
	if r.Fire != "" {
		fire = r.Fire
	}
	res, err := s.exec(ctx, s.db, `INSERT INTO pipeline_runs (id, pipeline, pipeline_version, spec, params, state, trigger_desc, rerun_of, fire, created_by, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		r.ID, r.Pipeline, r.PipelineVersion, string(spec), string(params), string(r.State), r.Trigger, r.RerunOf, fire, r.CreatedBy, micros(r.CreatedAt))
	if err != nil {
		return fmt.Errorf("create run: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("create run: %w", err)
	} else if n == 0 {
		return plinth.Errorf(plinth.ECONFLICT, "pipeline %s already has a run for %s", r.Pipeline, r.Fire)
	}
	return nil
}

func nonNilMap(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

const runColumns = `id, pipeline, pipeline_version, spec, params, state, trigger_desc, rerun_of, COALESCE(fire, ''), created_by, created_at, finished_at, error`

func scanRun(rows interface{ Scan(...any) error }) (pipeline.Run, error) {
	var r pipeline.Run
	var spec, params, state string
	var created int64
	var finished sql.NullInt64
	if err := rows.Scan(&r.ID, &r.Pipeline, &r.PipelineVersion, &spec, &params, &state, &r.Trigger, &r.RerunOf, &r.Fire,
		&r.CreatedBy, &created, &finished, &r.Error); err != nil {
		return r, err
	}
	r.State = pipeline.State(state)
	r.CreatedAt = fromMicros(created)
	if finished.Valid {
		t := fromMicros(finished.Int64)
		r.FinishedAt = &t
	}
	if err := json.Unmarshal([]byte(spec), &r.Spec); err != nil {
		return r, fmt.Errorf("run %s: spec: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(params), &r.Params); err != nil {
		return r, fmt.Errorf("run %s: params: %w", r.ID, err)
	}
	return r, nil
}

// Run returns a run with all its attempts.
func (s *Store) PipelineRun(ctx context.Context, id string) (*pipeline.Run, error) {
	r, err := scanRun(s.queryRow(ctx, s.db, `SELECT `+runColumns+` FROM pipeline_runs WHERE id = ?`, id))
	if err == sql.ErrNoRows {
		return nil, plinth.NotFound("pipeline run", id)
	}
	if err != nil {
		return nil, fmt.Errorf("pipeline run %s: %w", id, err)
	}
	r.Attempts, err = s.attempts(ctx, `WHERE run_id = ? ORDER BY started_at, step, attempt`, id)
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// Runs lists a pipeline's runs (every pipeline's when empty), newest
// first, with their attempts.
func (s *Store) PipelineRuns(ctx context.Context, name string, limit int) ([]pipeline.Run, error) {
	if limit <= 0 {
		limit = 100
	}
	where, args := ``, []any{}
	if name != "" {
		where, args = `WHERE pipeline = ?`, append(args, name)
	}
	rows, err := s.query(ctx, s.db, `SELECT `+runColumns+` FROM pipeline_runs `+where+` ORDER BY created_at DESC, id LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("pipeline runs: %w", err)
	}
	out := []pipeline.Run{}
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		if out[i].Attempts, err = s.attempts(ctx, `WHERE run_id = ? ORDER BY started_at, step, attempt`, out[i].ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// FinishRun sets an unfinished run's final state and drops its lease.
func (s *Store) FinishPipelineRun(ctx context.Context, id string, state pipeline.State, msg string, at time.Time) error {
	res, err := s.exec(ctx, s.db, `UPDATE pipeline_runs SET state = ?, error = ?, finished_at = ?, lease_owner = '', lease_until = 0
		WHERE id = ? AND finished_at IS NULL`, string(state), msg, micros(at), id)
	if err != nil {
		return fmt.Errorf("finish run %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := s.PipelineRun(ctx, id); err != nil {
			return err
		}
		return plinth.Errorf(plinth.ECONFLICT, "run %s has already finished", id)
	}
	return nil
}

// TakeLease gives an unfinished run to owner until until.
func (s *Store) TakeLease(ctx context.Context, id, owner string, until time.Time) (bool, error) {
	now := s.Now().UTC()
	res, err := s.exec(ctx, s.db, `UPDATE pipeline_runs SET lease_owner = ?, lease_until = ?, state = CASE WHEN state = 'pending' THEN 'running' ELSE state END
		WHERE id = ? AND finished_at IS NULL AND (lease_owner = '' OR lease_owner = ? OR lease_until < ?)`,
		owner, micros(until), id, owner, micros(now))
	if err != nil {
		return false, fmt.Errorf("lease run %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// Orphans lists unfinished runs nobody holds.
func (s *Store) Orphans(ctx context.Context, now time.Time) ([]string, error) {
	rows, err := s.query(ctx, s.db, `SELECT id FROM pipeline_runs WHERE finished_at IS NULL AND lease_until < ? ORDER BY created_at`, micros(now))
	if err != nil {
		return nil, fmt.Errorf("orphan runs: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// StartAttempt records a running attempt, numbered after the step's last.
func (s *Store) StartAttempt(ctx context.Context, a *pipeline.Attempt) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var last sql.NullInt64
		if err := s.queryRow(ctx, tx, `SELECT MAX(attempt) FROM pipeline_attempts WHERE run_id = ? AND step = ?`, a.Run, a.Step).Scan(&last); err != nil {
			return fmt.Errorf("start attempt: %w", err)
		}
		a.Number = int(last.Int64) + 1
		inputs, _ := json.Marshal(a.Inputs)
		with, _ := json.Marshal(nonNilMap(a.With))
		_, err := s.exec(ctx, tx, `INSERT INTO pipeline_attempts (run_id, step, attempt, state, cache_key, inputs, params, code, worker, started_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			a.Run, a.Step, a.Number, string(a.State), a.Key, string(inputs), string(with), a.Code, a.Worker, micros(a.StartedAt))
		if err != nil {
			return fmt.Errorf("start attempt %d of %s: %w", a.Number, a.Step, err)
		}
		return nil
	})
}

// FinishAttempt records a running (or waiting) attempt's end and, for a success (or a
// halt) with a key that ran (not a cache hit), the cache entry — in one
// transaction.
func (s *Store) FinishAttempt(ctx context.Context, a *pipeline.Attempt) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		outputs, _ := json.Marshal(a.Outputs)
		var finished any
		if a.FinishedAt != nil {
			finished = micros(*a.FinishedAt)
		}
		res, err := s.exec(ctx, tx, `UPDATE pipeline_attempts SET state = ?, cached_from = ?, outputs = ?, log = ?, error = ?, user_error = ?,
			finished_at = ?, cpu_seconds = ?, peak_rss = ?, wall_seconds = ?, worker = CASE WHEN ? = '' THEN worker ELSE ? END
			WHERE run_id = ? AND step = ? AND attempt = ? AND state IN ('running', 'waiting')`,
			string(a.State), a.CachedFrom, string(outputs), a.Log, a.Error, a.UserError, finished,
			a.Cost.CPUSeconds, a.Cost.PeakRSS, a.Cost.WallSeconds, a.Worker, a.Worker, a.Run, a.Step, a.Number)
		if err != nil {
			return fmt.Errorf("finish attempt %d of %s: %w", a.Number, a.Step, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return plinth.Errorf(plinth.ECONFLICT, "attempt %d of step %s is no longer running", a.Number, a.Step)
		}
		if (a.State == pipeline.Succeeded || a.State == pipeline.Halted) && a.Key != "" && !a.Cached {
			_, err := s.exec(ctx, tx, `INSERT INTO pipeline_cache (cache_key, run_id, step, attempt, created_at) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (cache_key) DO NOTHING`, a.Key, a.Run, a.Step, a.Number, micros(s.Now()))
			if err != nil {
				return fmt.Errorf("cache %s: %w", a.Step, err)
			}
		}
		return nil
	})
}

// ClaimAttempt records which worker runs a running attempt.
func (s *Store) ClaimAttempt(ctx context.Context, run, step string, number int, worker string) error {
	res, err := s.exec(ctx, s.db, `UPDATE pipeline_attempts SET worker = ? WHERE run_id = ? AND step = ? AND attempt = ? AND state = 'running'`,
		worker, run, step, number)
	if err != nil {
		return fmt.Errorf("claim attempt %d of %s: %w", number, step, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return plinth.Errorf(plinth.ECONFLICT, "attempt %d of step %s is no longer running", number, step)
	}
	return nil
}

// AbandonAttempts ends the run's running attempts as abandoned.
func (s *Store) AbandonAttempts(ctx context.Context, run string, at time.Time) error {
	_, err := s.exec(ctx, s.db, `UPDATE pipeline_attempts SET state = 'abandoned', error = 'its executor stopped before it finished', finished_at = ?
		WHERE run_id = ? AND state IN ('running', 'waiting')`, micros(at), run)
	if err != nil {
		return fmt.Errorf("abandon attempts of %s: %w", run, err)
	}
	return nil
}

const attemptColumns = `a.run_id, a.step, a.attempt, a.state, a.cached_from, a.cache_key, a.inputs, a.params, a.code, a.outputs, a.log, a.error, a.user_error,
	a.worker, a.started_at, a.finished_at, a.cpu_seconds, a.peak_rss, a.wall_seconds`

func (s *Store) attempts(ctx context.Context, where string, args ...any) ([]pipeline.Attempt, error) {
	rows, err := s.query(ctx, s.db, `SELECT `+attemptColumns+` FROM pipeline_attempts a `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("pipeline attempts: %w", err)
	}
	defer rows.Close()
	out := []pipeline.Attempt{}
	for rows.Next() {
		var a pipeline.Attempt
		var state, inputs, params, outputs string
		var started int64
		var finished sql.NullInt64
		if err := rows.Scan(&a.Run, &a.Step, &a.Number, &state, &a.CachedFrom, &a.Key, &inputs, &params, &a.Code, &outputs, &a.Log, &a.Error, &a.UserError,
			&a.Worker, &started, &finished, &a.Cost.CPUSeconds, &a.Cost.PeakRSS, &a.Cost.WallSeconds); err != nil {
			return nil, fmt.Errorf("pipeline attempts: %w", err)
		}
		a.State, a.Cached, a.StartedAt = pipeline.State(state), a.CachedFrom != "", fromMicros(started)
		if finished.Valid {
			t := fromMicros(finished.Int64)
			a.FinishedAt = &t
		}
		for _, j := range []struct {
			raw string
			dst any
		}{{inputs, &a.Inputs}, {params, &a.With}, {outputs, &a.Outputs}} {
			if err := json.Unmarshal([]byte(j.raw), j.dst); err != nil {
				return nil, fmt.Errorf("attempt %d of %s: %w", a.Number, a.Step, err)
			}
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Cached returns the attempt that wrote key.
func (s *Store) Cached(ctx context.Context, key string) (*pipeline.Attempt, error) {
	as, err := s.attempts(ctx, `JOIN pipeline_cache c ON c.run_id = a.run_id AND c.step = a.step AND c.attempt = a.attempt WHERE c.cache_key = ?`, key)
	if err != nil {
		return nil, err
	}
	if len(as) == 0 {
		return nil, plinth.NotFound("cache entry", key)
	}
	return &as[0], nil
}

// LastSucceeded returns the newest successful attempt of a pipeline's step.
func (s *Store) LastSucceeded(ctx context.Context, name, step string) (*pipeline.Attempt, error) {
	as, err := s.attempts(ctx, `JOIN pipeline_runs r ON r.id = a.run_id WHERE r.pipeline = ? AND a.step = ? AND a.state = 'succeeded'
		ORDER BY a.started_at DESC LIMIT 1`, name, step)
	if err != nil {
		return nil, err
	}
	if len(as) == 0 {
		return nil, plinth.NotFound("successful attempt of step", name+"."+step)
	}
	return &as[0], nil
}

// Fired reports whether the pipeline has a run with the fire.
func (s *Store) Fired(ctx context.Context, name, fire string) (bool, error) {
	var n int
	if err := s.queryRow(ctx, s.db, `SELECT COUNT(*) FROM pipeline_runs WHERE pipeline = ? AND fire = ?`, name, fire).Scan(&n); err != nil {
		return false, fmt.Errorf("pipeline fires: %w", err)
	}
	return n > 0, nil
}

// LastFire returns the pipeline's greatest fire with the prefix.
func (s *Store) LastFire(ctx context.Context, name, prefix string) (string, error) {
	var f sql.NullString
	if err := s.queryRow(ctx, s.db, `SELECT MAX(fire) FROM pipeline_runs WHERE pipeline = ? AND substr(fire, 1, ?) = ?`, name, len(prefix), prefix).Scan(&f); err != nil {
		return "", fmt.Errorf("pipeline fires: %w", err)
	}
	return f.String, nil
}

// WaitAttempt marks a running attempt as waiting for approval.
func (s *Store) WaitAttempt(ctx context.Context, run, step string, number int) error {
	res, err := s.exec(ctx, s.db, `UPDATE pipeline_attempts SET state = 'waiting' WHERE run_id = ? AND step = ? AND attempt = ? AND state = 'running'`,
		run, step, number)
	if err != nil {
		return fmt.Errorf("wait attempt %d of %s: %w", number, step, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return plinth.Errorf(plinth.ECONFLICT, "attempt %d of step %s is no longer running", number, step)
	}
	return nil
}

// Decide records the approval decision on a step of a run.
func (s *Store) Decide(ctx context.Context, run, step string, d pipeline.Decision) error {
	res, err := s.exec(ctx, s.db, `INSERT INTO pipeline_approvals (run_id, step, approve, decided_by, reason, decided_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (run_id, step) DO NOTHING`, run, step, d.Approve, d.By, d.Reason, micros(d.At))
	if err != nil {
		return fmt.Errorf("decide %s: %w", step, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return plinth.Errorf(plinth.ECONFLICT, "step %s of run %s is already decided", step, run)
	}
	return nil
}

// Decision returns the approval decision on a step of a run.
func (s *Store) Decision(ctx context.Context, run, step string) (*pipeline.Decision, error) {
	var d pipeline.Decision
	var at int64
	err := s.queryRow(ctx, s.db, `SELECT approve, decided_by, reason, decided_at FROM pipeline_approvals WHERE run_id = ? AND step = ?`, run, step).
		Scan(&d.Approve, &d.By, &d.Reason, &at)
	if err == sql.ErrNoRows {
		return nil, plinth.NotFound("decision on step", step)
	}
	if err != nil {
		return nil, fmt.Errorf("decision on %s: %w", step, err)
	}
	d.At = fromMicros(at)
	return &d, nil
}
