// Package server assembles a plinth node from its configuration: it opens
// the metadata and blob stores, builds the domain services on them, and
// serves the API with a graceful shutdown. The CLI uses the same assembly to
// work on a data directory without a running server.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/plinthml/plinth/api"
	"github.com/plinthml/plinth/auth"
	"github.com/plinthml/plinth/blob"
	"github.com/plinthml/plinth/blob/fsblob"
	"github.com/plinthml/plinth/blob/s3blob"
	"github.com/plinthml/plinth/dataset"
	"github.com/plinthml/plinth/deploy"
	"github.com/plinthml/plinth/duckdb"
	"github.com/plinthml/plinth/feature"
	"github.com/plinthml/plinth/monitor"
	"github.com/plinthml/plinth/online"
	"github.com/plinthml/plinth/online/pebble"
	redisonline "github.com/plinthml/plinth/online/redis"
	"github.com/plinthml/plinth/pipeline"
	"github.com/plinthml/plinth/project"
	"github.com/plinthml/plinth/queue"
	"github.com/plinthml/plinth/registry"
	"github.com/plinthml/plinth/serve"
	"github.com/plinthml/plinth/sqlstore"
	"github.com/plinthml/plinth/track"
	"github.com/plinthml/plinth/ui"
)

// Config says where a node keeps its state.
type Config struct {
	// DataDir holds the embedded defaults: DataDir/plinth.db (SQLite) and
	// DataDir/blobs.
	DataDir string
	// Metadata overrides the metadata store: a postgres:// URL or a SQLite
	// path.
	Metadata string
	// Blobs overrides the blob store: an s3://bucket/prefix URL or a local
	// directory.
	Blobs string
	// Online overrides the online feature store: a redis:// URL or a Pebble
	// directory; default DataDir/online.
	Online string
	// WorkDir holds temporary files of ingestion; default DataDir/work.
	WorkDir string
	// LogSampleRate is the share of prediction requests logged; 0 logs all.
	LogSampleRate float64
	// MaxInFlight, MaxQueued and RequestTimeout bound the prediction
	// requests running, waiting, and their time (see api.Admission; zero
	// values mean its defaults).
	MaxInFlight, MaxQueued int
	RequestTimeout         time.Duration
	// Queue is the URL of a NATS server or cluster carrying pipeline step
	// tasks to `plinth worker` processes; QueueListen instead embeds a
	// NATS server in this process, listening there (QueueToken guards
	// it). With neither, steps run in this process.
	Queue, QueueListen, QueueToken string
	// QueueLease is how long a worker holds a task without renewing it;
	// PipelineLease how long an engine holds a run (defaults 30s).
	QueueLease, PipelineLease time.Duration
	// MonitorWindow is the length of monitoring windows (default 1h);
	// MonitorEvery how often monitors are checked (default 1m).
	MonitorWindow, MonitorEvery time.Duration
	// Worker makes the node a worker: it runs the tasks it takes instead
	// of sending its own steps to the queue.
	Worker bool
	// AuthRequired refuses API requests and UI pages without a token
	// (auth); without it, a request without one acts as the anonymous
	// admin, and one with a token is still checked and attributed.
	AuthRequired bool
	Logger       *slog.Logger
}

// Node is an assembled plinth: stores, services and the API handler.
type Node struct {
	Meta     *sqlstore.Store
	Blobs    blob.Store
	Tracker  *track.Tracker
	Registry *registry.Registry
	Offline  *duckdb.Engine
	Online   online.Store
	Ingester *dataset.Ingester
	Runtime  *serve.Runtime
	Deployer *deploy.Deployer
	// Pipelines executes pipeline runs; Scheduler fires them on their
	// schedules and dataset triggers while the node serves.
	Pipelines *pipeline.Engine
	Scheduler *pipeline.Scheduler
	// Monitor profiles served traffic; Checker reports on it and alerts.
	Monitor *monitor.Monitor
	Checker *monitor.Checker
	// Queue carries step tasks to workers; nil when steps run here.
	Queue *queue.Queue
	// Auth keeps the API tokens and checks them.
	Auth   *auth.Service
	API    *api.Server
	Logger *slog.Logger

	stopLog      func()
	converter    *converter // of the prediction log
	handler      http.Handler
	qcfg         *queue.Config
	natsServer   *queue.Server
	monitorEvery time.Duration
}

