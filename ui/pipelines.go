package ui

import (
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/pipeline"
)

type pipelinesPage struct {
	Pipelines []pipeline.Summary
}

func (s *server) pipelines(w http.ResponseWriter, r *http.Request) error {
	ps, err := s.PipelineDefs.Pipelines(r.Context())
	if err != nil {
		return err
	}
	var p pipelinesPage
	for _, pl := range ps {
		sum := pipeline.Summary{Spec: pl.Spec, Version: pl.Version, UpdatedAt: pl.UpdatedAt}
		runs, err := s.Pipelines.Store.PipelineRuns(r.Context(), pl.Spec.Name, 1)
		if err != nil {
			return err
		}
		if len(runs) > 0 {
			rep := pipeline.NewReport(&runs[0])
			sum.LastRun = &rep
		}
		p.Pipelines = append(p.Pipelines, sum)
	}
	sort.Slice(p.Pipelines, func(i, j int) bool { return p.Pipelines[i].Name < p.Pipelines[j].Name })
	return s.render(w, r, "pipelines", "Pipelines", "pipelines", p)
}

type pipelinePage struct {
	Registered *pipeline.Registered
	DAG        template.HTML
	Params     []kv
	Runs       []runRow
}

type runRow struct {
	pipeline.Report
	Steps, Cached int
}

func (s *server) pipeline(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	ps, err := s.PipelineDefs.Pipelines(ctx)
	if err != nil {
		return err
	}
	var reg *pipeline.Registered
	for i := range ps {
		if ps[i].Spec.Name == r.PathValue("pipeline") {
			reg = &ps[i]
		}
	}
	if reg == nil {
		return plinth.NotFound("pipeline", r.PathValue("pipeline"))
	}
	runs, err := s.Pipelines.Store.PipelineRuns(ctx, reg.Spec.Name, 50)
	if err != nil {
		return err
	}
	p := pipelinePage{Registered: reg, Params: jsonKV(reg.Spec.Params)}
	p.DAG = dag(&reg.Spec, nil, "").SVG("spec", "Steps of pipeline "+reg.Spec.Name)
	for i := range runs {
		row := runRow{Report: pipeline.NewReport(&runs[i])}
		for _, a := range runs[i].Latest() {
			row.Steps++
			if a.Cached {
				row.Cached++
			}
		}
		p.Runs = append(p.Runs, row)
	}
	return s.render(w, r, "pipeline", "Pipeline "+reg.Spec.Name, "pipelines", p)
}

type pipelineRunPage struct {
	Run    pipeline.Report
	DAG    template.HTML
	Params []kv
	Steps  []stepRow
	States []pipeline.State // for the legend
}

type stepRow struct {
	Name     string
	Kind     string
	Latest   *pipeline.Attempt
	Attempts []pipeline.Attempt
	Outputs  []outputRow
}

// outputRow is one output of a step, linked to what it names when the UI
// has a page for it.
type outputRow struct {
	Name    string
	Type    pipeline.Type
	Ref     string
	Href    string
	Metrics []kf
	Run     string // the tracked run that made a model
}

func (s *server) pipelineRun(w http.ResponseWriter, r *http.Request) error {
	run, err := s.Pipelines.Store.PipelineRun(r.Context(), r.PathValue("run"))
	if err != nil {
		return err
	}
	latest := run.Latest()
	p := pipelineRunPage{Run: pipeline.NewReport(run), Params: jsonKV(run.Params),
		States: []pipeline.State{pipeline.Succeeded, pipeline.Running, pipeline.Pending, pipeline.Waiting, pipeline.Failed, pipeline.Halted, pipeline.Skipped, pipeline.Cancelled}}
	p.DAG = dag(&run.Spec, latest, "#step-").SVG("run", "Steps of run "+run.ID+", coloured by state")
	order, err := run.Spec.Order()
	if err != nil {
		order = nil
		for _, st := range run.Spec.Steps {
			order = append(order, st.Name)
		}
	}
	kinds := map[string]string{}
	for _, st := range run.Spec.Steps {
		kinds[st.Name] = st.Kind
	}
	// Steps in DAG order, then instances the spec does not name
	// (for_each expansions) after their step.
	for _, name := range order {
		for _, inst := range instancesOf(name, latest) {
			row := stepRow{Name: inst, Kind: kinds[name], Latest: latest[inst]}
			for _, a := range run.Attempts {
				if a.Step == inst {
					row.Attempts = append(row.Attempts, a)
				}
			}
			if row.Latest != nil {
				row.Outputs = outputRows(row.Latest.Outputs)
			}
			p.Steps = append(p.Steps, row)
		}
	}
	return s.render(w, r, "pipeline_run", "Pipeline run "+run.ID, "pipelines", p)
}

