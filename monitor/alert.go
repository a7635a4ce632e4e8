package monitor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/google/cel-go/cel"

	"github.com/plinthml/plinth"
)

// Spec is a monitor as the project file declares it: what to watch on an
// endpoint, where its labels come from, when to alert, and which pipeline
// retrains the model when it alerts.
type Spec struct {
	Endpoint string `json:"endpoint" yaml:"endpoint"`
	// Lookback is the period a check judges: the traffic in the Lookback
	// before the newest window (default 24h).
	Lookback plinth.Duration `json:"lookback,omitempty" yaml:"lookback,omitempty"`
	// Thresholds is "default" (Evidently's, see Method) or "learned": a
	// distance must also pass the threshold its reference learned from
	// the variation between chunks of the training data, which keeps
	// features that always move from crying wolf.
	Thresholds string `json:"thresholds,omitempty" yaml:"thresholds,omitempty"`
	// Labels say where ground truth arrives, to be joined to the
	// prediction log by request id.
	Labels *Labels `json:"labels,omitempty" yaml:"labels,omitempty"`
	Alerts []Rule  `json:"alerts,omitempty" yaml:"alerts,omitempty"`
	// Notify is a URL that gets a JSON POST when an alert fires or
	// resolves; alerts are logged either way.
	Notify string `json:"notify,omitempty" yaml:"notify,omitempty"`
	// Retrain names the pipeline to run when one of the alerts in On
	// fires (all of them when On is empty).
	Retrain *Retrain `json:"retrain,omitempty" yaml:"retrain,omitempty"`
	// Skew, when set, makes every check also run the training–serving
	// skew check on the newest requests by entity; rules read its
	// figures.
	Skew *SkewCheck `json:"skew,omitempty" yaml:"skew,omitempty"`
}

// SkewCheck is a monitor's skew check.
type SkewCheck struct {
	// Sample is how many of the newest requests by entity are compared
	// with the offline features (default DefaultSkewSample).
	Sample int `json:"sample,omitempty" yaml:"sample,omitempty"`
}

// DefaultSkewSample is a skew check's sample when its spec sets none.
const DefaultSkewSample = 200

// maxSkewSample bounds a skew check's sample: each sampled request is a
// row of a point-in-time join.
const maxSkewSample = 100_000

// Labels locate delayed ground truth: a dataset with a key column matching
// the prediction request id and a label column.
type Labels struct {
	Dataset string `json:"dataset" yaml:"dataset"`
	Key     string `json:"key" yaml:"key"`
	Label   string `json:"label" yaml:"label"`
	// Every is the period of a performance point (default 24h).
	Every plinth.Duration `json:"every,omitempty" yaml:"every,omitempty"`
}

// Retrain ties alerts to a pipeline.
type Retrain struct {
	Pipeline string   `json:"pipeline" yaml:"pipeline"`
	On       []string `json:"on,omitempty" yaml:"on,omitempty"`
}

// Rule is an alert: a condition over a check's figures, which must hold
// For a while before the alert fires.
//
// The figures are numbers: rows, drift_share, drifted, dataset_drift (0 or
// 1), prediction_drift (the prediction's drift score), quality_issues,
// drift_<feature> (each feature's deciding score), and, from the newest
// labelled period, auc, log_loss, accuracy, precision, recall,
// calibration_error, rmse, mae and labelled_rows; with a skew check,
// skewed (the features that disagree with the offline store on more than
// 1% of the sampled requests) and skew_rate (the largest share of
// disagreement of any feature). A figure that could not be computed is
// NaN, which no comparison matches.
type Rule struct {
	Name     string          `json:"name" yaml:"name"`
	When     string          `json:"when" yaml:"when"`
	For      plinth.Duration `json:"for,omitempty" yaml:"for,omitempty"`
	Severity string          `json:"severity,omitempty" yaml:"severity,omitempty"`
}

