package api

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestDeadlineContext(t *testing.T) {
	past, future := time.Now().Add(-time.Second), time.Now().Add(time.Hour)
	// A request's context is a live cancelable one: context.Cause finds
	// the nearest cancelable context through Value, and must not stop at
	// the parent when the deadline has passed.
	live, stop := context.WithCancel(context.Background())
	defer stop()
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	near, cancelNear := context.WithDeadline(context.Background(), time.Now().Add(time.Minute))
	defer cancelNear()
	nearDeadline, _ := near.Deadline()

	for _, tc := range []struct {
		name         string
		parent       context.Context
		deadline     time.Time
		wantErr      error
		wantDeadline time.Time
	}{
		{"running", live, future, nil, future},
		{"past its deadline", live, past, context.DeadlineExceeded, past},
		{"parent canceled", canceled, future, context.Canceled, future},
		{"parent's deadline is sooner", near, future, nil, nearDeadline},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, armed := range []bool{false, true} {
				c := withDeadline(tc.parent, tc.deadline)
				if armed {
					c.Done()
				}
				if err := c.Err(); !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
					t.Errorf("armed %v: Err() = %v, want %v", armed, err, tc.wantErr)
				}
				if err := context.Cause(c); !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
					t.Errorf("armed %v: Cause = %v, want %v", armed, err, tc.wantErr)
				}
				if d, ok := c.Deadline(); !ok || !d.Equal(tc.wantDeadline) {
					t.Errorf("armed %v: Deadline() = %v %v, want %v", armed, d, ok, tc.wantDeadline)
				}
				if got := c.armed.Load() != nil; got != armed {
					t.Errorf("armed %v: a timer is armed: %v", armed, got)
				}
				c.release()
			}
		})
	}

	t.Run("Done closes at the deadline", func(t *testing.T) {
		c := withDeadline(context.WithValue(context.Background(), "k", "v"), time.Now().Add(20*time.Millisecond))
		defer c.release()
		child, stop := context.WithCancel(c) // arms the timer: the child waits on Done
		defer stop()
		if c.armed.Load() == nil {
			t.Fatal("a child context did not arm the timer")
		}
		select {
		case <-child.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("Done did not close at the deadline")
		}
		if !errors.Is(c.Err(), context.DeadlineExceeded) || !errors.Is(child.Err(), context.DeadlineExceeded) {
			t.Fatalf("Err() = %v, child %v; want deadline exceeded", c.Err(), child.Err())
		}
		if c.Value("k") != "v" {
			t.Fatal("values of the parent are lost")
		}
	})

	t.Run("release stops an armed timer", func(t *testing.T) {
		c := withDeadline(context.Background(), time.Now().Add(time.Hour))
		done := c.Done()
		c.release()
		select {
		case <-done:
		default:
			t.Fatal("release left the timer running")
		}
	})
}
