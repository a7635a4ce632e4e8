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

func (m *Metrics) observe(endpoint string, l *Loaded, variant string, start time.Time, preds []Prediction) {
	if m == nil {
		return
	}
	v := strconv.Itoa(l.Version)
	m.requests.WithLabelValues(endpoint, l.Model, v, variant).Add(float64(len(preds)))
	m.latency.WithLabelValues(endpoint, l.Model, v, variant).Observe(time.Since(start).Seconds())
	h := m.outputs.WithLabelValues(endpoint, l.Model, v, variant)
	for _, p := range preds {
		if len(p.Outputs) > 0 {
			h.Observe(p.Outputs[0])
		}
	}
}

func (m *Metrics) failed(endpoint string) {
	if m != nil {
		m.errors.WithLabelValues(endpoint).Inc()
	}
}
