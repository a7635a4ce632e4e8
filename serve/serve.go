// Package serve is the inference path: loaded model versions behind named
// endpoints, swapped atomically, and predictions by raw features with the
// model version that answered, optional explanations, and input checked
// against the model's signature.
//
// It must not import training or pipeline code (architecture_test.go).
package serve

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/blob"
	"github.com/plinthml/plinth/model"
	"github.com/plinthml/plinth/model/formats"
	"github.com/plinthml/plinth/registry"
)

// Loaded is a model version ready to answer.
type Loaded struct {
	Model     string
	Version   int
	Format    string
	Predictor *model.Predictor
	// FeatureService is the feature service the version was trained on;
	// requests to it may carry entity keys instead of features.
	FeatureService string
	// names are the signature's feature names, which its logged inputs
	// share.
	names []string
	// order maps the names its feature service serves onto the
	// signature; kept for the next request, which gets the same names.
	order atomic.Pointer[featureOrder]
	// series are its metric series, once it has answered.
	series atomic.Pointer[versionSeries]
}

func newLoaded(t Target, format string, p *model.Predictor, service string) *Loaded {
	l := &Loaded{Model: t.Model, Version: t.Version, Format: format, Predictor: p, FeatureService: service}
	for _, f := range p.Model().Signature.Features {
		l.names = append(l.names, f.Name)
	}
	return l
}

// Fetcher gets a feature service's features for entity rows from the
// online store (feature.Server does): values[i][j] is row i's value of
// names[j], nil where it is missing or stale. The same service's names
// come in the same slice until the service changes.
type Fetcher interface {
	LookupValues(ctx context.Context, service string, rows []map[string]any) (names []string, values [][]any, err error)
}

// Strategies of a route.
const (
	Single = "single" // one version answers
	Canary = "canary" // the candidate answers a random Weight of requests
	AB     = "ab"     // the candidate answers a Weight of keys, the same keys every time
	Shadow = "shadow" // the stable version answers; the candidate scores a copy off the response path
	// BlueGreen keeps the candidate (green) loaded beside the stable
	// version (blue): blue answers every request except those that ask
	// for the candidate (WithVariant) — smoke tests of green with real
	// features — until a promote switches all traffic at once.
	BlueGreen = "bluegreen"
)

type variantKey struct{}

// WithVariant asks for a variant of a route ("candidate" or "stable"),
// whatever the strategy would pick: how smoke tests reach the green
// version of a blue-green endpoint.
func WithVariant(ctx context.Context, variant string) context.Context {
	return context.WithValue(ctx, variantKey{}, variant)
}

// Target names a model version.
type Target struct {
	Model   string
	Version int
}

// Route says which versions answer an endpoint's requests.
type Route struct {
	Strategy  string
	Stable    Target
	Candidate *Target
	Weight    float64 // the candidate's share (canary, A/B)
	StickyKey string  // A/B: the request field that decides the assignment
}

// routing is a loaded route: what a request reads with one atomic load.
type routing struct {
	route             Route
	stable, candidate *Loaded
	shadow            *ShadowStats
	// since and stats describe this route's traffic: what a canary gate
	// compares.
	since time.Time
	stats [2]variantCounter // stable, candidate
}

// VariantStats is the traffic one version of a route has answered.
type VariantStats struct {
	Requests   int64   `json:"requests"`
	Errors     int64   `json:"errors"`
	Outputs    int64   `json:"outputs"`
	MeanOutput float64 `json:"mean_output"` // of each prediction's first output
	StdOutput  float64 `json:"std_output"`
	MeanMicros float64 `json:"mean_latency_us"`
	// MemoryBytes is what the variant's compiled model holds in memory.
	MemoryBytes int64 `json:"memory_bytes"`
}

// variantCounter accumulates VariantStats.
type variantCounter struct {
	mu sync.Mutex
	VariantStats
	sum, sumSq float64
	latencyUS  float64
}

func (v *variantCounter) record(res *Response, err error, took time.Duration) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.Requests++
	v.latencyUS += float64(took.Microseconds())
	v.MeanMicros = v.latencyUS / float64(v.Requests)
	if err != nil {
		if !plinth.IsCode(err, plinth.ENOTFOUND) {
			v.Errors++
		}
		return
	}
	for _, p := range res.Predictions {
		if len(p.Outputs) > 0 {
			v.Outputs++
			v.sum += p.Outputs[0]
			v.sumSq += p.Outputs[0] * p.Outputs[0]
		}
	}
	if v.Outputs > 0 {
		n := float64(v.Outputs)
		v.MeanOutput = v.sum / n
		v.StdOutput = math.Sqrt(max(v.sumSq/n-v.MeanOutput*v.MeanOutput, 0))
	}
}

