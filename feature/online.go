package feature

import (
	"context"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/online"
)

// KeySeparator joins the values of a composite entity key online.
const KeySeparator = "\x1f"

// OnlineView is the name a view's records have in the online store: the
// view's name and a checksum of its keys and features, so records written
// under an older definition are never read as the new one's.
func OnlineView(v View, keys []string) string {
	sum := crc32.ChecksumIEEE([]byte(strings.Join(keys, ",") + "|" + strings.Join(v.Features, ",")))
	return fmt.Sprintf("%s:%08x", v.Name, sum)
}

// LatestRow is the newest row of one entity among the rows a
// materialization reads.
type LatestRow struct {
	Key       string // join key values, as text, joined by KeySeparator
	EventTime time.Time
	Values    []any // float64, int64, string, bool, time.Time or nil
}

// LatestSpec asks an offline engine for the newest row per entity among a
// view's rows (its Paths or Source), handed to Emit in batches.
type LatestSpec struct {
	View      View
	Keys      []string
	BatchSize int
	Emit      func(rows []LatestRow) error
	// At is the time a windowed aggregation view is aggregated at: each
	// entity's aggregates over (At - window, At], stamped with At.
	At time.Time
}

// Latester is the offline engine's side of materialization.
type Latester interface {
	Latest(ctx context.Context, spec LatestSpec) (rows int64, err error)
}

// Watermarks remember, per online view, how far materialization has got:
// the last dataset version written online.
type Watermarks interface {
	Watermark(ctx context.Context, onlineView string) (int, error)
	SetWatermark(ctx context.Context, onlineView string, version int, entities int64) error
}

// Materializer copies the newest value of every entity from the offline
// store into the online store.
//
// It is incremental and idempotent: for a view over a dataset, each run
// reads only the versions after the view's watermark (the last version
// written), and the online store keeps the newer of two event times, so
// replaying rows changes nothing and late-arriving old events cannot
// overwrite newer values. The watermark moves only after the rows are
// written: a run killed at any point is resumed by the next. Rows stream
// from the engine in batches; memory does not grow with the table. A view
// over a file is re-read whole each run.
//
// A windowed aggregation view is aggregated as of the run's time, over
// all its data, and stamped with that time: online, its values are those
// of the last materialization, as fresh as the schedule that runs it (its
// TTL marks them stale after that).
type Materializer struct {
	Catalog    Catalog
	Snapshots  Snapshots
	Engine     Latester
	Online     online.Store
	Watermarks Watermarks
	// Now is the time aggregations are computed at (default time.Now).
	Now func() time.Time
}

// MaterializeResult reports one view's run.
type MaterializeResult struct {
	View      string        `json:"view"`
	Entities  int64         `json:"entities"`
	Values    int64         `json:"values"`
	Watermark int           `json:"watermark"` // the last dataset version written
	Took      time.Duration `json:"took"`
}

// Materialize runs the views named (all plain views when none), reporting
// progress per batch to progress when set.
func (m *Materializer) Materialize(ctx context.Context, views []string, progress func(view string, entities int64)) ([]MaterializeResult, error) {
	entities, all, err := m.Catalog.Features(ctx)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, v := range views {
		want[v] = true
	}
	var out []MaterializeResult
	for _, v := range all {
		if len(want) > 0 && !want[v.Name] {
			continue
		}
		delete(want, v.Name)
		spec := TrainingSetSpec{Entities: entities}
		keys, err := spec.JoinKeys(v)
		if err != nil {
			return out, err
		}
		res, err := m.materialize(ctx, v, keys, progress)
		if err != nil {
			return out, fmt.Errorf("materialize %s: %w", v.Name, err)
		}
		out = append(out, *res)
	}
	for name := range want {
		return out, plinth.NotFound("feature view", name)
	}
	if f, ok := m.Online.(flusher); ok && len(out) > 0 {
		if err := f.Flush(); err != nil {
			return out, fmt.Errorf("materialize: %w", err)
		}
	}
	return out, nil
}

// flusher is an online store that buffers writes in memory in a form
// slower to read than its settled one (Pebble's memtable): a
// materialization ends by flushing it, so reads after it are fast.
type flusher interface {
	Flush() error
}

