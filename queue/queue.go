// Package queue is the work queue that pipeline step tasks travel on: a
// NATS JetStream work-queue stream with one durable pull consumer that every
// worker shares.
//
// Delivery is at least once. A fetched task is leased to its worker for
// Config.Lease; the worker settles it with Ack (done), Nak (retry after a
// delay), or Term (never retry), and renews the lease with Extend during a
// long step. A task whose worker dies is delivered again, to any worker,
// once the lease runs out, with Task.Attempt counting the deliveries. So a
// task can run more than once: the effects of a step must be idempotent or
// fenced by the caller (for example by recording the attempt with the
// step's result in one transaction). Publishing de-duplicates by task id
// within Config.DuplicateWindow, so a producer that retries a publish
// enqueues the task once.
//
// What the server acknowledged to a publisher is on disk before the
// acknowledgement, and survives a crash of the server's process. Its
// record of deliveries and acks is written behind: a crash may forget the
// latest, so those tasks come back — at least once, again.
//
// The same code serves both columns of the design: Open connects to any
// NATS server with JetStream — the one StartServer embeds in the plinth
// process, or an external cluster.
package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/plinthml/plinth"
)

// Defaults of Config.
const (
	DefaultName            = "plinth_tasks"
	DefaultLease           = 30 * time.Second
	DefaultMaxDeliver      = 5
	DefaultDuplicateWindow = 10 * time.Minute
)

// consumerName is the durable pull consumer every worker binds to: one
// consumer per stream is what makes it a shared queue rather than a fan-out.
const consumerName = "workers"

// pollWait bounds one pull request. Fetch renews requests until a task or
// the end of its context, so this only sets how long an idle request lives
// on the server; at 10 s and more the server sends heartbeats, which is how
// a Fetch notices a server that went away.
const pollWait = 10 * time.Second

// ackTimeout bounds a request to the server whose context has no deadline.
const ackTimeout = 5 * time.Second

// Config says where the queue lives and how it leases tasks.
type Config struct {
	// URL of the NATS server, or a comma-separated list of the servers of a
	// cluster: "nats://host:4222". Credentials go in the URL
	// ("nats://user:pass@host:4222"). Ignored when Server is set.
	URL string
	// Server, when set, is an embedded server to connect to in-process,
	// without TCP.
	Server *Server
	// Name names the stream; its subject is "plinth.queue.<Name>". Letters,
	// digits, '-' and '_'. Default DefaultName.
	Name string
	// Lease is how long a fetched task stays with its worker without an
	// Ack, Nak, Term or Extend before it is delivered again. Default
	// DefaultLease.
	//
	// Lease, MaxDeliver and DuplicateWindow belong to the stream and its
	// consumer on the server, not to one handle: each Open sets them for
	// everyone, so give every process the same values.
	Lease time.Duration
	// MaxDeliver caps the deliveries of one task; past it the task is
	// delivered no more (it stays in the stream, for an operator to see).
	// Negative means no cap. Default DefaultMaxDeliver.
	MaxDeliver int
	// DuplicateWindow is how long a task id is remembered for
	// de-duplication. Default DefaultDuplicateWindow.
	DuplicateWindow time.Duration
	// Replicas is the number of copies of the stream a cluster keeps (3
	// on a three-node cluster). Default 1.
	Replicas int
}

