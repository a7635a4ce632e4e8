package serve

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/plinthml/plinth/internal/jsonx"
	"github.com/plinthml/plinth/model"
)

// LogRecord is one scored instance as the prediction log keeps it: enough
// to monitor inputs and outputs and, once labels arrive, to join them.
type LogRecord struct {
	RequestID string    `json:"request_id"`
	Time      time.Time `json:"time"`
	Endpoint  string    `json:"endpoint"`
	Model     string    `json:"model"`
	Version   int       `json:"version"`
	Variant   string    `json:"variant"`
	Inputs    Inputs    `json:"inputs"`
	// Request is what a request by entity sent — the entity keys and
	// request data — before its features were looked up online.
	Request   map[string]any `json:"request,omitempty"`
	Outputs   []float64      `json:"outputs"`
	LatencyUS int64          `json:"latency_us"`
}

// Inputs are the values a prediction was made from: Values[i] is the value
// of the feature Names[i]. The records of one model version share its Names
// (the signature's order), so they are built and read without a map each.
type Inputs struct {
	Names  []string // read-only; shared between records
	Values []any
	// Features are the signature's, when Names are its features' names:
	// the log stores each value in a column of the feature's type. Inputs
	// read back from the log have none.
	Features []model.Feature // read-only; shared between records
}

// InputsOf lists m by name, sorted.
func InputsOf(m map[string]any) Inputs {
	in := Inputs{Names: slices.Sorted(maps.Keys(m)), Values: make([]any, len(m))}
	for i, n := range in.Names {
		in.Values[i] = m[n]
	}
	return in
}

// Map returns the inputs by name.
func (in Inputs) Map() map[string]any {
	m := make(map[string]any, len(in.Names))
	for i, n := range in.Names {
		m[n] = in.Values[i]
	}
	return m
}

// MarshalJSON writes the inputs as a JSON object, in their order.
func (in Inputs) MarshalJSON() ([]byte, error) {
	return jsonx.AppendFields(nil, in.Names, in.Values), nil
}

// UnmarshalJSON reads a JSON object, sorted by name.
func (in *Inputs) UnmarshalJSON(data []byte) error {
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	*in = InputsOf(m)
	return nil
}

// Sink stores log records, e.g. as dataset versions. The log's writer is
// its only caller. Add takes each record as it comes off the queue (every
// gatherFor, all the records queued then), so the per-record work
// (profiling, encoding) is spread over time rather than done in bursts at
// each flush on the cores that serve; Flush stores what
// was added since the last flush and says how many of those records it
// stored (the rest are lost, with the error).
type Sink interface {
	Add(ctx context.Context, r LogRecord)
	Flush(ctx context.Context) (int, error)
}

// PredictionLog records predictions asynchronously. Log never blocks and
// never allocates more than the buffer: under overload records are dropped
// and counted. A writer hands records to the sink and flushes it every
// FlushEvery or once BatchSize records were added.
type PredictionLog struct {
	Sink       Sink
	Logger     *slog.Logger // flush errors; nil: slog's default
	SampleRate float64      // share of requests logged, 0 to 1; 0 means 1
	BatchSize  int          // default 20,000: fewer, larger dataset versions cost the serving cores less
	FlushEvery time.Duration

	// queue holds pointers into the records of requests: the garbage
	// collector scans the whole buffer every cycle, and 100,000 pointers
	// are 0.8 MB where 100,000 records would be 18 MB.
	queue    chan *LogRecord
	once     sync.Once
	flushes  chan chan struct{}
	requests chan requestFlush
	done     chan struct{}
	dropped  prometheus.Counter
	written  prometheus.Counter
	failed   prometheus.Counter
}

// Start runs the writer until ctx ends, then flushes what is queued. The
// buffer holds capacity records.
func (l *PredictionLog) Start(ctx context.Context, capacity int, reg prometheus.Registerer) {
	l.once.Do(func() {
		if l.BatchSize <= 0 {
			l.BatchSize = 20_000
		}
		if l.FlushEvery <= 0 {
			l.FlushEvery = 5 * time.Second
		}
		l.queue = make(chan *LogRecord, capacity)
		l.flushes = make(chan chan struct{})
		l.requests = make(chan requestFlush)
		l.done = make(chan struct{})
		l.dropped = prometheus.NewCounter(prometheus.CounterOpts{Name: "plinth_prediction_log_dropped_total", Help: "Prediction log records dropped because the buffer was full."})
		l.written = prometheus.NewCounter(prometheus.CounterOpts{Name: "plinth_prediction_log_written_total", Help: "Prediction log records stored."})
		l.failed = prometheus.NewCounter(prometheus.CounterOpts{Name: "plinth_prediction_log_failed_total", Help: "Prediction log records lost to sink errors."})
		if reg != nil {
			reg.MustRegister(l.dropped, l.written, l.failed)
		}
		go l.run(ctx)
	})
}