func (m *Materializer) materialize(ctx context.Context, v View, keys []string, progress func(string, int64)) (*MaterializeResult, error) {
	start := time.Now()
	name := OnlineView(v, keys)
	wm, err := m.Watermarks.Watermark(ctx, name)
	if err != nil {
		return nil, err
	}
	next := wm
	var at time.Time
	switch {
	case len(v.Aggregations) > 0:
		// Windows need every event, not the new ones: no watermark.
		at = time.Now().UTC()
		if m.Now != nil {
			at = m.Now().UTC()
		}
		if !strings.ContainsAny(v.Source, "./") {
			if v.Paths, err = m.Snapshots.Files(ctx, v.Source, nil); err != nil {
				return nil, err
			}
			if len(v.Paths) == 0 {
				return &MaterializeResult{View: v.Name, Watermark: wm, Took: time.Since(start)}, nil
			}
		}
	case !strings.ContainsAny(v.Source, "./"):
		if v.Paths, next, err = m.Snapshots.Since(ctx, v.Source, wm); err != nil {
			return nil, err
		}
		if len(v.Paths) == 0 {
			return &MaterializeResult{View: v.Name, Watermark: wm, Took: time.Since(start)}, nil
		}
	}
	res := &MaterializeResult{View: v.Name, Watermark: wm}
	records := make([]online.Record, 0, 4096)
	spec := LatestSpec{View: v, Keys: keys, BatchSize: 4096, At: at, Emit: func(rows []LatestRow) error {
		records = records[:0]
		for _, r := range rows {
			vals := make([]online.Value, len(r.Values))
			for i, x := range r.Values {
				vals[i] = toValue(x)
			}
			records = append(records, online.Record{View: name, Key: r.Key, EventTime: r.EventTime, Values: vals})
		}
		if err := m.Online.Write(ctx, records); err != nil {
			return err
		}
		res.Entities += int64(len(rows))
		res.Values += int64(len(rows) * len(v.Features))
		if progress != nil {
			progress(v.Name, res.Entities)
		}
		return nil
	}}
	if _, err := m.Engine.Latest(ctx, spec); err != nil {
		return nil, err
	}
	if next > wm {
		if err := m.Watermarks.SetWatermark(ctx, name, next, res.Entities); err != nil {
			return nil, err
		}
		res.Watermark = next
	}
	res.Took = time.Since(start)
	return res, nil
}

func toValue(x any) online.Value {
	switch v := x.(type) {
	case nil:
		return online.Null
	case float64:
		return online.FloatValue(v)
	case float32:
		return online.FloatValue(float64(v))
	case int64:
		return online.IntValue(v)
	case int32:
		return online.IntValue(int64(v))
	case int:
		return online.IntValue(int64(v))
	case bool:
		return online.BoolValue(v)
	case string:
		return online.StringValue(v)
	case time.Time:
		return online.StringValue(v.UTC().Format(time.RFC3339Nano))
	}
	return online.StringValue(fmt.Sprint(x))
}

// Status of a feature value served online.
const (
	Present = "present"
	Missing = "missing" // the entity has no value
	Stale   = "stale"   // the value is older than the view's TTL: null, as in a training set
)

// Value is one feature value served online.
type Value struct {
	Value     any        `json:"value"`
	Status    string     `json:"status"`
	EventTime *time.Time `json:"event_time,omitempty"`
}

// OnlineRow is the features of one entity row, by feature column name.
type OnlineRow map[string]Value

// Server serves feature services from the online store with the rules of
// training sets: a value past its view's TTL is stale and null.
//
// What a service reads — its views, join keys and online names — is
// resolved from the catalog once and kept for CacheFor (default 2s), so a
// request costs store lookups, not catalog reads; Invalidate drops it at
// once after definitions change.
type Server struct {
	Catalog  Catalog
	Online   online.Store
	Now      func() time.Time
	CacheFor time.Duration

	mu    sync.Mutex
	plans map[string]*servicePlan
}

// servicePlan is a resolved feature service.
type servicePlan struct {
	loaded     time.Time
	refreshing atomic.Bool // a background reload is under way
	names      []string    // the views' features
	allNames   []string    // names, then the on-demand features
	views      []planView
	onDemand   *Program // nil without on-demand features
}

type planView struct {
	name    string // online view name
	keys    []string
	ttl     time.Duration
	columns []int // positions in the stored record of the served features
	first   int   // position of the view's first feature in names
}

