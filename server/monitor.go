package server

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/blob"
	"github.com/plinthml/plinth/feature"
	"github.com/plinthml/plinth/model"
	"github.com/plinthml/plinth/model/formats"
	"github.com/plinthml/plinth/monitor"
	"github.com/plinthml/plinth/pipeline"
	"github.com/plinthml/plinth/project"
	"github.com/plinthml/plinth/registry"
	"github.com/plinthml/plinth/serve"
)

// monitorSink feeds the prediction log to monitoring, then to its dataset:
// profiling runs on the log's writer, off the serving path.
type monitorSink struct {
	next serve.Sink
	mon  *monitor.Monitor
}

func (s monitorSink) Add(ctx context.Context, r serve.LogRecord) {
	s.mon.Observe(ctx, monitor.Key{Endpoint: r.Endpoint, Model: r.Model, Version: r.Version}, r.Time, r.Inputs.Names, r.Inputs.Values, r.Outputs)
	s.next.Add(ctx, r)
}

func (s monitorSink) Flush(ctx context.Context) (int, error) { return s.next.Flush(ctx) }

// versionModels loads registered versions' model files for monitoring,
// once each. A version the serving runtime has compiled is taken from it:
// parsing a large model file again, on the log's writer, would cost the
// serving cores as much as the deploy did.
type versionModels struct {
	registry *registry.Registry
	blobs    blob.Store
	runtime  *serve.Runtime // nil: always parse
	mu       sync.Mutex
	cache    map[string]*model.Model
}

func (v *versionModels) Model(ctx context.Context, name string, version int) (*model.Model, error) {
	key := fmt.Sprintf("%s@%d", name, version)
	v.mu.Lock()
	m, ok := v.cache[key]
	v.mu.Unlock()
	if ok {
		return m, nil
	}
	ver, err := v.registry.Version(ctx, name, version)
	if err != nil {
		return nil, err
	}
	if len(ver.Artifacts) == 0 {
		return nil, fmt.Errorf("%s has no model file", key)
	}
	d, err := blob.ParseDigest(ver.Artifacts[0].Digest)
	if err != nil {
		return nil, err
	}
	if p := v.runtime.Compiled(ver.Format, d); p != nil {
		m = p.Model()
	} else {
		rc, err := v.blobs.Open(ctx, d)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		if m, _, err = formats.Read(rc, ver.Format); err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
	}
	v.mu.Lock()
	if v.cache == nil {
		v.cache = map[string]*model.Model{}
	}
	v.cache[key] = m
	v.mu.Unlock()
	return m, nil
}

// skewCheck is the training–serving skew check of an endpoint: its
// newest sample requests by entity, against the point-in-time features of
// the service its stable version was trained on, built by features in
// work.
func (n *Node) skewCheck(features *feature.Builder, work string) func(ctx context.Context, endpoint string, sample int) (*monitor.Skew, error) {
	return func(ctx context.Context, endpoint string, sample int) (*monitor.Skew, error) {
		e, err := n.Deployer.Store.Endpoint(ctx, endpoint)
		if err != nil {
			return nil, err
		}
		v, err := n.Registry.Version(ctx, e.Stable.Model, e.Stable.Version)
		if err != nil {
			return nil, err
		}
		if v.FeatureService == "" {
			return nil, plinth.Invalid("endpoint", "%s serves %s@%d, which records no feature service: its requests carry their features, there is no online lookup to check", endpoint, v.Model, v.Version)
		}
		build := func(ctx context.Context, service, labels, timestamp, output string) error {
			_, err := features.Build(ctx, feature.Request{Service: service, Labels: labels, Timestamp: timestamp, Output: output})
			return err
		}
		skew, err := n.Checker.Joiner.Skew(ctx, PredictionDataset(endpoint), v.FeatureService, sample, build, work)
		if err != nil {
			return nil, err
		}
		skew.Endpoint = endpoint
		return skew, nil
	}
}