var ruleName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// Validate checks a monitor spec; errors name the field.
func (s *Spec) Validate() error {
	if s.Endpoint == "" {
		return plinth.Invalid("endpoint", "required")
	}
	if s.Thresholds != "" && s.Thresholds != "default" && s.Thresholds != "learned" {
		return plinth.Invalid("thresholds", "%q is not default or learned", s.Thresholds)
	}
	if s.Labels != nil && (s.Labels.Dataset == "" || s.Labels.Key == "" || s.Labels.Label == "") {
		return plinth.Invalid("labels", "needs dataset, key and label")
	}
	seen := map[string]bool{}
	for i, r := range s.Alerts {
		field := fmt.Sprintf("alerts[%d]", i)
		if !ruleName.MatchString(r.Name) || seen[r.Name] {
			return plinth.Invalid(field+".name", "%q is not a unique name", r.Name)
		}
		seen[r.Name] = true
		if err := parseRule(r.When); err != nil {
			return plinth.Invalid(field+".when", "%v", err)
		}
	}
	if s.Skew != nil && (s.Skew.Sample < 0 || s.Skew.Sample > maxSkewSample) {
		return plinth.Invalid("skew.sample", "%d is not a number of requests from 1 to %d (0 for %d)", s.Skew.Sample, maxSkewSample, DefaultSkewSample)
	}
	if s.Retrain != nil {
		if s.Retrain.Pipeline == "" {
			return plinth.Invalid("retrain.pipeline", "required")
		}
		for i, on := range s.Retrain.On {
			if !seen[on] {
				return plinth.Invalid(fmt.Sprintf("retrain.on[%d]", i), "no alert %q", on)
			}
		}
	}
	return nil
}

// Alert states.
const (
	Pending  = "pending"  // the condition holds, not yet for long enough
	Firing   = "firing"   // notified
	Resolved = "resolved" // the condition stopped holding
)