// Invalidate forgets resolved services; the next request reads the catalog.
func (s *Server) Invalidate() {
	s.mu.Lock()
	s.plans = nil
	s.mu.Unlock()
}

// plan returns the service's resolved plan. A plan older than CacheFor is
// still served while one goroutine reloads it in the background: under load,
// every request arriving at expiry would otherwise read the catalog at once
// and wait for it, which showed up as a latency spike every CacheFor.
func (s *Server) plan(ctx context.Context, service string) (*servicePlan, error) {
	ttl := s.CacheFor
	if ttl == 0 {
		ttl = 2 * time.Second
	}
	s.mu.Lock()
	p := s.plans[service]
	s.mu.Unlock()
	if p == nil {
		return s.loadPlan(ctx, service)
	}
	if time.Since(p.loaded) >= ttl && p.refreshing.CompareAndSwap(false, true) {
		go func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if _, err := s.loadPlan(ctx, service); err != nil {
				if plinth.IsCode(err, plinth.ENOTFOUND) || plinth.IsCode(err, plinth.EINVALID) {
					s.forget(service, p) // the next request gets the error
					return
				}
				p.refreshing.Store(false) // a store hiccup: retry on a later request
			}
		}()
	}
	return p, nil
}

// forget drops the service's plan if it is still p.
func (s *Server) forget(service string, p *servicePlan) {
	s.mu.Lock()
	if s.plans[service] == p {
		delete(s.plans, service)
	}
	s.mu.Unlock()
}

// loadPlan resolves the service from the catalog and caches the plan.
func (s *Server) loadPlan(ctx context.Context, service string) (*servicePlan, error) {
	svc, _, err := s.Catalog.Service(ctx, service)
	if err != nil {
		return nil, err
	}
	entities, views, err := s.Catalog.Features(ctx)
	if err != nil {
		return nil, err
	}
	selected, err := svc.Select(views)
	if err != nil {
		return nil, err
	}
	p := &servicePlan{loaded: time.Now()}
	spec := TrainingSetSpec{Entities: entities}
	for _, sel := range selected {
		var full View
		for _, v := range views {
			if v.Name == sel.Name {
				full = v // the stored record holds all of the view's features
			}
		}
		keys, err := spec.JoinKeys(full)
		if err != nil {
			return nil, err
		}
		pv := planView{name: OnlineView(full, keys), keys: keys, ttl: full.TTL.Std(), first: len(p.names)}
		for _, f := range sel.Features {
			for j, g := range full.Features {
				if g == f {
					pv.columns = append(pv.columns, j)
				}
			}
			p.names = append(p.names, Column(full.Name, f))
		}
		p.views = append(p.views, pv)
	}
	if len(svc.OnDemand) > 0 {
		if p.onDemand, err = onDemandProgram(ctx, s.Catalog, svc, p.names); err != nil {
			return nil, err
		}
		p.allNames = append(slices.Clone(p.names), p.onDemand.Names()...)
	}
	s.mu.Lock()
	if s.plans == nil {
		s.plans = map[string]*servicePlan{}
	}
	s.plans[service] = p
	s.mu.Unlock()
	return p, nil
}

// Get returns the service's features for each entity row (a map of join
// key to value), by feature name.
func (s *Server) Get(ctx context.Context, service string, rows []map[string]any) ([]string, []OnlineRow, error) {
	names, values, err := s.Lookup(ctx, service, rows)
	if err != nil {
		return nil, nil, err
	}
	out := make([]OnlineRow, len(values))
	for i, vs := range values {
		out[i] = make(OnlineRow, len(names))
		for j, n := range names {
			out[i][n] = vs[j]
		}
	}
	return names, out, nil
}

// Lookup is Get without the maps: values[i][j] is row i's value of the
// feature names[j]. The slices share one backing array; names must not be
// modified.
func (s *Server) Lookup(ctx context.Context, service string, rows []map[string]any) ([]string, [][]Value, error) {
	return lookup(s, ctx, service, rows,
		func(v any, status string, t *time.Time) Value { return Value{Value: v, Status: status, EventTime: t} },
		func(v Value) any { return v.Value })
}