// retrain starts the pipeline a monitor names when one of its alerts
// fires: the loop from an alert to a new canary. The fire key makes one
// alert start one run, whatever the number of checks and replicas.
func (n *Node) retrain(catalog project.Catalog) func(ctx context.Context, spec monitor.Spec, a monitor.Alert) {
	return func(ctx context.Context, spec monitor.Spec, a monitor.Alert) {
		r := spec.Retrain
		if r == nil {
			return
		}
		if len(r.On) > 0 && !slices.Contains(r.On, a.Rule) {
			return
		}
		p, err := pipeline.Lookup(ctx, catalog, r.Pipeline)
		if err != nil {
			n.Logger.Warn("retrain on alert", "pipeline", r.Pipeline, "err", err)
			return
		}
		// Two alerts of one incident (drift, then the AUC it causes)
		// retrain once: not while a run of the pipeline is under way.
		runs, err := n.Pipelines.Store.PipelineRuns(ctx, r.Pipeline, 10)
		if err != nil {
			n.Logger.Warn("retrain on alert", "pipeline", r.Pipeline, "err", err)
			return
		}
		for _, run := range runs {
			if !run.State.Final() {
				n.Logger.Info("alert while a retraining run is under way", "alert", a.Rule, "run", run.ID)
				return
			}
		}
		// Nor while the last challenger is still on trial as a candidate:
		// its gate decides first.
		if e, err := n.Deployer.Store.Endpoint(ctx, a.Endpoint); err == nil && e.Candidate != nil {
			n.Logger.Info("alert while a candidate is on trial", "alert", a.Rule, "endpoint", a.Endpoint, "candidate", e.Candidate.Version)
			return
		}
		run, err := n.Pipelines.CreateFired(ctx, p.Spec, p.Version, fmt.Sprintf("alert %s/%s %s", a.Endpoint, a.Rule, a.ID))
		if err != nil {
			n.Logger.Warn("retrain on alert", "pipeline", r.Pipeline, "err", err)
			return
		}
		n.Logger.Info("alert started a retraining run", "alert", a.Rule, "endpoint", a.Endpoint, "pipeline", r.Pipeline, "run", run.ID)
		n.Pipelines.Go(run.ID)
	}
}

var _ pipeline.Catalog = project.Catalog{}

// pipelineMetrics exports step attempts: their durations and outcomes
// (succeeded, cached, failed, ...), per pipeline and step.
func pipelineMetrics(reg *prometheus.Registry) func(string, *pipeline.Attempt) {
	seconds := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "plinth_pipeline_step_duration_seconds", Help: "Wall time of pipeline step attempts that ran (cache hits excluded).",
		Buckets: prometheus.ExponentialBuckets(0.01, 4, 10), // 10 ms to about 45 min
	}, []string{"pipeline", "step"})
	attempts := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "plinth_pipeline_step_attempts_total", Help: "Pipeline step attempts by final state; state=\"cached\" counts cache hits.",
	}, []string{"pipeline", "step", "state"})
	reg.MustRegister(seconds, attempts)
	return func(p string, a *pipeline.Attempt) {
		state := string(a.State)
		if a.Cached {
			state = "cached"
		} else {
			seconds.WithLabelValues(p, a.Step).Observe(a.Cost.WallSeconds)
		}
		attempts.WithLabelValues(p, a.Step, state).Inc()
	}
}

// monitorMetrics exports what the last check of each monitor saw: the
// share of drifted features, the newest labelled AUC, and which alert
// rules are firing (1) or not (0).
func monitorMetrics(reg *prometheus.Registry) func(monitor.Spec, *monitor.Report, []string) {
	drift := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "plinth_monitor_drift_share", Help: "Share of drifted features in the last check's period."}, []string{"endpoint"})
	auc := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "plinth_monitor_auc", Help: "AUC of the newest labelled period, per model version."}, []string{"endpoint", "version"})
	firing := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "plinth_monitor_alert_firing", Help: "1 while an alert rule is firing."}, []string{"endpoint", "rule"})
	reg.MustRegister(drift, auc, firing)
	return func(spec monitor.Spec, rep *monitor.Report, on []string) {
		if rep.Drift != nil {
			drift.WithLabelValues(spec.Endpoint).Set(rep.Drift.Share)
		}
		if n := len(rep.Performance); n > 0 {
			p := rep.Performance[n-1]
			if v, ok := p.Metrics["auc"]; ok {
				auc.WithLabelValues(spec.Endpoint, fmt.Sprint(p.Version)).Set(v)
			}
		}
		for _, r := range spec.Alerts {
			v := 0.0
			if slices.Contains(on, r.Name) {
				v = 1
			}
			firing.WithLabelValues(spec.Endpoint, r.Name).Set(v)
		}
	}
}

// firingAlerts lists the unsilenced alerts of an endpoint that fired after
// since, for the canary gates.
func firingAlerts(store monitor.AlertStore) func(ctx context.Context, endpoint string, since time.Time) ([]string, error) {
	return func(ctx context.Context, endpoint string, since time.Time) ([]string, error) {
		alerts, err := store.Alerts(ctx, endpoint, 20)
		if err != nil {
			return nil, err
		}
		var out []string
		for _, a := range alerts {
			if a.State == monitor.Firing && !a.Silenced && a.FiredAt != nil && a.FiredAt.After(since) {
				out = append(out, a.Rule)
			}
		}
		return out, nil
	}
}