// withDefaults returns c with defaults filled in, or an EINVALID error.
func (c Config) withDefaults() (Config, error) {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if !validName(c.Name) {
		return c, plinth.Invalid("name", "%q: use letters, digits, '-' and '_'", c.Name)
	}
	if c.URL == "" && c.Server == nil {
		return c, plinth.Invalid("url", "a NATS server URL or an embedded server is required")
	}
	switch {
	case c.Lease == 0:
		c.Lease = DefaultLease
	case c.Lease < 0:
		return c, plinth.Invalid("lease", "must be positive, not %v", c.Lease)
	}
	switch {
	case c.MaxDeliver == 0:
		c.MaxDeliver = DefaultMaxDeliver
	case c.MaxDeliver < 0:
		c.MaxDeliver = -1
	}
	switch {
	case c.DuplicateWindow == 0:
		c.DuplicateWindow = DefaultDuplicateWindow
	case c.DuplicateWindow < 0:
		return c, plinth.Invalid("duplicate_window", "must be positive, not %v", c.DuplicateWindow)
	}
	switch {
	case c.Replicas == 0:
		c.Replicas = 1
	case c.Replicas < 0 || c.Replicas > 5:
		return c, plinth.Invalid("replicas", "must be 1 to 5, not %d", c.Replicas)
	}
	return c, nil
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// Queue is a handle on a work queue. It is safe for concurrent use; each
// process (server or worker) opens its own.
type Queue struct {
	cfg      Config
	subject  string
	nc       *nats.Conn
	js       jetstream.JetStream
	consumer jetstream.Consumer
}

// Open connects to the server and creates the stream and its consumer, or
// updates them to cfg: opening is idempotent, so every process may do it.
// An unreachable server, or one without JetStream, is EUNAVAILABLE.
func Open(ctx context.Context, cfg Config) (*Queue, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	opts := []nats.Option{
		nats.Name("plinth queue " + cfg.Name),
		// A worker outlives restarts of the server: keep reconnecting.
		nats.MaxReconnects(-1),
	}
	url := cfg.URL
	if cfg.Server != nil {
		opts = append(opts, nats.InProcessServer(cfg.Server.ns))
		url = ""
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		what := fmt.Sprintf("queue %s: connect to NATS at %s", cfg.Name, redact(cfg))
		if errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) {
			return nil, &wrapped{plinth.Errorf(plinth.EUNAUTHORIZED, "%s: %v", what, err), err}
		}
		return nil, unavailable(what, err)
	}
	q, err := open(ctx, cfg, nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return q, nil
}

func open(ctx context.Context, cfg Config, nc *nats.Conn) (*Queue, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	q := &Queue{cfg: cfg, subject: "plinth.queue." + cfg.Name, nc: nc, js: js}
	err = q.call(ctx, "create stream", func(ctx context.Context) error {
		_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name:        cfg.Name,
			Description: "plinth work queue",
			Subjects:    []string{q.subject},
			// Work-queue retention deletes a task once it is acked or
			// terminated, and allows exactly one consumer per subject.
			Retention:  jetstream.WorkQueuePolicy,
			Storage:    jetstream.FileStorage,
			Replicas:   cfg.Replicas,
			Duplicates: cfg.DuplicateWindow,
		})
		return err
	})
	if errors.Is(err, nats.ErrNoResponders) {
		return nil, unavailable(fmt.Sprintf("queue %s: the NATS server at %s has no JetStream (start nats-server with -js)", cfg.Name, redact(cfg)), err)
	}
	if err != nil {
		return nil, err
	}
	err = q.call(ctx, "create consumer", func(ctx context.Context) error {
		var err error
		q.consumer, err = js.CreateOrUpdateConsumer(ctx, cfg.Name, jetstream.ConsumerConfig{
			Durable:     consumerName,
			Description: "plinth workers",
			AckPolicy:   jetstream.AckExplicitPolicy,
			AckWait:     cfg.Lease,
			MaxDeliver:  cfg.MaxDeliver,
			Replicas:    cfg.Replicas,
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return q, nil
}

// Close closes the connection. Tasks fetched and not yet settled are
// delivered again when their leases run out.
func (q *Queue) Close() error {
	q.nc.Close()
	return nil
}

// Publish enqueues a task and returns once the server has stored it. id
// identifies it for de-duplication: a second Publish of the same id within
// Config.DuplicateWindow is accepted and dropped, so use an id per intended
// execution (for example run/step/try). The server remembers the ids of
// acked tasks for the window only while it runs: after a restart it
// rebuilds the window from the tasks it still holds, so de-duplication
// against a finished task is a convenience, not a guarantee — the caller's
// own record of what ran is.
//
// While the connection is down Publish fails at once with EUNAVAILABLE.
// Such a failure, like a timeout, leaves it unknown whether the task was
// stored: publish it again with the same id.
func (q *Queue) Publish(ctx context.Context, id string, payload []byte) error {
	if id == "" {
		return plinth.Invalid("id", "a task id is required")
	}
	if strings.ContainsAny(id, "\r\n") || len(id) > 1024 {
		return plinth.Invalid("id", "must be at most 1024 bytes with no line breaks")
	}
	if max := q.nc.MaxPayload(); int64(len(payload)) > max-int64(len(id))-256 {
		return plinth.Invalid("payload", "%d bytes is over the server's limit of %d", len(payload), max)
	}
	return q.call(ctx, "publish task "+id, func(ctx context.Context) error {
		_, err := q.js.Publish(ctx, q.subject, payload,
			jetstream.WithMsgID(id), jetstream.WithExpectStream(q.cfg.Name))
		return err
	})
}

// Fetch waits for the next task and leases it to the caller. It returns
// ctx's error when ctx ends first, and EUNAVAILABLE when the connection to
// the server is down or the server stops answering; a worker loop backs off
// and calls it again (the client reconnects by itself).
func (q *Queue) Fetch(ctx context.Context) (*Task, error) {
	wctx, stop := q.watch(ctx)
	defer stop()
	for {
		if wctx.Err() != nil {
			return nil, q.mapErr(ctx, wctx, "fetch", wctx.Err())
		}
		// One pull request for one task: a worker holds one lease at a
		// time, and no task waits in a busy worker's buffer while another
		// worker is idle.
		batch, err := q.consumer.Fetch(1, jetstream.FetchMaxWait(pollWait))
		if err != nil {
			return nil, q.mapErr(ctx, wctx, "fetch", err)
		}
		select {
		case msg, ok := <-batch.Messages():
			if ok {
				return q.newTask(msg)
			}
			if err := batch.Error(); err != nil {
				return nil, q.mapErr(ctx, wctx, "fetch", err)
			}
			// The request expired with nothing to deliver: ask again.
		case <-wctx.Done():
			abandon(batch)
			return nil, q.mapErr(ctx, wctx, "fetch", wctx.Err())
		}
	}
}

// abandon hands back whatever a pull request that Fetch stopped waiting for
// still delivers: nobody works on such a task, so it should not wait out a
// lease. Its Attempt counts the lost delivery all the same.
func abandon(batch jetstream.MessageBatch) {
	go func() {
		for msg := range batch.Messages() {
			msg.Nak()
		}
	}()
}

// errDown is why an operation's context ends when the connection drops:
// the client would otherwise hold a request in its reconnect buffer, or
// wait for a reply that died with the connection, until the context ends.
var errDown = errors.New("not connected to the NATS server")

// watch returns a context that ends with ctx or, with the cause errDown,
// when the connection drops (at once if it is down), and a func to release
// it.
func (q *Queue) watch(ctx context.Context) (context.Context, func()) {
	wctx, cancel := context.WithCancelCause(ctx)
	ch := q.nc.StatusChanged(nats.DISCONNECTED, nats.RECONNECTING, nats.CLOSED)
	done := make(chan struct{})
	go func() {
		select {
		case _, ok := <-ch:
			if ok {
				cancel(errDown)
			}
		case <-done:
		}
	}()
	if !q.nc.IsConnected() { // dropped before the listener was in place
		cancel(errDown)
	}
	return wctx, func() {
		close(done)
		q.nc.RemoveStatusListener(ch)
		cancel(nil)
	}
}

// call runs one request-reply exchange f with the server under a context
// that also ends when the connection drops, and after ackTimeout if ctx has
// no deadline, so an unreachable server cannot block the caller forever.
func (q *Queue) call(ctx context.Context, what string, f func(context.Context) error) error {
	wctx, stop := q.watch(ctx)
	defer stop()
	if wctx.Err() != nil {
		return q.mapErr(ctx, wctx, what, wctx.Err())
	}
	fctx := wctx
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		fctx, cancel = context.WithTimeout(wctx, ackTimeout)
		defer cancel()
	}
	if err := f(fctx); err != nil {
		return q.mapErr(ctx, wctx, what, err)
	}
	return nil
}

// mapErr wraps err with the queue's name and what was being done: as the
// caller's own context error when ctx ended, as EUNAVAILABLE when the
// connection dropped (wctx, from watch, ended with errDown) or the server
// is unreachable or did not answer in time, and as the client's error
// otherwise.
func (q *Queue) mapErr(ctx, wctx context.Context, what string, err error) error {
	what = fmt.Sprintf("queue %s: %s", q.cfg.Name, what)
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", what, ctx.Err())
	}
	if errors.Is(context.Cause(wctx), errDown) {
		return unavailable(what+" ("+redact(q.cfg)+")", errDown)
	}
	return mapErr(what, err)
}

func mapErr(what string, err error) error {
	switch {
	case errors.Is(err, nats.ErrNoServers),
		errors.Is(err, nats.ErrConnectionClosed),
		errors.Is(err, nats.ErrConnectionReconnecting),
		errors.Is(err, nats.ErrDisconnected),
		errors.Is(err, nats.ErrNoResponders),
		errors.Is(err, nats.ErrTimeout),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, jetstream.ErrNoHeartbeat),
		errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, jetstream.ErrJetStreamNotEnabled),
		errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		return unavailable(what, err)
	case errors.Is(err, nats.ErrMaxPayload):
		return &wrapped{plinth.Errorf(plinth.EINVALID, "%s: %v", what, err), err}
	}
	return fmt.Errorf("%s: %w", what, err)
}

