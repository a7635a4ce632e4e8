// Package ui is plinth's web UI: server-rendered HTML pages over the same
// domain services the JSON API uses, so the UI never holds logic of its own
// that could drift from the API's. Pages are html/template, charts and
// graphs are SVG drawn here in Go, and every asset is embedded: the UI works
// offline, needs no build step and runs no script in the browser.
//
// Mount Handler at "/ui/" (it also answers "GET /" with a redirect there).
package ui

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"sort"
	"strings"
	"time"

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

//go:embed templates static
var assets embed.FS

// Deps are the services the UI reads and steers. They are the node's own
// services (see server.Node); the UI calls them directly, as the API does.
type Deps struct {
	Tracker  *track.Tracker
	Registry *registry.Registry
	Deployer *deploy.Deployer
	Runtime  *serve.Runtime
	// Pipelines runs and stores pipeline runs; PipelineDefs lists the
	// registered pipelines (project.Catalog does).
	Pipelines    *pipeline.Engine
	PipelineDefs pipeline.Catalog
	// Features lists entities and feature views (project.Catalog does).
	Features feature.Catalog
	Datasets dataset.Store
	// Definitions, when set, lists the registered project's feature
	// services (project.Store; the metadata store implements it).
	Definitions project.Store
	// Watermarks, when set, tells how far each view is materialized online.
	Watermarks feature.Watermarks
	// Blobs, when set, lets a model version page read the model file for
	// its global feature importance.
	Blobs blob.Store
	// Monitors lists the registered monitors (project.Catalog does) and
	// Alerts keeps their alerts and silences (the metadata store); when
	// set, the Monitoring pages list them, and a monitor's page shows its
	// alert history and silences its rules.
	Monitors interface {
		Monitors(ctx context.Context) ([]monitor.Spec, error)
	}
	Alerts monitor.AlertStore
	// Checker, when set, reports on a monitored endpoint's traffic over a
	// period (monitor.Checker does: drift, data quality, performance on
	// the labels that came in) for the Monitoring pages. Without it they
	// list the monitors and their alerts only.
	Checker interface {
		Report(ctx context.Context, endpoint string, from, to time.Time) (*monitor.Report, error)
		Spec(ctx context.Context, endpoint string) (*monitor.Spec, error)
	}
	// LookupPrediction, when set, finds the records of a request in an
	// endpoint's prediction log (one per instance scored; none, or an
	// ENOTFOUND error, when the log has no such request), for the page
	// that traces a prediction back to its model's lineage. The node
	// reads its prediction log dataset with DuckDB.
	LookupPrediction func(ctx context.Context, endpoint, requestID string) ([]serve.LogRecord, error)
	// Auth, when set, checks the tokens people sign in with and the pages
	// they may see: below a page's role a request is refused, and where
	// AuthRequired a request without a token is sent to sign in. Without
	// it every request is the anonymous admin and there is no sign-in.
	Auth         *auth.Service
	AuthRequired bool
	// AuditLog, when set, backs the audit trail page (for admins).
	AuditLog auth.AuditLog
	// Predict answers the try-it form. Nil means Runtime.Predict; a node
	// may pass a function that goes through its admission control.
	Predict func(ctx context.Context, endpoint string, instances []map[string]any, explain int) (*serve.Response, error)
	Logger  *slog.Logger
}

// server is the UI's handler state.
type server struct {
	Deps
	pages      map[string]*pageTemplate
	importance *importanceCache
}

// Handler returns the UI's HTTP handler. Every page lives under /ui/; "GET
// /" redirects there so the bare address of a node opens the UI. It panics
// when a required service is missing: that is a wiring mistake, found the
// first time the node starts, not something a page could recover from.
func Handler(d Deps) http.Handler {
	if err := d.check(); err != nil {
		panic(err)
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Predict == nil && d.Runtime != nil {
		d.Predict = d.Runtime.Predict
	}
	s := &server{Deps: d, pages: mustParsePages(), importance: newImportanceCache(64)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ui/", http.StatusFound)
	})
	static, _ := fs.Sub(assets, "static")
	files := http.StripPrefix("/ui/static/", http.FileServerFS(static))
	mux.Handle("GET /ui/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Assets change only with the binary; an hour is long enough to
		// make pages fast and short enough that an upgrade shows soon.
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	}))
	mux.HandleFunc("GET /ui/login", s.signInPage)
	mux.HandleFunc("POST /ui/login", s.signIn)
	mux.HandleFunc("POST /ui/logout", s.signOut)
	for _, rt := range s.routes() {
		mux.HandleFunc(rt.pattern, func(w http.ResponseWriter, r *http.Request) {
			if err := auth.Allow(r, rt.need, s.AuthRequired); err != nil {
				if plinth.IsCode(err, plinth.EUNAUTHORIZED) && r.Method == http.MethodGet && s.Auth != nil {
					http.Redirect(w, r, "/ui/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
					return
				}
				s.fail(w, r, err)
				return
			}
			if err := rt.handle(w, r); err != nil {
				s.fail(w, r, err)
			}
		})
	}
	mux.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, plinth.Errorf(plinth.ENOTFOUND, "there is no page at %s", r.URL.Path))
	})
	return s.middleware(s.authenticate(mux))
}

