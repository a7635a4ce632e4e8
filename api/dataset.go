package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/dataset"
	"github.com/plinthml/plinth/feature"
)

func (s *Server) listDatasets(w http.ResponseWriter, r *http.Request) error {
	names, err := s.Ingester.Store.Datasets(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"datasets": names})
	return nil
}

func (s *Server) setSpec(w http.ResponseWriter, r *http.Request) error {
	var spec dataset.Spec
	if err := decode(w, r, &spec); err != nil {
		return err
	}
	name := r.PathValue("dataset")
	if spec.Name == "" {
		spec.Name = name
	}
	if spec.Name != name {
		return plinth.Invalid("name", "the spec names dataset %q, the path %q", spec.Name, name)
	}
	if err := spec.Validate(); err != nil {
		return err
	}
	if err := s.Ingester.Store.SetSpec(r.Context(), spec); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, spec)
	return nil
}

func (s *Server) getSpec(w http.ResponseWriter, r *http.Request) error {
	spec, err := s.Ingester.Store.Spec(r.Context(), r.PathValue("dataset"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, spec)
	return nil
}

// IngestResult is the answer to a batch: what became a version and what was
// quarantined (either may be absent).
type IngestResult struct {
	Version    *dataset.Version    `json:"version,omitempty"`
	Quarantine *dataset.Quarantine `json:"quarantine,omitempty"`
}

// ingestBatch streams the request body to a temporary file and ingests it
// with the dataset's stored spec. ?format=csv (default) or parquet;
// ?source= names where the batch came from, "upload" if absent.
func (s *Server) ingestBatch(w http.ResponseWriter, r *http.Request) error {
	source, err := batchSource(r.URL.Query().Get("source"))
	if err != nil {
		return err
	}
	spec, err := s.Ingester.Store.Spec(r.Context(), r.PathValue("dataset"))
	if err != nil {
		return err
	}
	ext := ".csv"
	switch f := r.URL.Query().Get("format"); f {
	case "", "csv":
	case "parquet":
		ext = ".parquet"
	default:
		return plinth.Invalid("format", "%q is not csv or parquet", f)
	}
	tmp, err := os.CreateTemp(s.Ingester.WorkDir, "upload-*"+ext)
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, r.Body); err != nil {
		tmp.Close()
		return plinth.Invalid("", "reading the batch: %v", err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	v, q, err := s.Ingester.IngestCopy(r.Context(), *spec, tmp.Name(), source)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, IngestResult{Version: v, Quarantine: q})
	return nil
}

// maxSourceLen bounds a batch's source: a label, not a document.
const maxSourceLen = 512

// batchSource checks the label a client gives a batch's origin: it is
// stored with the version and shown in listings and the audit trail.
func batchSource(source string) (string, error) {
	switch {
	case source == "":
		return "upload", nil
	case len(source) > maxSourceLen:
		return "", plinth.Invalid("source", "at most %d bytes, have %d", maxSourceLen, len(source))
	case !utf8.ValidString(source) || strings.ContainsFunc(source, unicode.IsControl):
		return "", plinth.Invalid("source", "must be printable UTF-8 text")
	}
	return source, nil
}

func (s *Server) listDatasetVersions(w http.ResponseWriter, r *http.Request) error {
	vs, err := s.Ingester.Store.DatasetVersions(r.Context(), r.PathValue("dataset"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"versions": vs})
	return nil
}

func (s *Server) getDatasetVersion(w http.ResponseWriter, r *http.Request) error {
	n, err := strconv.Atoi(r.PathValue("version"))
	if err != nil || n <= 0 {
		return plinth.Invalid("version", "want a version number, have %q", r.PathValue("version"))
	}
	v, err := s.Ingester.Store.DatasetVersion(r.Context(), r.PathValue("dataset"), n)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) listQuarantines(w http.ResponseWriter, r *http.Request) error {
	qs, err := s.Ingester.Store.Quarantines(r.Context(), r.PathValue("dataset"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"quarantines": qs})
	return nil
}

// quarantine returns the quarantine in the path, checking it belongs to the
// dataset in the path.
func (s *Server) quarantine(r *http.Request) (*dataset.Quarantine, error) {
	q, err := s.Ingester.Store.Quarantine(r.Context(), r.PathValue("quarantine"))
	if err != nil {
		return nil, err
	}
	if q.Dataset != r.PathValue("dataset") {
		return nil, plinth.NotFound("quarantine", r.PathValue("quarantine"))
	}
	return q, nil
}

func (s *Server) inspectQuarantine(w http.ResponseWriter, r *http.Request) error {
	q, err := s.quarantine(r)
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 20)
	if err != nil {
		return err
	}
	if limit < 0 || limit > 10000 {
		return plinth.Invalid("limit", "must be between 0 and 10000")
	}
	sample, err := s.Ingester.Inspect(r.Context(), q.ID, limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"quarantine": q, "sample": sample})
	return nil
}

