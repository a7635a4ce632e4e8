package monitor

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/model"
)

// Key names the traffic of one model version on one endpoint.
type Key struct {
	Endpoint string `json:"endpoint"`
	Model    string `json:"model"`
	Version  int    `json:"version"`
}

// Stored is a window profile with the traffic it describes.
type Stored struct {
	Key
	Profile *Profile
}

// Store keeps reference and window profiles and alerts.
//
// SaveReference freezes a version's reference profile (a second save of
// the same version is an ECONFLICT); Reference returns it or ENOTFOUND.
// SaveWindow stores a closed window, merging it into one already stored
// for the same key and start (a window closed twice, by two replicas or
// after a restart). Windows lists an endpoint's windows that start in
// [from, to), oldest first.
type Store interface {
	SaveReference(ctx context.Context, model string, version int, p *Profile) error
	Reference(ctx context.Context, model string, version int) (*Profile, error)
	SaveWindow(ctx context.Context, k Key, p *Profile) error
	Windows(ctx context.Context, endpoint string, from, to time.Time) ([]Stored, error)
	AlertStore
}

// Models tells the monitor what it needs of a served version: its
// signature and the global importance of its features.
type Models interface {
	Model(ctx context.Context, model string, version int) (*model.Model, error)
}

// Monitor profiles live traffic in windows per endpoint and version, and
// compares windows with the version's reference: drift, data quality,
// performance once labels arrive, and alerts over all of them.
type Monitor struct {
	Store  Store
	Models Models
	// Every is the window length (default one hour).
	Every  time.Duration
	Logger *slog.Logger
	Now    func() time.Time

	// Paused turns profiling off, for measuring what it costs.
	Paused atomic.Bool

	mu   sync.Mutex
	live map[Key]*live
}

type live struct {
	windows *Windows
	err     error // the version cannot be profiled (no model); logged once
}

func (m *Monitor) every() time.Duration {
	if m.Every <= 0 {
		return time.Hour
	}
	return m.Every
}

func (m *Monitor) logger() *slog.Logger {
	if m.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return m.Logger
}

func (m *Monitor) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// Observe profiles one scored instance: t is the time the prediction is
// about. It never blocks on storage; windows pushed out are saved in the
// background of the caller (the prediction log's writer).
func (m *Monitor) Observe(ctx context.Context, k Key, t time.Time, names []string, values []any, outputs []float64) {
	if m.Paused.Load() {
		return
	}
	l := m.windows(ctx, k)
	if l == nil {
		return
	}
	l.windows.AddInputs(t, names, values, outputs)
}

// windows returns the live windows of a key, opening them on first use
// against the version's reference (whose bins they share).
func (m *Monitor) windows(ctx context.Context, k Key) *live {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l, ok := m.live[k]; ok {
		if l.err != nil {
			return nil
		}
		return l
	}
	if m.live == nil {
		m.live = map[Key]*live{}
	}
	l := &live{}
	m.live[k] = l
	mdl, err := m.Models.Model(ctx, k.Model, k.Version)
	if err != nil {
		l.err = err
		m.logger().Warn("monitor: cannot profile version", "model", k.Model, "version", k.Version, "err", err)
		return nil
	}
	opts := Options{Outputs: mdl.NumOutputs()}
	if ref, err := m.Store.Reference(ctx, k.Model, k.Version); err == nil {
		opts.Reference = ref
	}
	w, err := NewWindows(&mdl.Signature, opts, WindowOptions{Every: m.every(), OnClose: func(p *Profile) {
		// Saving runs under the windows' lock, on the log writer: the
		// serving path never waits for it.
		if err := m.Store.SaveWindow(context.WithoutCancel(ctx), k, p); err != nil {
			m.logger().Warn("monitor: save window", "endpoint", k.Endpoint, "err", err)
		}
	}})
	if err != nil {
		l.err = err
		return nil
	}
	l.windows = w
	return l
}

