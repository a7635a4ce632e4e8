package ui

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/deploy"
	"github.com/plinthml/plinth/monitor"
)

// The Monitoring section: the list of monitors with where each stands now
// (drift share, the newest labelled AUC, open alerts), and a page per
// monitored endpoint with its report over a period — drift over time,
// per feature and against the reference distributions, data quality,
// performance on the labels that came in — and its alerts, which can be
// silenced from there.

// monitoringMoved keeps the section's first address working.
func (s *server) monitoringMoved(w http.ResponseWriter, r *http.Request) error {
	http.Redirect(w, r, "/ui/monitors", http.StatusMovedPermanently)
	return nil
}

type monitorsPage struct {
	Enabled bool // monitors are listed here
	Reports bool // and reported on
	Rows    []monitorRow
	// Unmonitored are endpoints no monitor watches.
	Unmonitored []string
	Alerts      []monitor.Alert
}

type monitorRow struct {
	Spec     monitor.Spec
	Endpoint *deploy.Endpoint // nil when the endpoint is gone
	Report   *monitor.Report
	// Drifted names the drifted features, most important first.
	Drifted []string
	// AUC is the newest labelled period's AUC (RMSE for a regression),
	// of the version with most labels in it.
	Metric, MetricName string
	MetricOf           string // "delays v2, 120 labelled"
	Open               []monitor.Alert
	Error              string
	// Traffic is the predictions of every version in the period.
	Traffic int64
}

func (s *server) monitors(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := monitorsPage{Enabled: s.Monitors != nil, Reports: s.Checker != nil}
	var specs []monitor.Spec
	if s.Monitors != nil {
		var err error
		if specs, err = s.Monitors.Monitors(ctx); err != nil {
			return err
		}
		sort.Slice(specs, func(i, j int) bool { return specs[i].Endpoint < specs[j].Endpoint })
	}
	open := map[string][]monitor.Alert{}
	if s.Alerts != nil {
		alerts, err := s.Alerts.Alerts(ctx, "", 200)
		if err != nil {
			return err
		}
		for _, a := range alerts {
			if a.State != monitor.Resolved {
				open[a.Endpoint] = append(open[a.Endpoint], a)
			}
		}
		p.Alerts = alerts[:min(len(alerts), 50)]
	}
	eps, err := s.Deployer.Store.Endpoints(ctx)
	if err != nil {
		return err
	}
	byName := map[string]*deploy.Endpoint{}
	for i := range eps {
		byName[eps[i].Name] = &eps[i]
	}
	watched := map[string]bool{}
	for _, spec := range specs {
		watched[spec.Endpoint] = true
		row := monitorRow{Spec: spec, Endpoint: byName[spec.Endpoint], Open: open[spec.Endpoint]}
		if s.Checker != nil {
			// One monitor that cannot report leaves a note in its row,
			// not an error page for all of them.
			rep, err := s.Checker.Report(ctx, spec.Endpoint, time.Time{}, time.Time{})
			if err != nil {
				row.Error = plinth.ErrorMessage(err)
			} else {
				row.Report, row.Traffic = rep, traffic(rep)
				row.Drifted = driftedFeatures(rep)
				row.Metric, row.MetricName, row.MetricOf = latestMetric(rep)
			}
		}
		p.Rows = append(p.Rows, row)
	}
	for _, e := range eps {
		if !watched[e.Name] {
			p.Unmonitored = append(p.Unmonitored, e.Name)
		}
	}
	return s.render(w, r, "monitors", "Monitoring", "monitoring", p)
}

// traffic counts a report's predictions, of every version with a
// reference (the report's Rows are of its main version only).
func traffic(rep *monitor.Report) int64 {
	var n int64
	for _, w := range rep.Series {
		n += w.Rows
	}
	return max(n, rep.Rows)
}

func driftedFeatures(rep *monitor.Report) []string {
	var out []string
	if rep.Drift != nil {
		for _, f := range rep.Drift.Features {
			if f.Drifted {
				out = append(out, f.Feature)
			}
		}
	}
	return out
}

// latestMetric is the newest labelled period's AUC (or RMSE), for the
// version with the most labels in that period.
func latestMetric(rep *monitor.Report) (value, name, of string) {
	var best *monitor.Performance
	for i := range rep.Performance {
		p := &rep.Performance[i]
		if best == nil || p.Start.After(best.Start) || p.Start.Equal(best.Start) && p.Rows > best.Rows {
			best = p
		}
	}
	if best == nil {
		return "", "", ""
	}
	for _, m := range []string{"auc", "rmse"} {
		if v, ok := best.Metrics[m]; ok {
			return num(v), strings.ToUpper(m), fmt.Sprintf("%s v%d, %s", best.Model, best.Version, plural(int(best.Rows), "label"))
		}
	}
	return "", "", ""
}