func (v *variantCounter) snapshot() VariantStats {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.VariantStats
}

// RouteStats is the traffic of an endpoint's current route since it was
// swapped in.
type RouteStats struct {
	Since     time.Time    `json:"since"`
	Strategy  string       `json:"strategy"`
	Stable    VariantStats `json:"stable"`
	Candidate VariantStats `json:"candidate"`
}

// Stats returns the traffic of an endpoint's current route.
func (r *Runtime) Stats(endpoint string) (*RouteStats, error) {
	rt, err := r.routing(endpoint)
	if err != nil {
		return nil, err
	}
	st := &RouteStats{Since: rt.since, Strategy: rt.route.Strategy, Stable: rt.stats[0].snapshot(), Candidate: rt.stats[1].snapshot()}
	st.Stable.MemoryBytes = rt.stable.Predictor.MemoryBytes()
	if rt.candidate != nil {
		st.Candidate.MemoryBytes = rt.candidate.Predictor.MemoryBytes()
	}
	return st, nil
}

// ShadowStats compares a shadow candidate with the stable version on the
// same requests.
type ShadowStats struct {
	mu            sync.Mutex
	Compared      int64   `json:"compared"`
	Errors        int64   `json:"errors"`
	Dropped       int64   `json:"dropped"` // requests not mirrored because the shadow queue was full
	MeanAbsDiff   float64 `json:"mean_abs_diff"`
	MaxAbsDiff    float64 `json:"max_abs_diff"`
	StableVersion int     `json:"stable_version"`
	ShadowVersion int     `json:"shadow_version"`
	sumAbsDiff    float64
	queue         chan shadowJob
	closed        bool
}

type shadowJob struct {
	rows   [][]float64
	stable [][]float64
}

// Runtime holds the endpoints and the versions they serve. A route is
// loaded and compiled before it is swapped in with one atomic store, so a
// request sees the old route or the new one, never a half-applied change.
type Runtime struct {
	Registry *registry.Registry
	Blobs    blob.Store
	Metrics  *Metrics       // nil: no metrics
	Log      *PredictionLog // nil: predictions are not logged
	Features Fetcher        // nil: requests must carry every feature

	mu        sync.Mutex
	endpoints map[string]*atomic.Pointer[routing]
	compiled  predictorCache
}

// predictorCache keeps the last few compiled models by format and artifact
// digest. Artifacts are content-addressed and never change, so a rollback or
// a swap back to a recent version reuses its predictor instead of parsing a
// large model file again on the serving machine's CPUs.
type predictorCache struct {
	mu      sync.Mutex
	entries map[string]*model.Predictor
	order   []string // least recently used first
}

const predictorCacheSize = 16

func (c *predictorCache) get(key string) *model.Predictor {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.entries[key]
	if p != nil {
		c.touch(key)
	}
	return p
}

func (c *predictorCache) put(key string, p *model.Predictor) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]*model.Predictor{}
	}
	if _, ok := c.entries[key]; !ok && len(c.order) >= predictorCacheSize {
		delete(c.entries, c.order[0])
		c.order = c.order[1:]
	}
	c.entries[key] = p
	c.touch(key)
}

func (c *predictorCache) touch(key string) {
	for i, k := range c.order {
		if k == key {
			c.order = append(c.order[:i], c.order[i+1:]...)
			break
		}
	}
	c.order = append(c.order, key)
}

// Compiled returns the compiled model of an artifact in a format if the
// runtime holds it (a version served now or lately), else nil.
func (r *Runtime) Compiled(format string, artifact blob.Digest) *model.Predictor {
	if r == nil {
		return nil
	}
	return r.compiled.get(compiledKey(format, artifact))
}

// compiledKey names a compiled model in the cache: artifacts are content
// addressed, and one file may be read in more than one format.
func compiledKey(format string, artifact blob.Digest) string {
	return format + " " + artifact.String()
}

