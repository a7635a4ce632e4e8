package track

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/blob"
)

// Tracker is the tracking service: it validates what callers send, stores
// it, and keeps run artifacts in the blob store.
type Tracker struct {
	Store Store
	Blobs blob.Store
}

// CreateExperiment validates and stores a new experiment.
func (t *Tracker) CreateExperiment(ctx context.Context, e *Experiment) error {
	if err := ValidateExperiment(e); err != nil {
		return err
	}
	return t.Store.CreateExperiment(ctx, e)
}

// Experiment returns an experiment by ID or name.
func (t *Tracker) Experiment(ctx context.Context, idOrName string) (*Experiment, error) {
	return t.Store.Experiment(ctx, idOrName)
}

// Experiments lists all experiments.
func (t *Tracker) Experiments(ctx context.Context) ([]Experiment, error) {
	return t.Store.Experiments(ctx)
}

// CreateRun starts a run in the experiment named by r.ExperimentID (an ID
// or a name). A run is created running unless it says otherwise.
func (t *Tracker) CreateRun(ctx context.Context, r *Run) error {
	if r.Status == "" {
		r.Status = Running
	}
	if err := ValidateNewRun(r); err != nil {
		return err
	}
	e, err := t.Store.Experiment(ctx, r.ExperimentID)
	if err != nil {
		return err
	}
	r.ExperimentID = e.ID
	return t.Store.CreateRun(ctx, r)
}

// Run returns a run.
func (t *Tracker) Run(ctx context.Context, id string) (*Run, error) { return t.Store.Run(ctx, id) }

// UpdateRun changes a run's name, status or note.
func (t *Tracker) UpdateRun(ctx context.Context, id string, u RunUpdate) (*Run, error) {
	if err := ValidateUpdate(u); err != nil {
		return nil, err
	}
	return t.Store.UpdateRun(ctx, id, u)
}

// LogBatch validates and writes a batch atomically.
func (t *Tracker) LogBatch(ctx context.Context, runID string, b Batch) error {
	if err := ValidateBatch(b); err != nil {
		return err
	}
	return t.Store.LogBatch(ctx, runID, b)
}

// MetricHistory returns the points of one series.
func (t *Tracker) MetricHistory(ctx context.Context, runID, key string) ([]Metric, error) {
	return t.Store.MetricHistory(ctx, runID, key)
}

// CleanArtifactPath validates a run artifact's path and returns it in
// canonical form: relative, slash-separated, no "." or ".." elements.
func CleanArtifactPath(p string) (string, error) {
	if p == "" {
		return "", plinth.Invalid("path", "must not be empty")
	}
	if len(p) > 1024 {
		return "", plinth.Invalid("path", "longer than 1024 bytes")
	}
	if strings.HasPrefix(p, "/") || strings.Contains(p, "\\") {
		return "", plinth.Invalid("path", "%q must be a relative, slash-separated path", p)
	}
	for _, elem := range strings.Split(p, "/") {
		if elem == "" || elem == "." || elem == ".." {
			return "", plinth.Invalid("path", "%q has an empty, '.' or '..' element", p)
		}
	}
	if err := checkKey("path", p); err != nil {
		return "", err
	}
	return path.Clean(p), nil
}

// PutArtifact streams r into the blob store and records it as the run's
// file at path. The blob is written first: if the process dies before the
// record commits, the run simply has no such artifact.
func (t *Tracker) PutArtifact(ctx context.Context, runID, p string, r io.Reader) (Artifact, error) {
	p, err := CleanArtifactPath(p)
	if err != nil {
		return Artifact{}, err
	}
	run, err := t.Store.Run(ctx, runID)
	if err != nil {
		return Artifact{}, err
	}
	if run.Status.Terminal() {
		return Artifact{}, plinth.Errorf(plinth.ECONFLICT, "run %s has ended (%s); its artifacts are immutable", runID, run.Status)
	}
	info, err := t.Blobs.Put(ctx, r)
	if err != nil {
		return Artifact{}, fmt.Errorf("artifact %s: %w", p, err)
	}
	a := Artifact{Path: p, Digest: info.Digest.String(), Size: info.Size}
	if err := t.Store.AddArtifact(ctx, runID, a); err != nil {
		return Artifact{}, err
	}
	return a, nil
}

// OpenArtifact returns a verifying reader over a run's artifact.
func (t *Tracker) OpenArtifact(ctx context.Context, runID, p string) (io.ReadCloser, Artifact, error) {
	run, err := t.Store.Run(ctx, runID)
	if err != nil {
		return nil, Artifact{}, err
	}
	for _, a := range run.Artifacts {
		if a.Path == p {
			rc, err := t.Blobs.Open(ctx, blob.Digest(a.Digest))
			return rc, a, err
		}
	}
	return nil, Artifact{}, plinth.NotFound("artifact", p)
}

// Search runs a search request: it resolves experiment names, parses the
// filter and ordering, and pages through the results.
func (t *Tracker) Search(ctx context.Context, req SearchRequest) (Page, error) {
	q, err := t.parseSearch(ctx, req)
	if err != nil {
		return Page{}, err
	}
	runs, more, err := t.Store.SearchRuns(ctx, q)
	if err != nil {
		return Page{}, err
	}
	page := Page{Runs: runs}
	if more {
		page.NextPageToken = encodePageToken(q.Offset + len(runs))
	}
	return page, nil
}

func (t *Tracker) parseSearch(ctx context.Context, req SearchRequest) (Query, error) {
	var q Query
	var err error
	if q.Filter, err = ParseFilter(req.Filter); err != nil {
		return q, err
	}
	if q.OrderBy, err = ParseOrder(req.OrderBy); err != nil {
		return q, err
	}
	switch {
	case req.MaxResults < 0 || req.MaxResults > MaxPageSize:
		return q, plinth.Invalid("max_results", "must be between 1 and %d, have %d", MaxPageSize, req.MaxResults)
	case req.MaxResults == 0:
		q.Limit = 100
	default:
		q.Limit = req.MaxResults
	}
	if q.Offset, err = decodePageToken(req.PageToken); err != nil {
		return q, err
	}
	for _, idOrName := range req.ExperimentIDs {
		e, err := t.Store.Experiment(ctx, idOrName)
		if err != nil {
			return q, err
		}
		q.ExperimentIDs = append(q.ExperimentIDs, e.ID)
	}
	return q, nil
}

// Page tokens are opaque to clients; today they carry an offset.
func encodePageToken(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("o" + strconv.Itoa(offset)))
}

func decodePageToken(tok string) (int, error) {
	if tok == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err == nil && len(b) > 1 && b[0] == 'o' {
		if n, err := strconv.Atoi(string(b[1:])); err == nil && n >= 0 {
			return n, nil
		}
	}
	return 0, plinth.Invalid("page_token", "not a token this server issued")
}
