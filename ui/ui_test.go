package ui_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/auth"
	"github.com/plinthml/plinth/deploy"
	"github.com/plinthml/plinth/pipeline"
	"github.com/plinthml/plinth/serve"
	"github.com/plinthml/plinth/ui"
)

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(body)
}

// TestPages: every page answers 200 on a seeded node and shows the seeded
// data.
func TestPages(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		path  string
		wants []string
	}{
		{"/ui/", []string{"Overview", "deep", "delays", "canary the champion", "retrain", "Skip to content", "Open alerts", "drifted: hour, distance"}},
		{"/ui/experiments", []string{"delays", "Will a flight be late?"}},
		{"/ui/runs", []string{"baseline", "deep", "broken", "max_depth", "auc", `type="checkbox"`, "Compare selected runs"}},
		{"/ui/runs?filter=" + url.QueryEscape(`metrics.auc > 0.8`), []string{"deep"}},
		{"/ui/runs?order=" + url.QueryEscape("metrics.auc desc"), []string{`aria-sort="descending"`}},
		{"/ui/runs/" + f.runs["deep"], []string{"Deeper trees find the evening peak.", "max_depth", "<svg", "polyline", "flights", "Save note"}},
		{"/ui/compare?run=" + f.runs["baseline"] + "&run=" + f.runs["deep"], []string{"max_depth", "differs", "★", "runs overlaid", "legend"}},
		{"/ui/models", []string{"delays", "champion → v2"}},
		{"/ui/models/delays", []string{"Predicts whether a flight", "alias.set", "deep wins on auc", "v2"}},
		{"/ui/models/delays/versions/2", []string{"Lineage", "training run", "deep", "flights v1", "delays_features", "route_stats", "Global importance", "distance", "origin", "categorical"}},
		{"/ui/endpoints", []string{"delays", "canary"}},
		{"/ui/endpoints/delays", []string{"Traffic split", "stable", "candidate", "Roll back", "Change history", "canary the champion", "first release", "drift_share 0.5 &gt;= 0.3",
			"Canary gate", "<dd>2m</dd>", "<dd>0.01</dd>", "the gate says <strong>wait</strong>", `href="/ui/monitors/delays"`, "Trace a prediction", `name="request_id"`}},
		{"/ui/endpoints/delays/rollback", []string{"Roll back delays?", "revision 1", `name="csrf"`, "Reason"}},
		{"/ui/endpoints/delays/promote", []string{"Promote delays?"}},
		{"/ui/endpoints/delays/try", []string{`<select id="f2" name="x:origin">`, "EWR", "LGA", `name="x:distance"`, "Predict"}},
		{"/ui/pipelines", []string{"retrain", "failed"}},
		{"/ui/pipelines/retrain", []string{"trainset", "evaluate", "1 / 3"}},
		{"/ui/pipeline-runs/" + f.pipeRun, []string{"state-succeeded", "state-failed", "cached", "label column delayed is missing", "round 10 logloss", "auc 0.81", "1.5 s"}},
		{"/ui/datasets", []string{"flights", "#quarantines"}},
		{"/ui/datasets/flights", []string{"v1", "Quarantines", "below min 0", "not an allowed value", "1 row)", "distance", "route_stats", "not null"}},
		{"/ui/features", []string{"route_stats", "airport", "delays_features", "24h</td>"}},
		{"/ui/features/route_stats", []string{"route_stats", "distance", "DOUBLE", "Snapshots behind it", "v1", "not materialized yet"}},
		{"/ui/monitors", []string{"Monitoring", `href="/ui/monitors/delays"`, "Drift share", `<td class="num">260</td>`, `<span class="tag bad">drifted</span>`, "hour, distance", "AUC ", "labels</span>",
			"drift: <span class=\"state firing\">firing</span>", `href="/ui/pipelines/retrain"`, "drift_share 0.5 &gt;= 0.3", "auc_drop"}},
		{"/ui/monitors/delays", []string{"Monitor delays", "The data has drifted", "260 predictions",
			// the monitor's skew check: the seeded requests carry their
			// features, none is by entity
			"Training–serving skew", "No requests by entity to compare yet.",
			// drift share over time, a line per version, with its threshold
			// (the canary's share of the traffic is random: its line is not
			// checked)
			`aria-label="Share of drifted features per window; delays v1: 9 points`, `class="rule"`, "dataset drift from 50%",
			// the drifted features over time, most important first, and their distributions
			"hour: Kolmogorov–Smirnov p-value per window", "distance: Kolmogorov–Smirnov p-value per window", "drift below 0.05",
			`class="groupedbars"`, "hour: share of values per bin", "reference", "current",
			// the per-feature table
			`<tr class="drifted"><th scope="row">hour</th><td>float</td><td>ks</td>`, "Importance", "prediction <span class=\"muted\">(model output)</span>",
			// data quality, performance, alerts
			"out_of_range", `feature &#34;distance&#34;: missing in`, `id="perf-table"`, "AUC on the labels that came in", "calibration_error",
			`id="rules-table"`, "<code>auc &lt; 0.6</code>", `action="/ui/monitors/delays/silence"`, `name="csrf"`, `<option value="drift" selected>`,
			"auc_drop: auc &lt; 0.6 no longer holds", `class="state resolved"`}},
		{"/ui/monitors/delays?from=" + url.QueryEscape(f.hour.Add(-5*time.Hour).Format("2006-01-02T15:04")) + "&to=" + url.QueryEscape(f.hour.Format("2006-01-02T15:04")),
			[]string{"Back to the last 168h", "delays v1: 5 points", `value="` + f.hour.Format("2006-01-02T15:04") + `"`}},
		{"/ui/predictions", []string{"Trace a prediction", `<label for="request-id">`, `<option value="delays"`}},
		{"/ui/predictions?endpoint=delays&request_id=req-3-05", []string{"Prediction <span class=\"mono\">req-3-05</span>", "Lineage", "lineage-prediction", "req-3-05, prediction",
			"raw snapshots", "training run", "feature view", "Inputs, as the model saw them", `<th scope="row">hour</th>`, "Outputs", `class="num output"`}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			code, body := get(t, f.handler, tc.path)
			if code != http.StatusOK {
				t.Fatalf("status %d, body:\n%s", code, body)
			}
			for _, w := range tc.wants {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
		})
	}
}

