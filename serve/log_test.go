package serve

import (
	"encoding/json"
	"reflect"
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
