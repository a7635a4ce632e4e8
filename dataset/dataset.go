// Package dataset is ingestion and data versioning: every batch a source
// delivers is checked against the source's expectations, the rows that pass
// become an immutable, content-addressed Parquet snapshot (a dataset
// version) stamped with their ingestion time, and the rows that fail are
// quarantined with their reasons — never silently dropped, never loaded —
// where they can be inspected and replayed.
package dataset

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/plinthml/plinth"
)

// Column types an expectation can demand.
var Types = map[string]string{
	"int":       "BIGINT",
	"float":     "DOUBLE",
	"string":    "VARCHAR",
	"bool":      "BOOLEAN",
	"timestamp": "TIMESTAMPTZ",
	"date":      "DATE",
}

// Column states what a source's column must hold. Row-level rules (type,
// not null, range, allowed values, uniqueness) quarantine the rows that
// break them.
type Column struct {
	Name    string   `json:"name" yaml:"name"`
	Type    string   `json:"type,omitempty" yaml:"type,omitempty"` // one of Types; empty: as read
	NotNull bool     `json:"not_null,omitempty" yaml:"not_null,omitempty"`
	Min     *float64 `json:"min,omitempty" yaml:"min,omitempty"`
	Max     *float64 `json:"max,omitempty" yaml:"max,omitempty"`
	In      []string `json:"in,omitempty" yaml:"in,omitempty"`         // allowed values
	Unique  bool     `json:"unique,omitempty" yaml:"unique,omitempty"` // rows sharing a value are all quarantined
}

// Spec is a source's contract. Batch-level rules (the columns exist, row
// counts, freshness) quarantine the whole batch.
type Spec struct {
	Name string `json:"name" yaml:"name"`
	// EventTime is the column holding each row's event time; required for
	// freshness, and what feature views read as their timestamp.
	EventTime string   `json:"event_time,omitempty" yaml:"event_time,omitempty"`
	Columns   []Column `json:"columns,omitempty" yaml:"columns,omitempty"`
	MinRows   int64    `json:"min_rows,omitempty" yaml:"min_rows,omitempty"`
	MaxRows   int64    `json:"max_rows,omitempty" yaml:"max_rows,omitempty"`
	// MaxAge is the freshness rule: the newest event time must be at most
	// this old when the batch is ingested.
	MaxAge plinth.Duration `json:"max_age,omitempty" yaml:"max_age,omitempty"`
	// MaxBadFraction quarantines the whole batch when more than this
	// fraction of its rows fail (0: any number of bad rows is tolerated and
	// only they are quarantined).
	MaxBadFraction float64 `json:"max_bad_fraction,omitempty" yaml:"max_bad_fraction,omitempty"`
}

// IngestedAt is the column every snapshot gains: when the row was ingested.
const IngestedAt = "_ingested_at"

// ReasonsColumn is the column quarantined rows gain: why they failed.
const ReasonsColumn = "_reasons"

var ident = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Validate checks a spec.
func (s *Spec) Validate() error {
	if !ident.MatchString(s.Name) || len(s.Name) > 128 {
		return plinth.Invalid("name", "%q must be a letter or '_' followed by letters, digits or '_'", s.Name)
	}
	if s.EventTime != "" && !ident.MatchString(s.EventTime) {
		return plinth.Invalid("event_time", "%q is not a column name", s.EventTime)
	}
	if s.MaxAge > 0 && s.EventTime == "" {
		return plinth.Invalid("max_age", "freshness needs event_time")
	}
	if s.MinRows < 0 || s.MaxRows < 0 || s.MaxRows > 0 && s.MaxRows < s.MinRows {
		return plinth.Invalid("max_rows", "row limits must satisfy 0 <= min_rows <= max_rows")
	}
	if s.MaxBadFraction < 0 || s.MaxBadFraction > 1 {
		return plinth.Invalid("max_bad_fraction", "must be between 0 and 1")
	}
	seen := map[string]bool{}
	for i, c := range s.Columns {
		field := fmt.Sprintf("columns[%d]", i)
		if !ident.MatchString(c.Name) || c.Name == IngestedAt || c.Name == ReasonsColumn {
			return plinth.Invalid(field+".name", "%q is not a usable column name", c.Name)
		}
		if seen[c.Name] {
			return plinth.Invalid(field+".name", "column %q appears twice", c.Name)
		}
		seen[c.Name] = true
		if _, ok := Types[c.Type]; c.Type != "" && !ok {
			return plinth.Invalid(field+".type", "%q is not one of bool, date, float, int, string, timestamp", c.Type)
		}
		if c.Min != nil && c.Max != nil && *c.Min > *c.Max {
			return plinth.Invalid(field+".min", "min %v is above max %v", *c.Min, *c.Max)
		}
	}
	return nil
}