// Alert is one occurrence of a rule's condition, from when it started to
// hold until it stopped, with the evidence.
type Alert struct {
	ID       string `json:"id"`
	Endpoint string `json:"endpoint"`
	Rule     string `json:"rule"`
	Severity string `json:"severity,omitempty"`
	State    string `json:"state"`
	Message  string `json:"message"`
	// Figures are the check's figures when the alert last changed.
	Figures map[string]float64 `json:"figures"`
	// Features are the drifted features, most important to the model
	// first.
	Features   []string   `json:"features,omitempty"`
	StartedAt  time.Time  `json:"started_at"`
	FiredAt    *time.Time `json:"fired_at,omitempty"`
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`
	Silenced   bool       `json:"silenced,omitempty"`
}

// AlertStore keeps alerts and silences. OpenAlert returns the endpoint's
// pending or firing alert of a rule, or ENOTFOUND; SaveAlert inserts or
// updates an alert by ID (assigning one when empty), and a second open
// alert of a rule is an ECONFLICT. MoveAlert stores a change of state only
// if the stored alert is still in state from, else ECONFLICT: of servers
// checking the same monitor at once, one fires or resolves an alert, and
// only it notifies.
type AlertStore interface {
	OpenAlert(ctx context.Context, endpoint, rule string) (*Alert, error)
	SaveAlert(ctx context.Context, a *Alert) error
	MoveAlert(ctx context.Context, a *Alert, from string) error
	Alerts(ctx context.Context, endpoint string, limit int) ([]Alert, error)
	// Silence records a silence; the latest of a rule decides until when
	// it is silenced.
	Silence(ctx context.Context, s Silence) error
	SilencedUntil(ctx context.Context, endpoint, rule string) (time.Time, error)
}

// Silence mutes a rule's notifications and retraining until a time; its
// alerts are still recorded. Who set it and why go to the audit trail.
type Silence struct {
	Endpoint string    `json:"endpoint"`
	Rule     string    `json:"rule"`
	Until    time.Time `json:"silenced_until"`
	At       time.Time `json:"silenced_at"`
	By       string    `json:"silenced_by"`
	Reason   string    `json:"reason,omitempty"`
}

const (
	// maxSilenceReason bounds a silence's reason: a note, not a document.
	maxSilenceReason = 1024
	// maxSilence bounds how long a silence lasts: a rule muted for longer
	// should be changed instead.
	maxSilence = 90 * 24 * time.Hour
)

// Validate checks what a person can get wrong in a silence: how long it
// lasts (the "for" of the API and the forms) and its reason.
func (s *Silence) Validate() error {
	if d := s.Until.Sub(s.At); d < time.Second || d > maxSilence {
		return plinth.Invalid("for", "a silence lasts between 1s and 90 days, not %s", d)
	}
	if len(s.Reason) > maxSilenceReason {
		return plinth.Invalid("reason", "at most %d bytes, have %d", maxSilenceReason, len(s.Reason))
	}
	return nil
}

// Figures turns a report into the numbers rules read.
func Figures(r *Report) map[string]float64 {
	nan := math.NaN()
	f := map[string]float64{"rows": float64(r.Rows), "drift_share": nan, "drifted": nan, "dataset_drift": nan,
		"prediction_drift": nan, "quality_issues": nan, "skewed": nan, "skew_rate": nan}
	for _, m := range []string{"auc", "log_loss", "accuracy", "precision", "recall", "calibration_error", "rmse", "mae", "labelled_rows"} {
		f[m] = nan
	}
	if d := r.Drift; d != nil {
		f["drift_share"], f["drifted"] = d.Share, float64(d.Drifted)
		f["dataset_drift"] = 0
		if d.DatasetDrift {
			f["dataset_drift"] = 1
		}
		for _, fd := range d.Features {
			if fd.Skipped == "" {
				f["drift_"+fd.Feature] = fd.Score
			}
		}
		if len(d.Predictions) > 0 {
			f["prediction_drift"] = d.Predictions[0].Score
		}
	}
	if r.Quality != nil {
		f["quality_issues"] = float64(len(r.Quality.Issues))
	}
	if sk := r.Skew; sk != nil && sk.Sampled > 0 {
		f["skewed"], f["skew_rate"] = float64(len(sk.Skewed)), 0
		for _, sf := range sk.Features {
			f["skew_rate"] = max(f["skew_rate"], sf.Rate)
		}
	}
	if n := len(r.Performance); n > 0 {
		p := r.Performance[n-1]
		for k, v := range p.Metrics {
			f[k] = v
		}
		f["labelled_rows"] = float64(p.Rows)
	}
	return f
}

func compileRule(expr string, figures map[string]float64) (cel.Program, error) {
	opts := []cel.EnvOption{cel.CrossTypeNumericComparisons(true)}
	// The fixed figures (those of an empty report) are declared too, so a
	// rule compiles before any traffic.
	names := Figures(&Report{})
	maps.Copy(names, figures)
	for n := range names {
		if ruleName.MatchString(n) && !strings.Contains(n, "-") {
			opts = append(opts, cel.Variable(n, cel.DoubleType))
		}
	}
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, err
	}
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return nil, fmt.Errorf("%q: %v", expr, iss.Err())
	}
	if ast.OutputType() != cel.BoolType {
		return nil, fmt.Errorf("%q is a %s, not a condition", expr, ast.OutputType())
	}
	return env.Program(ast)
}

// parseRule checks a rule's syntax; its names are checked when it runs,
// against the figures of the model it watches.
func parseRule(expr string) error {
	env, err := cel.NewEnv()
	if err != nil {
		return err
	}
	if _, iss := env.Parse(expr); iss.Err() != nil {
		return fmt.Errorf("%q: %v", expr, iss.Err())
	}
	return nil
}

// holds evaluates a rule on figures.
func holds(r Rule, figures map[string]float64) (bool, error) {
	prg, err := compileRule(r.When, figures)
	if err != nil {
		// A rule naming a feature the model lacks is the rule's fault.
		return false, err
	}
	vars := map[string]any{}
	for n, v := range figures {
		vars[n] = v
	}
	out, _, err := prg.Eval(vars)
	if err != nil {
		return false, fmt.Errorf("%q: %v", r.When, err)
	}
	b, _ := out.Value().(bool)
	return b, nil
}

// Evaluate runs the rules of spec on a report: it opens, fires and
// resolves alerts, de-duplicated per rule (one open alert each), honours
// silences, notifies, and returns the alerts that fired now.
func (m *Monitor) Evaluate(ctx context.Context, spec Spec, rep *Report) ([]Alert, error) {
	figures := Figures(rep)
	now := m.now().UTC()
	var features []string
	if rep.Drift != nil {
		for _, f := range rep.Drift.Features {
			if f.Drifted {
				features = append(features, f.Feature)
			}
		}
	}
	var fired []Alert
	for _, r := range spec.Alerts {
		ok, err := holds(r, figures)
		if err != nil {
			return fired, plinth.Invalid("alerts."+r.Name+".when", "%v", err)
		}
		open, err := m.Store.OpenAlert(ctx, spec.Endpoint, r.Name)
		if err != nil && plinth.ErrorCode(err) != plinth.ENOTFOUND {
			return fired, err
		}
		isNew := ok && open == nil
		switch {
		case isNew:
			open = &Alert{Endpoint: spec.Endpoint, Rule: r.Name, Severity: r.Severity, State: Pending, StartedAt: now}
		case !ok && open == nil:
			continue
		case !ok:
			from := open.State
			open.State, open.ResolvedAt = Resolved, &now
			open.Message = fmt.Sprintf("%s: %s no longer holds", r.Name, r.When)
			open.Figures = finiteFigures(figures)
			if err := m.Store.MoveAlert(ctx, open, from); err != nil {
				if plinth.IsCode(err, plinth.ECONFLICT) {
					continue // another server resolved it a moment ago
				}
				return fired, err
			}
			m.notify(spec, open)
			continue
		}
		open.Figures, open.Features = finiteFigures(figures), features
		open.Message = message(r, figures, features)
		if open.State == Pending && now.Sub(open.StartedAt) >= time.Duration(r.For) {
			until, err := m.Store.SilencedUntil(ctx, spec.Endpoint, r.Name)
			if err != nil {
				return fired, err
			}
			open.State, open.FiredAt = Firing, &now
			open.Silenced = until.After(now)
			if isNew {
				err = m.Store.SaveAlert(ctx, open)
			} else {
				err = m.Store.MoveAlert(ctx, open, Pending)
			}
			if err != nil {
				if plinth.IsCode(err, plinth.ECONFLICT) {
					continue // another server opened or fired it a moment ago; it notifies
				}
				return fired, err
			}
			if !open.Silenced {
				m.notify(spec, open)
			}
			fired = append(fired, *open)
			continue
		}
		// An open alert is refreshed (its figures) only in the state this
		// server read: another may have fired it since.
		if isNew {
			err = m.Store.SaveAlert(ctx, open)
		} else {
			err = m.Store.MoveAlert(ctx, open, open.State)
		}
		if err != nil {
			if plinth.IsCode(err, plinth.ECONFLICT) {
				continue // another server opened or moved it a moment ago
			}
			return fired, err
		}
	}
	return fired, nil
}

// finiteFigures drops the NaN figures, which JSON cannot carry.
func finiteFigures(f map[string]float64) map[string]float64 {
	out := make(map[string]float64, len(f))
	for k, v := range f {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			out[k] = v
		}
	}
	return out
}

func message(r Rule, figures map[string]float64, features []string) string {
	var names []string
	for n := range figures {
		if strings.Contains(r.When, n) && !math.IsNaN(figures[n]) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var parts []string
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s=%.4g", n, figures[n]))
	}
	msg := fmt.Sprintf("%s: %s (%s)", r.Name, r.When, strings.Join(parts, ", "))
	if len(features) > 0 {
		top := features
		if len(top) > 5 {
			top = top[:5]
		}
		msg += "; drifted, most important first: " + strings.Join(top, ", ")
	}
	return msg
}

func (m *Monitor) notify(spec Spec, a *Alert) {
	m.logger().Warn("alert "+a.State, "endpoint", a.Endpoint, "rule", a.Rule, "message", a.Message)
	if spec.Notify == "" {
		return
	}
	body, _ := json.Marshal(a)
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Post(spec.Notify, "application/json", bytes.NewReader(body))
	if err != nil {
		m.logger().Warn("alert notification", "url", spec.Notify, "err", err)
		return
	}
	resp.Body.Close()
}
