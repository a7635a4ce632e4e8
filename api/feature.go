package api

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/dataset"
	"github.com/plinthml/plinth/feature"
	"github.com/plinthml/plinth/internal/jsonx"
	"github.com/plinthml/plinth/project"
)

func (s *Server) listDefinitions(w http.ResponseWriter, r *http.Request) error {
	defs, err := s.Definitions.Definitions(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"definitions": defs})
	return nil
}

// ApplyRequest is the body of POST /api/v1/definitions/apply: the
// definitions to add or change and those to remove, as a plan computed
// against GET /api/v1/definitions lists them.
type ApplyRequest struct {
	Set    []project.Definition `json:"set"`
	Remove []project.Definition `json:"remove,omitempty"`
}

func (s *Server) applyDefinitions(w http.ResponseWriter, r *http.Request) error {
	var req ApplyRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	// The definitions are checked as one project: what would be registered
	// after the apply must be consistent.
	current, err := s.Definitions.Definitions(r.Context())
	if err != nil {
		return err
	}
	after, err := project.Merge(current, req.Set, req.Remove)
	if err != nil {
		return err
	}
	datasets, err := s.Ingester.Store.Datasets(r.Context())
	if err != nil {
		return err
	}
	if err := after.Validate(datasets...); err != nil {
		return err
	}
	if err := s.Definitions.ApplyDefinitions(r.Context(), req.Set, req.Remove, plinth.PrincipalFrom(r.Context())); err != nil {
		return err
	}
	if s.FeatureServer != nil {
		s.FeatureServer.Invalidate()
	}
	return s.listDefinitions(w, r)
}

// TrainingSetResult is what POST /api/v1/training-sets answers: the
// training set and the dataset version it was stored as.
type TrainingSetResult struct {
	Built   *feature.Built   `json:"training_set"`
	Version *dataset.Version `json:"version"`
}