// Flush saves what every open window holds and starts it afresh, without
// closing it: what a report sees includes the traffic up to now, and the
// rest of the window's traffic is saved (merged) later.
func (m *Monitor) Flush(ctx context.Context) error {
	m.mu.Lock()
	keys := make([]Key, 0, len(m.live))
	for k, l := range m.live {
		if l.err == nil {
			keys = append(keys, k)
		}
	}
	m.mu.Unlock()
	for _, k := range keys {
		m.mu.Lock()
		l := m.live[k]
		m.mu.Unlock()
		for _, p := range l.windows.Drain() {
			if err := m.Store.SaveWindow(ctx, k, p); err != nil {
				return err
			}
		}
	}
	return nil
}

// Reference builds and freezes a version's reference profile from its
// training set: the encoded rows (signature order) and the model's
// predictions on them. It also learns each feature's drift threshold from
// the variation between chunks of the rows (see Learn).
func Reference(m *model.Model, rows [][]float64, predictions []float64) (*Profile, error) {
	nf, k := len(m.Signature.Features), m.NumOutputs()
	if len(predictions) != len(rows)*k {
		return nil, plinth.Invalid("predictions", "have %d, want %d rows × %d outputs", len(predictions), len(rows), k)
	}
	cols := make([][]float64, nf+k)
	for j := range cols {
		cols[j] = make([]float64, len(rows))
	}
	for i, r := range rows {
		for j := range nf {
			cols[j][i] = r[j]
		}
		for c := range k {
			cols[nf+c][i] = predictions[i*k+c]
		}
	}
	ref, err := ProfileTable(&m.Signature, cols, Options{Outputs: k, K: ReferenceK})
	if err != nil {
		return nil, err
	}
	if ref.Learned, err = Learn(&m.Signature, ref, cols, k); err != nil {
		return nil, err
	}
	return ref, nil
}

// WindowDrift is one window compared with the reference: a point of the
// drift-over-time series.
type WindowDrift struct {
	Start   time.Time          `json:"start"`
	End     time.Time          `json:"end"`
	Model   string             `json:"model"`
	Version int                `json:"version"`
	Rows    int64              `json:"rows"`
	Share   float64            `json:"share"`
	Drifted []string           `json:"drifted"`
	Scores  map[string]float64 `json:"scores"` // each feature's deciding score
	// Prediction is the deciding score of the (first) prediction's drift.
	Prediction float64 `json:"prediction"`
}

// Report is the state of an endpoint's traffic over a period: the merged
// windows against the reference (drift, quality), the series of windows,
// and performance once labels have come in.
type Report struct {
	Endpoint string        `json:"endpoint"`
	Model    string        `json:"model"`
	Version  int           `json:"version"`
	From     time.Time     `json:"from"`
	To       time.Time     `json:"to"`
	Rows     int64         `json:"rows"`
	Drift    *Drift        `json:"drift,omitempty"`
	Quality  *Quality      `json:"quality,omitempty"`
	Series   []WindowDrift `json:"series"`
	// Distributions compare the reference with the period for the
	// drifted features (the most important first, at most six), for plots.
	Distributions []Distribution `json:"distributions,omitempty"`
	// Performance is filled in by the caller that joins labels.
	Performance []Performance `json:"performance,omitempty"`
	// Skew is the skew check of the newest requests, when the monitor
	// asks for one (Spec.Skew).
	Skew *Skew `json:"skew,omitempty"`
	// Missing says what could not be computed and why.
	Missing []string `json:"missing,omitempty"`
}

// Distribution is a feature's reference and current distributions over
// the same bins (or categories), as shares.
type Distribution struct {
	Feature   string    `json:"feature"`
	Labels    []string  `json:"labels"`
	Reference []float64 `json:"reference"`
	Current   []float64 `json:"current"`
}

