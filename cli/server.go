package cli

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
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

	start := time.Now()
	n, err := server.Open(ctx, server.Config{DataDir: *data, Metadata: *meta, Blobs: *blobs, Online: *onlineStore, Logger: logger,
		MaxInFlight: *maxInFlight, MaxQueued: *maxQueued, RequestTimeout: *timeout, LogSampleRate: *logSample})
	if err != nil {
		return err
	}
	defer n.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	logger.Info("plinth server ready", "addr", "http://"+ln.Addr().String(), "data", *data, "metadata", n.Meta.Dialect(), "startup", time.Since(start).Round(time.Millisecond))
	return n.Serve(ctx, ln, *grace)
}

func envOr(e *Env, key, def string) string {
	if v := e.Getenv(key); v != "" {
		return v
	}
	return def
}
