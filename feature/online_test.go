package feature

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/online"
	"github.com/plinthml/plinth/online/pebble"
)

// slowCatalog serves one service over one view; Service blocks while gate
// is open and fails with ENOTFOUND once gone is set.
type slowCatalog struct {
	calls atomic.Int32
	gate  atomic.Pointer[chan struct{}]
	gone  atomic.Bool
}

func (c *slowCatalog) Features(context.Context) ([]Entity, []View, error) {
	return []Entity{{Name: "e", JoinKeys: []string{"k"}}},
		[]View{{Name: "v", Entities: []string{"e"}, Source: "s", Timestamp: "ts", Features: []string{"f"}}}, nil
}

func (c *slowCatalog) OnDemand(context.Context) ([]OnDemand, error) { return nil, nil }

func (c *slowCatalog) Service(_ context.Context, name string) (*Service, int, error) {
	c.calls.Add(1)
	if g := c.gate.Load(); g != nil {
		<-*g
	}
	if c.gone.Load() {
		return nil, 0, plinth.NotFound("feature service", name)
	}
	return &Service{Name: name, Features: []string{"v"}}, 1, nil
}

// TestPlanRefreshesInBackground: an expired plan keeps answering while one
// goroutine reloads it, and a service that disappears stops answering once
// the reload finds out.
func TestPlanRefreshesInBackground(t *testing.T) {
	ctx := context.Background()
	c := &slowCatalog{}
	s := &Server{Catalog: c, CacheFor: time.Nanosecond}
	first, err := s.plan(ctx, "svc")
	if err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	c.gate.Store(&gate)
	for i := 0; i < 10; i++ { // expired, and the reload is stuck: still answered at once
		if p, err := s.plan(ctx, "svc"); err != nil || p != first {
			t.Fatalf("plan during a reload = %p, %v; want the previous plan %p", p, err, first)
		}
	}
	c.gate.Store(nil)
	close(gate)
	waitFor(t, func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.plans["svc"] != first })
	if n := c.calls.Load(); n != 2 {
		t.Errorf("catalog read %d times, want 2 (the first load and one reload)", n)
	}

	c.gone.Store(true)
	waitFor(t, func() bool { _, err := s.plan(ctx, "svc"); return plinth.IsCode(err, plinth.ENOTFOUND) })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5 s")
		}
	}
}

// LookupValues serves what Lookup does, values only: nil where missing.
func TestLookupValues(t *testing.T) {
	ctx := context.Background()
	store, err := pebble.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	_, views, _ := (&slowCatalog{}).Features(ctx)
	if err := store.Write(ctx, []online.Record{{View: OnlineView(views[0], []string{"k"}), Key: "1", EventTime: time.Now().Add(-time.Minute), Values: []online.Value{online.FloatValue(2.5)}}}); err != nil {
		t.Fatal(err)
	}
	s := &Server{Catalog: &slowCatalog{}, Online: store}
	rows := []map[string]any{{"k": "1"}, {"k": 2.0}}
	names, full, err := s.Lookup(ctx, "svc", rows)
	if err != nil {
		t.Fatal(err)
	}
	valueNames, values, err := s.LookupValues(ctx, "svc", rows)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names, valueNames) || !slices.Equal(names, []string{"v__f"}) {
		t.Fatalf("names %v and %v", names, valueNames)
	}
	want := [][]any{{2.5}, {nil}}
	for i := range rows {
		if !slices.Equal(values[i], want[i]) || full[i][0].Value != want[i][0] {
			t.Errorf("row %d: LookupValues %v, Lookup %+v; want %v", i, values[i], full[i], want[i])
		}
	}
	if full[1][0].Status != Missing {
		t.Errorf("row 1: status %q", full[1][0].Status)
	}
}
