package ui_test

import (
	"context"
	"flag"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/plinthml/plinth/auth"
	"github.com/plinthml/plinth/deploy"
	"github.com/plinthml/plinth/ui"
)

var update = flag.Bool("update", false, "write the browser tests' screenshots to testdata/screenshots")

// chromiumPath finds the browser: $PLINTH_CHROMIUM, else Debian's
// chromium on PATH. Without one the browser tests skip locally and fail in
// CI, where scripts/chromium.sh installs it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PLINTH_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium found: CI must install it with scripts/chromium.sh (or set PLINTH_CHROMIUM)")
	}
	t.Skip("no chromium found: install it with scripts/chromium.sh (or set PLINTH_CHROMIUM) to run the browser tests")
	return ""
}

// browser drives a headless Chromium against the UI of a seeded node. It
// records every console error, uncaught exception and browser log error
// (a refused style, a failed load) so the test can insist on none.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
	shot string // screenshot folder

	mu       sync.Mutex
	problems []string
}

func newBrowser(t *testing.T, base string) *browser {
	path := chromiumPath(t)
	b := &browser{t: t, base: base, shot: t.TempDir()}
	if *update {
		b.shot = filepath.Join("testdata", "screenshots")
		must(t, os.MkdirAll(b.shot, 0o755))
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // the CI machine runs tests as root
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-gpu", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx, chromedp.WithListener(b.listen))
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	b.ctx = ctx
	// The first Do starts the browser and opens the tab; they live as long
	// as the context it gets, so it gets the test's, not a step's.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	return b
}

func (b *browser) listen(ev any) {
	var problem string
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		problem = "exception: " + ev.ExceptionDetails.Text
		if ev.ExceptionDetails.Exception != nil {
			problem += " " + ev.ExceptionDetails.Exception.Description
		}
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			var parts []string
			for _, a := range ev.Args {
				parts = append(parts, strings.Trim(string(a.Value), `"`)+a.Description)
			}
			problem = "console." + string(ev.Type) + ": " + strings.Join(parts, " ")
		}
	case *log.EventEntryAdded:
		if ev.Entry.Level == log.EntryLevelError {
			problem = "browser log: " + ev.Entry.Text + " " + ev.Entry.URL
		}
	}
	if problem != "" {
		b.mu.Lock()
		b.problems = append(b.problems, problem)
		b.mu.Unlock()
	}
}

// stepTimeout bounds one group of steps, so a wait that can never end
// fails the test soon and says where.
const stepTimeout = 30 * time.Second

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatal(err)
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func (b *browser) eval(js string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return s
}

// screenshot saves the whole page as name.png, after checking the page's
// accessibility basics.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	b.checkAccessible(name)
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatal(err)
	}
	must(b.t, os.WriteFile(filepath.Join(b.shot, name+".png"), png, 0o644))
}

// checkAccessible checks what a screen reader and a keyboard need: every
// form control has a label, every drawing a text alternative, every
// table header a scope, and the page one h1 and a main landmark.
func (b *browser) checkAccessible(page string) {
	b.t.Helper()
	for what, js := range map[string]string{
		"form controls without a label": `[...document.querySelectorAll("input:not([type=hidden]),select,textarea,button")].filter(e => !(e.labels && e.labels.length) && !e.getAttribute("aria-label") && !(e.tagName == "BUTTON" && e.textContent.trim()))`,
		"drawings without a text":       `[...document.querySelectorAll("svg:not([aria-hidden])")].filter(e => !e.getAttribute("aria-label"))`,
		"header cells without a scope":  `[...document.querySelectorAll("th")].filter(e => !e.getAttribute("scope"))`,
		"links without a name":          `[...document.querySelectorAll("a[href]")].filter(e => !e.textContent.trim() && !e.getAttribute("aria-label"))`,
		"h1 other than one":             `document.querySelectorAll("h1").length == 1 && document.querySelectorAll("main#main").length == 1 ? [] : [1]`,
	} {
		n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`(`+js+`).length`))
		if err != nil {
			b.t.Fatalf("%s: %v", page, err)
		}
		if n > 0 {
			b.t.Errorf("%s: %d %s", page, n, what)
		}
	}
}

func (b *browser) heading() string { return strings.TrimSpace(b.text("h1")) }

