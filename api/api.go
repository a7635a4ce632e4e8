// Package api is plinth's HTTP JSON API over the domains. It decodes and
// validates requests, calls the domain services, and maps their errors to
// HTTP statuses in exactly one place (writeError).
package api

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/auth"
	"github.com/plinthml/plinth/blob"
	"github.com/plinthml/plinth/dataset"
	"github.com/plinthml/plinth/deploy"
	"github.com/plinthml/plinth/feature"
	"github.com/plinthml/plinth/monitor"
	"github.com/plinthml/plinth/pipeline"
	"github.com/plinthml/plinth/project"
	"github.com/plinthml/plinth/registry"
	"github.com/plinthml/plinth/serve"
	"github.com/plinthml/plinth/track"
)

// OpenAPI is the API's OpenAPI 3 document, served at /openapi.json.
//
//go:embed openapi.json
var OpenAPI []byte

// Server serves the API.
type Server struct {
	Tracker  *track.Tracker
	Registry *registry.Registry
	Ingester *dataset.Ingester
	// Definitions holds the registered project; Features builds training
	// sets from it.
	Definitions   project.Store
	Features      *feature.Builder
	Materializer  *feature.Materializer
	FeatureServer *feature.Server
	Deployer      *deploy.Deployer
	// Pipelines executes pipeline runs; PipelineDefs lists the registered
	// pipelines.
	Pipelines    *pipeline.Engine
	PipelineDefs pipeline.Catalog
	// Checker reports on monitored endpoints; Alerts keeps their alerts.
	Checker *monitor.Checker
	Alerts  monitor.AlertStore
	Runtime *serve.Runtime
	// LookupPrediction, when set, finds a request's records in an
	// endpoint's prediction log.
	LookupPrediction func(ctx context.Context, endpoint, requestID string) ([]serve.LogRecord, error)
	Blobs            blob.Store
	// Ready reports whether the server can take traffic (its stores
	// answer); /readyz calls it.
	Ready  func(ctx context.Context) error
	Logger *slog.Logger
	// Admission bounds the prediction requests in flight and their time;
	// nil means the defaults.
	Admission *Admission
	// Auth checks the tokens requests carry and keeps them; nil lets every
	// request act as the anonymous admin. AuthRequired refuses requests
	// without a token, but on the health, readiness, metrics and OpenAPI
	// routes.
	Auth         *auth.Service
	AuthRequired bool
	// AuditLog reads who changed what across the platform; nil: the audit
	// route answers 503.
	AuditLog auth.AuditLog
	// Metrics is where /metrics gathers from, and where the API registers
	// its request series; nil turns metrics off.
	Metrics *prometheus.Registry

	requestSeq  atomic.Uint64
	httpReqs    *prometheus.CounterVec
	httpTime    *prometheus.HistogramVec
	routeSeries sync.Map // route pattern → *routeMetrics
}

// route is one endpoint. The table is the single list of endpoints: the
// mux is built from it and a test checks it against openapi.json.
type route struct {
	method, pattern string
	need            auth.Role // the least role that may call it; "" for anyone
	handle          handler
}

type handler func(s *Server, w http.ResponseWriter, r *http.Request) error

// admitted runs h under the server's admission control: prediction routes
// shed load with 429 and run under a deadline. admittedV2 does the same for
// the Open Inference Protocol routes, whose errors have their own body.
func admitted(h handler) handler   { return admit(h, (*Server).writeError) }
func admittedV2(h handler) handler { return admit(h, (*Server).v2Error) }

func admit(h handler, fail func(*Server, http.ResponseWriter, *http.Request, error)) handler {
	return func(s *Server, w http.ResponseWriter, r *http.Request) error {
		ctx, done, err := s.Admission.admit(r.Context())
		if err != nil {
			fail(s, w, r, err)
			return nil
		}
		defer done()
		if err := h(s, w, r.WithContext(ctx)); err != nil {
			if ctx.Err() != nil && r.Context().Err() == nil {
				return deadlineError(ctx.Err(), "while predicting")
			}
			return err
		}
		return nil
	}
}

// predictionRoutes are the routes a token limited to endpoints may call,
// each with the path wildcard that names the endpoint.
var predictionRoutes = map[string]string{
	"POST /api/v1/endpoints/{endpoint}/predict":       "endpoint",
	"GET /v2/models/{name}":                           "name",
	"GET /v2/models/{name}/ready":                     "name",
	"POST /v2/models/{name}/infer":                    "name",
	"GET /v2/models/{name}/versions/{version}":        "name",
	"GET /v2/models/{name}/versions/{version}/ready":  "name",
	"POST /v2/models/{name}/versions/{version}/infer": "name",
}