// Load reads the route's versions from the blob store, parses and compiles
// them, and returns the function that puts them behind endpoint.
func (r *Runtime) Load(ctx context.Context, endpoint string, route Route) (func(), error) {
	rt := &routing{route: route, since: time.Now()}
	var err error
	if rt.stable, err = r.load(ctx, route.Stable); err != nil {
		return nil, err
	}
	if route.Candidate != nil {
		if rt.candidate, err = r.load(ctx, *route.Candidate); err != nil {
			return nil, err
		}
		if route.Strategy != Shadow && !sameSignature(rt.stable, rt.candidate) {
			return nil, plinth.Invalid("candidate", "%s@%d reads other features than %s@%d; requests could not go to both",
				rt.candidate.Model, rt.candidate.Version, rt.stable.Model, rt.stable.Version)
		}
	}
	if route.Strategy == Shadow && rt.candidate != nil {
		rt.shadow = &ShadowStats{queue: make(chan shadowJob, 256), StableVersion: rt.stable.Version, ShadowVersion: rt.candidate.Version}
	}
	return func() {
		r.Metrics.loaded(endpoint, rt)
		old := r.slot(endpoint).Swap(rt)
		if old != nil && old.shadow != nil {
			old.shadow.stop()
		}
		if rt.shadow != nil {
			go rt.shadow.run(rt.candidate)
		}
	}, nil
}

func sameSignature(a, b *Loaded) bool {
	fa, fb := a.Predictor.Model().Signature.Features, b.Predictor.Model().Signature.Features
	if len(fa) != len(fb) {
		return false
	}
	for i := range fa {
		if fa[i].Name != fb[i].Name || fa[i].Type != fb[i].Type {
			return false
		}
	}
	return true
}

func (r *Runtime) load(ctx context.Context, t Target) (*Loaded, error) {
	v, err := r.Registry.Version(ctx, t.Model, t.Version)
	if err != nil {
		return nil, err
	}
	format := v.Format
	if format == "other" || format == "onnx" {
		return nil, plinth.Invalid("format", "%s@%d is %q; plinth serves plinth, xgboost-json and lightgbm-text models", t.Model, t.Version, format)
	}
	if len(v.Artifacts) == 0 {
		return nil, plinth.Invalid("artifacts", "%s@%d has no artifact", t.Model, t.Version)
	}
	d, err := blob.ParseDigest(v.Artifacts[0].Digest)
	if err != nil {
		return nil, err
	}
	key := compiledKey(format, d)
	if p := r.compiled.get(key); p != nil {
		return newLoaded(t, format, p, v.FeatureService), nil
	}
	rc, err := r.Blobs.Open(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("load %s@%d: %w", t.Model, t.Version, err)
	}
	defer rc.Close()
	m, _, err := formats.Read(rc, format)
	if err != nil {
		return nil, fmt.Errorf("load %s@%d: %w", t.Model, t.Version, err)
	}
	p, err := m.Predictor() // compiled once, by the parser when it could
	if err != nil {
		return nil, fmt.Errorf("load %s@%d: %w", t.Model, t.Version, err)
	}
	r.compiled.put(key, p)
	return newLoaded(t, format, p, v.FeatureService), nil
}

func (r *Runtime) slot(endpoint string) *atomic.Pointer[routing] {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.endpoints == nil {
		r.endpoints = map[string]*atomic.Pointer[routing]{}
	}
	s := r.endpoints[endpoint]
	if s == nil {
		s = &atomic.Pointer[routing]{}
		r.endpoints[endpoint] = s
	}
	return s
}

func (r *Runtime) routing(endpoint string) (*routing, error) {
	r.mu.Lock()
	s := r.endpoints[endpoint]
	r.mu.Unlock()
	if s == nil || s.Load() == nil {
		return nil, plinth.NotFound("endpoint", endpoint)
	}
	return s.Load(), nil
}

// Serving returns the stable version of an endpoint, or ENOTFOUND.
func (r *Runtime) Serving(endpoint string) (*Loaded, error) {
	rt, err := r.routing(endpoint)
	if err != nil {
		return nil, err
	}
	return rt.stable, nil
}

// Shadow returns the comparison of an endpoint's shadow, or ENOTFOUND.
func (r *Runtime) Shadow(endpoint string) (*ShadowStats, error) {
	rt, err := r.routing(endpoint)
	if err != nil {
		return nil, err
	}
	if rt.shadow == nil {
		return nil, plinth.Errorf(plinth.ENOTFOUND, "endpoint %s has no shadow", endpoint)
	}
	s := rt.shadow
	s.mu.Lock()
	defer s.mu.Unlock()
	return &ShadowStats{Compared: s.Compared, Errors: s.Errors, Dropped: s.Dropped, MeanAbsDiff: s.MeanAbsDiff, MaxAbsDiff: s.MaxAbsDiff,
		StableVersion: s.StableVersion, ShadowVersion: s.ShadowVersion}, nil
}