// authenticate checks the token a request carries, as the API does; a
// cookie that no longer checks out sends the browser to sign in again.
func (s *server) authenticate(next http.Handler) http.Handler {
	if s.Auth == nil {
		return next
	}
	return s.Auth.Middleware(s.signInAgain, next)
}

// check names the required services that are missing.
func (d Deps) check() error {
	var missing []string
	for name, ok := range map[string]bool{
		"Tracker": d.Tracker != nil, "Registry": d.Registry != nil, "Deployer": d.Deployer != nil,
		"Runtime": d.Runtime != nil, "Pipelines": d.Pipelines != nil, "PipelineDefs": d.PipelineDefs != nil,
		"Features": d.Features != nil, "Datasets": d.Datasets != nil,
	} {
		if !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("ui: Deps lacks %s", strings.Join(missing, ", "))
	}
	return nil
}

type route struct {
	pattern string
	need    auth.Role // the least role that may see or post it
	handle  func(w http.ResponseWriter, r *http.Request) error
}

// routes is the one list of the UI's pages.
func (s *server) routes() []route {
	return []route{
		{"GET /ui/{$}", auth.Viewer, s.home},
		{"GET /ui/experiments", auth.Viewer, s.experiments},
		{"GET /ui/runs", auth.Viewer, s.runs},
		{"GET /ui/runs/{run}", auth.Viewer, s.run},
		{"POST /ui/runs/{run}/note", auth.Editor, s.saveNote},
		{"GET /ui/compare", auth.Viewer, s.compare},
		{"GET /ui/models", auth.Viewer, s.models},
		{"GET /ui/models/{model}", auth.Viewer, s.model},
		{"GET /ui/models/{model}/versions/{version}", auth.Viewer, s.version},
		{"GET /ui/endpoints", auth.Viewer, s.endpoints},
		{"GET /ui/endpoints/{endpoint}", auth.Viewer, s.endpoint},
		{"GET /ui/endpoints/{endpoint}/{action}", auth.Viewer, s.confirmAction},
		{"POST /ui/endpoints/{endpoint}/{action}", auth.Editor, s.doAction},
		{"GET /ui/endpoints/{endpoint}/try", auth.Viewer, s.tryIt},
		{"POST /ui/endpoints/{endpoint}/try", auth.Viewer, s.tryIt},
		{"GET /ui/pipelines", auth.Viewer, s.pipelines},
		{"GET /ui/pipelines/{pipeline}", auth.Viewer, s.pipeline},
		{"GET /ui/pipeline-runs/{run}", auth.Viewer, s.pipelineRun},
		{"POST /ui/pipeline-runs/{run}/steps/{step}/approval", auth.Editor, s.decideStep},
		{"GET /ui/datasets", auth.Viewer, s.datasets},
		{"GET /ui/datasets/{dataset}", auth.Viewer, s.dataset},
		{"GET /ui/features", auth.Viewer, s.features},
		{"GET /ui/features/{view}", auth.Viewer, s.featureView},
		{"GET /ui/monitoring", auth.Viewer, s.monitoringMoved},
		{"GET /ui/monitors", auth.Viewer, s.monitors},
		{"GET /ui/monitors/{endpoint}", auth.Viewer, s.monitor},
		{"POST /ui/monitors/{endpoint}/silence", auth.Editor, s.silence},
		{"GET /ui/predictions", auth.Viewer, s.prediction},
		{"GET /ui/tokens", auth.Admin, s.tokens},
		{"POST /ui/tokens", auth.Admin, s.createToken},
		{"POST /ui/tokens/{name}/revoke", auth.Admin, s.revokeToken},
		{"GET /ui/audit", auth.Admin, s.audit},
	}
}

// middleware sets the headers every page needs and turns a panic into an
// error page, so one bad page cannot take the server down.
func (s *server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// No script runs in the UI and nothing is framed or posted away:
		// the policy says so, and a browser enforces it.
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'none'; img-src 'self' data:; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.Logger.Error("panic rendering page", "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
				s.fail(w, r, fmt.Errorf("panic: %v", p))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// statusOf maps error codes to HTTP statuses for error pages.
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

var errorTitles = map[int]string{
	http.StatusBadRequest:          "That request is not right",
	http.StatusNotFound:            "Not found",
	http.StatusConflict:            "That conflicts with the current state",
	http.StatusForbidden:           "Not allowed",
	http.StatusServiceUnavailable:  "Not ready yet",
	http.StatusTooManyRequests:     "Too busy",
	http.StatusGatewayTimeout:      "That took too long",
	http.StatusInternalServerError: "Something went wrong",
}

type errorPage struct {
	Status  int
	Message string
	Ref     string
}

// fail renders err as a friendly page with the status its code maps to.
// Internal errors are logged with a reference and shown without details.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := plinth.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	p := errorPage{Status: status, Message: plinth.ErrorMessage(err)}
	var pe *plinth.Error
	if errors.As(err, &pe) && pe.Field != "" && code == plinth.EINVALID {
		p.Message = pe.Field + ": " + pe.Message
	}
	if status == http.StatusInternalServerError {
		p.Ref = randomHex(6)
		s.Logger.Error("ui internal error", "ref", p.Ref, "method", r.Method, "path", r.URL.Path, "error", err)
		p.Message = "The server could not show this page. The error is logged under the reference below."
	}
	title := errorTitles[status]
	if title == "" {
		title = http.StatusText(status)
	}
	s.renderStatus(w, r, status, "error", title, "", p)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