var routes = []route{
	{"GET", "/healthz", "", (*Server).healthz},
	{"GET", "/readyz", "", (*Server).readyz},
	{"GET", "/openapi.json", "", (*Server).openapi},
	{"GET", "/metrics", "", (*Server).metrics},

	{"POST", "/api/v1/tokens", auth.Admin, (*Server).createToken},
	{"GET", "/api/v1/tokens", auth.Admin, (*Server).listTokens},
	{"DELETE", "/api/v1/tokens/{name}", auth.Admin, (*Server).revokeToken},
	{"GET", "/api/v1/audit", auth.Admin, (*Server).auditTrail},

	{"GET", "/api/v1/experiments", auth.Viewer, (*Server).listExperiments},
	{"POST", "/api/v1/experiments", auth.Editor, (*Server).createExperiment},
	{"GET", "/api/v1/experiments/{experiment}", auth.Viewer, (*Server).getExperiment},

	{"POST", "/api/v1/runs", auth.Editor, (*Server).createRun},
	{"POST", "/api/v1/runs/search", auth.Viewer, (*Server).searchRuns},
	{"POST", "/api/v1/runs/compare", auth.Viewer, (*Server).compareRuns},
	{"GET", "/api/v1/runs/{run}", auth.Viewer, (*Server).getRun},
	{"PATCH", "/api/v1/runs/{run}", auth.Editor, (*Server).updateRun},
	{"POST", "/api/v1/runs/{run}/batch", auth.Editor, (*Server).logBatch},
	{"GET", "/api/v1/runs/{run}/metrics/{key}", auth.Viewer, (*Server).metricHistory},
	{"PUT", "/api/v1/runs/{run}/artifacts/{path...}", auth.Editor, (*Server).putArtifact},
	{"GET", "/api/v1/runs/{run}/artifacts/{path...}", auth.Viewer, (*Server).getArtifact},

	{"PUT", "/api/v1/blobs", auth.Editor, (*Server).putBlob},
	{"GET", "/api/v1/blobs/{digest}", auth.Viewer, (*Server).getBlob},

	{"GET", "/api/v1/models", auth.Viewer, (*Server).listModels},
	{"POST", "/api/v1/models", auth.Editor, (*Server).createModel},
	{"GET", "/api/v1/models/{model}", auth.Viewer, (*Server).getModel},
	{"PUT", "/api/v1/models/{model}/card", auth.Editor, (*Server).updateCard},
	{"GET", "/api/v1/models/{model}/audit", auth.Viewer, (*Server).audit},
	{"GET", "/api/v1/models/{model}/versions", auth.Viewer, (*Server).listVersions},
	{"POST", "/api/v1/models/{model}/versions", auth.Editor, (*Server).createVersion},
	{"GET", "/api/v1/models/{model}/versions/{version}", auth.Viewer, (*Server).getVersion},
	{"DELETE", "/api/v1/models/{model}/versions/{version}", auth.Editor, (*Server).deleteVersion},
	{"POST", "/api/v1/models/{model}/versions/{version}/review", auth.Editor, (*Server).reviewVersion},
	{"PUT", "/api/v1/models/{model}/aliases/{alias}", auth.Editor, (*Server).setAlias},
	{"DELETE", "/api/v1/models/{model}/aliases/{alias}", auth.Editor, (*Server).deleteAlias},

	{"GET", "/api/v1/datasets", auth.Viewer, (*Server).listDatasets},
	{"PUT", "/api/v1/datasets/{dataset}/spec", auth.Editor, (*Server).setSpec},
	{"GET", "/api/v1/datasets/{dataset}/spec", auth.Viewer, (*Server).getSpec},
	{"POST", "/api/v1/datasets/{dataset}/batches", auth.Editor, (*Server).ingestBatch},
	{"POST", "/api/v1/datasets/{dataset}/push", auth.Editor, (*Server).push},
	{"GET", "/api/v1/datasets/{dataset}/versions", auth.Viewer, (*Server).listDatasetVersions},
	{"GET", "/api/v1/datasets/{dataset}/versions/{version}", auth.Viewer, (*Server).getDatasetVersion},
	{"GET", "/api/v1/datasets/{dataset}/quarantines", auth.Viewer, (*Server).listQuarantines},
	{"GET", "/api/v1/datasets/{dataset}/quarantines/{quarantine}", auth.Viewer, (*Server).inspectQuarantine},
	{"POST", "/api/v1/datasets/{dataset}/quarantines/{quarantine}/replay", auth.Editor, (*Server).replayQuarantine},

	{"GET", "/api/v1/definitions", auth.Viewer, (*Server).listDefinitions},
	{"POST", "/api/v1/definitions/apply", auth.Editor, (*Server).applyDefinitions},
	{"POST", "/api/v1/training-sets", auth.Editor, (*Server).buildTrainingSet},
	{"GET", "/api/v1/feature-views/{view}/rows", auth.Viewer, (*Server).viewRows},
	{"POST", "/api/v1/materialize", auth.Editor, (*Server).materialize},
	{"POST", "/api/v1/features/online", auth.Viewer, (*Server).onlineFeatures},

	{"GET", "/api/v1/pipelines", auth.Viewer, (*Server).listPipelines},
	{"POST", "/api/v1/pipelines/{pipeline}/plan", auth.Viewer, (*Server).planPipeline},
	{"POST", "/api/v1/pipelines/{pipeline}/runs", auth.Editor, (*Server).startPipeline},
	{"GET", "/api/v1/pipelines/{pipeline}/runs", auth.Viewer, (*Server).listPipelineRuns},
	{"GET", "/api/v1/pipeline-runs/{run}", auth.Viewer, (*Server).getPipelineRun},
	{"POST", "/api/v1/pipeline-runs/{run}/cancel", auth.Editor, (*Server).cancelPipelineRun},
	{"POST", "/api/v1/pipeline-runs/{run}/rerun", auth.Editor, (*Server).rerunPipeline},
	{"POST", "/api/v1/pipeline-runs/{run}/steps/{step}/approval", auth.Editor, (*Server).approveStep},

	{"GET", "/api/v1/monitors", auth.Viewer, (*Server).listMonitors},
	{"GET", "/api/v1/monitors/{endpoint}/report", auth.Viewer, (*Server).monitorReport},
	{"POST", "/api/v1/monitors/{endpoint}/check", auth.Editor, (*Server).checkMonitor},
	{"GET", "/api/v1/monitors/{endpoint}/alerts", auth.Viewer, (*Server).monitorAlerts},
	{"GET", "/api/v1/monitors/{endpoint}/skew", auth.Viewer, (*Server).monitorSkew},
	{"POST", "/api/v1/monitors/{endpoint}/alerts/{rule}/silence", auth.Editor, (*Server).silenceAlert},

	{"GET", "/api/v1/endpoints", auth.Viewer, (*Server).listEndpoints},
	{"POST", "/api/v1/endpoints/{endpoint}/deploy", auth.Editor, (*Server).deployEndpoint},
	{"POST", "/api/v1/endpoints/{endpoint}/rollback", auth.Editor, (*Server).rollbackEndpoint},
	{"POST", "/api/v1/endpoints/{endpoint}/promote", auth.Editor, (*Server).promoteEndpoint},
	{"GET", "/api/v1/endpoints/{endpoint}/shadow", auth.Viewer, (*Server).shadowStats},
	{"GET", "/api/v1/endpoints/{endpoint}/stats", auth.Viewer, (*Server).routeStats},
	{"GET", "/api/v1/endpoints/{endpoint}/history", auth.Viewer, (*Server).endpointHistory},
	{"GET", "/api/v1/endpoints/{endpoint}/predictions/{request_id}", auth.Viewer, (*Server).tracePrediction},
	{"POST", "/api/v1/endpoints/{endpoint}/predict", auth.Viewer, admitted((*Server).predict)},

	{"GET", "/v2/health/live", "", (*Server).v2Live},
	{"GET", "/v2/health/ready", "", (*Server).v2Ready},
	{"GET", "/v2/models/{name}", auth.Viewer, (*Server).v2Metadata},
	{"GET", "/v2/models/{name}/ready", auth.Viewer, (*Server).v2ModelReady},
	{"POST", "/v2/models/{name}/infer", auth.Viewer, admittedV2((*Server).v2Infer)},
	{"GET", "/v2/models/{name}/versions/{version}", auth.Viewer, (*Server).v2Metadata},
	{"GET", "/v2/models/{name}/versions/{version}/ready", auth.Viewer, (*Server).v2ModelReady},
	{"POST", "/v2/models/{name}/versions/{version}/infer", auth.Viewer, admittedV2((*Server).v2Infer)},
}

