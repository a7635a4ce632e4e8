package monitor_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/model"
	"github.com/plinthml/plinth/monitor"
	"github.com/plinthml/plinth/sqlstore"
)

func TestAlertLifecycle(t *testing.T) {
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "plinth.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var posts atomic.Int64
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { posts.Add(1) }))
	defer hook.Close()
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	m := &monitor.Monitor{Store: store, Now: func() time.Time { return now }}
	spec := monitor.Spec{Endpoint: "e", Notify: hook.URL, Alerts: []monitor.Rule{
		{Name: "drift", When: "drift_share >= 0.3", For: plinth.Duration(10 * time.Minute)},
		{Name: "auc", When: "auc < 0.7"},
	}}
	if err := spec.Validate(); err != nil {
		t.Fatal(err)
	}
	report := func(share float64) *monitor.Report {
		return &monitor.Report{Endpoint: "e", Rows: 100, Drift: &monitor.Drift{Share: share, Drifted: 2, Compared: 4,
			Features: []monitor.FeatureDrift{{Feature: "temp", Drifted: share >= 0.3, Score: 0.4}, {Feature: "wind", Score: 0.01}}}}
	}
	// The condition holds: pending until it has held for 10 minutes. The
	// AUC rule sees no labels (NaN) and stays quiet.
	fired, err := m.Evaluate(ctx, spec, report(0.5))
	if err != nil || len(fired) != 0 {
		t.Fatalf("first check: %v %v", fired, err)
	}
	if a, _ := store.OpenAlert(ctx, "e", "drift"); a == nil || a.State != monitor.Pending {
		t.Fatalf("pending: %+v", a)
	}
	now = now.Add(11 * time.Minute)
	fired, _ = m.Evaluate(ctx, spec, report(0.5))
	if len(fired) != 1 || fired[0].Rule != "drift" || !strings.Contains(fired[0].Message, "drift_share=0.5") || fired[0].Features[0] != "temp" {
		t.Fatalf("fired: %+v", fired)
	}
	// Still holding: de-duplicated, nothing fires again.
	if fired, _ = m.Evaluate(ctx, spec, report(0.6)); len(fired) != 0 {
		t.Fatalf("fired twice: %+v", fired)
	}
	// It stops holding: resolved, notified.
	if _, err := m.Evaluate(ctx, spec, report(0.1)); err != nil {
		t.Fatal(err)
	}
	all, _ := store.Alerts(ctx, "e", 10)
	if len(all) != 1 || all[0].State != monitor.Resolved || all[0].ResolvedAt == nil {
		t.Fatalf("resolved: %+v", all)
	}
	// A silenced rule fires without notifying.
	if err := store.Silence(ctx, monitor.Silence{Endpoint: "e", Rule: "auc", Until: now.Add(time.Hour), At: now, By: "ops"}); err != nil {
		t.Fatal(err)
	}
	rep := report(0.1)
	rep.Performance = []monitor.Performance{{Rows: 800, Metrics: map[string]float64{"auc": 0.6}}}
	fired, _ = m.Evaluate(ctx, spec, rep)
	if len(fired) != 1 || !fired[0].Silenced {
		t.Fatalf("silenced: %+v", fired)
	}
	if posts.Load() != 2 { // drift fired, drift resolved
		t.Fatalf("%d notifications, want 2", posts.Load())
	}
	// A rule on a figure that does not exist is the rule's error.
	bad := monitor.Spec{Endpoint: "e", Alerts: []monitor.Rule{{Name: "x", When: "drift_nope > 1"}}}
	if _, err := m.Evaluate(ctx, bad, report(0.5)); plinth.ErrorCode(err) != plinth.EINVALID {
		t.Fatalf("unknown figure: %v", err)
	}
	if err := (&monitor.Spec{Endpoint: "e", Alerts: []monitor.Rule{{Name: "y", When: "drift_share >="}}}).Validate(); err == nil {
		t.Fatal("a rule that does not parse was accepted")
	}
}

type noModels struct{}

func (noModels) Model(context.Context, string, int) (*model.Model, error) {
	return nil, plinth.NotFound("model", "m")
}

