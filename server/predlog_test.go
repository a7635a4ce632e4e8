package server

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/plinthml/plinth/serve"
)

func TestAppendJSONObject(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   map[string]any
		want string
	}{
		{"empty", map[string]any{}, `{}`},
		{"sorted keys", map[string]any{"b": 1.5, "a": "x", "c": nil, "d": true}, `{"a":"x","b":1.5,"c":null,"d":true}`},
		{"not JSON numbers", map[string]any{"nan": math.NaN(), "inf": math.Inf(-1)}, `{"inf":null,"nan":null}`},
		{"escapes", map[string]any{"q\"k": "a\\b\n\x01é\xff"}, `{"q\"k":"a\\b\u000a\u0001é\ufffd"}`},
		{"other types", map[string]any{"n": 3, "l": []any{1.0, "x"}}, `{"l":[1,"x"],"n":3}`},
		{"floats", map[string]any{"big": 1e21, "small": 1e-7, "int": 42.0}, `{"big":1e+21,"int":42,"small":1e-07}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := appendJSONObject(nil, nil, tc.in)
			if string(got) != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
			var back map[string]any
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatalf("not JSON: %v", err)
			}
		})
	}
}

// FuzzAppendJSONObject checks that any string keys and values come out as
// JSON that decodes to what encoding/json makes of them.
func FuzzAppendJSONObject(f *testing.F) {
	f.Add("age", "thirty", 1.5)
	f.Add("\x00\"\\", "\xff\xfe<>&\u2028", math.Inf(1))
	f.Fuzz(func(t *testing.T, k, v string, x float64) {
		m := map[string]any{k: v, k + "_x": x}
		got, _ := appendJSONObject(nil, nil, m)
		var back, want map[string]any
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%q: not JSON: %v", got, err)
		}
		if math.IsNaN(x) || math.IsInf(x, 0) {
			m[k+"_x"] = nil
		}
		ref, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(ref, &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, want) {
			t.Fatalf("%q decodes to %v, encoding/json's to %v", got, back, want)
		}
	})
}

// BenchmarkLogSink adds and flushes batches of 20,000 records of 30
// features, as the prediction log's writer does under load: ns/op is per
// record, all of it on the writer, off the request path.
func BenchmarkLogSink(b *testing.B) {
	ctx := context.Background()
	n, err := Open(ctx, Config{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	sink := newLogSink(n.Ingester)
	recs := make([]serve.LogRecord, 1000)
	for i := range recs {
		in := map[string]any{}
		for f := 0; f < 30; f++ {
			in[fmt.Sprintf("stats__f%02d", f)] = rand.Float64()
		}
		recs[i] = serve.LogRecord{RequestID: fmt.Sprintf("%016x", rand.Uint64()), Time: time.Now(), Endpoint: "score", Model: "score",
			Version: 1, Variant: "stable", Inputs: in, Request: map[string]any{"entity_id": fmt.Sprint("e", i)}, Outputs: []float64{rand.Float64()}, LatencyUS: 120}
	}
	b.ResetTimer()
	var flush time.Duration
	for i := 0; i < b.N; i++ {
		sink.Add(ctx, recs[i%len(recs)])
		if (i+1)%20_000 == 0 || i == b.N-1 {
			start := time.Now()
			if _, err := sink.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			flush += time.Since(start)
		}
	}
	b.ReportMetric(float64(flush.Nanoseconds())/float64(b.N), "flush-ns/record")
}
