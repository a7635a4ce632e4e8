package api

import (
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/blob"
	"github.com/plinthml/plinth/track"
)

func (s *Server) listExperiments(w http.ResponseWriter, r *http.Request) error {
	es, err := s.Tracker.Experiments(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"experiments": es})
	return nil
}

// CreateExperimentRequest is the body of POST /api/v1/experiments.
type CreateExperimentRequest struct {
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
}

func (s *Server) createExperiment(w http.ResponseWriter, r *http.Request) error {
	var req CreateExperimentRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	e := &track.Experiment{Name: req.Name, Description: req.Description, Tags: req.Tags}
	if err := s.Tracker.CreateExperiment(r.Context(), e); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, e)
	return nil
}

func (s *Server) getExperiment(w http.ResponseWriter, r *http.Request) error {
	e, err := s.Tracker.Experiment(r.Context(), r.PathValue("experiment"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, e)
	return nil
}

// CreateRunRequest is the body of POST /api/v1/runs. Experiment is an
// experiment's ID or name.
type CreateRunRequest struct {
	Experiment string               `json:"experiment"`
	Name       string               `json:"name,omitempty"`
	ParentID   string               `json:"parent_id,omitempty"`
	Note       string               `json:"note,omitempty"`
	StartTime  *time.Time           `json:"start_time,omitempty"`
	Params     map[string]string    `json:"params,omitempty"`
	Tags       map[string]string    `json:"tags,omitempty"`
	Code       track.Code           `json:"code,omitempty"`
	Env        map[string]string    `json:"env,omitempty"`
	Inputs     []track.DatasetInput `json:"inputs,omitempty"`
}

func (s *Server) createRun(w http.ResponseWriter, r *http.Request) error {
	var req CreateRunRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	run := &track.Run{
		ExperimentID: req.Experiment, Name: req.Name, ParentID: req.ParentID, Note: req.Note,
		Params: req.Params, Tags: req.Tags, Code: req.Code, Env: req.Env, Inputs: req.Inputs,
	}
	if req.StartTime != nil {
		run.StartTime = *req.StartTime
	}
	if err := s.Tracker.CreateRun(r.Context(), run); err != nil {
		return err
	}
	created, err := s.Tracker.Run(r.Context(), run.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, created)
	return nil
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request) error {
	run, err := s.Tracker.Run(r.Context(), r.PathValue("run"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, run)
	return nil
}

func (s *Server) updateRun(w http.ResponseWriter, r *http.Request) error {
	var u track.RunUpdate
	if err := decode(w, r, &u); err != nil {
		return err
	}
	run, err := s.Tracker.UpdateRun(r.Context(), r.PathValue("run"), u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, run)
	return nil
}

func (s *Server) logBatch(w http.ResponseWriter, r *http.Request) error {
	var b track.Batch
	if err := decode(w, r, &b); err != nil {
		return err
	}
	if err := s.Tracker.LogBatch(r.Context(), r.PathValue("run"), b); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"metrics": len(b.Metrics), "params": len(b.Params), "tags": len(b.Tags), "inputs": len(b.Inputs)})
	return nil
}

func (s *Server) metricHistory(w http.ResponseWriter, r *http.Request) error {
	ms, err := s.Tracker.MetricHistory(r.Context(), r.PathValue("run"), r.PathValue("key"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"metrics": ms})
	return nil
}

func (s *Server) searchRuns(w http.ResponseWriter, r *http.Request) error {
	var req track.SearchRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	page, err := s.Tracker.Search(r.Context(), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

// CompareRequest is the body of POST /api/v1/runs/compare.
type CompareRequest struct {
	RunIDs []string `json:"run_ids"`
}

func (s *Server) compareRuns(w http.ResponseWriter, r *http.Request) error {
	var req CompareRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if len(req.RunIDs) < 2 || len(req.RunIDs) > 100 {
		return plinth.Invalid("run_ids", "compare takes 2 to 100 runs, have %d", len(req.RunIDs))
	}
	runs := make([]track.Run, len(req.RunIDs))
	for i, id := range req.RunIDs {
		run, err := s.Tracker.Run(r.Context(), id)
		if err != nil {
			if plinth.IsCode(err, plinth.ENOTFOUND) {
				return &plinth.Error{Code: plinth.ENOTFOUND, Field: "run_ids[" + strconv.Itoa(i) + "]", Message: "run " + strconv.Quote(id) + " not found"}
			}
			return err
		}
		runs[i] = *run
	}
	writeJSON(w, http.StatusOK, track.Compare(runs))
	return nil
}

func (s *Server) putArtifact(w http.ResponseWriter, r *http.Request) error {
	a, err := s.Tracker.PutArtifact(r.Context(), r.PathValue("run"), r.PathValue("path"), r.Body)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, a)
	return nil
}

func (s *Server) getArtifact(w http.ResponseWriter, r *http.Request) error {
	rc, a, err := s.Tracker.OpenArtifact(r.Context(), r.PathValue("run"), r.PathValue("path"))
	if err != nil {
		return err
	}
	defer rc.Close()
	return s.streamBlob(w, r, rc, a.Digest, a.Size)
}

func (s *Server) putBlob(w http.ResponseWriter, r *http.Request) error {
	info, err := s.Blobs.Put(r.Context(), r.Body)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, info)
	return nil
}

func (s *Server) getBlob(w http.ResponseWriter, r *http.Request) error {
	d, err := blob.ParseDigest(r.PathValue("digest"))
	if err != nil {
		return err
	}
	info, err := s.Blobs.Stat(r.Context(), d)
	if err != nil {
		return err
	}
	rc, err := s.Blobs.Open(r.Context(), d)
	if err != nil {
		return err
	}
	defer rc.Close()
	return s.streamBlob(w, r, rc, info.Digest.String(), info.Size)
}

// streamBlob copies a verifying blob reader to the response. Headers are
// sent before the bytes are checked, so corruption found mid-stream can only
// abort the connection; the client sees a short body, never a wrong one
// that looks whole.
func (s *Server) streamBlob(w http.ResponseWriter, r *http.Request, rc io.Reader, digest string, size int64) error {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	w.Header().Set("Digest", digest)
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, rc); err != nil {
		s.Logger.Error("streaming blob failed", "digest", digest, "path", r.URL.Path, "error", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}