func unavailable(what string, err error) error {
	return &wrapped{plinth.Errorf(plinth.EUNAVAILABLE, "%s: %v", what, err), err}
}

// wrapped is a *plinth.Error that keeps the client's error in its chain, so
// callers can test for both with errors.Is and errors.As.
type wrapped struct {
	err   *plinth.Error
	cause error
}

func (w *wrapped) Error() string   { return w.err.Error() }
func (w *wrapped) Unwrap() []error { return []error{w.err, w.cause} }

// redact returns the URL of cfg without credentials, for messages.
func redact(cfg Config) string {
	if cfg.Server != nil {
		return "the embedded server"
	}
	var out []string
	for _, u := range strings.Split(cfg.URL, ",") {
		if at := strings.LastIndex(u, "@"); at >= 0 {
			scheme, _, ok := strings.Cut(u, "://")
			if ok {
				u = scheme + "://***" + u[at:]
			} else {
				u = "***" + u[at:]
			}
		}
		out = append(out, u)
	}
	return strings.Join(out, ",")
}

// Task is one delivery of a task. Settle it exactly once with Ack, Nak or
// Term; Extend may come any number of times before.
type Task struct {
	ID      string // the id it was published with
	Payload []byte
	// Attempt counts the deliveries: 1 on the first, 2 on the second, ...
	// It drives backoff and MaxDeliver; it is no fencing token, since a
	// server that crashes may forget its latest deliveries and count one
	// again.
	Attempt int

	msg jetstream.Msg
	q   *Queue

	mu      sync.Mutex
	settled string // how it was settled, "" while leased
}