// distribution compares a feature's histograms (numbers) or category
// counts, or reports nothing when the profiles hold neither.
func distribution(ref, cur *FeatureProfile) (Distribution, bool) {
	d := Distribution{Feature: ref.Name}
	shares := func(counts []int64) []float64 {
		var total int64
		for _, c := range counts {
			total += c
		}
		out := make([]float64, len(counts))
		for i, c := range counts {
			if total > 0 {
				out[i] = float64(c) / float64(total)
			}
		}
		return out
	}
	switch {
	case ref.Histogram != nil && cur.Histogram != nil && len(ref.Histogram.Counts) == len(cur.Histogram.Counts):
		e := ref.Histogram.Edges
		for i := range ref.Histogram.Counts {
			switch {
			case i == 0:
				d.Labels = append(d.Labels, fmt.Sprintf("< %.3g", e[0]))
			case i == len(e):
				d.Labels = append(d.Labels, fmt.Sprintf("≥ %.3g", e[len(e)-1]))
			default:
				d.Labels = append(d.Labels, fmt.Sprintf("%.3g", e[i-1]))
			}
		}
		d.Reference, d.Current = shares(ref.Histogram.Counts), shares(cur.Histogram.Counts)
	case len(ref.Categories) > 0:
		counts := map[string]int64{}
		for _, c := range cur.Categories {
			counts[c.Name] = c.Count
		}
		var rc, cc []int64
		for _, c := range ref.Categories {
			d.Labels = append(d.Labels, c.Name)
			rc, cc = append(rc, c.Count), append(cc, counts[c.Name])
		}
		d.Reference, d.Current = shares(rc), shares(cc)
	default:
		return d, false
	}
	return d, true
}

// Performance is a model's quality on labelled predictions of a period.
type Performance struct {
	Start   time.Time          `json:"start"`
	End     time.Time          `json:"end"`
	Model   string             `json:"model"`
	Version int                `json:"version"`
	Rows    int64              `json:"rows"`
	Metrics map[string]float64 `json:"metrics"`
}

// ReportOptions tune a report.
type ReportOptions struct {
	// LearnedThresholds holds distances to the thresholds each reference
	// learned from its own variation, where those are higher.
	LearnedThresholds bool
}

// Report compares an endpoint's traffic in [from, to) with the reference
// of the version that served most of it.
func (m *Monitor) Report(ctx context.Context, endpoint string, from, to time.Time, opts ReportOptions) (*Report, error) {
	if err := m.Flush(ctx); err != nil {
		return nil, err
	}
	stored, err := m.Store.Windows(ctx, endpoint, from, to)
	if err != nil {
		return nil, err
	}
	rep := &Report{Endpoint: endpoint, From: from, To: to, Series: []WindowDrift{}}
	if len(stored) == 0 {
		rep.Missing = append(rep.Missing, "no traffic in the period")
		return rep, nil
	}
	// The version with the most rows is the one reported on; windows of
	// other versions still appear in the series, each against its own
	// reference.
	rows := map[Key]int64{}
	for _, s := range stored {
		rows[s.Key] += s.Profile.Rows
	}
	var main Key
	for k, n := range rows {
		if n > rows[main] || n == rows[main] && (k.Version > main.Version) {
			main = k
		}
	}
	rep.Model, rep.Version = main.Model, main.Version
	refs := map[Key]*Profile{}
	importance := map[Key]map[string]float64{}
	reference := func(k Key) *Profile {
		if p, ok := refs[k]; ok {
			return p
		}
		p, err := m.Store.Reference(ctx, k.Model, k.Version)
		if err != nil {
			p = nil
		}
		refs[k] = p
		if mdl, err := m.Models.Model(ctx, k.Model, k.Version); err == nil {
			imp := map[string]float64{}
			for _, g := range mdl.GainImportance() {
				imp[g.Feature] = g.Value
			}
			importance[k] = imp
		}
		return p
	}
	var merged *Profile
	for _, s := range stored {
		ref := reference(s.Key)
		if s.Key == main {
			if merged == nil {
				merged = s.Profile.Clone()
			} else if err := merged.Merge(s.Profile); err != nil {
				return nil, err
			}
		}
		if ref == nil {
			continue
		}
		d, err := DetectDrift(ref, s.Profile, driftOptions(ref, importance[s.Key], opts))
		if err != nil {
			return nil, err
		}
		wd := WindowDrift{Start: s.Profile.Start, End: s.Profile.End, Model: s.Model, Version: s.Version, Rows: s.Profile.Rows,
			Share: d.Share, Drifted: []string{}, Scores: map[string]float64{}}
		for _, f := range d.Features {
			if f.Skipped == "" {
				wd.Scores[f.Feature] = f.Score
			}
			if f.Drifted {
				wd.Drifted = append(wd.Drifted, f.Feature)
			}
		}
		if len(d.Predictions) > 0 {
			wd.Prediction = d.Predictions[0].Score
		}
		rep.Series = append(rep.Series, wd)
	}
	rep.Rows = merged.Rows
	volume, err := m.volumeIssues(ctx, endpoint, from, to)
	if err != nil {
		return nil, err
	}
	ref := reference(main)
	if ref == nil {
		rep.Missing = append(rep.Missing, fmt.Sprintf("%s@%d has no reference profile (registered outside a pipeline): no drift, and quality is volume only", main.Model, main.Version))
		rep.Quality = &Quality{Rows: merged.Rows, Issues: volume}
		return rep, nil
	}
	if rep.Drift, err = DetectDrift(ref, merged, driftOptions(ref, importance[main], opts)); err != nil {
		return nil, err
	}
	if rep.Quality, err = CheckQuality(ref, merged, QualityOptions{}); err != nil {
		return nil, err
	}
	rep.Quality.Issues = append(rep.Quality.Issues, volume...)
	for _, f := range rep.Drift.Features {
		if !f.Drifted || len(rep.Distributions) >= 6 {
			continue
		}
		rf, cf := ref.Feature(f.Feature), merged.Feature(f.Feature)
		if rf == nil || cf == nil {
			continue
		}
		if d, ok := distribution(rf, cf); ok {
			rep.Distributions = append(rep.Distributions, d)
		}
	}
	slices.SortFunc(rep.Series, func(a, b WindowDrift) int { return a.Start.Compare(b.Start) })
	return rep, nil
}