// Open opens the stores named by cfg, migrating the metadata schema.
func Open(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.DataDir == "" && (cfg.Metadata == "" || cfg.Blobs == "") {
		return nil, errors.New("no data directory: give --data DIR (or both --metadata and --blobs)")
	}
	metaDSN := cfg.Metadata
	if metaDSN == "" {
		metaDSN = filepath.Join(cfg.DataDir, "plinth.db")
	}
	meta, err := sqlstore.Open(ctx, metaDSN)
	if err != nil {
		return nil, fmt.Errorf("metadata store: %w", err)
	}
	blobs, err := openBlobs(ctx, cfg)
	if err != nil {
		meta.Close()
		return nil, fmt.Errorf("blob store: %w", err)
	}
	// DuckDB runs in memory: everything it reads and writes that lasts is a
	// Parquet blob; its temporary files go to the work directory.
	offline, err := duckdb.Open("")
	if err != nil {
		meta.Close()
		return nil, fmt.Errorf("offline engine: %w", err)
	}
	work := cfg.WorkDir
	if work == "" {
		work = filepath.Join(cfg.DataDir, "work")
		if cfg.DataDir == "" {
			work = os.TempDir()
		}
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		meta.Close()
		offline.Close()
		return nil, fmt.Errorf("work directory: %w", err)
	}
	batches, orphans, err := logDir(work)
	if err != nil {
		meta.Close()
		offline.Close()
		return nil, err
	}
	// A worker beside a server on one machine leaves the embedded online
	// store to the server, which holds its lock; it serves nothing.
	var onlineStore online.Store
	if !cfg.Worker || cfg.Online != "" {
		if onlineStore, err = openOnline(ctx, cfg); err != nil {
			meta.Close()
			offline.Close()
			return nil, fmt.Errorf("online store: %w", err)
		}
	}
	n := &Node{Meta: meta, Blobs: blobs, Offline: offline, Online: onlineStore, Logger: cfg.Logger, monitorEvery: cfg.MonitorEvery}
	n.Tracker = &track.Tracker{Store: meta, Blobs: blobs}
	n.Registry = &registry.Registry{Store: meta, Blobs: blobs, Runs: n.Tracker}
	n.Ingester = &dataset.Ingester{Store: meta, Blobs: blobs, Checker: offline, WorkDir: work}
	// A local blob store hands DuckDB its files; others are cached in work.
	catalog := project.Catalog{Store: meta}
	features := &feature.Builder{
		Catalog:   catalog,
		Snapshots: &dataset.Snapshots{Store: meta, Blobs: blobs, CacheDir: work},
		Offline:   offline,
	}
	featureServer := &feature.Server{Catalog: catalog, Online: onlineStore}
	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	n.Runtime = &serve.Runtime{Registry: n.Registry, Blobs: blobs, Metrics: serve.NewMetrics(metrics)}
	// The prediction log runs until Close, which flushes it.
	logCtx, stopLog := context.WithCancel(context.Background())
	n.stopLog = stopLog
	n.Runtime.Features = featureServer
	n.Monitor = &monitor.Monitor{Store: meta, Models: &versionModels{registry: n.Registry, blobs: blobs, runtime: n.Runtime}, Every: cfg.MonitorWindow, Logger: cfg.Logger}
	n.converter = &converter{logger: cfg.Logger}
	sink := newLogSink(n.Ingester, batches, n.converter.convert)
	if len(orphans) > 0 {
		// A server that died left records spooled: they are stored before
		// this one logs its own.
		stored, err := sink.recoverSegments(ctx, orphans)
		cfg.Logger.Info("prediction log: stored the records a stopped server left", "segments", len(orphans), "records", stored)
		if err != nil {
			cfg.Logger.Warn("prediction log: records a stopped server left were lost", "err", err)
		}
	}
	n.Runtime.Log = &serve.PredictionLog{Sink: monitorSink{next: sink, mon: n.Monitor}, SampleRate: cfg.LogSampleRate, Logger: cfg.Logger}
	n.Runtime.Log.Start(logCtx, 100_000, metrics)
	n.Deployer = &deploy.Deployer{Store: meta, Registry: n.Registry, Runtime: n.Runtime}
	n.Registry.InUse = append(n.Registry.InUse, n.Deployer.InUse)
	n.Deployer.Alerts = firingAlerts(meta)
	if err := n.loadEndpoints(ctx); err != nil {
		n.Close()
		return nil, err
	}
	materializer := &feature.Materializer{Catalog: catalog, Snapshots: features.Snapshots, Engine: offline, Online: onlineStore, Watermarks: meta}
	if onlineStore == nil {
		materializer = nil // a worker beside a server leaves the online store to it
	}
	services := &pipeline.Services{Features: features, Datasets: meta, Registry: n.Registry, Tracker: n.Tracker, Deployer: n.Deployer,
		DuckDB: offline.DB(), Profiles: meta, Ingester: n.Ingester, Materializer: materializer}
	host, _ := os.Hostname()
	n.Pipelines = &pipeline.Engine{
		Store: meta, Blobs: blobs, Kinds: pipeline.Kinds(services), Resolver: services,
		Owner: fmt.Sprintf("%s/%d", host, os.Getpid()), WorkDir: filepath.Join(work, "pipelines"),
		Code: version(), Logger: cfg.Logger, Lease: cfg.PipelineLease,
	}
	if cfg.Queue != "" || cfg.QueueListen != "" {
		if err := n.openQueue(ctx, cfg); err != nil {
			n.Close()
			return nil, err
		}
		if !cfg.Worker {
			n.Pipelines.Tasks = tasks{n.Queue}
		}
	}
	n.Pipelines.Observe = pipelineMetrics(metrics)
	n.Scheduler = &pipeline.Scheduler{Engine: n.Pipelines, Catalog: catalog, Datasets: meta}
	n.Checker = &monitor.Checker{
		Monitor: n.Monitor, Specs: catalog.Monitors,
		Joiner: &monitor.Joiner{DB: offline.DB(), Files: func(ctx context.Context, d string) ([]string, error) { return features.Snapshots.Files(ctx, d, nil) }},
		Flush:  n.Runtime.Log.Flush, Predictions: PredictionDataset, OnFire: n.retrain(catalog), Observe: monitorMetrics(metrics),
		Skew: n.skewCheck(features, work),
	}
	n.Auth = &auth.Service{Store: meta, OnError: func(err error) { cfg.Logger.Warn("auth", "err", err) }}
	n.API = &api.Server{Auth: n.Auth, AuthRequired: cfg.AuthRequired, AuditLog: meta,
		Pipelines: n.Pipelines, PipelineDefs: catalog, Checker: n.Checker, Alerts: meta,
		Tracker: n.Tracker, Registry: n.Registry, Ingester: n.Ingester, Definitions: meta, Features: features,
		Materializer:  materializer,
		FeatureServer: featureServer,
		Deployer:      n.Deployer, Runtime: n.Runtime, LookupPrediction: n.LookupPrediction,
		Blobs: blobs, Ready: n.ready, Logger: cfg.Logger, Metrics: metrics,
		Admission: &api.Admission{MaxInFlight: cfg.MaxInFlight, MaxQueued: cfg.MaxQueued, Timeout: cfg.RequestTimeout},
	}
	n.buildHandler(catalog)
	return n, nil
}