// TestErrorPages: missing things are friendly 404 pages, bad input 400s,
// never a panic or a bare error.
func TestErrorPages(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		path string
		code int
		want string
	}{
		{"/ui/runs/nope", 404, "not found"},
		{"/ui/models/nope", 404, "not found"},
		{"/ui/models/delays/versions/99", 404, "not found"},
		{"/ui/models/delays/versions/x", 404, "not a version number"},
		{"/ui/endpoints/nope", 404, "not found"},
		{"/ui/endpoints/nope/try", 404, "not found"},
		{"/ui/endpoints/delays/explode", 404, "no page"},
		{"/ui/pipelines/nope", 404, "not found"},
		{"/ui/pipeline-runs/nope", 404, "not found"},
		{"/ui/datasets/nope", 404, "not found"},
		{"/ui/features/nope", 404, "not found"},
		{"/ui/nowhere", 404, "no page"},
		{"/ui/compare?run=" + f.runs["deep"], 400, "at least two runs"},
		{"/ui/runs?filter=" + url.QueryEscape("metrics.auc >"), 400, "The filter is not right"},
		{"/ui/monitors/nope", 404, "not found"},
		{"/ui/monitors/delays?from=yesterday", 400, "from: &#34;yesterday&#34; is not a time"},
		{"/ui/monitors/delays?from=2026-03-02T00:00&to=2026-03-01T00:00", 400, "must start before it ends"},
		{"/ui/predictions?endpoint=delays&request_id=nope", 404, "has no request nope"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			code, body := get(t, f.handler, tc.path)
			if code != tc.code {
				t.Fatalf("status %d, want %d; body:\n%s", code, tc.code, body)
			}
			if !strings.Contains(body, tc.want) || !strings.Contains(body, "<nav") {
				t.Errorf("error page lacks %q or the navigation:\n%s", tc.want, body)
			}
		})
	}
}

func TestRootRedirects(t *testing.T) {
	h := newFixture(t).handler
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusFound || rec.Header().Get("Location") != "/ui/" {
		t.Fatalf("GET / = %d to %q", rec.Code, rec.Header().Get("Location"))
	}
	code, body := get(t, h, "/ui/static/style.css")
	if code != 200 || !strings.Contains(body, "--accent") {
		t.Fatalf("style.css: %d", code)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/ui/", nil))
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/ui/monitoring", nil))
	if rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != "/ui/monitors" {
		t.Errorf("GET /ui/monitoring = %d to %q", rec.Code, rec.Header().Get("Location"))
	}
	// No page carries an inline style or script, which the policy refuses.
	for _, path := range []string{"/ui/", "/ui/runs", "/ui/endpoints/delays", "/ui/models/delays/versions/2", "/ui/monitors/delays", "/ui/predictions?endpoint=delays&request_id=req-3-05"} {
		if _, body := get(t, h, path); regexp.MustCompile(`<script|style="|<style`).MatchString(body) {
			t.Errorf("%s has inline style or script", path)
		}
	}
}

// session gets a page the way a browser does and returns the form token
// and the cookie that carries it.
func session(t *testing.T, h http.Handler, path string) (token string, cookie *http.Cookie) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	for _, c := range rec.Result().Cookies() {
		if c.Name == "plinth_csrf" {
			cookie = c
		}
	}
	if cookie == nil || cookie.SameSite != http.SameSiteStrictMode || !cookie.HttpOnly {
		t.Fatalf("no strict, http-only form cookie from %s: %+v", path, cookie)
	}
	m := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindStringSubmatch(rec.Body.String())
	if m == nil {
		t.Fatalf("%s has no form token", path)
	}
	return m[1], cookie
}

