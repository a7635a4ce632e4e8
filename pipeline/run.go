package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// Dataset is the type of a dataset input: every snapshot ingested so far.
const Dataset Type = "dataset"

// Value is what flows along an edge of the DAG. Its content — the blob
// digest, or the numbers — is what cache keys hash, never its name.
type Value struct {
	Type    Type               `json:"type"`
	Digest  string             `json:"digest,omitempty"` // blob or content digest
	Ref     string             `json:"ref,omitempty"`    // what it names, for people: "flights@7", "delay@3"
	Metrics map[string]float64 `json:"metrics,omitempty"`
	// Attrs carry lineage along (the tracked run that trained a model,
	// the feature service of a training set); they are not content.
	Attrs map[string]string `json:"attrs,omitempty"`
}

// Content is the value's identity for cache keys.
func (v Value) Content() string {
	if v.Digest != "" {
		return string(v.Type) + ":" + v.Digest
	}
	raw, _ := json.Marshal(v.Metrics) // map keys marshal sorted
	return string(v.Type) + ":" + v.Ref + ":" + hash(raw)
}

func hash(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// State is the state of a run or a step attempt. Every attempt reaches a
// final state: succeeded, halted, failed, cancelled, skipped or abandoned
// (its executor died; a new attempt takes over).
type State string

const (
	Pending   State = "pending"
	Running   State = "running"
	Waiting   State = "waiting" // for a person's approval
	Succeeded State = "succeeded"
	Failed    State = "failed"
	Cancelled State = "cancelled"
	Skipped   State = "skipped"
	Abandoned State = "abandoned"
	// Halted is a step that decided the run goes no further (a gate not
	// passed): its dependents are skipped and the run still succeeds.
	Halted State = "halted"
)

// Final reports whether s is a final state.
func (s State) Final() bool {
	return s == Succeeded || s == Halted || s == Failed || s == Cancelled || s == Skipped || s == Abandoned
}

// Cost is what a step attempt, or a run, consumed.
type Cost struct {
	CPUSeconds  float64 `json:"cpu_seconds"`
	PeakRSS     int64   `json:"peak_rss_bytes"`
	WallSeconds float64 `json:"wall_seconds"`
}

func (c *Cost) add(o Cost) {
	c.CPUSeconds += o.CPUSeconds
	c.PeakRSS = max(c.PeakRSS, o.PeakRSS)
	c.WallSeconds += o.WallSeconds
}

// Run is one execution of a pipeline. Its Spec and Params are frozen at
// creation, so a rerun reproduces it whatever the project says now.
type Run struct {
	ID              string         `json:"id"`
	Pipeline        string         `json:"pipeline"`
	PipelineVersion int            `json:"pipeline_version"`
	Spec            Spec           `json:"spec"`
	Params          map[string]any `json:"params,omitempty"`
	State           State          `json:"state"`
	Trigger         string         `json:"trigger"` // "manual", "schedule 2026-11-22T03:00:00Z", "dataset flights@12", "rerun of ..."
	RerunOf         string         `json:"rerun_of,omitempty"`
	// Fire de-duplicates triggered runs: at most one run per pipeline
	// and fire ("schedule 2026-11-22T03:00:00Z", "dataset flights@12").
	Fire       string     `json:"fire,omitempty"`
	CreatedBy  string     `json:"created_by"`
	CreatedAt  time.Time  `json:"created_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	Error      string     `json:"error,omitempty"`
	// Attempts are every step attempt, oldest first.
	Attempts []Attempt `json:"attempts,omitempty"`
}

// Latest returns the newest attempt of each step.
func (r *Run) Latest() map[string]*Attempt {
	out := map[string]*Attempt{}
	for i := range r.Attempts {
		a := &r.Attempts[i]
		if cur := out[a.Step]; cur == nil || a.Number > cur.Number {
			out[a.Step] = a
		}
	}
	return out
}

// Cost sums the run's attempts.
func (r *Run) Cost() Cost {
	var c Cost
	for _, a := range r.Attempts {
		c.add(a.Cost)
	}
	return c
}

// Decision is a person's answer to a step that asks for approval.
type Decision struct {
	Approve bool      `json:"approve"`
	By      string    `json:"by"`
	Reason  string    `json:"reason,omitempty"`
	At      time.Time `json:"at"`
}

// Report is a run as people and clients see it: with its total cost.
type Report struct {
	Run
	Cost Cost `json:"cost"`
}

// NewReport reports r.
func NewReport(r *Run) Report { return Report{Run: *r, Cost: r.Cost()} }

// Summary is a registered pipeline and its newest run.
type Summary struct {
	Spec
	Version   int       `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
	LastRun   *Report   `json:"last_run,omitempty"`
}

// Attempt is one try at a step, with everything needed to explain or
// reproduce it.
type Attempt struct {
	Run    string `json:"run"`
	Step   string `json:"step"`
	Number int    `json:"number"`
	State  State  `json:"state"`
	// Cached is true when the outputs came from an earlier attempt with
	// the same key (CachedFrom), and nothing ran.
	Cached     bool             `json:"cached,omitempty"`
	CachedFrom string           `json:"cached_from,omitempty"` // run id
	Key        string           `json:"key,omitempty"`
	Inputs     map[string]Value `json:"inputs,omitempty"`
	With       map[string]any   `json:"with,omitempty"` // parameters after substitution
	Code       string           `json:"code,omitempty"` // code version
	Outputs    map[string]Value `json:"outputs,omitempty"`
	Log        string           `json:"log,omitempty"` // the tail of the output
	Error      string           `json:"error,omitempty"`
	UserError  bool             `json:"user_error,omitempty"` // the step's definition or data is wrong: retrying will not help
	Worker     string           `json:"worker,omitempty"`
	StartedAt  time.Time        `json:"started_at"`
	FinishedAt *time.Time       `json:"finished_at,omitempty"`
	Cost       Cost             `json:"cost"`
}

// Store keeps runs, attempts, the step cache and schedule fires.
//
// FinishAttempt writes an attempt's final state and, when it succeeded or
// halted with a key, the cache entry, in one transaction; it returns ECONFLICT
// when the attempt is no longer running (another executor finished or
// abandoned it), which is how a step's effects are recorded exactly once.
// CreateRun returns ECONFLICT when a run of the pipeline with the same
// Fire exists. StartAttempt numbers the attempt (1 + the step's last). TakeLease gives
// the run to owner until the given time when it is free, expired or
// already owner's. Lookups return ENOTFOUND.
type Store interface {
	CreatePipelineRun(ctx context.Context, r *Run) error
	PipelineRun(ctx context.Context, id string) (*Run, error)
	PipelineRuns(ctx context.Context, pipeline string, limit int) ([]Run, error)
	FinishPipelineRun(ctx context.Context, id string, state State, errMsg string, at time.Time) error
	TakeLease(ctx context.Context, id, owner string, until time.Time) (bool, error)
	// Orphans lists unfinished runs whose lease expired before now.
	Orphans(ctx context.Context, now time.Time) ([]string, error)

	StartAttempt(ctx context.Context, a *Attempt) error
	// ClaimAttempt records the worker running a running attempt, or
	// returns ECONFLICT when it is no longer running.
	ClaimAttempt(ctx context.Context, run, step string, number int, worker string) error
	FinishAttempt(ctx context.Context, a *Attempt) error
	// AbandonAttempts marks the run's running attempts abandoned.
	AbandonAttempts(ctx context.Context, run string, at time.Time) error
	// Cached returns the successful attempt that wrote key.
	Cached(ctx context.Context, key string) (*Attempt, error)
	// LastSucceeded returns the newest successful attempt of a pipeline's
	// step, for explaining why a key changed.
	LastSucceeded(ctx context.Context, pipeline, step string) (*Attempt, error)
	// WaitAttempt marks a running attempt as waiting for a person.
	WaitAttempt(ctx context.Context, run, step string, number int) error
	// Decide records a person's decision on a step waiting for approval
	// (ECONFLICT once decided); Decision returns it, or ENOTFOUND.
	Decide(ctx context.Context, run, step string, d Decision) error
	Decision(ctx context.Context, run, step string) (*Decision, error)

	// Fired reports whether a run of the pipeline has the given Fire.
	Fired(ctx context.Context, pipeline, fire string) (bool, error)
	// LastFire returns the greatest Fire of the pipeline's runs that
	// starts with prefix, "" when there is none.
	LastFire(ctx context.Context, pipeline, prefix string) (string, error)
}