func (q *Queue) newTask(msg jetstream.Msg) (*Task, error) {
	md, err := msg.Metadata()
	if err != nil {
		msg.Nak()
		return nil, fmt.Errorf("queue: fetched a message without metadata: %w", err)
	}
	return &Task{
		ID:      msg.Headers().Get(jetstream.MsgIDHeader),
		Payload: msg.Data(),
		Attempt: int(md.NumDelivered),
		msg:     msg,
		q:       q,
	}, nil
}

// Ack settles the task as done; it is removed from the queue. It returns
// once the server has recorded it.
//
// If the lease ran out and the task went to another worker, the server
// still accepts this Ack (and an Extend, Nak or Term): the queue cannot
// tell a late worker from the current one, which is why the effects of a
// step need a fence of their own.
func (t *Task) Ack(ctx context.Context) error { return t.settle(ctx, "ack", []byte("+ACK")) }

// Nak settles the task as failed for now: it is delivered again, to any
// worker, after delay (at once if delay is 0), with Attempt one higher. It
// counts against Config.MaxDeliver.
func (t *Task) Nak(ctx context.Context, delay time.Duration) error {
	body := []byte("-NAK")
	if delay > 0 {
		body = fmt.Appendf(nil, `-NAK {"delay": %d}`, delay.Nanoseconds())
	}
	return t.settle(ctx, "nak", body)
}

// Term settles the task as failed for good — a user error that a retry
// cannot fix: it is removed from the queue and never delivered again.
func (t *Task) Term(ctx context.Context) error { return t.settle(ctx, "term", []byte("+TERM")) }

// Extend renews the lease: the task stays with this worker for another
// Config.Lease from now. Call it well within each lease during a long step.
func (t *Task) Extend(ctx context.Context) error {
	t.mu.Lock()
	settled := t.settled
	t.mu.Unlock()
	if settled != "" {
		return plinth.Errorf(plinth.ECONFLICT, "task %s: extend after %s", t.ID, settled)
	}
	return t.request(ctx, "extend", []byte("+WPI"))
}

func (t *Task) settle(ctx context.Context, how string, body []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.settled != "" {
		return plinth.Errorf(plinth.ECONFLICT, "task %s: %s after %s", t.ID, how, t.settled)
	}
	if err := t.request(ctx, how, body); err != nil {
		return err
	}
	t.settled = how
	return nil
}

// request sends an acknowledgement and waits for the server's reply, so a
// nil error means the server has applied it. (The client's own Nak, Term
// and InProgress do not wait.)
func (t *Task) request(ctx context.Context, how string, body []byte) error {
	return t.q.call(ctx, fmt.Sprintf("%s task %s", how, t.ID), func(ctx context.Context) error {
		_, err := t.q.nc.RequestWithContext(ctx, t.msg.Reply(), body)
		return err
	})
}
