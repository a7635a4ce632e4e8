package ui

import (
	"bytes"
	"crypto/subtle"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/auth"
	"github.com/plinthml/plinth/monitor"
	"github.com/plinthml/plinth/track"
)

// navItem is one entry of the navigation bar. A new section adds a line
// here and its routes.
type navItem struct {
	Section, Label, Href string
}

var nav = []navItem{
	{"home", "Overview", "/ui/"},
	{"runs", "Experiments", "/ui/experiments"},
	{"models", "Models", "/ui/models"},
	{"endpoints", "Endpoints", "/ui/endpoints"},
	{"pipelines", "Pipelines", "/ui/pipelines"},
	{"datasets", "Datasets", "/ui/datasets"},
	{"features", "Features", "/ui/features"},
	{"monitoring", "Monitoring", "/ui/monitors"},
}

// layout is what every page's template sees: the page's own data in Data,
// and around it the title, the navigation and the form token.
type layout struct {
	Title   string
	Section string
	Nav     []navItem
	CSRF    string
	// Principal is who signed in, "" when nobody did (no access control).
	Principal string
	// Tokens links the API tokens page, for those who may manage them.
	Tokens bool
	Data   any
}

type pageTemplate struct{ t *template.Template }

// mustParsePages parses each page with the layout and the shared partials.
// A template that does not parse is a bug in the binary, caught by every
// test, so it panics at start-up rather than on a user's request.
func mustParsePages() map[string]*pageTemplate {
	pages := map[string]*pageTemplate{}
	files, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		panic(err)
	}
	var shared []string
	for _, f := range files {
		if base := path.Base(f); base == "layout.html" || base == "partials.html" {
			shared = append(shared, f)
		}
	}
	for _, f := range files {
		base := path.Base(f)
		if base == "layout.html" || base == "partials.html" {
			continue
		}
		t := template.New(base).Funcs(funcs)
		t = template.Must(t.ParseFS(assets, append(append([]string{}, shared...), f)...))
		pages[strings.TrimSuffix(base, ".html")] = &pageTemplate{t}
	}
	return pages
}

func (s *server) render(w http.ResponseWriter, r *http.Request, page, title, section string, data any) error {
	s.renderStatus(w, r, http.StatusOK, page, title, section, data)
	return nil
}

// renderStatus executes a page into a buffer first, so a template error
// becomes an error page instead of half a page.
func (s *server) renderStatus(w http.ResponseWriter, r *http.Request, status int, page, title, section string, data any) {
	pt := s.pages[page]
	if pt == nil {
		s.Logger.Error("ui: no template", "page", page)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	l := layout{Title: title, Section: section, Nav: nav, CSRF: s.csrfToken(w, r), Data: data}
	if who := plinth.PrincipalFrom(r.Context()); who != plinth.Anonymous {
		l.Principal = who
	}
	l.Tokens = s.Auth != nil && auth.Allow(r, auth.Admin, s.AuthRequired) == nil
	if err := pt.t.ExecuteTemplate(&buf, "layout", l); err != nil {
		s.Logger.Error("ui: rendering page", "page", page, "error", err)
		if page != "error" {
			s.renderStatus(w, r, http.StatusInternalServerError, "error", "Something went wrong", "", errorPage{Status: 500, Message: "The page could not be drawn.", Ref: randomHex(6)})
			return
		}
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

const csrfCookie = "plinth_csrf"

// csrfToken returns the browser's form token, setting it when the browser
// has none. Forms carry it in a hidden field and POST handlers compare it
// with the cookie (checkCSRF): another site can make a browser post, but it
// can neither read the cookie nor, SameSite=Strict, have it sent.
func (s *server) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 32 {
		return c.Value
	}
	tok := randomHex(16)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: tok, Path: "/ui/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	// The request's own cookie jar gets it too, so a page rendered after
	// a form in the same request uses the same token.
	r.AddCookie(&http.Cookie{Name: csrfCookie, Value: tok})
	return tok
}

func checkCSRF(r *http.Request) error {
	expired := plinth.Errorf(plinth.EFORBIDDEN, "this form has expired or did not come from this site; go back, reload the page and submit it again")
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return expired
	}
	c, err := r.Cookie(csrfCookie)
	if err != nil || len(c.Value) != 32 {
		return expired
	}
	if subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf"))) != 1 {
		return expired
	}
	return nil
}

