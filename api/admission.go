package api

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/plinthml/plinth"
)

// Admission bounds the prediction work a server takes on. At most
// MaxInFlight requests run at once and at most MaxQueued wait for a slot;
// a request beyond that is turned away at once with EOVERLOADED (HTTP 429)
// instead of adding latency and memory for everyone. Every admitted request
// runs under a deadline of Timeout, waiting in the queue included, and gets
// ETIMEOUT (HTTP 504) when it runs out.
//
// The zero value is ready to use with the defaults below.
type Admission struct {
	MaxInFlight int           // default 4 × GOMAXPROCS: prediction is CPU-bound
	MaxQueued   int           // default 64 × MaxInFlight
	Timeout     time.Duration // default 10 s; negative means none

	slots   chan struct{}
	waiting atomic.Int64
}

func (a *Admission) init() {
	if a.MaxInFlight <= 0 {
		a.MaxInFlight = 4 * runtime.GOMAXPROCS(0)
	}
	if a.MaxQueued <= 0 {
		a.MaxQueued = 64 * a.MaxInFlight
	}
	if a.Timeout == 0 {
		a.Timeout = 10 * time.Second
	}
	a.slots = make(chan struct{}, a.MaxInFlight)
}

// admit waits for a slot under the request's deadline. It returns the
// context to run the request with and the function that frees the slot.
func (a *Admission) admit(ctx context.Context) (context.Context, func(), error) {
	release := func() {}
	if a.Timeout > 0 {
		d := withDeadline(ctx, time.Now().Add(a.Timeout))
		ctx, release = d, d.release
	}
	select {
	case a.slots <- struct{}{}:
	default:
		// Busy: queue if there is room, else shed now, while it is cheap.
		if a.waiting.Add(1) > int64(a.MaxQueued) {
			a.waiting.Add(-1)
			return nil, nil, plinth.Errorf(plinth.EOVERLOADED, "server overloaded: %d requests running and %d queued; retry shortly", a.MaxInFlight, a.MaxQueued)
		}
		select {
		case a.slots <- struct{}{}:
			a.waiting.Add(-1)
		case <-ctx.Done():
			a.waiting.Add(-1)
			release()
			return nil, nil, deadlineError(ctx.Err(), "waiting for a free slot")
		}
	}
	return ctx, func() { <-a.slots; release() }, nil
}

// deadlineError turns a context error into the error a client sees.
func deadlineError(err error, doing string) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return plinth.Errorf(plinth.ETIMEOUT, "request timed out %s", doing)
	}
	return plinth.Errorf(plinth.EUNAVAILABLE, "request canceled %s", doing)
}
