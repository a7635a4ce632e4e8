package serve

import (
	"context"
	"encoding/json"
	"reflect"
	"sync"
	"testing"
	"time"
)

// A log record's inputs are a JSON object in their order, and read back
// sorted by name: the same values by name either way.
func TestInputsJSON(t *testing.T) {
	rec := LogRecord{RequestID: "r1", Time: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), Endpoint: "delays", Model: "flights", Version: 2,
		Inputs: Inputs{Names: []string{"dep_hour", "carrier", "distance"}, Values: []any{7.0, "AA", nil}}, Outputs: []float64{0.25}}
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	var raw struct{ Inputs map[string]any }
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if want := rec.Inputs.Map(); !reflect.DeepEqual(raw.Inputs, want) {
		t.Fatalf("inputs as JSON %v, want %v", raw.Inputs, want)
	}
	var back LogRecord
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if got := back.Inputs; !reflect.DeepEqual(got.Names, []string{"carrier", "dep_hour", "distance"}) || !reflect.DeepEqual(got.Map(), rec.Inputs.Map()) {
		t.Fatalf("read back %+v", got)
	}
	if err := json.Unmarshal([]byte(`{"inputs": [1, 2]}`), &back); err == nil {
		t.Fatal("inputs that are not an object: no error")
	}
}

// countingSink counts what it is given and stores.
type countingSink struct {
	mu            sync.Mutex
	added, stored int
	flushes       int
}

func (s *countingSink) Add(context.Context, LogRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.added++
}

func (s *countingSink) Flush(context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushes++
	n := s.added - s.stored
	s.stored = s.added
	return n, nil
}

func (s *countingSink) counts() (stored, flushes int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stored, s.flushes
}

// FlushRequest stores what waits only when a record of the request is
// among it: a lookup of an id the log never saw costs no flush.
func TestFlushRequest(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sink := &countingSink{}
	l := &PredictionLog{Sink: sink, FlushEvery: time.Hour}
	l.Start(ctx, 100, nil)
	l.Log([]LogRecord{{RequestID: "a"}, {RequestID: "a"}})
	l.Log([]LogRecord{{RequestID: "b"}})
	for _, tc := range []struct {
		id              string
		found           bool
		stored, flushes int
	}{
		{"nope", false, 0, 0},
		{"b", true, 3, 1},  // everything waiting is stored, a's records too
		{"a", false, 3, 1}, // stored already: nothing waits
	} {
		found, err := l.FlushRequest(ctx, tc.id)
		stored, flushes := sink.counts()
		if err != nil || found != tc.found || stored != tc.stored || flushes != tc.flushes {
			t.Errorf("FlushRequest(%s) = %v, %v; stored %d in %d flushes, want %v, %d in %d", tc.id, found, err, stored, flushes, tc.found, tc.stored, tc.flushes)
		}
	}
	cancel()
	l.Wait()
	if found, err := l.FlushRequest(context.Background(), "a"); found || err != nil {
		t.Errorf("after the writer stopped: %v, %v", found, err)
	}
}

// Records logged while the writer lets them gather are taken at the next
// take, and the ticker's flushes store them all, whether they came one by
// one or in bursts: none stays in the queue.
func TestLogGathers(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sink := &countingSink{}
	l := &PredictionLog{Sink: sink, FlushEvery: 5 * time.Millisecond}
	l.Start(ctx, 1000, nil)
	total := 0
	for burst := range 20 {
		for range burst % 4 {
			l.Log([]LogRecord{{RequestID: "r"}})
			total++
		}
		time.Sleep(time.Duration(burst%3) * time.Millisecond)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if stored, _ := sink.counts(); stored == total {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("stored %d of %d records without a Flush", stored, total)
		}
	}
}
