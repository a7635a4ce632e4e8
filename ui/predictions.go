package ui

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strconv"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/registry"
	"github.com/plinthml/plinth/serve"
	"github.com/plinthml/plinth/track"
)

// A prediction, found in its endpoint's prediction log by request id, with
// what went in and came out and the lineage of the version that made it:
// back through the run to the training sets, feature views and raw
// snapshots. The log is read through Deps.LookupPrediction.

type predictionPage struct {
	Enabled   bool
	Endpoints []string
	Endpoint  string
	RequestID string
	// NotFound says why the search found nothing.
	NotFound string
	Records  []predictionRecord
	More     int // records not shown
	Version  *registry.Version
	Run      *track.Run
	Lineage  template.HTML
	// LineageNote says why there is no picture.
	LineageNote string
}

type predictionRecord struct {
	serve.LogRecord
	InputRows   []kv
	RequestRows []kv
	OutputRows  []output
}

// maxRecords bounds the instances of one request a page shows.
const maxRecords = 50

func (s *server) prediction(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	p := predictionPage{Enabled: s.LookupPrediction != nil, Endpoint: q.Get("endpoint"), RequestID: q.Get("request_id")}
	eps, err := s.Deployer.Store.Endpoints(ctx)
	if err != nil {
		return err
	}
	for _, e := range eps {
		p.Endpoints = append(p.Endpoints, e.Name)
	}
	if !p.Enabled || p.Endpoint == "" || p.RequestID == "" {
		return s.render(w, r, "prediction", "Trace a prediction", "endpoints", p)
	}
	if len(p.RequestID) > 128 {
		return plinth.Invalid("request_id", "is longer than 128 characters")
	}
	records, err := s.LookupPrediction(ctx, p.Endpoint, p.RequestID)
	if err != nil && plinth.ErrorCode(err) != plinth.ENOTFOUND {
		return err
	}
	if len(records) == 0 {
		p.NotFound = fmt.Sprintf("The prediction log of %s has no request %s. The log keeps the share of requests the node samples (all by default), and an endpoint's log starts when its first prediction is written.", p.Endpoint, p.RequestID)
		s.renderStatus(w, r, http.StatusNotFound, "prediction", "Trace a prediction", "endpoints", p)
		return nil
	}
	if len(records) > maxRecords {
		p.More, records = len(records)-maxRecords, records[:maxRecords]
	}
	// The lineage is of the version that answered: the first record not
	// of a shadow, which answers no one.
	answered := records[0]
	for _, rec := range records {
		if rec.Variant != "shadow" {
			answered = rec
			break
		}
	}
	versions := map[string]*registry.Version{}
	version := func(model string, n int) *registry.Version {
		key := model + "@" + strconv.Itoa(n)
		if v, ok := versions[key]; ok {
			return v
		}
		v, err := s.Registry.Version(ctx, model, n)
		if err != nil {
			v = nil
		}
		versions[key] = v
		return v
	}
	for _, rec := range records {
		pr := predictionRecord{LogRecord: rec, InputRows: valueRows(rec.Inputs.Map()), RequestRows: valueRows(rec.Request)}
		var sig registry.Signature
		if v := version(rec.Model, rec.Version); v != nil {
			sig = v.Signature
		}
		pr.OutputRows = outputs(sig, rec.Outputs)
		p.Records = append(p.Records, pr)
	}
	p.Version = version(answered.Model, answered.Version)
	if p.Version == nil {
		p.LineageNote = fmt.Sprintf("%s v%d is no longer in the registry: there is no lineage to draw.", answered.Model, answered.Version)
		return s.render(w, r, "prediction", "Prediction "+p.RequestID, "endpoints", p)
	}
	if p.Version.RunID != "" {
		if run, err := s.Tracker.Run(ctx, p.Version.RunID); err == nil {
			p.Run = run
		}
	}
	g, err := s.lineage(ctx, p.Version, p.Run, nil)
	if err != nil {
		return err
	}
	eid := "endpoint " + answered.Endpoint
	sub := "endpoint"
	if answered.Variant != "" {
		sub += ", " + answered.Variant
	}
	g.Nodes = append(g.Nodes,
		gnode{ID: eid, Label: answered.Endpoint, Sub: sub, Class: "lineage-endpoint", Href: "/ui/endpoints/" + url.PathEscape(answered.Endpoint)},
		gnode{ID: "prediction", Label: answered.RequestID, Sub: "prediction, " + answered.Time.UTC().Format("Jan 2 15:04"), Class: "lineage-prediction"})
	g.Edges = append(g.Edges, gedge{"version", eid}, gedge{eid, "prediction"})
	p.Lineage = g.SVG("lineage", fmt.Sprintf("Lineage of prediction %s: made by %s version %d on endpoint %s", answered.RequestID, p.Version.Model, p.Version.Version, answered.Endpoint))
	return s.render(w, r, "prediction", "Prediction "+p.RequestID, "endpoints", p)
}

// valueRows lists logged values by name, as a person reads them.
func valueRows(m map[string]any) []kv {
	out := make([]kv, 0, len(m))
	for k, v := range m {
		out = append(out, kv{k, showValue(v)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func showValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "missing"
	case float64:
		return num(v)
	case float32:
		return num(float64(v))
	case string:
		return v
	}
	return fmt.Sprint(v)
}