// Routes lists the endpoints as "METHOD /pattern".
func Routes() []string {
	out := make([]string, len(routes))
	for i, rt := range routes {
		out[i] = rt.method + " " + rt.pattern
	}
	return out
}

// Handler returns the API's HTTP handler.
func (s *Server) Handler() http.Handler {
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.Metrics != nil && s.httpReqs == nil {
		s.httpReqs = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plinth_http_requests_total", Help: "HTTP requests by route pattern, method and status code.",
		}, []string{"route", "method", "code"})
		s.httpTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "plinth_http_request_duration_seconds", Help: "HTTP request latency by route pattern.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 2, 16), // 50 µs to about 1.6 s
		}, []string{"route"})
		s.Metrics.MustRegister(s.httpReqs, s.httpTime)
	}
	if s.Admission == nil {
		s.Admission = &Admission{}
	}
	if s.Admission.slots == nil {
		s.Admission.init()
	}
	mux := http.NewServeMux()
	for _, rt := range routes {
		wildcard, predicts := predictionRoutes[rt.method+" "+rt.pattern]
		mux.HandleFunc(rt.method+" "+rt.pattern, func(w http.ResponseWriter, r *http.Request) {
			if rec, ok := w.(*statusRecorder); ok {
				rec.route = r.Pattern // set on the request the mux saw, which authentication copied
			}
			var err error
			if predicts {
				err = auth.AllowPredict(r, r.PathValue(wildcard), rt.need, s.AuthRequired)
			} else {
				err = auth.Allow(r, rt.need, s.AuthRequired)
			}
			if err != nil {
				s.writeAuthError(w, r, err)
				return
			}
			if err := rt.handle(s, w, r); err != nil {
				s.writeError(w, r, err)
			}
		})
	}
	// Unknown paths and methods get JSON errors like everything else.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, plinth.Errorf(plinth.ENOTFOUND, "no endpoint %s %s", r.Method, r.URL.Path))
	})
	return s.middleware(s.authenticate(mux))
}

