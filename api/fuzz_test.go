package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzRequest sends arbitrary bodies to every endpoint that reads JSON and
// checks that the server answers each with a well-formed error or success,
// never a 500 or a panic. The seed corpus is in testdata/fuzz/FuzzRequest.
func FuzzRequest(f *testing.F) {
	srv := newServer(f)
	call(f, srv, "POST", "/api/v1/experiments", `{"name": "exp"}`)
	run := call(f, srv, "POST", "/api/v1/runs", `{"experiment": "exp"}`)
	runID := run.body["id"].(string)
	endpoints := []struct{ method, path string }{
		{"POST", "/api/v1/experiments"},
		{"POST", "/api/v1/runs"},
		{"POST", "/api/v1/runs/search"},
		{"POST", "/api/v1/runs/compare"},
		{"PATCH", "/api/v1/runs/" + runID},
		{"POST", "/api/v1/runs/" + runID + "/batch"},
		{"POST", "/api/v1/models"},
		{"POST", "/api/v1/models/m/versions"},
		{"PUT", "/api/v1/models/m/card"},
		{"PUT", "/api/v1/models/m/aliases/champion"},
		{"POST", "/api/v1/models/m/versions/1/review"},
		{"PUT", "/api/v1/datasets/d/spec"},
		{"POST", "/api/v1/endpoints/e/predict"},
	}
	seeds := []string{
		`{"name": "e2", "tags": {"a": "b"}}`,
		`{"experiment": "exp", "params": {"lr": "0.1"}, "inputs": [{"name": "d", "version": "1"}]}`,
		`{"filter": "metrics.auc > 0.9 and (params.depth = \"6\" or not tags.x like \"a%\")", "order_by": ["metrics.auc desc"]}`,
		`{"metrics": [{"key": "loss", "value": 0.5, "step": 3, "timestamp": "2026-11-22T10:00:00Z"}], "params": [{"key": "a", "value": "b"}]}`,
		`{"format": "plinth", "artifacts": [{"path": "m.json", "digest": "sha256:00"}], "signature": {"inputs": [{"name": "x", "type": "float"}]}}`,
		`{"version": 1, "reason": "why"}`, `{"state": "approved"}`, `{"run_ids": ["a", "b"]}`,
		`{"status": "finished", "note": "x"}`, `{"card": {"description": "d"}}`,
		`{"event_time": "t", "max_age": "24h", "columns": [{"name": "x", "type": "int", "min": 0, "in": ["1"]}]}`,
		`{`, `[]`, `null`, `"x"`, `{"metrics": [{"value": 1e400}]}`, `{"filter": "((((((((("}`,
	}
	for i, s := range seeds {
		f.Add(uint8(i), []byte(s))
	}
	handler := srv.Config.Handler
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		ep := endpoints[int(which)%len(endpoints)]
		req := httptest.NewRequest(ep.method, ep.path, strings.NewReader(string(body)))
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s with %q: status %d %s", ep.method, ep.path, body, rec.Code, rec.Body)
		}
		var v map[string]any
		if rec.Code != http.StatusNoContent && json.Unmarshal(rec.Body.Bytes(), &v) != nil {
			t.Fatalf("%s %s with %q: response is not JSON: %s", ep.method, ep.path, body, rec.Body)
		}
		if rec.Code >= 400 {
			e, _ := v["error"].(map[string]any)
			if e == nil || e["code"] == "" || e["message"] == "" {
				t.Fatalf("%s %s with %q: error without code or message: %s", ep.method, ep.path, body, rec.Body)
			}
		}
	})
}