// stop ends the shadow's worker once it has drained its queue; requests
// still holding the old route are then counted as dropped.
func (s *ShadowStats) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.queue)
	}
}

// mirror hands a request to the shadow without ever blocking the caller.
func (s *ShadowStats) mirror(job shadowJob) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		s.Dropped++
		return
	}
	select {
	case s.queue <- job:
	default:
		s.Dropped++
	}
}

// run scores mirrored requests with the shadow and records how far its
// outputs are from the stable version's.
func (s *ShadowStats) run(l *Loaded) {
	out := make([]float64, l.Predictor.NumOutputs())
	for job := range s.queue {
		for i, row := range job.rows {
			err := l.Predictor.PredictRow(row, out)
			s.mu.Lock()
			if err != nil {
				s.Errors++
				s.mu.Unlock()
				continue
			}
			var d float64
			for c := range out {
				if c < len(job.stable[i]) {
					d = max(d, math.Abs(out[c]-job.stable[i][c]))
				}
			}
			s.Compared++
			s.sumAbsDiff += d
			s.MeanAbsDiff = s.sumAbsDiff / float64(s.Compared)
			s.MaxAbsDiff = max(s.MaxAbsDiff, d)
			s.mu.Unlock()
		}
	}
}

// pick chooses the version that answers a request.
func (rt *routing) pick(instances []map[string]any) (*Loaded, string) {
	switch rt.route.Strategy {
	case Canary:
		if rand.Float64() < rt.route.Weight {
			return rt.candidate, "candidate"
		}
	case AB:
		if len(instances) > 0 {
			if v, ok := instances[0][rt.route.StickyKey]; ok {
				h := fnv.New64a()
				fmt.Fprint(h, v)
				if float64(h.Sum64()%10000)/10000 < rt.route.Weight {
					return rt.candidate, "candidate"
				}
			}
		}
	}
	return rt.stable, "stable"
}

// Contribution is one feature's share of a prediction's margin.
type Contribution struct {
	Feature string  `json:"feature"`
	SHAP    float64 `json:"shap"`
}

// Prediction is the answer for one instance.
type Prediction struct {
	Outputs     []float64      `json:"outputs"`
	Explanation []Contribution `json:"explanation,omitempty"` // top contributions, largest first
	BaseValue   *float64       `json:"base_value,omitempty"`
}

// Response is the answer to a prediction request.
type Response struct {
	Endpoint    string       `json:"endpoint"`
	Model       string       `json:"model"`
	Version     int          `json:"version"`
	Variant     string       `json:"variant"` // stable or candidate
	Outputs     int          `json:"outputs_per_instance"`
	Predictions []Prediction `json:"predictions"`
}

type eventTimeKey struct{}

// WithEventTime says what time the predictions of a request are about —
// a flight's departure, a transaction's time — when it is not now: the
// prediction log records it, and monitoring windows follow it. Replays
// and backfills use it.
func WithEventTime(ctx context.Context, t time.Time) context.Context {
	return context.WithValue(ctx, eventTimeKey{}, t)
}

// MaxInstances bounds one request.
const MaxInstances = 10000