// instancesOf returns a step's name and the names of its for_each
// instances ("train[eu]") that have attempts, sorted.
func instancesOf(step string, latest map[string]*pipeline.Attempt) []string {
	out := []string{step}
	var inst []string
	for name := range latest {
		if strings.HasPrefix(name, step+"[") {
			inst = append(inst, name)
		}
	}
	sort.Strings(inst)
	if len(inst) > 0 {
		return inst
	}
	return out
}

// dag draws a pipeline's steps and their dependencies. With attempts, each
// box is coloured by its latest attempt's state and cache hits are marked;
// href prefixes each box's link (to its row on the page).
func dag(spec *pipeline.Spec, latest map[string]*pipeline.Attempt, href string) graph {
	var g graph
	for _, st := range spec.Steps {
		names := []string{st.Name}
		if latest != nil {
			names = instancesOf(st.Name, latest)
		}
		for _, name := range names {
			n := gnode{ID: name, Label: name, Sub: st.Kind, Class: "state-none"}
			if latest != nil {
				n.Class = "state-" + string(pipeline.Pending)
				n.Sub = st.Kind + " · pending"
				if a := latest[name]; a != nil {
					n.Class = "state-" + string(a.State)
					n.Sub = st.Kind + " · " + string(a.State)
					n.Cached = a.Cached
				}
			}
			if href != "" {
				n.Href = href + url.PathEscape(name)
			}
			g.Nodes = append(g.Nodes, n)
		}
	}
	ids := map[string][]string{}
	for _, n := range g.Nodes {
		base := n.ID
		if i := strings.IndexByte(base, '['); i > 0 {
			base = base[:i]
		}
		ids[base] = append(ids[base], n.ID)
	}
	for _, st := range spec.Steps {
		for _, dep := range st.Deps() {
			for _, from := range ids[dep] {
				for _, to := range ids[st.Name] {
					g.Edges = append(g.Edges, gedge{from, to})
				}
			}
		}
	}
	return g
}

// jsonKV shows parameters and outputs as sorted key/value pairs, values
// in JSON.
func jsonKV(m map[string]any) []kv {
	out := make([]kv, 0, len(m))
	for k, v := range m {
		s, ok := v.(string)
		if !ok {
			b, err := json.Marshal(v)
			if err != nil {
				s = "?"
			} else {
				s = string(b)
			}
		}
		out = append(out, kv{k, s})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func outputRows(m map[string]pipeline.Value) []outputRow {
	out := make([]outputRow, 0, len(m))
	for k, v := range m {
		row := outputRow{Name: k, Type: v.Type, Ref: v.Ref, Metrics: sortedFloats(v.Metrics), Run: v.Attrs["run"]}
		if name, ver, ok := strings.Cut(v.Ref, "@"); ok {
			switch v.Type {
			case pipeline.Version:
				row.Href = "/ui/models/" + url.PathEscape(name) + "/versions/" + url.PathEscape(ver)
			case pipeline.Dataset:
				row.Href = datasetHref(name, ver)
			}
		}
		out = append(out, row)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// decideStep approves or rejects a run's step that waits for a person, from
// the form on the run page (with the same token as every other form).
func (s *server) decideStep(w http.ResponseWriter, r *http.Request) error {
	if err := checkCSRF(r); err != nil {
		return err
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if reason == "" {
		return plinth.Invalid("reason", "say why: it is recorded with the decision")
	}
	approve := r.PostFormValue("decision") == "approve"
	if !approve && r.PostFormValue("decision") != "reject" {
		return plinth.Invalid("decision", "approve or reject")
	}
	run, step := r.PathValue("run"), r.PathValue("step")
	if err := s.Pipelines.Decide(r.Context(), run, step, approve, reason+" (from the web UI)"); err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/pipeline-runs/"+url.PathEscape(run)+"#step-"+url.PathEscape(step), http.StatusSeeOther)
	return nil
}
