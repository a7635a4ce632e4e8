package api

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// deadlineContext is its parent with a deadline, whose timer is armed only
// once something waits on Done. A prediction checks its deadline with Err
// between steps and mostly never waits on Done; context.WithTimeout armed
// and stopped a timer on every request, and with the cancellation
// bookkeeping that came with it cost 1.5-2 µs of CPU and 430 bytes of
// garbage per request on the serving path (under wrk). Err and Deadline answer as
// WithTimeout's context would; a caller that needs Done (the admission
// queue, a network client, a child context) arms the timer, and from then
// on the armed context answers everything.
type deadlineContext struct {
	context.Context
	deadline time.Time

	mu    sync.Mutex // serializes arming
	armed atomic.Pointer[armedContext]
}

// timersArmed counts the deadlines that armed a timer, for the test that
// the prediction path arms none.
var timersArmed atomic.Int64

type armedContext struct {
	context.Context
	cancel context.CancelFunc
}

func withDeadline(parent context.Context, d time.Time) *deadlineContext {
	return &deadlineContext{Context: parent, deadline: d}
}

func (c *deadlineContext) arm() *armedContext {
	if a := c.armed.Load(); a != nil {
		return a
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if a := c.armed.Load(); a != nil {
		return a
	}
	ctx, cancel := context.WithDeadline(c.Context, c.deadline)
	a := &armedContext{Context: ctx, cancel: cancel}
	timersArmed.Add(1)
	c.armed.Store(a)
	return a
}

// release stops the timer, if one was armed. The context reads as canceled
// afterwards only if it was armed; the request it belonged to is over
// either way.
func (c *deadlineContext) release() {
	if a := c.armed.Load(); a != nil {
		a.cancel()
	}
}

func (c *deadlineContext) Deadline() (time.Time, bool) {
	if d, ok := c.Context.Deadline(); ok && d.Before(c.deadline) {
		return d, true
	}
	return c.deadline, true
}

func (c *deadlineContext) Done() <-chan struct{} { return c.arm().Done() }

func (c *deadlineContext) Err() error {
	if a := c.armed.Load(); a != nil {
		return a.Err()
	}
	if err := c.Context.Err(); err != nil {
		return err
	}
	if !time.Now().Before(c.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// Value answers from the armed context once there is one, so that a child
// context finds the timer's cancellation and registers with it directly.
func (c *deadlineContext) Value(key any) any {
	if a := c.armed.Load(); a != nil {
		return a.Value(key)
	}
	return c.Context.Value(key)
}
