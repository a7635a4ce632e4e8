package feature

import (
	"testing"
)

func TestOnDemand(t *testing.T) {
	p, err := Compile([]OnDemand{
		{Name: "cold_evening", Expression: "weather__temp < 32.0 && request.hour >= 18", Type: "bool"},
		{Name: "speed", Expression: "double(request.distance) / double(request.minutes) * 60.0", Type: "float"},
		{Name: "route", Expression: "request.origin + '-' + request.dest", Type: "string"},
		{Name: "temp_bucket", Expression: "int(weather__temp / 10.0)", Type: "int"},
	}, []string{"weather__temp"})
	if err != nil {
		t.Fatal(err)
	}
	got := p.Eval(map[string]any{"hour": 19, "distance": 1089.0, "minutes": int64(227), "origin": "JFK", "dest": "LAX"}, map[string]any{"weather__temp": 28.4})
	if got[0] != true || got[1].(float64) < 287.8 || got[1].(float64) > 287.9 || got[2] != "JFK-LAX" || got[3] != int64(2) {
		t.Fatalf("Eval = %v", got)
	}
	// A missing input gives null, not an error or a zero.
	got = p.Eval(map[string]any{"hour": 19}, map[string]any{"weather__temp": nil})
	for i, v := range got {
		if v != nil {
			t.Errorf("feature %d with missing inputs = %v, want nil", i, v)
		}
	}
	for _, bad := range []OnDemand{
		{Name: "x", Expression: "weather__temp <", Type: "bool"},
		{Name: "x", Expression: "unknown_feature > 1", Type: "bool"},
		{Name: "x", Expression: "1", Type: "decimal"},
		{Name: "bad name", Expression: "1", Type: "int"},
	} {
		if _, err := Compile([]OnDemand{bad}, []string{"weather__temp"}); err == nil {
			t.Errorf("Compile(%+v) succeeded", bad)
		}
	}
}
