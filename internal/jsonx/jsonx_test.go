package jsonx

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
)

func TestAppendObject(t *testing.T) {
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
			got, _ := AppendObject(nil, nil, tc.in)
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

// FuzzAppendObject checks that any string keys and values come out as
// JSON that decodes to what encoding/json makes of them.
func FuzzAppendObject(f *testing.F) {
	f.Add("age", "thirty", 1.5)
	f.Add("\x00\"\\", "\xff\xfe<>&\u2028", math.Inf(1))
	f.Fuzz(func(t *testing.T, k, v string, x float64) {
		m := map[string]any{k: v, k + "_x": x}
		got, _ := AppendObject(nil, nil, m)
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

// TestAppendObjectReusesKeys: the keys of one call serve the next only
// when the map has exactly those keys.
func TestAppendObjectReusesKeys(t *testing.T) {
	_, keys := AppendObject(nil, nil, map[string]any{"b": 2.0, "a": 1.0})
	for _, tc := range []struct {
		in   map[string]any
		want string
	}{
		{map[string]any{"a": 3.0, "b": 4.0}, `{"a":3,"b":4}`},
		{map[string]any{"a": 1.0, "c": 2.0}, `{"a":1,"c":2}`},
		{map[string]any{"c": 1.0}, `{"c":1}`},
		{map[string]any{"z": 1.0, "c": 2.0, "a": 3.0}, `{"a":3,"c":2,"z":1}`},
		{map[string]any{}, `{}`},
	} {
		var got []byte
		got, keys = AppendObject(nil, keys, tc.in)
		if string(got) != tc.want {
			t.Fatalf("got %s, want %s", got, tc.want)
		}
	}
}

// AppendFields keeps the names' order, and each field is what
// AppendObject writes for it.
func TestAppendFields(t *testing.T) {
	names := []string{"b", "a", "q\"k", "nan"}
	values := []any{1.5, "x", nil, math.NaN()}
	if got, want := string(AppendFields(nil, names, values)), `{"b":1.5,"a":"x","q\"k":null,"nan":null}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if got := string(AppendFields(nil, nil, nil)); got != `{}` {
		t.Fatalf("no fields: got %s", got)
	}
}