func openBlobs(ctx context.Context, cfg Config) (blob.Store, error) {
	switch {
	case strings.HasPrefix(cfg.Blobs, "s3://"):
		return s3blob.OpenURL(ctx, cfg.Blobs)
	case cfg.Blobs != "":
		return fsblob.Open(cfg.Blobs)
	default:
		return fsblob.Open(filepath.Join(cfg.DataDir, "blobs"))
	}
}

// loadEndpoints puts every endpoint's recorded version back behind it, so a
// restarted node serves what it served before it is ready.
func (n *Node) loadEndpoints(ctx context.Context) error {
	eps, err := n.Deployer.Store.Endpoints(ctx)
	if err != nil {
		return err
	}
	for _, e := range eps {
		activate, err := n.Runtime.Load(ctx, e.Name, e.Route())
		if err != nil {
			return fmt.Errorf("endpoint %s: %w", e.Name, err)
		}
		activate()
	}
	return nil
}

// follow keeps endpoints that serve an alias on the version the alias
// points at, and applies canary gates, checking every interval.
func (n *Node) follow(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		changed, err := n.Deployer.Follow(ctx)
		if err != nil {
			n.Logger.Warn("following aliases", "error", err)
		}
		for _, e := range changed {
			n.Logger.Info("endpoint follows its alias", "endpoint", e.Name, "model", e.Stable.Model, "version", e.Stable.Version)
		}
		judged, err := n.Deployer.Judge(ctx, time.Now())
		if err != nil {
			n.Logger.Warn("canary gates", "error", err)
		}
		for _, e := range judged {
			n.Logger.Info("canary gate decided", "endpoint", e.Name, "action", e.Action, "reason", e.Reason)
		}
	}
}

