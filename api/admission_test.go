package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestAdmission drives a handler that blocks until released through the
// admission control: one request runs, one waits, the next is shed with a
// 429, the waiting one runs once a slot frees, and a request that outlives
// its deadline gets a 504.
func TestAdmission(t *testing.T) {
	s := &Server{Admission: &Admission{MaxInFlight: 1, MaxQueued: 1, Timeout: -1}}
	s.Admission.init()
	started, release := make(chan struct{}, 2), make(chan struct{})
	block := admitted(func(_ *Server, w http.ResponseWriter, r *http.Request) error {
		started <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
			return r.Context().Err()
		}
		writeJSON(w, http.StatusOK, map[string]string{"ok": "yes"})
		return nil
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := block(s, w, r); err != nil {
			s.writeError(w, r, err)
		}
	}))
	defer srv.Close()

	status := make(chan int, 2)
	get := func() {
		resp, err := http.Get(srv.URL)
		if err != nil {
			status <- -1
			return
		}
		resp.Body.Close()
		status <- resp.StatusCode
	}
	go get()
	<-started // the first request holds the only slot
	go get()
	for s.Admission.waiting.Load() != 1 {
		time.Sleep(time.Millisecond) // the second request is queued
	}
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	var body ErrorBody
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || body.Error.Code != "overloaded" {
		t.Fatalf("third request: %d %+v, Retry-After %q; want 429 overloaded", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	close(release)
	for i := 0; i < 2; i++ {
		if got := <-status; got != http.StatusOK {
			t.Fatalf("admitted request: status %d, want 200", got)
		}
	}

	s.Admission = &Admission{MaxInFlight: 1, MaxQueued: 1, Timeout: 20 * time.Millisecond}
	s.Admission.init()
	release = make(chan struct{}) // never closed: the request runs out of time
	resp, err = http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusGatewayTimeout || body.Error.Code != "timeout" {
		t.Fatalf("slow request: %d %+v; want 504 timeout", resp.StatusCode, body)
	}
	if s.Admission.waiting.Load() != 0 || len(s.Admission.slots) != 0 {
		t.Fatalf("slots leaked: %d waiting, %d held", s.Admission.waiting.Load(), len(s.Admission.slots))
	}
}

// TestAdmissionV2 sheds Open Inference Protocol requests with the
// protocol's own error body.
func TestAdmissionV2(t *testing.T) {
	s := &Server{Admission: &Admission{MaxInFlight: 1, MaxQueued: 1}}
	s.Admission.init()
	_, done, err := s.Admission.admit(t.Context()) // the only slot
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	s.Admission.waiting.Store(1) // and a full queue
	h := admittedV2(func(*Server, http.ResponseWriter, *http.Request) error {
		t.Error("handler ran past a full queue")
		return nil
	})
	w := httptest.NewRecorder()
	if err := h(s, w, httptest.NewRequest("POST", "/v2/models/m/infer", nil)); err != nil {
		t.Fatal(err)
	}
	var body map[string]string
	json.NewDecoder(w.Body).Decode(&body)
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" || body["error"] == "" {
		t.Fatalf("v2 request past a full queue: %d %v; want 429 with {\"error\": ...}", w.Code, body)
	}
}
