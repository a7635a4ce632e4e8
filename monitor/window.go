package monitor

import (
	"slices"
	"sync"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/model"
)

// WindowOptions configure Windows.
type WindowOptions struct {
	// Every is the window length; windows start at times truncated to it
	// (time.Time.Truncate: whole hours for an hour). Default one hour.
	Every time.Duration
	// Keep is how many windows stay open for late rows; default 2 (the
	// current window and the one before). A row for a new window beyond
	// them closes the oldest.
	Keep int
	// OnClose, if set, receives each window that a newer one pushes out,
	// for storage or checks. It runs with the Windows locked: it must not
	// call back into them.
	OnClose func(*Profile)
}

// Windows profiles a stream in fixed windows of time, such as hourly
// profiles of the prediction log. Memory stays bounded: at most Keep
// profilers are open, each bounded by the number of features; rows older
// than every open window, once Keep are open, are counted as late and
// dropped. Windows is safe for concurrent use.
type Windows struct {
	sig  *model.Signature
	opts Options
	wo   WindowOptions

	mu     sync.Mutex
	open   []window  // by start, oldest first
	closed time.Time // windows starting before it are closed
	late   int64
}

type window struct {
	start time.Time
	p     *Profiler
}

// NewWindows returns windowed profiling of rows of sig (see Profiler).
func NewWindows(sig *model.Signature, opts Options, wo WindowOptions) (*Windows, error) {
	if wo.Every == 0 {
		wo.Every = time.Hour
	}
	if wo.Every < 0 {
		return nil, plinth.Invalid("every", "negative window length %v", wo.Every)
	}
	if wo.Keep == 0 {
		wo.Keep = 2
	}
	if wo.Keep < 0 {
		return nil, plinth.Invalid("keep", "negative window count %d", wo.Keep)
	}
	// Fail now rather than on the first row.
	if _, err := NewProfiler(sig, opts); err != nil {
		return nil, err
	}
	return &Windows{sig: sig, opts: opts, wo: wo}, nil
}

// profiler returns the profiler of the window holding t, opening it if
// needed, or nil for a late row.
func (w *Windows) profiler(t time.Time) *Profiler {
	start := t.Truncate(w.wo.Every)
	// Rows come mostly in order: look from the newest window down.
	i := len(w.open)
	for i > 0 && w.open[i-1].start.After(start) {
		i--
	}
	if i > 0 && w.open[i-1].start.Equal(start) {
		return w.open[i-1].p
	}
	if start.Before(w.closed) || len(w.open) == w.wo.Keep && i == 0 {
		w.late++
		return nil
	}
	p, _ := NewProfiler(w.sig, w.opts) // checked by NewWindows
	w.open = slices.Insert(w.open, i, window{start: start, p: p})
	if len(w.open) > w.wo.Keep {
		old := w.open[0]
		w.open = slices.Delete(w.open, 0, 1)
		w.closed = old.start.Add(w.wo.Every)
		if w.wo.OnClose != nil {
			w.wo.OnClose(w.snapshot(old))
		}
	}
	return p
}

func (w *Windows) snapshot(win window) *Profile {
	p := win.p.Profile()
	p.Start = win.start
	p.End = win.start.Add(w.wo.Every)
	return p
}

// AddRow profiles an encoded row (see Profiler.AddRow) in the window of t.
func (w *Windows) AddRow(t time.Time, row []float64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.profiler(t)
	if p == nil {
		return nil
	}
	return p.AddRow(row)
}

// AddInputs profiles a logged request (see Profiler.AddInputs) in the
// window of t, the time of the request.
func (w *Windows) AddInputs(t time.Time, names []string, values []any, outputs []float64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if p := w.profiler(t); p != nil {
		p.AddInputs(names, values, outputs)
	}
}

// Profiles returns snapshots of the open windows, oldest first.
func (w *Windows) Profiles() []*Profile {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]*Profile, len(w.open))
	for i, win := range w.open {
		out[i] = w.snapshot(win)
	}
	return out
}

// Drain returns the profiles of the open windows, oldest first, and starts
// them afresh without closing them: rows that come later for the same
// windows are profiled, and drained or closed, again. Profiles merge, so
// the pieces add up to the window (the store merges them).
func (w *Windows) Drain() []*Profile {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []*Profile
	for _, win := range w.open {
		if p := w.snapshot(win); p.Rows > 0 {
			out = append(out, p)
		}
		win.p.Reset()
	}
	return out
}

// Close closes the windows that end at or before t and returns their
// profiles, oldest first; OnClose is not called for them. Close(time.Now())
// hands over every finished window, and a far future time all of them.
func (w *Windows) Close(t time.Time) []*Profile {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []*Profile
	for len(w.open) > 0 && !w.open[0].start.Add(w.wo.Every).After(t) {
		out = append(out, w.snapshot(w.open[0]))
		w.closed = w.open[0].start.Add(w.wo.Every)
		w.open = slices.Delete(w.open, 0, 1)
	}
	return out
}

// Late returns the number of rows dropped because their window had
// already closed (or would have been the oldest of more than Keep).
func (w *Windows) Late() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.late
}