// Predict scores instances (feature name -> value) with the endpoint's
// version. Each instance is checked against the model's signature; an
// error names the instance and the feature. With explain > 0, each
// prediction carries its explain largest feature contributions (TreeSHAP
// or linear) for its first (or, multiclass, most likely) output.
func (r *Runtime) Predict(ctx context.Context, endpoint string, instances []map[string]any, explain int) (*Response, error) {
	start := time.Now()
	res, l, fetched, err := r.predict(ctx, endpoint, instances, explain)
	if err != nil {
		if !plinth.IsCode(err, plinth.ENOTFOUND) {
			r.Metrics.failed(endpoint)
		}
		return nil, err
	}
	r.Metrics.observe(endpoint, l, res.Variant, start, res.Predictions)
	if r.Log != nil {
		now, id, us := time.Now().UTC(), plinth.RequestIDFrom(ctx), time.Since(start).Microseconds()
		if t, ok := ctx.Value(eventTimeKey{}).(time.Time); ok {
			now = t.UTC()
		}
		records := make([]LogRecord, len(instances))
		for i, inst := range instances {
			records[i] = LogRecord{RequestID: id, Time: now, Endpoint: endpoint, Model: l.Model, Version: l.Version,
				Variant: res.Variant, Outputs: res.Predictions[i].Outputs, LatencyUS: us}
			if fetched != nil {
				// Requests by entity keep what they sent (keys and request
				// data): the training–serving skew check rebuilds their
				// features offline.
				records[i].Inputs = Inputs{Names: l.names, Values: fetched[i], Features: l.Predictor.Model().Signature.Features}
				records[i].Request = inst
				continue
			}
			values := make([]any, len(l.names))
			for j, name := range l.names {
				values[j] = inst[name]
			}
			records[i].Inputs = Inputs{Names: l.names, Values: values, Features: l.Predictor.Model().Signature.Features}
		}
		r.Log.Log(records)
	}
	return res, nil
}

// predict answers a request; for a request by entity keys it also returns
// the values the model read, in its features' order.
func (r *Runtime) predict(ctx context.Context, endpoint string, instances []map[string]any, explain int) (*Response, *Loaded, [][]any, error) {
	rt, err := r.routing(endpoint)
	if err != nil {
		return nil, nil, nil, err
	}
	l, variant := rt.pick(instances)
	// A request may ask for a variant: smoke tests of a blue-green
	// candidate, comparisons of a canary's versions.
	switch v, _ := ctx.Value(variantKey{}).(string); {
	case v == "candidate" && rt.candidate != nil:
		l, variant = rt.candidate, "candidate"
	case v == "stable":
		l, variant = rt.stable, "stable"
	}
	start := time.Now()
	res, fetched, err := r.score(ctx, rt, l, variant, endpoint, instances, explain)
	st := &rt.stats[0]
	if variant == "candidate" {
		st = &rt.stats[1]
	}
	st.record(res, err, time.Since(start))
	return res, l, fetched, err
}

// score answers a request with the chosen version. For a request by
// entity keys it returns the values the model read.
func (r *Runtime) score(ctx context.Context, rt *routing, l *Loaded, variant, endpoint string, instances []map[string]any, explain int) (*Response, [][]any, error) {
	if len(instances) == 0 || len(instances) > MaxInstances {
		return nil, nil, plinth.Invalid("instances", "want 1 to %d instances, have %d", MaxInstances, len(instances))
	}
	p := l.Predictor
	sig := p.Model().Signature
	// Instances that carry every feature (null for missing) are scored as
	// sent — raw features; others are looked up by their entity keys.
	var fetched [][]any
	if l.FeatureService != "" && r.Features != nil && !complete(sig, instances) {
		var err error
		if fetched, err = r.withFeatures(ctx, l, sig, instances); err != nil {
			return nil, nil, err
		}
	}
	nf, k := p.NumFeatures(), p.NumOutputs()
	res := &Response{Endpoint: endpoint, Model: l.Model, Version: l.Version, Variant: variant, Outputs: k, Predictions: make([]Prediction, len(instances))}
	var shadowRows [][]float64
	var shadowOut [][]float64
	row := make([]float64, nf)
	var contrib []float64
	if explain > 0 {
		contrib = make([]float64, k*(nf+1))
	}
	// The A/B key routes the request; unless the model reads it too, it is
	// not a feature.
	dropKey := rt.route.StickyKey != "" && sig.Index(rt.route.StickyKey) < 0
	for i, inst := range instances {
		if fetched != nil {
			if err := sig.EncodeValues(fetched[i], row); err != nil {
				return nil, nil, prefixField(fmt.Sprintf("instances[%d]", i), err)
			}
		} else if dropKey {
			if _, ok := inst[rt.route.StickyKey]; ok {
				trimmed := make(map[string]any, len(inst))
				for k, v := range inst {
					if k != rt.route.StickyKey {
						trimmed[k] = v
					}
				}
				inst = trimmed
			}
		}
		if fetched == nil {
			if err := sig.EncodeRow(inst, row); err != nil {
				return nil, nil, prefixField(fmt.Sprintf("instances[%d]", i), err)
			}
		}
		out := make([]float64, k)
		if err := p.PredictRow(row, out); err != nil {
			return nil, nil, prefixField(fmt.Sprintf("instances[%d]", i), err)
		}
		pred := Prediction{Outputs: out}
		if rt.shadow != nil {
			shadowRows = append(shadowRows, append([]float64(nil), row...))
			shadowOut = append(shadowOut, out)
		}
		if explain > 0 {
			if err := p.Explain(row, contrib); err != nil {
				return nil, nil, err
			}
			best := 0
			for c := range out {
				if out[c] > out[best] {
					best = c
				}
			}
			block := contrib[best*(nf+1) : (best+1)*(nf+1)]
			base := block[nf]
			pred.BaseValue = &base
			for j, f := range sig.Features {
				pred.Explanation = append(pred.Explanation, Contribution{Feature: f.Name, SHAP: block[j]})
			}
			sort.SliceStable(pred.Explanation, func(a, b int) bool {
				return math.Abs(pred.Explanation[a].SHAP) > math.Abs(pred.Explanation[b].SHAP)
			})
			if len(pred.Explanation) > explain {
				pred.Explanation = pred.Explanation[:explain]
			}
		}
		res.Predictions[i] = pred
	}
	if rt.shadow != nil {
		rt.shadow.mirror(shadowJob{rows: shadowRows, stable: shadowOut})
	}
	return res, fetched, nil
}