func openOnline(ctx context.Context, cfg Config) (online.Store, error) {
	switch {
	case strings.HasPrefix(cfg.Online, "redis://"), strings.HasPrefix(cfg.Online, "rediss://"):
		return redisonline.OpenURL(ctx, cfg.Online)
	case cfg.Online != "":
		return pebble.Open(cfg.Online, nil)
	case cfg.DataDir != "":
		return pebble.Open(filepath.Join(cfg.DataDir, "online"), nil)
	}
	return nil, errors.New("no online store: give a data directory or --online")
}

func (n *Node) ready(ctx context.Context) error {
	if err := n.Meta.Ping(ctx); err != nil {
		return fmt.Errorf("metadata store: %w", err)
	}
	return nil
}

// Handler is the node's HTTP handler: the web UI at / and /ui/, the API
// everywhere else.
func (n *Node) Handler() http.Handler { return n.handler }

func (n *Node) buildHandler(catalog project.Catalog) {
	page := ui.Handler(ui.Deps{
		Tracker: n.Tracker, Registry: n.Registry, Deployer: n.Deployer, Runtime: n.Runtime,
		Pipelines: n.Pipelines, PipelineDefs: catalog, Features: catalog, Datasets: n.Meta, Definitions: n.Meta,
		Watermarks: n.Meta, Blobs: n.Blobs, Monitors: catalog, Alerts: n.Meta, Logger: n.Logger,
		Checker: n.Checker, LookupPrediction: n.LookupPrediction, Auth: n.Auth, AuthRequired: n.API.AuthRequired, AuditLog: n.Meta,
	})
	mux := http.NewServeMux()
	mux.Handle("/ui/", page)
	mux.Handle("GET /{$}", page)
	mux.Handle("/", n.API.Handler())
	n.handler = mux
}

// Close stops the pipeline runs in progress (they resume on the next
// start), flushes the prediction log and closes the stores.
func (n *Node) Close() error {
	if n.Pipelines != nil {
		n.Pipelines.Shutdown()
	}
	if n.Queue != nil {
		n.Queue.Close()
	}
	if n.natsServer != nil {
		n.natsServer.Shutdown()
	}
	if n.stopLog != nil {
		n.stopLog()
		n.Runtime.Log.Wait()
		n.converter.Close()
	}
	n.Offline.Close()
	if n.Online != nil {
		n.Online.Close()
	}
	return n.Meta.Close()
}

// Serve serves the API on ln until ctx is cancelled, then stops taking new
// connections and lets requests in flight finish (up to grace) before it
// returns. Every write a client saw acknowledged is committed by then.
func (n *Node) Serve(ctx context.Context, ln net.Listener, grace time.Duration) error {
	srv := &http.Server{
		Handler:           n.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(n.Logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	followCtx, stopFollowing := context.WithCancel(ctx)
	defer stopFollowing()
	go n.follow(followCtx, 2*time.Second)
	// Runs an earlier process left unfinished resume once their leases
	// lapse; the scheduler looks for them on every tick.
	go n.Scheduler.Run(followCtx)
	every := n.monitorEvery
	if every <= 0 {
		every = time.Minute
	}
	go n.Checker.Run(followCtx, every)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	n.Logger.Info("shutting down", "grace", grace)
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// version is the build's version control revision, which is the version
// of the built-in pipeline steps' code.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	rev, dirty := "", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return info.Main.Version
	}
	if dirty {
		rev += "+dirty"
	}
	return rev
}