// farFuture is after every window.
var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

func driftOptions(ref *Profile, importance map[string]float64, opts ReportOptions) DriftOptions {
	d := DriftOptions{Importance: importance}
	if opts.LearnedThresholds {
		d.Learned = ref.Learned
	}
	return d
}

// volumeWindows is how many past windows a window's traffic is compared
// with.
const volumeWindows = 24

// volumeIssues flags the windows of [from, to) whose traffic (all versions
// together) is far from that of the windows before them: beyond three
// standard deviations of the previous day's worth of windows, and by more
// than half — a volume anomaly learned from the endpoint's own history.
func (m *Monitor) volumeIssues(ctx context.Context, endpoint string, from, to time.Time) ([]Issue, error) {
	stored, err := m.Store.Windows(ctx, endpoint, from.Add(-volumeWindows*m.every()), to)
	if err != nil {
		return nil, err
	}
	rows := map[time.Time]int64{}
	var starts []time.Time
	for _, s := range stored {
		if _, ok := rows[s.Profile.Start]; !ok {
			starts = append(starts, s.Profile.Start)
		}
		rows[s.Profile.Start] += s.Profile.Rows
	}
	slices.SortFunc(starts, func(a, b time.Time) int { return a.Compare(b) })
	var issues []Issue
	for i, t := range starts {
		if t.Before(from) || i < 3 {
			continue // too little history to judge
		}
		past := starts[max(0, i-volumeWindows):i]
		var mean, sq float64
		for _, p := range past {
			mean += float64(rows[p])
		}
		mean /= float64(len(past))
		for _, p := range past {
			d := float64(rows[p]) - mean
			sq += d * d
		}
		std := math.Sqrt(sq / float64(len(past)))
		n := float64(rows[t])
		if d := math.Abs(n - mean); d > 3*std && d > mean/2 {
			word := "more"
			if n < mean {
				word = "fewer"
			}
			issues = append(issues, Issue{Kind: IssueVolume, Message: fmt.Sprintf("the window of %s had %d predictions, %.0f%% %s than the %.0f ± %.0f of the %d windows before it",
				t.UTC().Format("2006-01-02 15:04"), rows[t], 100*d/max(mean, 1), word, mean, std, len(past))})
		}
	}
	return issues, nil
}