// middleware assigns a request id, logs the request, and turns a panic into
// a 500 so one bad request cannot take the server down.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > 128 {
			id = s.newRequestID(start)
		}
		w.Header()["X-Request-Id"] = []string{id} // the canonical key, set without canonicalizing it
		r = r.WithContext(plinth.WithRequestID(r.Context(), id))
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p) // deliberate abort: let net/http drop the connection
				}
				s.Logger.Error("panic serving request", "request_id", id, "method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
				if !rec.wrote {
					s.writeError(rec, r, fmt.Errorf("panic: %v", p))
				}
			}
			elapsed := time.Since(start)
			// Checked first: the arguments cost allocations even when the
			// level is off, on every request.
			if s.Logger.Enabled(r.Context(), slog.LevelDebug) {
				s.Logger.Debug("request", "request_id", id, "method", r.Method, "path", r.URL.Path, "status", rec.status, "duration", elapsed)
			}
			if s.httpReqs != nil {
				route := rec.route // the route, not the raw path, keeps the series few
				if route == "" {
					route = "unmatched"
				}
				m := s.routeMetrics(route, r.Method)
				if rec.status == http.StatusOK && r.Method == m.method {
					m.ok.Inc()
				} else {
					s.httpReqs.WithLabelValues(route, r.Method, strconv.Itoa(rec.status)).Inc()
				}
				m.took.Observe(elapsed.Seconds())
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

// newRequestID returns a request id unique in this process: a sequence
// number and the time (now), both in base 36.
func (s *Server) newRequestID(now time.Time) string {
	var b [32]byte
	id := strconv.AppendUint(b[:0], s.requestSeq.Add(1), 36)
	id = append(id, '-')
	id = strconv.AppendInt(id, now.UnixMilli()%1e6, 36)
	return string(id)
}

// routeMetrics are a route's series that nearly every request touches,
// looked up once: finding a series by its label values costs a
// microsecond per request.
type routeMetrics struct {
	method string
	ok     prometheus.Counter  // requests with method that got a 200
	took   prometheus.Observer // request latency
}

func (s *Server) routeMetrics(route, method string) *routeMetrics {
	if m, ok := s.routeSeries.Load(route); ok {
		return m.(*routeMetrics)
	}
	m := &routeMetrics{method: method, ok: s.httpReqs.WithLabelValues(route, method, "200"), took: s.httpTime.WithLabelValues(route)}
	actual, _ := s.routeSeries.LoadOrStore(route, m)
	return actual.(*routeMetrics)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
	route  string // the route pattern that served the request; "" if none
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// statusOf maps error codes to HTTP statuses: the one place that does.
var statusOf = map[string]int{
	plinth.EINVALID:      http.StatusBadRequest,
	plinth.ENOTFOUND:     http.StatusNotFound,
	plinth.ECONFLICT:     http.StatusConflict,
	plinth.EUNAUTHORIZED: http.StatusUnauthorized,
	plinth.EFORBIDDEN:    http.StatusForbidden,
	plinth.EUNAVAILABLE:  http.StatusServiceUnavailable,
	plinth.EOVERLOADED:   http.StatusTooManyRequests,
	plinth.ETIMEOUT:      http.StatusGatewayTimeout,
	plinth.EINTERNAL:     http.StatusInternalServerError,
}

// ErrorBody is the JSON body of every error response.
type ErrorBody struct {
	Error plinth.Error `json:"error"`
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := plinth.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	body := ErrorBody{Error: plinth.Error{Code: code, Message: plinth.ErrorMessage(err)}}
	var pe *plinth.Error
	if errors.As(err, &pe) {
		body.Error.Field = pe.Field
	}
	if code == plinth.EOVERLOADED && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "1")
	}
	if code == plinth.EINTERNAL {
		id := plinth.RequestIDFrom(r.Context())
		s.Logger.Error("internal error", "request_id", id, "method", r.Method, "path", r.URL.Path, "error", err)
		body.Error.Message = "internal error (request " + id + ")"
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	// Encode before writing the status: a value JSON cannot carry (NaN)
	// must be a 500 the client sees, not an empty 200.
	body, err := json.Marshal(v)
	if err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, `{"error":{"code":%q,"message":"internal error: the response could not be encoded"}}`+"\n", plinth.EINTERNAL)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

// MaxBodyBytes bounds a JSON request body: a batch of a million metric
// points fits, a runaway client does not.
const MaxBodyBytes = 128 << 20

// decode reads a JSON request body into v, strictly: unknown fields,
// trailing data and wrong types are EINVALID errors naming the field.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	body := http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	return DecodeJSON(body, v)
}