// monitorPage is a monitored endpoint's report over a period.
type monitorPage struct {
	Endpoint string
	Spec     *monitor.Spec
	Declared bool // a monitor is declared for the endpoint
	Serving  *deploy.Endpoint
	Reports  bool
	Report   *monitor.Report
	// From and To fill the period form (UTC, as datetime-local wants).
	From, To string
	Lookback string
	Custom   bool // the period is not the default one
	// Traffic is the predictions of every version in the period.
	Traffic int64

	DriftShare    template.HTML
	FeatureCharts []template.HTML
	FeatureNote   string
	Distributions []template.HTML
	Performance   template.HTML
	PerfColumns   []string
	PerfRows      []perfRow
	Quality       []qualityRow

	Rules     []ruleRow
	Alerts    []monitor.Alert
	Silenced  string // the notice after a silence
	Durations []option
}

type perfRow struct {
	monitor.Performance
	Values []string
}

type qualityRow struct {
	monitor.FeatureQuality
	Issues []monitor.Issue
}

type ruleRow struct {
	monitor.Rule
	State         string // of its open alert, if any
	SilencedUntil time.Time
}

// silenceFor are the silences the form offers.
var silenceFor = []option{{"1h", "1 hour", false}, {"4h", "4 hours", false}, {"24h", "1 day", true}, {"168h", "1 week", false}}

// formTime is how the period form writes and reads times: the value of a
// datetime-local input, in UTC.
const formTime = "2006-01-02T15:04"