// TestBrowser clicks through the main flows as a new user would: the
// overview, the run table, comparing two runs, a model version, the try-it
// form of an endpoint and a rollback through its confirmation, with a
// screenshot of each and no console error anywhere.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser tests are not short")
	}
	f := newFixture(t)
	srv := httptest.NewServer(f.handler)
	t.Cleanup(srv.Close)
	b := newBrowser(t, srv.URL)

	// The bare address opens the overview; the first Tab reaches the
	// skip link, and following it moves focus to the content.
	b.do(chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("h1")))
	if h := b.heading(); h != "Overview" {
		t.Fatalf("home heading %q", h)
	}
	b.do(chromedp.KeyEvent(kb.Tab))
	if got := b.eval(`document.activeElement.textContent`); got != "Skip to content" {
		t.Errorf("first Tab focuses %q, want the skip link", got)
	}
	b.do(chromedp.KeyEvent(kb.Enter))
	if got := b.eval(`document.activeElement.id`); got != "main" {
		t.Errorf("the skip link moves focus to %q, want main", got)
	}
	b.screenshot("home")

	// Runs: through the navigation to the experiment, then its runs.
	b.do(chromedp.Click(chromedp.CSS(`nav a[href="/ui/experiments"]`)), chromedp.WaitVisible(chromedp.CSS(`a[href="/ui/runs?experiment=delays"]`)),
		chromedp.Click(chromedp.CSS(`a[href="/ui/runs?experiment=delays"]`)), chromedp.WaitVisible(chromedp.CSS("table.runs")))
	if h := b.heading(); h != "Runs of delays" {
		t.Fatalf("runs heading %q", h)
	}
	// Order by auc, best first, with the column header.
	b.do(chromedp.Click(chromedp.CSS(`th a[title="order by metrics.auc"]`)), chromedp.WaitVisible(chromedp.CSS(`th[aria-sort="descending"]`)))
	if first := b.text("table.runs tbody tr:first-child td:nth-child(2)"); first != "deep" {
		t.Errorf("ordered by auc, the first run is %q, want deep", first)
	}
	b.screenshot("runs")

	// Compare baseline and deep.
	b.do(chromedp.Click(chromedp.CSS("#sel-"+f.runs["baseline"])), chromedp.Click(chromedp.CSS("#sel-"+f.runs["deep"])),
		chromedp.Click(chromedp.CSS("#compare")), chromedp.WaitVisible(chromedp.CSS("#params-h")))
	if h := b.heading(); h != "Compare 2 runs" {
		t.Fatalf("compare heading %q", h)
	}
	if row := b.text("tr.differs th"); !strings.Contains(row, "max_depth") {
		t.Errorf("the first differing param is %q, want max_depth", row)
	}
	if n := b.eval(`String(document.querySelectorAll("svg.linechart polyline").length)`); n != "4" {
		t.Errorf("%s curves overlaid, want 4 (auc and loss of two runs)", n)
	}
	b.screenshot("compare")

	// One run, from its column header: curves, params, the note.
	b.do(chromedp.Click(chromedp.CSS(`thead a[href="/ui/runs/`+f.runs["deep"]+`"]`)), chromedp.WaitVisible(chromedp.CSS("#note-text")))
	if note := b.eval(`document.querySelector("#note-text").value`); note != "Deeper trees find the evening peak." {
		t.Errorf("the run's note reads %q", note)
	}
	b.screenshot("run")

	// A model version, from the model list.
	b.do(chromedp.Click(chromedp.CSS(`nav a[href="/ui/models"]`)), chromedp.WaitVisible(chromedp.CSS(`td a[href="/ui/models/delays"]`)),
		chromedp.Click(chromedp.CSS(`td a[href="/ui/models/delays"]`)), chromedp.WaitVisible(chromedp.CSS(`a[href="/ui/models/delays/versions/2"]`)),
		chromedp.Click(chromedp.CSS(`td a[href="/ui/models/delays/versions/2"]`)), chromedp.WaitVisible(chromedp.CSS("svg.graph")))
	if h := b.heading(); !strings.HasPrefix(h, "delays v2") {
		t.Fatalf("version heading %q", h)
	}
	if n, _ := strconv.Atoi(b.eval(`String(document.querySelectorAll("svg.graph a").length)`)); n != 7 {
		t.Errorf("the lineage has %d linked boxes, want 7: snapshots, view, service, training set, run, version, endpoint", n)
	}
	b.screenshot("version")

	// Try the endpoint: change two inputs and predict.
	b.do(chromedp.Navigate(srv.URL+"/ui/endpoints/delays"), chromedp.WaitVisible(chromedp.CSS("#traffic-h")))
	b.screenshot("endpoint")
	b.do(chromedp.Click(chromedp.CSS(`a[href="/ui/endpoints/delays/try"]`)), chromedp.WaitVisible(chromedp.CSS("#try-form")),
		chromedp.SetValue(chromedp.CSS(`input[name="x:hour"]`), "19"),
		chromedp.SetValue(chromedp.CSS(`select[name="x:origin"]`), "EWR"),
		chromedp.Click(chromedp.CSS("#predict")), chromedp.WaitVisible(chromedp.CSS(".prediction")))
	p, err := strconv.ParseFloat(b.text(".prediction"), 64)
	if err != nil || p <= 0 || p >= 1 {
		t.Errorf("prediction %q is not a probability", b.text(".prediction"))
	}
	if n := b.eval(`String(document.querySelectorAll("svg.barchart rect").length)`); n != "3" {
		t.Errorf("the explanation draws %s bars, want one per feature (3)", n)
	}
	if got := b.eval(`document.querySelector('select[name="x:origin"]').value`); got != "EWR" {
		t.Errorf("the form forgot the chosen airport: %q", got)
	}
	b.screenshot("try")

	// Trace that prediction: its inputs and its lineage, back to the raw
	// snapshots.
	b.do(chromedp.Click(chromedp.CSS("#trace")), chromedp.WaitVisible(chromedp.CSS("svg.graph")))
	if h := b.heading(); !strings.HasPrefix(h, "Prediction ui-") {
		t.Fatalf("prediction heading %q", h)
	}
	if got := b.eval(`[...document.querySelectorAll("section.record th[scope=row]")].map(e => e.textContent + "=" + e.nextElementSibling.textContent).join(" ")`); !strings.Contains(got, "hour=19") || !strings.Contains(got, "origin=EWR") {
		t.Errorf("the traced prediction's inputs and outputs: %s", got)
	}
	if n, _ := strconv.Atoi(b.eval(`String(document.querySelectorAll("svg.graph a").length)`)); n != 7 {
		t.Errorf("the prediction's lineage has %d linked boxes, want 7: snapshots, view, service, training set, run, version, endpoint", n)
	}
	b.screenshot("prediction")

	// Roll the canary back, through the confirmation.
	b.do(chromedp.Navigate(srv.URL+"/ui/endpoints/delays"), chromedp.WaitVisible(chromedp.CSS("a.danger")),
		chromedp.Click(chromedp.CSS("a.danger")), chromedp.WaitVisible(chromedp.CSS("#confirm")))
	if h := b.heading(); h != "Roll back delays?" {
		t.Fatalf("confirmation heading %q", h)
	}
	b.screenshot("rollback-confirm")
	b.do(chromedp.SendKeys(chromedp.CSS("#reason"), "canary looks off"), chromedp.Click(chromedp.CSS("#confirm")),
		chromedp.WaitVisible(chromedp.CSS(".notice")))
	if msg := b.text(".notice"); !strings.Contains(msg, "Rolled back") {
		t.Errorf("after the rollback the page says %q", msg)
	}
	e, err := f.node.Deployer.Store.Endpoint(context.Background(), "delays")
	must(t, err)
	if e.Action != "rollback" || e.Strategy != deploy.Single || e.Candidate != nil || !strings.Contains(e.Reason, "canary looks off") {
		t.Errorf("endpoint after the rollback: %+v", e)
	}
	b.screenshot("rolled-back")

	// The pipeline run and the dataset, for the record.
	b.do(chromedp.Navigate(srv.URL+"/ui/pipeline-runs/"+f.pipeRun), chromedp.WaitVisible(chromedp.CSS("svg.graph")))
	b.screenshot("pipeline-run")
	b.do(chromedp.Navigate(srv.URL+"/ui/datasets/flights"), chromedp.WaitVisible(chromedp.CSS("#quarantines")))
	b.screenshot("dataset")
	b.do(chromedp.Navigate(srv.URL+"/ui/features/route_stats"), chromedp.WaitVisible(chromedp.CSS("#schema-h")))
	b.screenshot("feature-view")
	// Monitoring: from the list to the endpoint's monitor, its charts and
	// tables; a shorter period; then silence the firing drift alert.
	b.do(chromedp.Click(chromedp.CSS(`nav a[href="/ui/monitors"]`)), chromedp.WaitVisible(chromedp.CSS(`th a[href="/ui/monitors/delays"]`)))
	b.screenshot("monitors")
	b.do(chromedp.Click(chromedp.CSS(`th a[href="/ui/monitors/delays"]`)), chromedp.WaitVisible(chromedp.CSS("#drift-table")))
	if h := b.heading(); h != "Monitor delays" {
		t.Fatalf("monitor heading %q", h)
	}
	if n, _ := strconv.Atoi(b.eval(`String(document.querySelectorAll("svg.linechart").length)`)); n < 4 {
		t.Errorf("%d line charts, want drift share, two drifted features, the prediction and performance", n)
	}
	if n, _ := strconv.Atoi(b.eval(`String(document.querySelectorAll("svg.groupedbars").length)`)); n < 2 {
		t.Errorf("%d distributions, want the two drifted features'", n)
	}
	if first := b.text("#drift-table tbody tr:first-child th"); first != "hour" && first != "distance" {
		t.Errorf("the most important feature first is %q", first)
	}
	b.screenshot("monitor")
	from := f.hour.Add(-3 * time.Hour).Format("2006-01-02T15:04")
	b.do(chromedp.SetValue(chromedp.CSS("#from"), from), chromedp.Click(chromedp.CSS("#period-form button")),
		chromedp.WaitVisible(chromedp.CSS(`#period-form a`)))
	if got := b.eval(`document.querySelector("#from").value`); got != from {
		t.Errorf("the period starts at %q, want %q", got, from)
	}
	b.do(chromedp.SetValue(chromedp.CSS("#silence-rule"), "drift"), chromedp.SetValue(chromedp.CSS("#silence-for"), "4h"),
		chromedp.Click(chromedp.CSS("#silence")), chromedp.WaitVisible(chromedp.CSS(".notice")))
	if msg := b.text(".notice"); !strings.Contains(msg, "Silenced drift until") {
		t.Errorf("after silencing the page says %q", msg)
	}
	until, err := f.node.Meta.SilencedUntil(context.Background(), "delays", "drift")
	must(t, err)
	if d := time.Until(until); d < 4*time.Hour-time.Minute || d > 4*time.Hour {
		t.Errorf("drift silenced for %v, want 4h", d)
	}
	b.screenshot("monitor-silenced")

	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		t.Errorf("browser reported %s", p)
	}
	t.Logf("screenshots in %s", b.shot)
}