// buildTrainingSet takes the label table as the body (CSV, or Parquet with
// ?format=parquet) and builds the feature service's training set, stored
// as a version of the dataset "<service>_training".
func (s *Server) buildTrainingSet(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	req := feature.Request{Service: q.Get("service"), Timestamp: q.Get("timestamp")}
	if req.Service == "" || req.Timestamp == "" {
		return plinth.Invalid("service", "service and timestamp query parameters are required")
	}
	if a := q.Get("as_of"); a != "" {
		t, err := time.Parse(time.RFC3339Nano, a)
		if err != nil {
			return plinth.Invalid("as_of", "%q is not an RFC 3339 time", a)
		}
		req.AsOf = &t
	}
	ext := ".csv"
	if q.Get("format") == "parquet" {
		ext = ".parquet"
	}
	dir, err := os.MkdirTemp(s.Ingester.WorkDir, "training-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	req.Labels, req.Output = filepath.Join(dir, "labels"+ext), filepath.Join(dir, "training.parquet")
	f, err := os.Create(req.Labels)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r.Body); err != nil {
		f.Close()
		return plinth.Invalid("", "reading the labels: %v", err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	built, err := s.Features.Build(r.Context(), req)
	if err != nil {
		return err
	}
	out, err := os.Open(req.Output)
	if err != nil {
		return err
	}
	defer out.Close()
	info, err := s.Blobs.Put(r.Context(), out)
	if err != nil {
		return err
	}
	asOf := "now"
	if req.AsOf != nil {
		asOf = req.AsOf.UTC().Format(time.RFC3339)
	}
	v := &dataset.Version{
		Dataset: req.Service + "_training", Digest: info.Digest.String(), Rows: built.Rows, Bytes: info.Size,
		Source:     fmt.Sprintf("training set of feature service %s v%d as of %s from %v", built.Service, built.ServiceVersion, asOf, built.Sources),
		IngestedAt: time.Now().UTC(),
		IngestedBy: plinth.PrincipalFrom(r.Context()),
	}
	if err := s.Ingester.Store.RecordIngest(r.Context(), v, nil); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, TrainingSetResult{Built: built, Version: v})
	return nil
}

// viewRows streams a feature view's rows over [start, end) as Parquet.
func (s *Server) viewRows(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	times := map[string]*time.Time{}
	for _, name := range []string{"start", "end", "as_of"} {
		v := q.Get(name)
		if v == "" {
			if name != "as_of" {
				return plinth.Invalid(name, "is required (RFC 3339)")
			}
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return plinth.Invalid(name, "%q is not an RFC 3339 time", v)
		}
		times[name] = &t
	}
	dir, err := os.MkdirTemp(s.Ingester.WorkDir, "range-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "rows.parquet")
	if _, err := s.Features.Range(r.Context(), r.PathValue("view"), *times["start"], *times["end"], times["as_of"], out); err != nil {
		return err
	}
	f, err := os.Open(out)
	if err != nil {
		return err
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/vnd.apache.parquet")
	_, err = io.Copy(w, f)
	return err
}

// MaterializeRequest is the body of POST /api/v1/materialize.
type MaterializeRequest struct {
	Views []string `json:"views,omitempty"` // empty: every view
}

func (s *Server) materialize(w http.ResponseWriter, r *http.Request) error {
	var req MaterializeRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	res, err := s.Materializer.Materialize(r.Context(), req.Views, nil)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"views": res})
	return nil
}

// OnlineRequest is the body of POST /api/v1/features/online.
type OnlineRequest struct {
	Service  string           `json:"service"`
	Entities []map[string]any `json:"entities"`
}

// MaxOnlineEntities bounds one online request.
const MaxOnlineEntities = 10000

func (s *Server) onlineFeatures(w http.ResponseWriter, r *http.Request) error {
	var req OnlineRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if req.Service == "" {
		return plinth.Invalid("service", "must name a feature service")
	}
	if len(req.Entities) == 0 || len(req.Entities) > MaxOnlineEntities {
		return plinth.Invalid("entities", "want 1 to %d entity rows, have %d", MaxOnlineEntities, len(req.Entities))
	}
	names, rows, err := s.FeatureServer.Lookup(r.Context(), req.Service, req.Entities)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(appendOnlineResponse(nil, names, rows))
	return nil
}

// appendOnlineResponse appends the online features response,
// {"features": names, "rows": [{name: Value, ...}, ...]}, as encoding/json
// would write the maps of feature.Server.Get (keys aside, in names order),
// without building them: the encoding was most of a lookup's cost. A row's
// features of one view share an event time, formatted once.
func appendOnlineResponse(b []byte, names []string, rows [][]feature.Value) []byte {
	// The names, quoted once: they are written once per row.
	var buf []byte
	offsets := make([]int, len(names)+1)
	for j, n := range names {
		buf = jsonx.AppendString(buf, n)
		offsets[j+1] = len(buf)
	}
	quoted := make([][]byte, len(names))
	for j := range names {
		quoted[j] = buf[offsets[j]:offsets[j+1]]
	}
	b = append(b, `{"features":[`...)
	for j := range names {
		if j > 0 {
			b = append(b, ',')
		}
		b = append(b, quoted[j]...)
	}
	b = append(b, `],"rows":[`...)
	for i, row := range rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		var last *time.Time
		var lastTime []byte
		for j, v := range row {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, quoted[j]...)
			b = append(b, `:{"value":`...)
			b = jsonx.AppendValue(b, v.Value)
			b = append(b, `,"status":`...)
			b = jsonx.AppendString(b, v.Status)
			if v.EventTime != nil {
				b = append(b, `,"event_time":"`...)
				if v.EventTime != last {
					last = v.EventTime
					lastTime = v.EventTime.AppendFormat(lastTime[:0], time.RFC3339Nano)
				}
				b = append(append(b, lastTime...), '"')
			}
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	return append(b, "]}\n"...)
}