func parseFormTime(field, v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{formTime, "2006-01-02T15:04:05", time.RFC3339, "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, plinth.Invalid(field, "%q is not a time: write it as 2026-03-01T14:00 (UTC)", v)
}

// monitorSpec returns an endpoint's monitor; declared is false when none
// is declared and the endpoint exists (its traffic is profiled all the
// same).
func (s *server) monitorSpec(ctx context.Context, endpoint string) (spec *monitor.Spec, declared bool, err error) {
	switch {
	case s.Checker != nil:
		spec, err = s.Checker.Spec(ctx, endpoint)
	case s.Monitors != nil:
		var specs []monitor.Spec
		if specs, err = s.Monitors.Monitors(ctx); err == nil {
			err = plinth.NotFound("monitor", endpoint)
			for i := range specs {
				if specs[i].Endpoint == endpoint {
					spec, err = &specs[i], nil
				}
			}
		}
	default:
		err = plinth.NotFound("monitor", endpoint)
	}
	if err == nil {
		return spec, true, nil
	}
	if plinth.ErrorCode(err) != plinth.ENOTFOUND {
		return nil, false, err
	}
	if _, eerr := s.Deployer.Store.Endpoint(ctx, endpoint); eerr != nil {
		return nil, false, err
	}
	return &monitor.Spec{Endpoint: endpoint}, false, nil
}

func (s *server) monitor(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	name := r.PathValue("endpoint")
	spec, declared, err := s.monitorSpec(ctx, name)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	from, err := parseFormTime("from", q.Get("from"))
	if err != nil {
		return err
	}
	to, err := parseFormTime("to", q.Get("to"))
	if err != nil {
		return err
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return plinth.Invalid("from", "the period must start before it ends")
	}
	lookback := time.Duration(spec.Lookback)
	if lookback <= 0 {
		lookback = 24 * time.Hour
	}
	p := monitorPage{Endpoint: name, Spec: spec, Declared: declared, Reports: s.Checker != nil,
		Lookback: shortDuration(lookback), Custom: !from.IsZero() || !to.IsZero(), Durations: silenceFor}
	if e, err := s.Deployer.Store.Endpoint(ctx, name); err == nil {
		p.Serving = e
	}
	if rule := q.Get("silenced"); rule != "" && s.Alerts != nil {
		if until, err := s.Alerts.SilencedUntil(ctx, name, rule); err == nil && !until.IsZero() {
			p.Silenced = fmt.Sprintf("Silenced %s until %s UTC. If it fires before then, the alert is recorded but sends no notification and starts no retraining.", rule, until.UTC().Format("2006-01-02 15:04"))
		}
	}
	if s.Checker != nil {
		rep, err := s.Checker.Report(ctx, name, from, to)
		if err != nil {
			return err
		}
		p.Report = rep
		p.From, p.To = rep.From.UTC().Format(formTime), rep.To.UTC().Format(formTime)
		p.drawReport(rep)
	}
	if s.Alerts != nil {
		if p.Alerts, err = s.Alerts.Alerts(ctx, name, 100); err != nil {
			return err
		}
		for _, rule := range spec.Alerts {
			row := ruleRow{Rule: rule}
			for _, a := range p.Alerts {
				if a.Rule == rule.Name && a.State != monitor.Resolved {
					row.State = a.State
					break
				}
			}
			if row.SilencedUntil, err = s.Alerts.SilencedUntil(ctx, name, rule.Name); err != nil {
				return err
			}
			if !row.SilencedUntil.After(time.Now()) {
				row.SilencedUntil = time.Time{}
			}
			p.Rules = append(p.Rules, row)
		}
	}
	return s.render(w, r, "monitor", "Monitor "+name, "monitoring", p)
}

// topDrifted is how many features the drift-over-time charts follow.
const topDrifted = 4

// drawReport draws the report's charts and lays out its tables.
func (p *monitorPage) drawReport(rep *monitor.Report) {
	threshold := monitor.DefaultDriftShare
	if rep.Drift != nil {
		threshold = rep.Drift.ShareThreshold
	}
	// Windows of each version are compared with that version's reference:
	// a canary's traffic draws a line of its own.
	share := perVersion(rep.Series, func(w monitor.WindowDrift) (float64, bool) { return w.Share, true })
	if len(share) > 0 {
		p.DriftShare = LineChart{Label: "Share of drifted features per window", Time: true, Height: 220,
			Series: share, Rules: []Rule{{threshold, "dataset drift from " + pctString(threshold)}}}.SVG()
	}

	// The drift score of the drifted features over time, most important
	// first; with none drifted, of the most important ones. Each has its
	// own chart: methods differ, and so do their scales and thresholds.
	if rep.Drift != nil && len(rep.Series) > 0 {
		var follow []monitor.FeatureDrift
		for _, f := range rep.Drift.Features {
			if f.Drifted && len(follow) < topDrifted {
				follow = append(follow, f)
			}
		}
		if len(follow) == 0 {
			p.FeatureNote = "No feature drifted over the period; these are the ones that matter most to the model."
			for _, f := range rep.Drift.Features {
				if f.Skipped == "" && len(follow) < topDrifted {
					follow = append(follow, f)
				}
			}
		}
		for _, f := range follow {
			lines := perVersion(rep.Series, func(w monitor.WindowDrift) (float64, bool) {
				v, ok := w.Scores[f.Feature]
				return v, ok
			})
			p.FeatureCharts = append(p.FeatureCharts, LineChart{Label: f.Feature + ": " + scoreName(f.Method) + " per window", Time: true, Width: 480, Height: 200,
				Series: lines, Rules: []Rule{{f.Threshold, thresholdLabel(f)}}}.SVG())
		}
		if len(rep.Drift.Predictions) > 0 {
			f := rep.Drift.Predictions[0]
			lines := perVersion(rep.Series, func(w monitor.WindowDrift) (float64, bool) { return w.Prediction, true })
			p.FeatureCharts = append(p.FeatureCharts, LineChart{Label: "The prediction: " + scoreName(f.Method) + " per window", Time: true, Width: 480, Height: 200,
				Series: lines, Rules: []Rule{{f.Threshold, thresholdLabel(f)}}}.SVG())
		}
	}
	p.Traffic = traffic(rep)

	for _, d := range rep.Distributions {
		p.Distributions = append(p.Distributions, GroupedBars{Label: d.Feature + ": share of values per bin", Groups: d.Labels, Percent: true,
			Series: []BarSeries{{"reference", d.Reference}, {"current", d.Current}}, Classes: []string{"s5", "s0"}}.SVG())
	}

	// Performance: one line per version, AUC for classifiers, else RMSE.
	metric := "auc"
	for _, perf := range rep.Performance {
		if _, ok := perf.Metrics["auc"]; !ok {
			if _, ok := perf.Metrics["rmse"]; ok {
				metric = "rmse"
			}
		}
	}
	lines := map[string]*Series{}
	var names []string
	have := map[string]bool{}
	for _, perf := range rep.Performance {
		for k := range perf.Metrics {
			have[k] = true
		}
		v, ok := perf.Metrics[metric]
		if !ok {
			continue
		}
		name := fmt.Sprintf("%s v%d", perf.Model, perf.Version)
		if lines[name] == nil {
			lines[name] = &Series{Name: name}
			names = append(names, name)
		}
		lines[name].Points = append(lines[name].Points, Point{unix(perf.Start), v})
	}
	sort.Strings(names)
	var series []Series
	for _, n := range names {
		series = append(series, *lines[n])
	}
	if len(series) > 0 {
		p.Performance = LineChart{Label: strings.ToUpper(metric) + " on the labels that came in, per period and version", Time: true, Series: series}.SVG()
	}
	for _, m := range []string{"auc", "log_loss", "accuracy", "precision", "recall", "calibration_error", "rmse", "mae"} {
		if have[m] {
			p.PerfColumns = append(p.PerfColumns, m)
		}
	}
	for _, perf := range rep.Performance {
		row := perfRow{Performance: perf}
		for _, m := range p.PerfColumns {
			v, ok := perf.Metrics[m]
			if !ok {
				row.Values = append(row.Values, "—")
				continue
			}
			row.Values = append(row.Values, num(v))
		}
		p.PerfRows = append(p.PerfRows, row)
	}

	if rep.Quality != nil {
		issues := map[string][]monitor.Issue{}
		for _, is := range rep.Quality.Issues {
			issues[is.Feature] = append(issues[is.Feature], is)
		}
		for _, f := range rep.Quality.Features {
			p.Quality = append(p.Quality, qualityRow{FeatureQuality: f, Issues: issues[f.Feature]})
		}
	}
}

func unix(t time.Time) float64 { return float64(t.Unix()) }

// perVersion splits a report's windows into one series per model version,
// of the value each window has.
func perVersion(windows []monitor.WindowDrift, value func(monitor.WindowDrift) (float64, bool)) []Series {
	var out []Series
	index := map[string]int{}
	for _, w := range windows {
		v, ok := value(w)
		if !ok {
			continue
		}
		name := fmt.Sprintf("%s v%d", w.Model, w.Version)
		i, seen := index[name]
		if !seen {
			i = len(out)
			index[name] = i
			out = append(out, Series{Name: name})
		}
		out[i].Points = append(out[i].Points, Point{unix(w.Start), v})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// scoreName says what a method's score is.
func scoreName(m monitor.Method) string {
	switch m {
	case monitor.KS:
		return "Kolmogorov–Smirnov p-value"
	case monitor.ChiSquared:
		return "chi-squared p-value"
	case monitor.ZTest:
		return "z-test p-value"
	case monitor.Wasserstein:
		return "Wasserstein distance"
	case monitor.JensenShannon:
		return "Jensen–Shannon distance"
	case monitor.PSI:
		return "PSI"
	}
	return "drift score"
}

func thresholdLabel(f monitor.FeatureDrift) string {
	if f.Method.IsTest() {
		return "drift below " + num(f.Threshold)
	}
	return "drift at or above " + num(f.Threshold)
}

// silence mutes an alert rule of a monitor for a while: a firing in that
// time is recorded but neither notifies nor retrains. The form carries
// the form token, as every change the UI makes does.
func (s *server) silence(w http.ResponseWriter, r *http.Request) error {
	if err := checkCSRF(r); err != nil {
		return err
	}
	ctx := r.Context()
	name := r.PathValue("endpoint")
	if s.Alerts == nil {
		return plinth.Errorf(plinth.EUNAVAILABLE, "alerts are not wired to this UI")
	}
	spec, declared, err := s.monitorSpec(ctx, name)
	if err != nil {
		return err
	}
	rule := r.PostFormValue("rule")
	found := false
	for _, ru := range spec.Alerts {
		found = found || ru.Name == rule
	}
	if !declared || !found {
		return plinth.Invalid("rule", "the monitor of %s has no alert rule %q", name, rule)
	}
	d, err := time.ParseDuration(r.PostFormValue("for"))
	if err != nil {
		return plinth.Invalid("for", "%q is not a duration such as 4h", r.PostFormValue("for"))
	}
	now := time.Now().UTC()
	si := monitor.Silence{Endpoint: name, Rule: rule, Until: now.Add(d), At: now, By: plinth.PrincipalFrom(ctx), Reason: strings.TrimSpace(r.PostFormValue("reason"))}
	if err := si.Validate(); err != nil {
		return err
	}
	if err := s.Alerts.Silence(ctx, si); err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/monitors/"+url.PathEscape(name)+"?silenced="+url.QueryEscape(rule), http.StatusSeeOther)
	return nil
}
