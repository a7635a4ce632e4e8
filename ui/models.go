package ui

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strconv"
	"sync"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/blob"
	"github.com/plinthml/plinth/deploy"
	"github.com/plinthml/plinth/model"
	"github.com/plinthml/plinth/model/formats"
	"github.com/plinthml/plinth/registry"
	"github.com/plinthml/plinth/track"
)

type modelsPage struct {
	Models []registry.Model
}

func (s *server) models(w http.ResponseWriter, r *http.Request) error {
	ms, err := s.Registry.Models(r.Context())
	if err != nil {
		return err
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].UpdatedAt.After(ms[j].UpdatedAt) })
	return s.render(w, r, "models", "Models", "models", modelsPage{ms})
}

type modelPage struct {
	Model     *registry.Model
	Versions  []versionRow
	Audit     []registry.AuditEvent
	Endpoints []deploy.Endpoint
}

type versionRow struct {
	registry.Version
	Aliases []string
	Metrics []kf
}

func (s *server) model(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	m, err := s.Registry.Model(ctx, r.PathValue("model"))
	if err != nil {
		return err
	}
	vs, err := s.Registry.Versions(ctx, m.Name)
	if err != nil {
		return err
	}
	audit, err := s.Registry.Audit(ctx, m.Name, 100)
	if err != nil {
		return err
	}
	p := modelPage{Model: m, Audit: audit}
	byVersion := aliasesByVersion(m)
	for _, v := range vs {
		p.Versions = append(p.Versions, versionRow{Version: v, Aliases: byVersion[v.Version], Metrics: sortedFloats(v.Metrics)})
	}
	if p.Endpoints, err = s.servingModel(ctx, m.Name, 0); err != nil {
		return err
	}
	return s.render(w, r, "model", "Model "+m.Name, "models", p)
}

func aliasesByVersion(m *registry.Model) map[int][]string {
	out := map[int][]string{}
	for a, v := range m.Aliases {
		out[v] = append(out[v], a)
	}
	for _, as := range out {
		sort.Strings(as)
	}
	return out
}

// servingModel lists the endpoints that serve a model (any version when
// version is 0), as stable or as candidate.
func (s *server) servingModel(ctx context.Context, name string, version int) ([]deploy.Endpoint, error) {
	eps, err := s.Deployer.Store.Endpoints(ctx)
	if err != nil {
		return nil, err
	}
	var out []deploy.Endpoint
	for _, e := range eps {
		hit := func(t *deploy.Target) bool {
			return t != nil && t.Model == name && (version == 0 || t.Version == version)
		}
		if hit(&e.Stable) || hit(e.Candidate) {
			out = append(out, e)
		}
	}
	return out, nil
}

type versionPage struct {
	Version    *registry.Version
	Aliases    []string
	Run        *track.Run
	Lineage    template.HTML
	Importance template.HTML
	// ImportanceNote says why there is no importance chart.
	ImportanceNote string
	Endpoints      []deploy.Endpoint
}

func (s *server) version(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	n, err := strconv.Atoi(r.PathValue("version"))
	if err != nil || n <= 0 {
		return plinth.Errorf(plinth.ENOTFOUND, "%q is not a version number", r.PathValue("version"))
	}
	m, err := s.Registry.Model(ctx, r.PathValue("model"))
	if err != nil {
		return err
	}
	v, err := s.Registry.Version(ctx, m.Name, n)
	if err != nil {
		return err
	}
	p := versionPage{Version: v, Aliases: aliasesByVersion(m)[v.Version]}
	if v.RunID != "" {
		// A run deleted or unreadable leaves a gap in the picture, not an
		// error page.
		if run, err := s.Tracker.Run(ctx, v.RunID); err == nil {
			p.Run = run
		}
	}
	if p.Endpoints, err = s.servingModel(ctx, v.Model, v.Version); err != nil {
		return err
	}
	g, err := s.lineage(ctx, v, p.Run, p.Endpoints)
	if err != nil {
		return err
	}
	p.Lineage = g.SVG("lineage", fmt.Sprintf("Lineage of %s version %d", v.Model, v.Version))
	imp, err := s.importance.get(ctx, s.Blobs, v)
	switch {
	case err != nil:
		p.ImportanceNote = plinth.ErrorMessage(err)
	case len(imp) == 0:
		p.ImportanceNote = "The model file records no gains (a linear model, or an imported model without them)."
	default:
		bars := make([]Bar, 0, 20)
		for _, im := range imp[:min(len(imp), 20)] {
			bars = append(bars, Bar{im.Feature, im.Value})
		}
		p.Importance = BarChart{Label: "Global importance (total gain) of the top features", Bars: bars}.SVG()
	}
	return s.render(w, r, "version", fmt.Sprintf("%s version %d", v.Model, v.Version), "models", p)
}

// importanceCache keeps the global importance of model files by digest:
// files are immutable, so an entry never goes stale, and the bound keeps a
// registry of thousands of versions from filling memory.
type importanceCache struct {
	mu    sync.Mutex
	max   int
	byKey map[string][]model.Importance
}

func newImportanceCache(max int) *importanceCache {
	return &importanceCache{max: max, byKey: map[string][]model.Importance{}}
}

// maxImportanceFile bounds the model file a page reads for importance.
const maxImportanceFile = 256 << 20

func (c *importanceCache) get(ctx context.Context, blobs blob.Store, v *registry.Version) ([]model.Importance, error) {
	if blobs == nil {
		return nil, plinth.Errorf(plinth.EUNAVAILABLE, "importance is not available here (no blob store)")
	}
	switch v.Format {
	case formats.Native, "xgboost-json", "lightgbm-text":
	default:
		return nil, plinth.Errorf(plinth.EINVALID, "importance is read from plinth, XGBoost and LightGBM files; this version is %q", v.Format)
	}
	if len(v.Artifacts) == 0 {
		return nil, plinth.Errorf(plinth.EINVALID, "the version has no model file")
	}
	key := v.Format + " " + v.Artifacts[0].Digest
	c.mu.Lock()
	imp, ok := c.byKey[key]
	c.mu.Unlock()
	if ok {
		return imp, nil
	}
	d, err := blob.ParseDigest(v.Artifacts[0].Digest)
	if err != nil {
		return nil, err
	}
	info, err := blobs.Stat(ctx, d)
	if err != nil {
		return nil, err
	}
	if info.Size > maxImportanceFile {
		return nil, plinth.Errorf(plinth.EINVALID, "the model file is %s, too large to read for a page", humanBytes(info.Size))
	}
	rc, err := blobs.Open(ctx, d)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	m, _, err := formats.Read(rc, v.Format)
	if err != nil {
		return nil, err
	}
	imp = m.GainImportance()
	sort.SliceStable(imp, func(i, j int) bool { return imp[i].Value > imp[j].Value })
	c.mu.Lock()
	if len(c.byKey) >= c.max {
		clear(c.byKey)
	}
	c.byKey[key] = imp
	c.mu.Unlock()
	return imp, nil
}
