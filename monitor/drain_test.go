package monitor_test

import (
	"testing"
	"time"

	"github.com/plinthml/plinth/model"
	"github.com/plinthml/plinth/monitor"
)

// Draining a window mid-way keeps it open: its later rows are not late,
// and the pieces add up to the window.
func TestDrainKeepsWindowsOpen(t *testing.T) {
	sig := &model.Signature{Features: []model.Feature{{Name: "x", Type: model.Float, Nullable: true}}}
	w, err := monitor.NewWindows(sig, monitor.Options{}, monitor.WindowOptions{Every: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2013, 4, 1, 10, 15, 0, 0, time.UTC)
	w.AddRow(at, []float64{1})
	w.AddRow(at, []float64{2})
	first := w.Drain()
	if len(first) != 1 || first[0].Rows != 2 {
		t.Fatalf("first drain: %+v", first)
	}
	w.AddRow(at.Add(10*time.Minute), []float64{3})
	if w.Late() != 0 {
		t.Fatal("a row of a drained window was dropped as late")
	}
	second := w.Drain()
	if len(second) != 1 || second[0].Rows != 1 || !second[0].Start.Equal(first[0].Start) {
		t.Fatalf("second drain: %+v", second)
	}
	if err := first[0].Merge(second[0]); err != nil || first[0].Rows != 3 || first[0].Feature("x").Max != 3 {
		t.Fatalf("merged: %v %+v", err, first[0])
	}
	if len(w.Drain()) != 0 {
		t.Fatal("an empty window was drained")
	}
}