// DecodeJSON decodes one JSON value from r into v with the API's strict
// rules and error messages. It is exported for the fuzz test and clients.
func DecodeJSON(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return plinth.Invalid("", "request body has data after the JSON value")
	}
	return nil
}

func decodeError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, io.EOF):
		return plinth.Invalid("", "request body is empty; want a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return plinth.Invalid("", "request body ends in the middle of the JSON value")
	case errors.As(err, &syntax):
		return plinth.Invalid("", "malformed JSON at offset %d: %s", syntax.Offset, syntax.Error())
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return plinth.Invalid("", "want %s, have %s", jsonKind(typ.Type.Kind().String()), typ.Value)
		}
		return plinth.Invalid(field, "want %s, have %s", jsonKind(typ.Type.String()), typ.Value)
	case errors.As(err, &tooBig):
		return plinth.Invalid("", "request body is larger than %d bytes", tooBig.Limit)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return plinth.Invalid(name, "unknown field")
	}
	var pe *plinth.Error
	if errors.As(err, &pe) {
		return pe
	}
	// Errors from a type's own UnmarshalJSON, such as a bad time.
	return plinth.Invalid("", "%s", strings.TrimPrefix(err.Error(), "json: "))
}

// jsonKind names a Go type the way a JSON user thinks of it.
func jsonKind(goType string) string {
	switch {
	case strings.HasPrefix(goType, "map["), goType == "struct" || strings.Contains(goType, "."):
		return "an object"
	case strings.HasPrefix(goType, "[]"), goType == "slice":
		return "an array"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "an integer"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "true or false"
	}
	return goType
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	if s.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.Ready(ctx); err != nil {
			s.Logger.Warn("not ready", "error", err)
			return plinth.Errorf(plinth.EUNAVAILABLE, "not ready: %v", err)
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) error {
	if s.Metrics == nil {
		return plinth.Errorf(plinth.ENOTFOUND, "metrics are off")
	}
	promhttp.HandlerFor(s.Metrics, promhttp.HandlerOpts{}).ServeHTTP(w, r)
	return nil
}

func (s *Server) openapi(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Write(OpenAPI)
	return nil
}

// queryBool reads an optional true/false query parameter; absent is false.
func queryBool(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, plinth.Invalid(name, "want true or false, have %q", v)
	}
	return b, nil
}

// queryInt reads an optional integer query parameter.
func queryInt(r *http.Request, name string, def int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, plinth.Invalid(name, "want an integer, have %q", v)
	}
	return n, nil
}
