// Package track is experiment tracking: experiments, runs with their params,
// tags, notes, metric series, artifacts and the data and code they used, and
// the search over them.
//
// The package owns the types, their validation and the Store interface it
// needs from persistence; sqlstore implements it for SQLite and PostgreSQL.
package track

import (
	"context"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"github.com/plinthml/plinth"
)

// Experiment groups the runs of one modelling effort.
type Experiment struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	CreatedAt   time.Time         `json:"created_at"`
}

// Status is the lifecycle state of a run.
type Status string

const (
	Running  Status = "running"
	Finished Status = "finished"
	Failed   Status = "failed"
	Killed   Status = "killed"
)

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	switch s {
	case Running, Finished, Failed, Killed:
		return true
	}
	return false
}

// Terminal reports whether a run in state s has ended.
func (s Status) Terminal() bool { return s.Valid() && s != Running }

// Run is one execution of training code. Once it ends, its params, metrics,
// artifacts and inputs never change; tags and the note stay editable.
type Run struct {
	ID           string                   `json:"id"`
	ExperimentID string                   `json:"experiment_id"`
	Name         string                   `json:"name"`
	ParentID     string                   `json:"parent_id,omitempty"`
	Status       Status                   `json:"status"`
	StartTime    time.Time                `json:"start_time"`
	EndTime      *time.Time               `json:"end_time,omitempty"`
	Note         string                   `json:"note,omitempty"`
	Code         Code                     `json:"code"`
	Env          map[string]string        `json:"env,omitempty"`
	Params       map[string]string        `json:"params"`
	Tags         map[string]string        `json:"tags"`
	Metrics      map[string]MetricSummary `json:"metrics"`
	Inputs       []DatasetInput           `json:"inputs"`
	Artifacts    []Artifact               `json:"artifacts"`
}

// Code is the version of the code a run executed.
type Code struct {
	Repo   string `json:"repo,omitempty"`
	Commit string `json:"commit,omitempty"`
	Dirty  bool   `json:"dirty,omitempty"`
}

// Metric is one point of a metric series.
type Metric struct {
	Key   string    `json:"key"`
	Value float64   `json:"value"`
	Step  int64     `json:"step"`
	Time  time.Time `json:"timestamp"`
}

// MetricSummary is what search, ordering and comparison see of a series: its
// latest point (highest step, then latest time) and its extremes.
type MetricSummary struct {
	Value float64   `json:"value"`
	Step  int64     `json:"step"`
	Time  time.Time `json:"timestamp"`
	Min   float64   `json:"min"`
	Max   float64   `json:"max"`
	Count int64     `json:"count"`
}

// DatasetInput records a dataset version a run read.
type DatasetInput struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Digest  string `json:"digest,omitempty"`
	Role    string `json:"role,omitempty"` // e.g. "train", "validation"
}

// Artifact is a file a run produced, stored as a blob.
type Artifact struct {
	Path   string `json:"path"`
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
}

// KV is a key and a string value (a param or a tag).
type KV struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Batch is what a run logs in one atomic write.
type Batch struct {
	Metrics []Metric       `json:"metrics,omitempty"`
	Params  []KV           `json:"params,omitempty"`
	Tags    []KV           `json:"tags,omitempty"`
	Inputs  []DatasetInput `json:"inputs,omitempty"`
}

// RunUpdate changes the mutable parts of a run; nil fields stay as they are.
type RunUpdate struct {
	Name    *string    `json:"name,omitempty"`
	Status  *Status    `json:"status,omitempty"`
	EndTime *time.Time `json:"end_time,omitempty"`
	Note    *string    `json:"note,omitempty"`
}

// SearchRequest is a run search as a client sends it.
type SearchRequest struct {
	ExperimentIDs []string `json:"experiment_ids,omitempty"` // IDs or names; empty: all experiments
	Filter        string   `json:"filter,omitempty"`         // see ParseFilter
	OrderBy       []string `json:"order_by,omitempty"`       // e.g. "metrics.auc desc"; default newest first
	MaxResults    int      `json:"max_results,omitempty"`    // default 100, at most MaxPageSize
	PageToken     string   `json:"page_token,omitempty"`
}

// Query is a parsed, validated search that a Store runs.
type Query struct {
	ExperimentIDs []string
	Filter        *Filter
	OrderBy       []OrderKey
	Limit         int
	Offset        int
}

// Page is one page of search results.
type Page struct {
	Runs          []Run  `json:"runs"`
	NextPageToken string `json:"next_page_token,omitempty"`
}

// Limits on what one request may carry. They keep a bad client from
// exhausting the server and are documented in the API.
const (
	MaxKeyLen     = 250
	MaxValueLen   = 6000
	MaxNoteLen    = 64 << 10
	MaxBatchItems = 1_000_000
	MaxPageSize   = 10_000
)

