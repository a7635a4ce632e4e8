package cli

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/plinthml/plinth/server"
)

func runServer(ctx context.Context, e *Env, args []string) error {
	fs := flag.NewFlagSet("plinth server", flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	data := fs.String("data", envOr(e, "PLINTH_DATA", "plinth-data"), "data directory for the embedded stores")
	addr := fs.String("addr", "127.0.0.1:7070", "address to listen on")
	meta := fs.String("metadata", e.Getenv("PLINTH_METADATA"), "metadata store: postgres://... URL (default: SQLite in the data directory)")
	blobs := fs.String("blobs", e.Getenv("PLINTH_BLOBS"), "blob store: s3://bucket/prefix?endpoint=... (default: the data directory)")
	onlineStore := fs.String("online", e.Getenv("PLINTH_ONLINE"), "online feature store: redis://host:port/db (default: Pebble in the data directory)")
	grace := fs.Duration("shutdown-grace", 30*time.Second, "how long requests in flight may finish after SIGTERM")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	maxInFlight := fs.Int("max-in-flight", 0, "prediction requests run at once (default 4 × CPUs)")
	maxQueued := fs.Int("max-queued", 0, "prediction requests waiting for a slot before new ones get 429 (default 64 × max-in-flight)")
	logSample := fs.Float64("log-sample-rate", 1, "share of prediction requests recorded in the prediction log, above 0 and at most 1 (logging all costs throughput: see BENCHMARKS.md)")
	timeout := fs.Duration("request-timeout", 10*time.Second, "time budget of a prediction request, queueing included; 504 after it")
	authRequired := fs.Bool("auth", e.Getenv("PLINTH_AUTH") == "required", "require an API token on every request but health checks and metrics (default: PLINTH_AUTH=required); the first start makes an admin token and prints it")
	q := queueFlags(e, fs)
	var streams, pushes listFlag
	fs.Var(&pushes, "push-from-nats", "append the events arriving on the NATS stream push_DATASET to DATASET and the online store (needs --queue or --queue-listen); repeatable")
	fs.Var(&streams, "stream", "also score ENDPOINT's requests from the NATS stream requests_ENDPOINT into answers_ENDPOINT (needs --queue or --queue-listen); repeatable")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	if !(*logSample > 0 && *logSample <= 1) {
		return usagef("--log-sample-rate: %v is not in (0, 1]", *logSample)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usagef("--log-level: %v", err)
	}
	logger := slog.New(slog.NewTextHandler(e.Stderr, &slog.HandlerOptions{Level: level}))
	server.TuneGC(e.Getenv)

	start := time.Now()
	n, err := server.Open(ctx, server.Config{DataDir: *data, Metadata: *meta, Blobs: *blobs, Online: *onlineStore, Logger: logger,
		MaxInFlight: *maxInFlight, MaxQueued: *maxQueued, RequestTimeout: *timeout, LogSampleRate: *logSample,
		Queue: *q.url, QueueListen: *q.listen, QueueToken: *q.token, QueueLease: *q.lease, PipelineLease: *q.runLease,
		AuthRequired: *authRequired})
	if err != nil {
		return err
	}
	defer n.Close()
	if *authRequired {
		secret, t, err := n.Auth.Bootstrap(ctx)
		if err != nil {
			return err
		}
		if secret != "" {
			fmt.Fprintf(e.Stderr, "Access control is on and no admin token existed: made %q. Its secret, shown this once:\n\n    %s\n\nUse it with --token or PLINTH_TOKEN to make tokens for people and services (plinth tokens create).\n\n", t.Name, secret)
		}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	gogc, memLimit := server.GCSettings()
	logger.Info("plinth server ready", "addr", "http://"+ln.Addr().String(), "data", *data, "metadata", n.Meta.Dialect(),
		"queue", n.QueueURL(), "startup", time.Since(start).Round(time.Millisecond), "gogc", gogc, "memory_limit_mib", memLimit>>20)
	for _, ep := range streams {
		go func() {
			if err := n.ServeStream(ctx, ep); err != nil {
				logger.Error("streaming inference stopped", "endpoint", ep, "err", err)
			}
		}()
	}
	for _, ds := range pushes {
		go func() {
			if err := n.ServePush(ctx, ds); err != nil {
				logger.Error("push from NATS stopped", "dataset", ds, "err", err)
			}
		}()
	}
	return n.Serve(ctx, ln, *grace)
}

type queueOptions struct {
	url, listen, token *string
	lease, runLease    *time.Duration
}

func queueFlags(e *Env, fs *flag.FlagSet) queueOptions {
	return queueOptions{
		url:      fs.String("queue", e.Getenv("PLINTH_QUEUE"), "NATS URL of the work queue that carries pipeline steps to workers (nats://host:4222)"),
		listen:   fs.String("queue-listen", "", "embed the work queue's NATS server, listening here (e.g. 127.0.0.1:4222), and send pipeline steps to workers"),
		token:    fs.String("queue-token", e.Getenv("PLINTH_QUEUE_TOKEN"), "secret workers must present; required when --queue-listen is not loopback"),
		lease:    fs.Duration("queue-lease", 30*time.Second, "how long a worker holds a step without renewing it before another worker gets it"),
		runLease: fs.Duration("run-lease", 30*time.Second, "how long a pipeline run stays with a server that stopped renewing it before another resumes it"),
	}
}

// runWorker runs pipeline steps taken from the work queue.
func runWorker(ctx context.Context, e *Env, args []string) error {
	fs := flag.NewFlagSet("plinth worker", flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	data := fs.String("data", envOr(e, "PLINTH_DATA", "plinth-data"), "data directory for the embedded stores (shared with the server on one machine)")
	meta := fs.String("metadata", e.Getenv("PLINTH_METADATA"), "metadata store: postgres://... URL (default: SQLite in the data directory)")
	blobs := fs.String("blobs", e.Getenv("PLINTH_BLOBS"), "blob store: s3://bucket/prefix?endpoint=... (default: the data directory)")
	onlineStore := fs.String("online", e.Getenv("PLINTH_ONLINE"), "online feature store: redis://host:port/db")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	q := queueFlags(e, fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *q.url == "" {
		return usagef("a worker needs --queue URL (the NATS server the plinth server embeds or uses)")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usagef("--log-level: %v", err)
	}
	logger := slog.New(slog.NewTextHandler(e.Stderr, &slog.HandlerOptions{Level: level}))
	n, err := server.Open(ctx, server.Config{DataDir: *data, Metadata: *meta, Blobs: *blobs, Online: *onlineStore, Logger: logger,
		Queue: *q.url, QueueLease: *q.lease, Worker: true, WorkDir: workDir(*data)})
	if err != nil {
		return err
	}
	defer n.Close()
	logger.Info("plinth worker ready", "queue", *q.url, "owner", n.Pipelines.Owner)
	return n.Work(ctx, *q.lease)
}

// workDir gives each worker process its own scratch space.
func workDir(data string) string {
	return filepath.Join(data, "work", fmt.Sprintf("worker-%d", os.Getpid()))
}

func envOr(e *Env, key, def string) string {
	if v := e.Getenv(key); v != "" {
		return v
	}
	return def
}