// Wait blocks until the writer has flushed and stopped (after its context
// ended).
func (l *PredictionLog) Wait() {
	if l.done != nil {
		<-l.done
	}
}

// Flush writes what is queued now to the sink and returns once it is
// written (or ctx ends): for reports that must see the latest traffic.
func (l *PredictionLog) Flush(ctx context.Context) error {
	if l == nil || l.flushes == nil {
		return nil
	}
	done := make(chan struct{})
	select {
	case l.flushes <- done:
	case <-l.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// requestFlush asks the writer to flush if a request's records wait in
// the log; found says whether they did.
type requestFlush struct {
	id    string
	found chan bool
}

// FlushRequest writes what is queued now to the sink if it holds records
// of the request id, and says whether it did: a lookup of a request just
// answered finds it stored, and one of an id the log never saw flushes
// nothing. Each flush with records waiting is a dataset version, so a
// client polling for unknown ids would otherwise cut the log into one
// version per poll.
func (l *PredictionLog) FlushRequest(ctx context.Context, id string) (bool, error) {
	if l == nil || l.requests == nil {
		return false, nil
	}
	req := requestFlush{id: id, found: make(chan bool, 1)}
	select {
	case l.requests <- req:
	case <-l.done:
		return false, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
	select {
	case found := <-req.found:
		return found, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// Log queues records of one request, sampled; it never blocks.
func (l *PredictionLog) Log(records []LogRecord) {
	if l == nil || l.queue == nil {
		return
	}
	if l.SampleRate > 0 && l.SampleRate < 1 && rand.Float64() >= l.SampleRate {
		return
	}
	for i := range records {
		select {
		case l.queue <- &records[i]:
		default:
			l.dropped.Inc()
		}
	}
}

// gatherFor is how long the log's writer lets records gather between
// takes: at 10,000 requests a second, 100 records a take.
const gatherFor = 10 * time.Millisecond

// yieldEvery is how many records the writer adds before it lets other
// goroutines have its core. Go preempts a running goroutine only after
// 10 ms, so a take of 100 records (about half a millisecond of profiling
// and encoding) held one of a small machine's cores while requests queued
// for it; yielding bounds their wait to about 16 records' work. The gain
// is small against this machine's noise (BENCHMARKS.md, session 11): the
// logged windows' median p99 went from 1.35 and 1.63 ms to 1.19 and
// 1.26 ms in two runs of a scratch harness, and BenchmarkLogTail saw no
// difference between builds with and without.
const yieldEvery = 16

func (l *PredictionLog) run(ctx context.Context) {
	defer close(l.done)
	tick := time.NewTicker(l.FlushEvery)
	defer tick.Stop()
	added := 0
	// The request ids of the records added since the last flush, for
	// FlushRequest: at most a batch of them.
	pending := map[string]struct{}{}
	flush := func() {
		if added == 0 {
			return
		}
		// The sink gets its own deadline: a flush at shutdown must finish.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		stored, err := l.Sink.Flush(fctx)
		cancel()
		if err != nil {
			logger := l.Logger
			if logger == nil {
				logger = slog.Default()
			}
			logger.Warn("prediction log: records lost", "records", added-stored, "err", err)
		}
		l.written.Add(float64(stored))
		l.failed.Add(float64(added - stored))
		added = 0
		clear(pending)
	}
	add := func(r *LogRecord) {
		l.Sink.Add(ctx, *r)
		pending[r.RequestID] = struct{}{}
		if added++; added >= l.BatchSize {
			flush()
		} else if added%yieldEvery == 0 {
			runtime.Gosched()
		}
	}
	// drain adds every record queued now.
	drain := func() {
		for {
			select {
			case r := <-l.queue:
				add(r)
			default:
				return
			}
		}
	}
	// Once woken by a record, the writer lets the next ones gather for
	// gatherFor before it takes them all: a writer that took each record
	// as it came was woken on every request, and each wake-up a request
	// paid for (readying the writer, often waking a thread for it) cost
	// more than adding the record.
	gather := time.NewTimer(0)
	defer gather.Stop()
	var queue <-chan *LogRecord // nil while records gather
	for {
		select {
		case r := <-queue:
			add(r)
			drain()
			queue = nil
			gather.Reset(gatherFor)
		case <-gather.C:
			queue = l.queue
		case <-tick.C:
			flush()
		case done := <-l.flushes:
			drain()
			flush()
			close(done)
		case req := <-l.requests:
			drain()
			_, found := pending[req.id]
			if found {
				flush()
			}
			req.found <- found
		case <-ctx.Done():
			drain()
			flush()
			return
		}
	}
}