// A window whose traffic collapses against the windows before it is a
// volume issue; ordinary windows are not.
func TestVolumeAnomaly(t *testing.T) {
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "plinth.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	sig := &model.Signature{Features: []model.Feature{{Name: "x", Type: model.Float, Nullable: true}}}
	k := monitor.Key{Endpoint: "e", Model: "m", Version: 1}
	start := time.Date(2013, 4, 1, 0, 0, 0, 0, time.UTC)
	for h := range 12 {
		n := 100 + h%3
		if h == 10 {
			n = 5 // an upstream outage
		}
		w, _ := monitor.NewWindows(sig, monitor.Options{}, monitor.WindowOptions{Every: time.Hour})
		at := start.Add(time.Duration(h) * time.Hour)
		for range n {
			w.AddRow(at, []float64{1})
		}
		for _, p := range w.Drain() {
			if err := store.SaveWindow(ctx, k, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	m := &monitor.Monitor{Store: store, Models: noModels{}}
	rep, err := m.Report(ctx, "e", start.Add(6*time.Hour), start.Add(12*time.Hour), monitor.ReportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Quality == nil || len(rep.Quality.Issues) != 1 || rep.Quality.Issues[0].Kind != monitor.IssueVolume ||
		!strings.Contains(rep.Quality.Issues[0].Message, "2013-04-01 10:00 had 5 predictions") {
		t.Fatalf("volume issues: %+v", rep.Quality)
	}
}

// A monitor that asks for the skew check gets it in every report, and its
// rules read the figures; one that does not ask runs no check.
func TestCheckWithSkew(t *testing.T) {
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "plinth.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	m := &monitor.Monitor{Store: store, Models: noModels{}}
	specs := []monitor.Spec{
		{Endpoint: "skewed", Skew: &monitor.SkewCheck{}, Alerts: []monitor.Rule{{Name: "skew", When: "skewed > 0 || skew_rate > 0.05"}}},
		{Endpoint: "plain"},
	}
	var asked []string
	c := &monitor.Checker{Monitor: m, Specs: func(context.Context) ([]monitor.Spec, error) { return specs, nil },
		Skew: func(_ context.Context, endpoint string, sample int) (*monitor.Skew, error) {
			asked = append(asked, fmt.Sprintf("%s/%d", endpoint, sample))
			return &monitor.Skew{Endpoint: endpoint, Sampled: 50, Skewed: []string{"temp"},
				Features: []monitor.SkewFeature{{Feature: "temp", Compared: 50, Mismatched: 5, Rate: 0.1}, {Feature: "wind", Compared: 50}}}, nil
		}}
	rep, fired, err := c.Check(ctx, "skewed")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Skew == nil || len(fired) != 1 || fired[0].Rule != "skew" || !strings.Contains(fired[0].Message, "skew_rate=0.1") {
		t.Fatalf("report skew %+v, fired %+v", rep.Skew, fired)
	}
	var page strings.Builder
	if err := monitor.WriteHTML(&page, rep, fired); err != nil || !strings.Contains(page.String(), "Training–serving skew") ||
		!strings.Contains(page.String(), "Skewed: temp") || !strings.Contains(page.String(), "<td>10.0%</td>") {
		t.Fatalf("HTML report (%v):\n%s", err, page.String())
	}
	if rep, _, err := c.Check(ctx, "plain"); err != nil || rep.Skew != nil {
		t.Fatalf("plain: %+v, %v", rep, err)
	}
	if len(asked) != 1 || asked[0] != fmt.Sprintf("skewed/%d", monitor.DefaultSkewSample) {
		t.Fatalf("skew checks run: %v", asked)
	}
	// A failed check is reported as missing, and its figures are NaN.
	c.Skew = func(context.Context, string, int) (*monitor.Skew, error) {
		return nil, plinth.Invalid("endpoint", "no feature service")
	}
	rep, err = c.Report(ctx, "skewed", time.Time{}, time.Time{})
	if err != nil || rep.Skew != nil || len(rep.Missing) == 0 || !strings.Contains(strings.Join(rep.Missing, ";"), "skew: ") {
		t.Fatalf("failed skew: %+v, %v", rep, err)
	}
	if f := monitor.Figures(rep); f["skewed"] == f["skewed"] {
		t.Errorf("skewed = %v without a check, want NaN", f["skewed"])
	}
	if err := (&monitor.Spec{Endpoint: "e", Skew: &monitor.SkewCheck{Sample: -1}}).Validate(); plinth.ErrorCode(err) != plinth.EINVALID || !strings.Contains(err.Error(), "skew.sample") {
		t.Errorf("negative sample: %v", err)
	}
}

func TestSilenceValidate(t *testing.T) {
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		last   time.Duration
		reason string
		field  string
	}{
		{time.Second, "", ""},
		{90 * 24 * time.Hour, strings.Repeat("x", 1024), ""},
		{0, "", "for"},
		{-time.Hour, "", "for"},
		{90*24*time.Hour + time.Second, "", "for"},
		{time.Hour, strings.Repeat("x", 1025), "reason"},
	} {
		s := monitor.Silence{Endpoint: "e", Rule: "drift", At: at, Until: at.Add(tc.last), By: "ops", Reason: tc.reason}
		err := s.Validate()
		var pe *plinth.Error
		if tc.field == "" && err != nil || tc.field != "" && (!errors.As(err, &pe) || pe.Field != tc.field) {
			t.Errorf("silence of %s, reason of %d bytes: %v, want field %q", tc.last, len(tc.reason), err, tc.field)
		}
	}
}
