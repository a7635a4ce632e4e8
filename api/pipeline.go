package api

import (
	"net/http"
	"strconv"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/pipeline"
)

// RunPipelineRequest starts a run, optionally overriding parameters.
type RunPipelineRequest struct {
	Params map[string]any `json:"params,omitempty"`
}

func (s *Server) listPipelines(w http.ResponseWriter, r *http.Request) error {
	ps, err := s.PipelineDefs.Pipelines(r.Context())
	if err != nil {
		return err
	}
	out := []pipeline.Summary{}
	for _, p := range ps {
		sum := pipeline.Summary{Spec: p.Spec, Version: p.Version, UpdatedAt: p.UpdatedAt}
		runs, err := s.Pipelines.Store.PipelineRuns(r.Context(), p.Spec.Name, 1)
		if err != nil {
			return err
		}
		if len(runs) > 0 {
			v := pipeline.NewReport(&runs[0])
			sum.LastRun = &v
		}
		out = append(out, sum)
	}
	writeJSON(w, http.StatusOK, map[string]any{"pipelines": out})
	return nil
}

func (s *Server) planPipeline(w http.ResponseWriter, r *http.Request) error {
	var req RunPipelineRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	p, err := pipeline.Lookup(r.Context(), s.PipelineDefs, r.PathValue("pipeline"))
	if err != nil {
		return err
	}
	steps, err := s.Pipelines.Plan(r.Context(), p.Spec, req.Params)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"pipeline": p.Spec.Name, "version": p.Version, "steps": steps})
	return nil
}

func (s *Server) startPipeline(w http.ResponseWriter, r *http.Request) error {
	var req RunPipelineRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	p, err := pipeline.Lookup(r.Context(), s.PipelineDefs, r.PathValue("pipeline"))
	if err != nil {
		return err
	}
	run, err := s.Pipelines.Start(r.Context(), p.Spec, pipeline.RunOptions{Params: req.Params, Version: p.Version})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, pipeline.NewReport(run))
	return nil
}

func (s *Server) listPipelineRuns(w http.ResponseWriter, r *http.Request) error {
	if _, err := pipeline.Lookup(r.Context(), s.PipelineDefs, r.PathValue("pipeline")); err != nil {
		return err
	}
	limit := 50
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			return plinth.Invalid("limit", "%q is not a number from 1 to 1000", l)
		}
		limit = n
	}
	runs, err := s.Pipelines.Store.PipelineRuns(r.Context(), r.PathValue("pipeline"), limit)
	if err != nil {
		return err
	}
	out := make([]pipeline.Report, len(runs))
	for i := range runs {
		out[i] = pipeline.NewReport(&runs[i])
	}
	writeJSON(w, http.StatusOK, map[string]any{"runs": out})
	return nil
}

func (s *Server) getPipelineRun(w http.ResponseWriter, r *http.Request) error {
	run, err := s.Pipelines.Store.PipelineRun(r.Context(), r.PathValue("run"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, pipeline.NewReport(run))
	return nil
}

func (s *Server) cancelPipelineRun(w http.ResponseWriter, r *http.Request) error {
	if err := s.Pipelines.Cancel(r.Context(), r.PathValue("run")); err != nil {
		return err
	}
	return s.getPipelineRun(w, r)
}

func (s *Server) rerunPipeline(w http.ResponseWriter, r *http.Request) error {
	run, err := s.Pipelines.Rerun(r.Context(), r.PathValue("run"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, pipeline.NewReport(run))
	return nil
}

// ApprovalRequest is a person's decision on a step waiting for approval.
type ApprovalRequest struct {
	Approve bool   `json:"approve"`
	Reason  string `json:"reason"`
}

func (s *Server) approveStep(w http.ResponseWriter, r *http.Request) error {
	var req ApprovalRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if req.Reason == "" {
		return plinth.Invalid("reason", "say why: it is recorded with the decision")
	}
	if err := s.Pipelines.Decide(r.Context(), r.PathValue("run"), r.PathValue("step"), req.Approve, req.Reason); err != nil {
		return err
	}
	return s.getPipelineRun(w, r)
}