func post(t *testing.T, h http.Handler, path string, form url.Values, cookie *http.Cookie, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestForms: every POST needs the page's token and its cookie; with them
// a note is saved, a prediction made and an endpoint rolled back.
func TestForms(t *testing.T) {
	f := newFixture(t)
	h := f.handler
	ctx := context.Background()
	tok, cookie := session(t, h, "/ui/endpoints/delays/rollback")

	t.Run("refused without the token", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			form   url.Values
			cookie *http.Cookie
			header []string
		}{
			{"no cookie", url.Values{"csrf": {tok}}, nil, nil},
			{"no token", url.Values{}, cookie, nil},
			{"wrong token", url.Values{"csrf": {strings.Repeat("0", 32)}}, cookie, nil},
			{"another site", url.Values{"csrf": {tok}}, cookie, []string{"Sec-Fetch-Site", "cross-site"}},
		} {
			rec := post(t, h, "/ui/endpoints/delays/rollback", tc.form, tc.cookie, tc.header...)
			if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "reload the page") {
				t.Errorf("%s: status %d", tc.name, rec.Code)
			}
		}
		if e, _ := f.node.Deployer.Store.Endpoint(ctx, "delays"); e.Revision != 2 {
			t.Fatalf("a refused form changed the endpoint: revision %d", e.Revision)
		}
	})

	t.Run("note", func(t *testing.T) {
		id := f.runs["baseline"]
		rec := post(t, h, "/ui/runs/"+id+"/note", url.Values{"csrf": {tok}, "note": {"Too shallow.\r\nTry depth 6."}}, cookie)
		if rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/ui/runs/"+id) {
			t.Fatalf("status %d to %q", rec.Code, rec.Header().Get("Location"))
		}
		run, err := f.node.Tracker.Run(ctx, id)
		must(t, err)
		if run.Note != "Too shallow.\nTry depth 6." {
			t.Fatalf("note %q", run.Note)
		}
		loc, _, _ := strings.Cut(rec.Header().Get("Location"), "#") // a browser keeps the fragment to itself
		if _, body := get(t, h, loc); !strings.Contains(body, "Note saved.") {
			t.Error("no confirmation after saving")
		}
	})

	t.Run("try it", func(t *testing.T) {
		form := url.Values{"csrf": {tok}, "x:distance": {"1200"}, "x:hour": {"20"}, "x:origin": {"LGA"}}
		rec := post(t, h, "/ui/endpoints/delays/try", form, cookie)
		body := rec.Body.String()
		if rec.Code != http.StatusOK || !strings.Contains(body, `class="big prediction"`) || !strings.Contains(body, "hour = 20") || !strings.Contains(body, `<option value="LGA" selected>`) {
			t.Fatalf("status %d:\n%s", rec.Code, body)
		}
		// The prediction can be traced at once: the lookup flushes the
		// prediction log when the request is not in it yet.
		m := regexp.MustCompile(`href="(/ui/predictions\?endpoint=delays&amp;request_id=(ui-[0-9a-f]+))"`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no link to trace the prediction:\n%s", body)
		}
		code, trace := get(t, h, strings.ReplaceAll(m[1], "&amp;", "&"))
		if code != http.StatusOK || !strings.Contains(trace, "Prediction <span class=\"mono\">"+m[2]) || !strings.Contains(trace, `<th scope="row">origin</th><td>LGA</td>`) || !strings.Contains(trace, "lineage-prediction") {
			t.Fatalf("tracing %s: status %d\n%s", m[2], code, trace)
		}
		form.Set("x:hour", "soon")
		rec = post(t, h, "/ui/endpoints/delays/try", form, cookie)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "is not a number") || !strings.Contains(rec.Body.String(), `aria-invalid="true"`) {
			t.Fatalf("a bad number: status %d", rec.Code)
		}
		// An input the model refuses is marked on its field. (Predict is
		// replaced here: the GBT's inputs are all nullable, so the form
		// cannot make the runtime refuse one.)
		d := Deps(f.node)
		d.Predict = func(ctx context.Context, endpoint string, instances []map[string]any, explain int) (*serve.Response, error) {
			return nil, plinth.Invalid("instances[0].hour", "must be before 24")
		}
		form.Set("x:hour", "30")
		rec = post(t, ui.Handler(d), "/ui/endpoints/delays/try", form, cookie)
		if rec.Code != http.StatusBadRequest || !regexp.MustCompile(`id="f1-err">must be before 24`).MatchString(rec.Body.String()) {
			t.Fatalf("a refused input: status %d\n%s", rec.Code, rec.Body.String())
		}
	})

	t.Run("approve a waiting step", func(t *testing.T) {
		spec := pipeline.Spec{Name: "approved", Steps: []pipeline.Step{{Name: "ship", Kind: "gate", Inputs: map[string]string{"metrics": "file:" + writeMetricsFile(t)},
			With: map[string]any{"conditions": []any{"true"}, "approval": true}}}}
		run, err := f.node.Pipelines.Start(ctx, spec, pipeline.RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		page := "/ui/pipeline-runs/" + run.ID
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, body := get(t, h, page); strings.Contains(body, `action="/ui/pipeline-runs/`+run.ID+`/steps/ship/approval"`) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the run page never offered the approval")
			}
			time.Sleep(50 * time.Millisecond)
		}
		action := page + "/steps/ship/approval"
		if rec := post(t, h, action, url.Values{"decision": {"approve"}, "reason": {"ok"}}, cookie); rec.Code != http.StatusForbidden {
			t.Fatalf("without the token: status %d", rec.Code)
		}
		rec := post(t, h, action, url.Values{"csrf": {tok}, "decision": {"approve"}, "reason": {"looks right"}}, cookie)
		if rec.Code != http.StatusSeeOther {
			t.Fatalf("approve: status %d: %s", rec.Code, rec.Body.String())
		}
		d, err := f.node.Meta.Decision(ctx, run.ID, "ship")
		if err != nil || !d.Approve || d.Reason != "looks right (from the web UI)" {
			t.Fatalf("decision: %+v %v", d, err)
		}
	})

	t.Run("silence", func(t *testing.T) {
		rec := post(t, h, "/ui/monitors/delays/silence", url.Values{"rule": {"drift"}, "for": {"4h"}}, cookie)
		if rec.Code != http.StatusForbidden {
			t.Fatalf("without the token: status %d", rec.Code)
		}
		for _, bad := range []url.Values{{"rule": {"nope"}, "for": {"4h"}}, {"rule": {"drift"}, "for": {"forever"}}, {"rule": {"drift"}, "for": {"2200h"}},
			{"rule": {"drift"}, "for": {"4h"}, "reason": {strings.Repeat("x", 1025)}}} {
			bad.Set("csrf", tok)
			if rec := post(t, h, "/ui/monitors/delays/silence", bad, cookie); rec.Code != http.StatusBadRequest {
				t.Errorf("%v: status %d", bad, rec.Code)
			}
		}
		if until, err := f.node.Meta.SilencedUntil(ctx, "delays", "drift"); err != nil || !until.IsZero() {
			t.Fatalf("a refused form silenced the rule: %v %v", until, err)
		}
		rec = post(t, h, "/ui/monitors/delays/silence", url.Values{"csrf": {tok}, "rule": {"drift"}, "for": {"4h"}, "reason": {"storm upstream"}}, cookie)
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/ui/monitors/delays?silenced=drift" {
			t.Fatalf("status %d to %q: %s", rec.Code, rec.Header().Get("Location"), rec.Body.String())
		}
		until, err := f.node.Meta.SilencedUntil(ctx, "delays", "drift")
		must(t, err)
		if d := time.Until(until); d < 4*time.Hour-time.Minute || d > 4*time.Hour {
			t.Fatalf("silenced for %v, want 4h", d)
		}
		_, body := get(t, h, rec.Header().Get("Location"))
		if !strings.Contains(body, "Silenced drift until "+until.UTC().Format("2006-01-02 15:04")) || !strings.Contains(body, `<td><time datetime="`+until.UTC().Format(time.RFC3339)) {
			t.Fatalf("no notice or silence shown:\n%s", body)
		}
		// Who silenced it, and why, is in the audit trail.
		trail, err := f.node.Meta.AuditTrail(ctx, auth.AuditQuery{Limit: 1})
		if must(t, err); len(trail) != 1 || trail[0].Action != "alert.silence" || trail[0].Reason != "for 240 min: storm upstream" {
			t.Fatalf("audit trail: %+v", trail)
		}
	})

	t.Run("rollback", func(t *testing.T) {
		rec := post(t, h, "/ui/endpoints/delays/rollback", url.Values{"csrf": {tok}, "reason": {"canary too slow"}}, cookie)
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/ui/endpoints/delays?done=rollback" {
			t.Fatalf("status %d to %q: %s", rec.Code, rec.Header().Get("Location"), rec.Body.String())
		}
		e, err := f.node.Deployer.Store.Endpoint(ctx, "delays")
		must(t, err)
		if e.Revision != 3 || e.Action != "rollback" || e.Candidate != nil || e.Reason != "canary too slow (from the web UI)" {
			t.Fatalf("endpoint after the rollback: %+v", e)
		}
		// Once rolled back to a single version there is nothing to promote.
		if code, body := get(t, h, "/ui/endpoints/delays/promote"); code != http.StatusConflict || !strings.Contains(body, "no candidate") {
			t.Fatalf("promote without a candidate: %d", code)
		}
	})
}