// Store persists tracking data. Implementations return *plinth.Error with
// ENOTFOUND for a missing experiment or run, ECONFLICT for a duplicate
// experiment name, a param logged twice with different values, or a write
// to an ended run, and EINVALID for a bad filter or page token.
type Store interface {
	CreateExperiment(ctx context.Context, e *Experiment) error
	// Experiment returns the experiment with the given ID or name.
	Experiment(ctx context.Context, idOrName string) (*Experiment, error)
	Experiments(ctx context.Context) ([]Experiment, error)

	// CreateRun stores r with its initial params, tags and inputs.
	CreateRun(ctx context.Context, r *Run) error
	Run(ctx context.Context, id string) (*Run, error)
	UpdateRun(ctx context.Context, id string, u RunUpdate) (*Run, error)
	// LogBatch writes all of b or nothing.
	LogBatch(ctx context.Context, runID string, b Batch) error
	MetricHistory(ctx context.Context, runID, key string) ([]Metric, error)
	AddArtifact(ctx context.Context, runID string, a Artifact) error
	// SearchRuns returns up to q.Limit runs from q.Offset on, and whether
	// more follow.
	SearchRuns(ctx context.Context, q Query) (runs []Run, more bool, err error)
}

// ValidateExperiment checks a new experiment.
func ValidateExperiment(e *Experiment) error {
	if err := checkName("name", e.Name); err != nil {
		return err
	}
	return checkMap("tags", e.Tags)
}

// ValidateNewRun checks a run about to be created.
func ValidateNewRun(r *Run) error {
	if r.ExperimentID == "" {
		return plinth.Invalid("experiment", "must not be empty")
	}
	if r.Name != "" {
		if err := checkName("name", r.Name); err != nil {
			return err
		}
	}
	if !r.Status.Valid() {
		return plinth.Invalid("status", "%q is not one of running, finished, failed, killed", r.Status)
	}
	if len(r.Note) > MaxNoteLen {
		return plinth.Invalid("note", "longer than %d bytes", MaxNoteLen)
	}
	if err := checkMap("params", r.Params); err != nil {
		return err
	}
	if err := checkMap("tags", r.Tags); err != nil {
		return err
	}
	for i, in := range r.Inputs {
		if err := checkInput(fmt.Sprintf("inputs[%d]", i), in); err != nil {
			return err
		}
	}
	return nil
}

// ValidateBatch checks a batch before any of it is written.
func ValidateBatch(b Batch) error {
	if n := len(b.Metrics) + len(b.Params) + len(b.Tags) + len(b.Inputs); n > MaxBatchItems {
		return plinth.Invalid("", "batch has %d items, at most %d allowed", n, MaxBatchItems)
	}
	for i, m := range b.Metrics {
		field := fmt.Sprintf("metrics[%d]", i)
		if err := checkKey(field+".key", m.Key); err != nil {
			return err
		}
		if math.IsNaN(m.Value) || math.IsInf(m.Value, 0) {
			return plinth.Invalid(field+".value", "must be a finite number")
		}
		if m.Step < 0 {
			return plinth.Invalid(field+".step", "must not be negative")
		}
	}
	seen := make(map[string]string, len(b.Params))
	for i, p := range b.Params {
		field := fmt.Sprintf("params[%d]", i)
		if err := checkKV(field, p); err != nil {
			return err
		}
		if v, ok := seen[p.Key]; ok && v != p.Value {
			return plinth.Invalid(field+".value", "param %q given twice with different values", p.Key)
		}
		seen[p.Key] = p.Value
	}
	for i, t := range b.Tags {
		if err := checkKV(fmt.Sprintf("tags[%d]", i), t); err != nil {
			return err
		}
	}
	for i, in := range b.Inputs {
		if err := checkInput(fmt.Sprintf("inputs[%d]", i), in); err != nil {
			return err
		}
	}
	return nil
}

// ValidateUpdate checks a run update.
func ValidateUpdate(u RunUpdate) error {
	if u.Name != nil {
		if err := checkName("name", *u.Name); err != nil {
			return err
		}
	}
	if u.Status != nil && !u.Status.Valid() {
		return plinth.Invalid("status", "%q is not one of running, finished, failed, killed", *u.Status)
	}
	if u.Note != nil && len(*u.Note) > MaxNoteLen {
		return plinth.Invalid("note", "longer than %d bytes", MaxNoteLen)
	}
	return nil
}

func checkInput(field string, in DatasetInput) error {
	if err := checkKey(field+".name", in.Name); err != nil {
		return err
	}
	if in.Version == "" && in.Digest == "" {
		return plinth.Invalid(field+".version", "a dataset input needs a version or a digest")
	}
	return nil
}

func checkName(field, s string) error {
	if s == "" {
		return plinth.Invalid(field, "must not be empty")
	}
	return checkKey(field, s)
}

func checkKey(field, k string) error {
	switch {
	case k == "":
		return plinth.Invalid(field, "must not be empty")
	case len(k) > MaxKeyLen:
		return plinth.Invalid(field, "longer than %d bytes", MaxKeyLen)
	case !utf8.ValidString(k):
		return plinth.Invalid(field, "is not valid UTF-8")
	}
	for _, c := range k {
		if c < ' ' || c == 0x7f {
			return plinth.Invalid(field, "contains a control character")
		}
	}
	return nil
}

func checkKV(field string, kv KV) error {
	if err := checkKey(field+".key", kv.Key); err != nil {
		return err
	}
	if len(kv.Value) > MaxValueLen {
		return plinth.Invalid(field+".value", "longer than %d bytes", MaxValueLen)
	}
	if !utf8.ValidString(kv.Value) {
		return plinth.Invalid(field+".value", "is not valid UTF-8")
	}
	return nil
}

func checkMap(field string, m map[string]string) error {
	for k, v := range m {
		if err := checkKV(fmt.Sprintf("%s[%q]", field, k), KV{k, v}); err != nil {
			return err
		}
	}
	return nil
}