// TestBrowserSignIn: with access control required, a browser that opens a
// page is asked for a token, signs in, lands on the page it asked for with
// its name in the header, makes a token for a service, finds it in the
// audit trail, and signs out.
func TestBrowserSignIn(t *testing.T) {
	if testing.Short() {
		t.Skip("browser tests are not short")
	}
	f := newFixture(t)
	d := Deps(f.node)
	d.Auth, d.AuthRequired, d.AuditLog = f.node.Auth, true, f.node.Meta
	srv := httptest.NewServer(ui.Handler(d))
	t.Cleanup(srv.Close)
	secret, _, err := f.node.Auth.Create(context.Background(), auth.NewToken{Name: "dana", Role: auth.Admin})
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, srv.URL)
	b.do(chromedp.Navigate(srv.URL+"/ui/models"), chromedp.WaitVisible(chromedp.CSS("#token")))
	if h := b.heading(); h != "Sign in" {
		t.Fatalf("a page without a token shows %q", h)
	}
	b.screenshot("sign-in")
	b.do(chromedp.SendKeys(chromedp.CSS("#token"), secret), chromedp.Click(chromedp.CSS("#sign-in")),
		chromedp.WaitVisible(chromedp.CSS("#sign-out")))
	if h, who := b.heading(), b.text(".signed-in span"); h != "Models" || who != "dana" {
		t.Fatalf("after signing in: heading %q, signed in as %q", h, who)
	}
	// An admin makes a token for a service and sees its secret once.
	b.do(chromedp.Click(chromedp.CSS(`a[href="/ui/tokens"]`)), chromedp.WaitVisible(chromedp.CSS("#new-token")),
		chromedp.SendKeys(chromedp.CSS("#name"), "scorer"), chromedp.SetValue(chromedp.CSS("#ttl"), "720h"),
		chromedp.Click(chromedp.CSS("#make-token")), chromedp.WaitVisible(chromedp.CSS("#secret")))
	if got := b.text("#secret"); !strings.HasPrefix(got, auth.Prefix) {
		t.Fatalf("the new token's secret shows as %q", got)
	}
	b.screenshot("tokens")
	b.do(chromedp.Click(chromedp.CSS(`a[href="/ui/audit"]`)), chromedp.WaitVisible(chromedp.CSS("#principal")))
	if h := b.heading(); h != "Audit trail" || !strings.Contains(b.text("tbody"), "token scorer (viewer)") {
		t.Errorf("the audit trail: heading %q", h)
	}
	b.screenshot("audit")
	b.do(chromedp.Click(chromedp.CSS("#sign-out")), chromedp.WaitVisible(chromedp.CSS("#token")))
	b.do(chromedp.Navigate(srv.URL+"/ui/models"), chromedp.WaitVisible(chromedp.CSS("#token")))
	if h := b.heading(); h != "Sign in" {
		t.Errorf("after signing out a page shows %q", h)
	}
}
