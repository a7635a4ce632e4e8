// Package monitortest is the contract every monitor.Store keeps, run
// against each implementation.
package monitortest

import (
	"context"
	"testing"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/model"
	"github.com/plinthml/plinth/monitor"
)

func profile(t *testing.T, start time.Time, values ...float64) *monitor.Profile {
	t.Helper()
	sig := &model.Signature{Features: []model.Feature{{Name: "x", Type: model.Float, Nullable: true}}}
	w, err := monitor.NewWindows(sig, monitor.Options{}, monitor.WindowOptions{Every: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range values {
		w.AddRow(start, []float64{v})
	}
	ps := w.Close(start.Add(2 * time.Hour))
	if len(ps) != 1 {
		t.Fatalf("%d windows", len(ps))
	}
	return ps[0]
}

// Run runs the contract against stores made by open (a fresh store each).
func Run(t *testing.T, open func(t *testing.T) monitor.Store) {
	ctx := context.Background()
	hour := time.Date(2013, 4, 1, 10, 0, 0, 0, time.UTC)

	t.Run("references are frozen", func(t *testing.T) {
		s := open(t)
		if _, err := s.Reference(ctx, "m", 1); plinth.ErrorCode(err) != plinth.ENOTFOUND {
			t.Fatalf("missing reference: %v", err)
		}
		ref := profile(t, hour, 1, 2, 3)
		if err := s.SaveReference(ctx, "m", 1, ref); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveReference(ctx, "m", 1, ref); plinth.ErrorCode(err) != plinth.ECONFLICT {
			t.Fatalf("saving a reference twice: %v", err)
		}
		got, err := s.Reference(ctx, "m", 1)
		if err != nil || got.Rows != 3 || got.Feature("x").Max != 3 {
			t.Fatalf("reference: %v %+v", err, got)
		}
	})

	t.Run("windows merge and list in order", func(t *testing.T) {
		s := open(t)
		k := monitor.Key{Endpoint: "e", Model: "m", Version: 1}
		if err := s.SaveWindow(ctx, k, profile(t, hour.Add(time.Hour), 5)); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveWindow(ctx, k, profile(t, hour, 1, 2)); err != nil {
			t.Fatal(err)
		}
		// The same window closed again (a restart, a second replica).
		if err := s.SaveWindow(ctx, k, profile(t, hour, 10)); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveWindow(ctx, monitor.Key{Endpoint: "other", Model: "m", Version: 1}, profile(t, hour, 7)); err != nil {
			t.Fatal(err)
		}
		ws, err := s.Windows(ctx, "e", hour, hour.Add(24*time.Hour))
		if err != nil || len(ws) != 2 {
			t.Fatalf("windows: %v %d", err, len(ws))
		}
		if !ws[0].Profile.Start.Equal(hour) || ws[0].Profile.Rows != 3 || ws[0].Profile.Feature("x").Max != 10 || ws[1].Profile.Rows != 1 {
			t.Fatalf("merged windows: %+v %+v", ws[0].Profile, ws[1].Profile)
		}
		if ws[0].Key != k {
			t.Fatalf("key %+v", ws[0].Key)
		}
		if ws, _ := s.Windows(ctx, "e", hour.Add(time.Hour), hour.Add(2*time.Hour)); len(ws) != 1 {
			t.Fatalf("a range selects by start: %d", len(ws))
		}
	})

	t.Run("alerts and silences", func(t *testing.T) {
		s := open(t)
		if _, err := s.OpenAlert(ctx, "e", "drift"); plinth.ErrorCode(err) != plinth.ENOTFOUND {
			t.Fatalf("no open alert: %v", err)
		}
		a := &monitor.Alert{Endpoint: "e", Rule: "drift", State: monitor.Pending, StartedAt: hour, Figures: map[string]float64{"drift_share": 0.5}}
		if err := s.SaveAlert(ctx, a); err != nil || a.ID == "" {
			t.Fatalf("save: %v %q", err, a.ID)
		}
		open1, err := s.OpenAlert(ctx, "e", "drift")
		if err != nil || open1.ID != a.ID || open1.Figures["drift_share"] != 0.5 {
			t.Fatalf("open alert: %v %+v", err, open1)
		}
		// A second server checking at the same moment cannot open another.
		twin := &monitor.Alert{Endpoint: "e", Rule: "drift", State: monitor.Pending, StartedAt: hour}
		if err := s.SaveAlert(ctx, twin); plinth.ErrorCode(err) != plinth.ECONFLICT {
			t.Fatalf("a second open alert of a rule: %v", err)
		}
		// Two servers fire the same pending alert: one wins.
		a.State = monitor.Firing
		if err := s.MoveAlert(ctx, a, monitor.Pending); err != nil {
			t.Fatalf("pending to firing: %v", err)
		}
		if err := s.MoveAlert(ctx, a, monitor.Pending); plinth.ErrorCode(err) != plinth.ECONFLICT {
			t.Fatalf("firing it again from pending: %v", err)
		}
		if open2, _ := s.OpenAlert(ctx, "e", "drift"); open2 == nil || open2.State != monitor.Firing {
			t.Fatalf("after the move: %+v", open2)
		}
		a.State = monitor.Resolved
		if err := s.MoveAlert(ctx, a, monitor.Firing); err != nil {
			t.Fatal(err)
		}
		if _, err := s.OpenAlert(ctx, "e", "drift"); plinth.ErrorCode(err) != plinth.ENOTFOUND {
			t.Fatalf("a resolved alert is open: %v", err)
		}
		if err := s.SaveAlert(ctx, &monitor.Alert{Endpoint: "e", Rule: "auc", State: monitor.Firing, StartedAt: hour.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		list, err := s.Alerts(ctx, "e", 10)
		if err != nil || len(list) != 2 || list[0].Rule != "auc" {
			t.Fatalf("alerts newest first: %v %+v", err, list)
		}
		if all, _ := s.Alerts(ctx, "", 10); len(all) != 2 {
			t.Fatalf("all alerts: %d", len(all))
		}
		if until, err := s.SilencedUntil(ctx, "e", "drift"); err != nil || !until.IsZero() {
			t.Fatalf("no silence: %v %v", until, err)
		}
		// The latest silence decides, a shorter one too.
		end := hour.Add(3 * time.Hour)
		for i, until := range []time.Time{end, end.Add(time.Hour), end.Add(-time.Hour)} {
			si := monitor.Silence{Endpoint: "e", Rule: "drift", Until: until, At: hour.Add(time.Duration(i) * time.Minute), By: "ops", Reason: "fix deploying"}
			if err := s.Silence(ctx, si); err != nil {
				t.Fatal(err)
			}
			if got, _ := s.SilencedUntil(ctx, "e", "drift"); !got.Equal(until) {
				t.Fatalf("after silence %d: silenced until %v, want %v", i, got, until)
			}
		}
		if got, _ := s.SilencedUntil(ctx, "e", "auc"); !got.IsZero() {
			t.Fatalf("another rule silenced until %v", got)
		}
	})
}