// LookupValues is Lookup for the serving path, which needs only the
// values: nil where a feature is missing or stale.
func (s *Server) LookupValues(ctx context.Context, service string, rows []map[string]any) ([]string, [][]any, error) {
	return lookup(s, ctx, service, rows,
		func(v any, _ string, _ *time.Time) any { return v },
		func(v any) any { return v })
}

// lookup is Lookup and LookupValues: each value served is made into a T by
// val, and value reads it back for the on-demand features' inputs.
func lookup[T any](s *Server, ctx context.Context, service string, rows []map[string]any,
	val func(v any, status string, t *time.Time) T, value func(T) any) ([]string, [][]T, error) {
	p, err := s.plan(ctx, service)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	names := p.names
	if p.onDemand != nil {
		names = p.allNames
	}
	flat := make([]T, len(rows)*len(names))
	out := make([][]T, len(rows))
	for i := range out {
		out[i] = flat[i*len(names) : (i+1)*len(names) : (i+1)*len(names)]
	}
	sc := lookupScratchPool.Get().(*lookupScratch)
	defer func() {
		if cap(sc.results) <= maxPooledRows { // a rare large batch is not kept
			lookupScratchPool.Put(sc)
		}
	}()
	keys := sc.keysFor(len(rows))
	results := sc.resultsFor(len(rows))
	times := make([]time.Time, len(rows)*len(p.views))
	parts := sc.parts[:0]
	for vi, v := range p.views {
		for i, r := range rows {
			parts = parts[:0]
			for _, k := range v.keys {
				x, ok := r[k]
				if !ok {
					return nil, nil, plinth.Invalid(fmt.Sprintf("entities[%d].%s", i, k), "missing: it is a join key of the service's features")
				}
				parts = append(parts, keyText(x))
			}
			keys[i] = strings.Join(parts, KeySeparator)
		}
		if err := s.Online.Get(ctx, v.name, keys, results); err != nil {
			return nil, nil, err
		}
		for i, r := range results {
			// One event time per view and row, shared by its features.
			t := &times[i*len(p.views)+vi]
			*t = r.EventTime
			row := out[i][v.first : v.first+len(v.columns)]
			for c, col := range v.columns {
				switch {
				case !r.Found:
					row[c] = val(nil, Missing, nil)
				case v.ttl > 0 && now.Sub(*t) > v.ttl:
					row[c] = val(nil, Stale, t)
				default:
					row[c] = val(fromValue(r.Values[col]), Present, t)
				}
			}
		}
	}
	sc.parts = parts
	if p.onDemand == nil {
		return names, out, nil
	}
	// On-demand features: the request row is the request data, as the
	// label table is in a training set.
	values := make(map[string]any, len(p.names))
	for i, r := range rows {
		clear(values)
		for j, n := range p.names {
			values[n] = value(out[i][j])
		}
		for j, v := range p.onDemand.Eval(r, values) {
			status := Present
			if v == nil {
				status = Missing
			}
			out[i][len(p.names)+j] = val(v, status, nil)
		}
	}
	return names, out, nil
}

// lookupScratch is what a Lookup needs only while it runs, kept for the
// next: the keys, and the store's results, whose value slices Get decodes
// into again instead of allocating (the values served are copied out).
type lookupScratch struct {
	keys    []string
	results []online.Result
	parts   []string
}

var lookupScratchPool = sync.Pool{New: func() any { return new(lookupScratch) }}

const maxPooledRows = 1024

func (sc *lookupScratch) keysFor(n int) []string {
	if cap(sc.keys) < n {
		sc.keys = make([]string, n)
	}
	return sc.keys[:n]
}

func (sc *lookupScratch) resultsFor(n int) []online.Result {
	if cap(sc.results) < n {
		sc.results = append(sc.results[:cap(sc.results)], make([]online.Result, n-cap(sc.results))...)
	}
	return sc.results[:n]
}

// keyText renders a join key value as the offline engine does (its VARCHAR
// cast), so online lookups find what materialization wrote.
func keyText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v)
}

func fromValue(v online.Value) any {
	switch v.Kind() {
	case online.KindFloat:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil // JSON has no NaN; a non-finite feature is served as null
		}
		return f
	case online.KindInt:
		return v.Int()
	case online.KindString:
		return v.Str()
	case online.KindBool:
		return v.Bool()
	}
	return nil
}