// withFeatures returns each instance's values of the model's features, in
// the signature's order: the online features of its entity keys, then the
// request's own fields for features the service does not provide (request
// data, on-demand inputs); nil for what neither has.
func (r *Runtime) withFeatures(ctx context.Context, l *Loaded, sig model.Signature, instances []map[string]any) ([][]any, error) {
	names, rows, err := r.Features.LookupValues(ctx, l.FeatureService, instances)
	if err != nil {
		return nil, prefixField("entities", err)
	}
	order := l.orderOf(sig, names)
	if order.same {
		return rows, nil // a model trained on the service: its rows as served
	}
	nf := len(sig.Features)
	flat := make([]any, len(instances)*nf)
	out := make([][]any, len(instances))
	for i, inst := range instances {
		values := flat[i*nf : (i+1)*nf : (i+1)*nf]
		for j, f := range sig.Features {
			if k := order.pos[j]; k >= 0 {
				values[j] = rows[i][k]
			} else {
				values[j] = inst[f.Name]
			}
		}
		out[i] = values
	}
	return out, nil
}

// featureOrder maps a service's served names onto a signature: pos[j] is
// the index in names of the signature's feature j, or -1. same says names
// are the signature's features in its order.
type featureOrder struct {
	names []string
	pos   []int
	same  bool
}

func (l *Loaded) orderOf(sig model.Signature, names []string) *featureOrder {
	if o := l.order.Load(); o != nil && sameSlice(o.names, names) {
		return o
	}
	o := &featureOrder{names: names, pos: positions(sig, names)}
	o.same = len(names) == len(sig.Features)
	for j, k := range o.pos {
		o.same = o.same && k == j
	}
	l.order.Store(o)
	return o
}

// sameSlice reports whether a and b are the same slice, not just equal.
func sameSlice(a, b []string) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// positions maps each feature of sig to its index in names, or -1 when the
// service does not serve it. A model trained on a service reads its
// features in the service's order, so that case costs string comparisons
// only; any other builds an index.
func positions(sig model.Signature, names []string) []int {
	pos := make([]int, len(sig.Features))
	var index map[string]int
	next := 0
	for j, f := range sig.Features {
		if next < len(names) && names[next] == f.Name {
			pos[j] = next
			next++
			continue
		}
		if index == nil {
			index = make(map[string]int, len(names))
			for k, n := range names {
				index[n] = k
			}
		}
		k, ok := index[f.Name]
		if !ok {
			pos[j] = -1
			continue
		}
		pos[j], next = k, k+1
	}
	return pos
}

// complete reports whether every instance names every feature of sig.
func complete(sig model.Signature, instances []map[string]any) bool {
	for _, inst := range instances {
		for _, f := range sig.Features {
			if _, ok := inst[f.Name]; !ok {
				return false
			}
		}
	}
	return true
}

func prefixField(prefix string, err error) error {
	if pe, ok := err.(*plinth.Error); ok {
		f := prefix
		if pe.Field != "" {
			f += "." + pe.Field
		}
		return &plinth.Error{Code: pe.Code, Field: f, Message: pe.Message}
	}
	return err
}
