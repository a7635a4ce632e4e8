package api

import (
	"bytes"
	"reflect"
	"testing"
)

// The fast path takes the common requests and gives what encoding/json
// gives; it declines the rest, which DecodeJSON then reads.
func TestParsePredict(t *testing.T) {
	for _, tc := range []struct {
		body string
		fast bool
	}{
		{`{"instances":[{"entity_id":"e123"}]}`, true},
		{` { "instances" : [ { "a" : 1.5 , "b" : -0 , "c" : 2e-3, "d": 1E+2, "e": true, "f": false, "g": null, "h": "" } , {} ] } ` + "\n", true},
		{`{"instances":[]}`, true},
		{`{"instances":[{"a":1,"a":2}]}`, true},
		{`{"instances":[{"flight_id":"AA-100","dep_hour":7}],"explain":3}`, false},
		{`{"instances":[{"a":1}],"time":"2026-11-22T10:00:00Z"}`, false},
		{`{"explain":3,"instances":[{"a":1}]}`, false},
		{`{"instances":[{"a":"\u00e9"}]}`, false},
		{`{"instances":[{"a":"é"}]}`, false},
		{`{"instances":[{"a":[1,2]}]}`, false},
		{`{"instances":[{"a":{"b":1}}]}`, false},
		{`{"instances":null}`, false},
		{`{"instances":[{"a":01}]}`, false},
		{`{"instances":[{"a":1.}]}`, false},
		{`{"instances":[{"a":1e999}]}`, false},
		{`{"instances":[{"a":tru}]}`, false},
		{`{"instances":[{"a":1},]}`, false},
		{`{"instances":[{"a":1}]} x`, false},
		{`{"instances":[{"a":1}]`, false},
		{`{"unknown":1}`, false},
		{``, false},
	} {
		var fast PredictRequest
		ok := parsePredict([]byte(tc.body), &fast)
		if ok != tc.fast {
			t.Errorf("%s: fast path %v, want %v", tc.body, ok, tc.fast)
			continue
		}
		if !ok {
			continue
		}
		var std PredictRequest
		if err := DecodeJSON(bytes.NewReader([]byte(tc.body)), &std); err != nil {
			t.Errorf("%s: fast path took what encoding/json rejects: %v", tc.body, err)
		} else if !reflect.DeepEqual(fast, std) {
			t.Errorf("%s: fast %#v, encoding/json %#v", tc.body, fast, std)
		}
	}
}

// FuzzParsePredict: whatever the fast path takes, encoding/json takes too
// and decodes to the same request. The seed corpus is in
// testdata/fuzz/FuzzParsePredict.
func FuzzParsePredict(f *testing.F) {
	for _, s := range []string{
		`{"instances":[{"entity_id":"e123"}]}`,
		`{"instances":[{"a":1.5,"b":-0,"c":2e-3,"e":true,"f":false,"g":null},{}]}`,
		`{"instances":[{"a":1e999}]}`, `{"instances":[{"a":"\u00e9"}]}`, `{"instances":[]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var fast PredictRequest
		if !parsePredict(body, &fast) {
			return
		}
		var std PredictRequest
		if err := DecodeJSON(bytes.NewReader(body), &std); err != nil {
			t.Fatalf("%q: fast path took what encoding/json rejects: %v", body, err)
		}
		if !reflect.DeepEqual(fast, std) {
			t.Fatalf("%q: fast %#v, encoding/json %#v", body, fast, std)
		}
	})
}

func BenchmarkDecodePredict(b *testing.B) {
	body := []byte(`{"instances":[{"entity_id":"e123"}]}`)
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			var req PredictRequest
			if !parsePredict(body, &req) {
				b.Fatal("declined")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			var req PredictRequest
			if err := DecodeJSON(bytes.NewReader(body), &req); err != nil {
				b.Fatal(err)
			}
		}
	})
}