// TestWithoutMonitoring: a node that wires no checker nor prediction log
// still lists its monitors and alerts, and says what it cannot show.
func TestWithoutMonitoring(t *testing.T) {
	f := newFixture(t)
	d := Deps(f.node)
	d.Checker, d.LookupPrediction = nil, nil
	h := ui.Handler(d)
	for path, wants := range map[string][]string{
		"/ui/monitors":         {`href="/ui/monitors/delays"`, "drift: <span class=\"state firing\">firing</span>"},
		"/ui/monitors/delays":  {"Reports are not wired", `id="rules-table"`, `id="silence-form"`, `id="alert-history"`},
		"/ui/predictions":      {"not wired"},
		"/ui/endpoints/delays": {"Roll back"},
	} {
		code, body := get(t, h, path)
		if code != http.StatusOK {
			t.Fatalf("%s: status %d\n%s", path, code, body)
		}
		for _, w := range wants {
			if !strings.Contains(body, w) {
				t.Errorf("%s lacks %q", path, w)
			}
		}
		if strings.Contains(body, "Drift share") || strings.Contains(body, `id="trace-form"`) {
			t.Errorf("%s shows what is not wired", path)
		}
	}
}

// TestUnmonitoredEndpoint: an endpoint no monitor watches still has a
// monitoring page, from the traffic profiled all the same, and no rules to
// silence.
func TestUnmonitoredEndpoint(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.node.Deployer.Deploy(ctx, "spare", deploy.Spec{Model: "delays@production", Reason: "a second endpoint"}); err != nil {
		t.Fatal(err)
	}
	_, err := f.node.Runtime.Predict(ctx, "spare", []map[string]any{{"distance": 700.0, "hour": 9.0, "origin": "JFK"}}, 0)
	must(t, err)
	if _, body := get(t, f.handler, "/ui/monitors"); !strings.Contains(body, `Not monitored: <a href="/ui/monitors/spare">spare</a>`) {
		t.Error("the list does not name the endpoint without a monitor")
	}
	code, body := get(t, f.handler, "/ui/monitors/spare")
	if code != http.StatusOK || !strings.Contains(body, "No monitor is declared") || !strings.Contains(body, "1 prediction") || strings.Contains(body, `id="silence-form"`) {
		t.Fatalf("status %d:\n%s", code, body)
	}
	tok, cookie := session(t, f.handler, "/ui/monitors/delays")
	if rec := post(t, f.handler, "/ui/monitors/spare/silence", url.Values{"csrf": {tok}, "rule": {"drift"}, "for": {"1h"}}, cookie); rec.Code != http.StatusBadRequest {
		t.Errorf("silencing a rule the endpoint lacks: status %d", rec.Code)
	}
}

func TestHandlerNeedsItsServices(t *testing.T) {
	defer func() {
		if p := recover(); p == nil || !strings.Contains(fmt.Sprint(p), "Deps lacks Datasets, Deployer") {
			t.Fatalf("panic %v", p)
		}
	}()
	d := Deps(newFixture(t).node)
	d.Deployer, d.Datasets = nil, nil
	ui.Handler(d)
}

// writeMetricsFile is a file a gate cannot read as metrics: the gate only
// needs an input to exist before it asks for approval.
func writeMetricsFile(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "m.json")
	os.WriteFile(p, []byte("{}"), 0o644)
	return p
}
