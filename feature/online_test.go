package feature

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plinthml/plinth"
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