func (s *Server) replayQuarantine(w http.ResponseWriter, r *http.Request) error {
	q, err := s.quarantine(r)
	if err != nil {
		return err
	}
	spec, err := s.Ingester.Store.Spec(r.Context(), q.Dataset)
	if err != nil {
		return err
	}
	v, nq, err := s.Ingester.Replay(r.Context(), *spec, q.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, IngestResult{Version: v, Quarantine: nq})
	return nil
}

// PushRequest is the body of POST /api/v1/datasets/{dataset}/push: events
// as JSON objects, column name to value.
type PushRequest struct {
	Rows []map[string]any `json:"rows"`
}

// PushResult says what the pushed events became: a dataset version, a
// quarantine, and the online views updated.
type PushResult struct {
	IngestResult
	Online []feature.MaterializeResult `json:"online,omitempty"`
}

// MaxPushRows bounds one push; larger loads go through batches.
const MaxPushRows = 100_000

// push validates events like any batch, appends those that pass to the
// offline store as a new version, and writes them to the online store at
// once for every feature view over the dataset.
func (s *Server) push(w http.ResponseWriter, r *http.Request) error {
	var req PushRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if len(req.Rows) == 0 || len(req.Rows) > MaxPushRows {
		return plinth.Invalid("rows", "want 1 to %d events, have %d", MaxPushRows, len(req.Rows))
	}
	v, q, online, err := s.Push(r.Context(), r.PathValue("dataset"), req.Rows)
	if err != nil {
		return err
	}
	res := PushResult{IngestResult: IngestResult{Version: v, Quarantine: q}, Online: online}
	writeJSON(w, http.StatusCreated, res)
	return nil
}

// Push appends events to a dataset under its expectations (failing rows
// are quarantined) and copies them at once into the online views over the
// dataset: the one code path of pushes over HTTP and from NATS.
func (s *Server) Push(ctx context.Context, name string, rows []map[string]any) (*dataset.Version, *dataset.Quarantine, []feature.MaterializeResult, error) {
	spec, err := s.Ingester.Store.Spec(ctx, name)
	if err != nil {
		return nil, nil, nil, err
	}
	tmp, err := os.CreateTemp(s.Ingester.WorkDir, "push-*.ndjson")
	if err != nil {
		return nil, nil, nil, err
	}
	defer os.Remove(tmp.Name())
	enc := json.NewEncoder(tmp)
	for _, row := range rows {
		if err := enc.Encode(row); err != nil {
			tmp.Close()
			return nil, nil, nil, plinth.Invalid("rows", "%v", err)
		}
	}
	if err := tmp.Close(); err != nil {
		return nil, nil, nil, err
	}
	v, q, err := s.Ingester.IngestCopy(ctx, *spec, tmp.Name(), "push")
	if err != nil || v == nil || s.Materializer == nil {
		return v, q, nil, err
	}
	_, views, err := s.Materializer.Catalog.Features(ctx)
	if err != nil {
		return v, q, nil, err
	}
	var names []string
	for _, fv := range views {
		if fv.Source == name && len(fv.Aggregations) == 0 {
			names = append(names, fv.Name)
		}
	}
	if len(names) == 0 {
		return v, q, nil, nil
	}
	online, err := s.Materializer.Materialize(ctx, names, nil)
	return v, q, online, err
}