var funcs = template.FuncMap{
	"when":     when,
	"ago":      ago,
	"num":      num,
	"numptr":   numptr,
	"strptr":   func(p *string) string { return derefOr(p, "—") },
	"secs":     secs,
	"bytes":    humanBytes,
	"pct":      func(f float64) string { return strconv.FormatFloat(100*f, 'f', 1, 64) + "%" },
	"duration": runDuration,
	"join":     strings.Join,
	"q":        url.QueryEscape,
	"p":        url.PathEscape,
	"sortedKV": sortedKV,
	"sortedF":  sortedFloats,
	"add":      func(a, b int) int { return a + b },
	"trunc":    truncate,
	"target":   targetString,
	"route":    describeRoute,
	"last":     lastValue,
	"dur":      shortDuration,
	"span":     span,
	"rows":     func(n int64) string { return plural(int(n), "row") },
	"int":      func(n int64) int { return int(n) },
	"micros":   func(us float64) float64 { return us / 1e6 },
	"usecs":    func(us int64) string { return secs(float64(us) / 1e6) },
	"plural":   func(n int64, unit string) string { return plural(int(n), unit) },
	// outputName names a model output's drift pseudo-feature as a person
	// would: prediction, prediction[1].
	"outputName": func(name string) string { return "prediction" + strings.TrimPrefix(name, monitor.PredictionFeature) },
}

func when(t time.Time) template.HTML {
	if t.IsZero() {
		return "—"
	}
	t = t.UTC()
	return template.HTML(fmt.Sprintf(`<time datetime="%s">%s</time>`, t.Format(time.RFC3339), t.Format("2006-01-02 15:04")))
}

// ago says how long ago t was, to the unit a person cares about.
func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := time.Since(t)
	if d < time.Minute {
		return "just now"
	}
	return span(d) + " ago"
}

// shortDuration writes a configured duration without its zero tails:
// 24h, 1h30m, 90s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// span says how long a measured duration is, to the unit a person cares
// about.
func span(d time.Duration) string {
	switch {
	case d < time.Minute:
		return plural(int(d/time.Second), "second")
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute")
	case d < 48*time.Hour:
		return plural(int(d/time.Hour), "hour")
	}
	return plural(int(d/(24*time.Hour)), "day")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}

// num shows a number with four significant digits: enough to tell runs
// apart, short enough for a table.
func num(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "∞"
	case math.IsInf(f, -1):
		return "−∞"
	case f == math.Trunc(f) && math.Abs(f) < 1e9:
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return strconv.FormatFloat(f, 'g', 4, 64)
}

func numptr(f *float64) string {
	if f == nil {
		return "—"
	}
	return num(*f)
}

func derefOr(p *string, def string) string {
	if p == nil {
		return def
	}
	return *p
}

func secs(s float64) string {
	switch {
	case s == 0:
		return "0 s"
	case s < 1e-3:
		return strconv.FormatFloat(s*1e6, 'f', 0, 64) + " µs"
	case s < 1:
		return strconv.FormatFloat(s*1e3, 'f', 0, 64) + " ms"
	case s < 120:
		return strconv.FormatFloat(s, 'f', 1, 64) + " s"
	case s < 7200:
		return strconv.FormatFloat(s/60, 'f', 1, 64) + " min"
	}
	return strconv.FormatFloat(s/3600, 'f', 1, 64) + " h"
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func runDuration(start time.Time, end *time.Time) string {
	if end == nil || start.IsZero() {
		return "—"
	}
	return secs(end.Sub(start).Seconds())
}

type kv struct {
	Key, Value string
}

func sortedKV(m map[string]string) []kv {
	out := make([]kv, 0, len(m))
	for k, v := range m {
		out = append(out, kv{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

type kf struct {
	Key   string
	Value float64
}

func sortedFloats(m map[string]float64) []kf {
	out := make([]kf, 0, len(m))
	for k, v := range m {
		out = append(out, kf{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// lastValue is a metric's latest value as shown in a table, "" when the
// run lacks the metric.
func lastValue(m map[string]track.MetricSummary, key string) string {
	s, ok := m[key]
	if !ok {
		return ""
	}
	return num(s.Value)
}

func truncate(n int, s string) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
