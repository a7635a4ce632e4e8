package serve

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the inference path's Prometheus series, labelled by endpoint,
// model version and variant (stable or candidate): what a canary gate and a
// dashboard compare.
type Metrics struct {
	requests *prometheus.CounterVec
	errors   *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	outputs  *prometheus.HistogramVec
	memory   *prometheus.GaugeVec
}

// NewMetrics registers the serving series with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	labels := []string{"endpoint", "model", "version", "variant"}
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plinth_predictions_total", Help: "Instances scored, by endpoint, model version and variant.",
		}, labels),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plinth_prediction_errors_total", Help: "Prediction requests that failed (bad input included), by endpoint.",
		}, []string{"endpoint"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "plinth_prediction_duration_seconds", Help: "Time to score one prediction request, in process.",
			Buckets: prometheus.ExponentialBuckets(5e-6, 2, 18), // 5 µs to about 650 ms
		}, labels),
		outputs: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "plinth_prediction_output", Help: "Distribution of the first output of each prediction (a probability for classifiers).",
			Buckets: prometheus.LinearBuckets(0, 0.1, 11),
		}, labels),
	}
	m.memory = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "plinth_model_memory_bytes", Help: "Memory held by each loaded model version, by endpoint and variant.",
	}, labels)
	reg.MustRegister(m.requests, m.errors, m.latency, m.outputs, m.memory)
	return m
}

// loaded accounts the memory of an endpoint's newly active versions.
func (m *Metrics) loaded(endpoint string, rt *routing) {
	if m == nil {
		return
	}
	m.memory.DeletePartialMatch(prometheus.Labels{"endpoint": endpoint})
	m.memory.WithLabelValues(endpoint, rt.stable.Model, strconv.Itoa(rt.stable.Version), "stable").Set(float64(rt.stable.Predictor.MemoryBytes()))
	if rt.candidate != nil {
		m.memory.WithLabelValues(endpoint, rt.candidate.Model, strconv.Itoa(rt.candidate.Version), "candidate").Set(float64(rt.candidate.Predictor.MemoryBytes()))
	}
}

// versionSeries are a loaded version's series, looked up on its first
// request: finding its three series by their four label values on every
// request took about 300 ns, where observing them takes 60. A Loaded
// answers for one endpoint in one role (stable or candidate), so its label
// values never change.
type versionSeries struct {
	requests         prometheus.Counter
	latency, outputs prometheus.Observer
}

func (m *Metrics) observe(endpoint string, l *Loaded, variant string, start time.Time, preds []Prediction) {
	if m == nil {
		return
	}
	s := l.series.Load()
	if s == nil {
		v := strconv.Itoa(l.Version)
		s = &versionSeries{requests: m.requests.WithLabelValues(endpoint, l.Model, v, variant),
			latency: m.latency.WithLabelValues(endpoint, l.Model, v, variant), outputs: m.outputs.WithLabelValues(endpoint, l.Model, v, variant)}
		l.series.Store(s)
	}
	s.requests.Add(float64(len(preds)))
	s.latency.Observe(time.Since(start).Seconds())
	for _, p := range preds {
		if len(p.Outputs) > 0 {
			s.outputs.Observe(p.Outputs[0])
		}
	}
}

func (m *Metrics) failed(endpoint string) {
	if m != nil {
		m.errors.WithLabelValues(endpoint).Inc()
	}
}