// Column returns the expectation on a column, if any.
func (s *Spec) Column(name string) (Column, bool) {
	for _, c := range s.Columns {
		if c.Name == name {
			return c, true
		}
	}
	return Column{}, false
}

// Field is a column of a snapshot.
type Field struct {
	Name string `json:"name"`
	Type string `json:"type"` // the engine's type, e.g. BIGINT
}

// Version is an immutable snapshot of a dataset: the rows of one ingested
// batch that passed.
type Version struct {
	Dataset    string    `json:"dataset"`
	Version    int       `json:"version"`
	Digest     string    `json:"digest"` // of the Parquet file in the blob store
	Rows       int64     `json:"rows"`
	Bytes      int64     `json:"bytes"`
	Schema     []Field   `json:"schema"`
	Source     string    `json:"source"` // where the batch came from
	IngestedAt time.Time `json:"ingested_at"`
	// IngestedBy is the principal who ingested it; "plinth" for files the
	// platform wrote itself (the prediction log's batches).
	IngestedBy  string     `json:"ingested_by,omitempty"`
	MinEvent    *time.Time `json:"min_event_time,omitempty"`
	MaxEvent    *time.Time `json:"max_event_time,omitempty"`
	Quarantined int64      `json:"quarantined_rows"`
	// ReplayOf names the quarantine a replayed version came from.
	ReplayOf string `json:"replay_of,omitempty"`
}

// Quarantine holds the rows of a batch that failed, with their reasons.
type Quarantine struct {
	ID         string           `json:"id"`
	Dataset    string           `json:"dataset"`
	Digest     string           `json:"digest"` // Parquet file: the rows as read, plus _reasons
	Rows       int64            `json:"rows"`
	WholeBatch bool             `json:"whole_batch"` // a batch-level rule failed
	Reasons    map[string]int64 `json:"reasons"`     // reason -> rows
	Source     string           `json:"source"`
	CreatedAt  time.Time        `json:"created_at"`
	CreatedBy  string           `json:"created_by,omitempty"` // the principal whose batch it was
	// ReplayedAs is the version its rows became once replayed; 0 while
	// they wait.
	ReplayedAs int `json:"replayed_as,omitempty"`
}

// Store persists dataset versions and quarantines.
//
// RecordIngest writes what one batch produced — a version, a quarantine,
// or both — in one transaction, numbering the version; when v.ReplayOf
// names a quarantine, it is marked replayed in the same transaction, and a
// quarantine replayed before is an ECONFLICT. Lookups return ENOTFOUND for
// a missing dataset, version or quarantine.
type Store interface {
	// SetSpec stores the spec batches of a dataset are checked against
	// (creating the dataset), recording the context's principal as who set
	// it; Spec returns it, or ENOTFOUND.
	SetSpec(ctx context.Context, s Spec) error
	Spec(ctx context.Context, dataset string) (*Spec, error)
	RecordIngest(ctx context.Context, v *Version, q *Quarantine) error
	Datasets(ctx context.Context) ([]string, error)
	DatasetVersions(ctx context.Context, dataset string) ([]Version, error)
	DatasetVersion(ctx context.Context, dataset string, version int) (*Version, error)
	Quarantines(ctx context.Context, dataset string) ([]Quarantine, error)
	Quarantine(ctx context.Context, id string) (*Quarantine, error)
}

// Report is what checking a batch found.
type Report struct {
	Rows       int64            // rows read
	Good, Bad  int64            // rows written to the good and bad files
	WholeBatch bool             // a batch-level rule failed: every row is bad
	Reasons    map[string]int64 // reason -> rows
	Schema     []Field          // of the good file
	MinEvent   *time.Time
	MaxEvent   *time.Time
}

// Checker is the engine that reads batches. Check runs a spec's rules over
// a batch file (CSV or Parquet), writing the rows that pass, typed and
// stamped with ingestedAt, to the Parquet file good, and the rows that
// fail, as read plus their reasons, to bad. Sample reads up to limit rows of
// a Parquet file, for people to look at.
type Checker interface {
	Check(ctx context.Context, spec Spec, input string, ingestedAt time.Time, good, bad string) (*Report, error)
	Sample(ctx context.Context, file string, limit int) (*Sample, error)
}

// Sample is a few rows of a file, as text.
type Sample struct {
	Columns []string   `json:"columns"`
	Rows    [][]string `json:"rows"` // "" for null
	Total   int64      `json:"total"`
}
