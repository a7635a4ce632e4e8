package tune

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/plinthml/plinth"
)

func TestSpaceValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		space Space
		field string // "" for valid
		msg   string // part of the message
	}{
		{"ok", Space{
			"a": {Int: []int{3, 10}}, "b": {Uniform: []float64{0.5, 1}, Points: 3},
			"c": {LogUniform: []float64{0.01, 0.3}}, "d": {Choice: []any{"x", 1, 2.5, true}},
		}, "", ""},
		{"empty", Space{}, "space", "is empty"},
		{"no domain", Space{"a": {}}, "space.a", "has no domain"},
		{"two domains", Space{"a": {Int: []int{1, 2}, Uniform: []float64{0, 1}}}, "space.a", "has int and uniform"},
		{"int length", Space{"a": {Int: []int{1, 2, 3}}}, "space.a", "int wants [low, high], have 3 values"},
		{"int order", Space{"a": {Int: []int{5, 5}}}, "space.a", "int low 5 must be below high 5"},
		{"uniform order", Space{"a": {Uniform: []float64{1, 0}}}, "space.a", "uniform low 1 must be below high 0"},
		{"uniform nan", Space{"a": {Uniform: []float64{math.NaN(), 1}}}, "space.a", "not a finite number"},
		{"log zero", Space{"a": {LogUniform: []float64{0, 1}}}, "space.a", "log_uniform low must be > 0"},
		{"log length", Space{"a": {LogUniform: []float64{0.1}}}, "space.a", "log_uniform wants [low, high], have 1 values"},
		{"choice empty", Space{"a": {Choice: []any{}}}, "space.a", "choice is empty"},
		{"choice type", Space{"a": {Choice: []any{"x", []int{1}}}}, "space.a", "choice value 1 is a []int"},
		{"choice twice", Space{"a": {Choice: []any{"x", "y", "x"}}}, "space.a", "lists x twice"},
		{"choice points", Space{"a": {Choice: []any{"x"}, Points: 3}}, "space.a", "points applies to numeric ranges"},
		{"points one", Space{"a": {Uniform: []float64{0, 1}, Points: 1}}, "space.a", "points must be 0"},
		{"empty name", Space{"": {Int: []int{1, 2}}}, "space", "empty name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.space.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var e *plinth.Error
			if !errors.As(err, &e) || e.Code != plinth.EINVALID || e.Field != tc.field || !strings.Contains(e.Message, tc.msg) {
				t.Fatalf("Validate = %v, want invalid %s: ...%s...", err, tc.field, tc.msg)
			}
		})
	}
}

// TestSpaceDecode decodes the same space from YAML and JSON: choice numbers
// come out as int when written without a fraction, float64 otherwise.
func TestSpaceDecode(t *testing.T) {
	want := Space{
		"max_depth":     {Int: []int{3, 10}},
		"learning_rate": {LogUniform: []float64{0.01, 0.3}},
		"subsample":     {Uniform: []float64{0.5, 1}, Points: 3},
		"growth":        {Choice: []any{"depthwise", "lossguide"}},
		"rounds":        {Choice: []any{100, 200, 2.5}},
	}
	for _, tc := range []struct{ file string }{{"space.yaml"}, {"space.json"}} {
		t.Run(tc.file, func(t *testing.T) {
			raw, err := os.ReadFile("testdata/" + tc.file)
			if err != nil {
				t.Fatal(err)
			}
			var cfg Config
			if strings.HasSuffix(tc.file, ".json") {
				err = json.Unmarshal(raw, &cfg)
			} else {
				dec := yaml.NewDecoder(strings.NewReader(string(raw)))
				dec.KnownFields(true)
				err = dec.Decode(&cfg)
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cfg.Space, want) {
				t.Errorf("space = %#v\nwant %#v", cfg.Space, want)
			}
			wantCfg := Config{Sampler: "tpe", Trials: 40, Parallel: 2, Direction: Maximize, Seed: 7,
				TPE: TPE{StartupTrials: 5}, ASHA: &ASHA{MinResource: 10, Eta: 3}}
			cfg.Space = nil
			if !reflect.DeepEqual(cfg, wantCfg) {
				t.Errorf("config = %+v\nwant %+v", cfg, wantCfg)
			}
			if err := want.Validate(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestSpaceDecodeErrors(t *testing.T) {
	for _, tc := range []struct{ name, json, field, msg string }{
		{"unknown field", `{"lr": {"log-uniform": [0.01, 0.3]}}`, "space.lr", `unknown field "log-uniform"`},
		{"fractional int", `{"depth": {"int": [3, 10.5]}}`, "space.depth", "cannot unmarshal number 10.5"},
		{"not an object", `{"depth": [3, 10]}`, "space.depth", "cannot unmarshal array"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s Space
			err := json.Unmarshal([]byte(tc.json), &s)
			var e *plinth.Error
			if !errors.As(err, &e) || e.Field != tc.field || !strings.Contains(e.Message, tc.msg) {
				t.Fatalf("Unmarshal = %v, want %s: ...%s...", err, tc.field, tc.msg)
			}
		})
	}
}

func TestGridValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		dim  Dim
		want []any
	}{
		{"every int", Dim{Int: []int{3, 6}}, []any{3, 4, 5, 6}},
		{"int points", Dim{Int: []int{0, 10}, Points: 3}, []any{0, 5, 10}},
		{"int points above the count", Dim{Int: []int{0, 2}, Points: 10}, []any{0, 1, 2}},
		{"uniform", Dim{Uniform: []float64{0, 1}}, []any{0.0, 0.25, 0.5, 0.75, 1.0}},
		{"log", Dim{LogUniform: []float64{0.01, 1}, Points: 3}, []any{0.01, 0.1, 1.0}},
		{"choice", Dim{Choice: []any{"a", "b"}}, []any{"a", "b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.dim.gridValues(5)
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				g, gok := got[i].(float64)
				w, wok := tc.want[i].(float64)
				if gok && wok && math.Abs(g-w) < 1e-12 {
					continue
				}
				if got[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}

// TestGridEnumeratesProduct runs a whole grid and checks that every
// combination ran exactly once.
func TestGridEnumeratesProduct(t *testing.T) {
	space := Space{
		"a": {Int: []int{1, 3}},
		"b": {Uniform: []float64{0, 1}, Points: 2},
		"c": {Choice: []any{"x", "y"}},
	}
	res, err := Run(t.Context(), Config{Space: space, Sampler: SamplerGrid, Parallel: 3}, func(_ context.Context, tr *Trial) (float64, error) {
		return float64(tr.Params["a"].(int)), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tr := range res.Trials {
		got = append(got, fmt.Sprint(tr.Params["a"], tr.Params["b"], tr.Params["c"]))
	}
	slices.Sort(got)
	var want []string
	for _, a := range []int{1, 2, 3} {
		for _, b := range []float64{0, 1} {
			for _, c := range []string{"x", "y"} {
				want = append(want, fmt.Sprint(a, b, c))
			}
		}
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("grid ran %v\nwant %v", got, want)
	}
	if res.Best == nil || res.Best.Value != 1 {
		t.Errorf("best = %+v, want a=1", res.Best)
	}

	// A budget below the grid's size runs that many distinct points.
	res, err = Run(t.Context(), Config{Space: space, Sampler: SamplerGrid, Trials: 5, Seed: 3}, func(_ context.Context, tr *Trial) (float64, error) {
		return 0, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, tr := range res.Trials {
		seen[fmt.Sprint(tr.Params)] = true
	}
	if len(res.Trials) != 5 || len(seen) != 5 {
		t.Errorf("budget 5: %d trials, %d distinct", len(res.Trials), len(seen))
	}
}

func TestGridTooLarge(t *testing.T) {
	space := Space{"a": {Int: []int{0, 1 << 20}}, "b": {Int: []int{0, 10}}}
	_, err := Run(t.Context(), Config{Space: space, Sampler: SamplerGrid}, func(context.Context, *Trial) (float64, error) { return 0, nil })
	if plinth.ErrorCode(err) != plinth.EINVALID || !strings.Contains(err.Error(), "too many for a grid") {
		t.Fatalf("err = %v", err)
	}
}

// TestRandomDeterministic: the same seed proposes the same parameters,
// whatever the parallelism; another seed proposes others; every value lies
// in its domain with its type.
func TestRandomDeterministic(t *testing.T) {
	space := Space{
		"i": {Int: []int{-3, 3}},
		"u": {Uniform: []float64{0.5, 1}},
		"l": {LogUniform: []float64{1e-4, 1}},
		"c": {Choice: []any{"a", "b", "c"}},
	}
	params := func(seed uint64, parallel int) []string {
		res, err := Run(t.Context(), Config{Space: space, Sampler: SamplerRandom, Trials: 30, Seed: seed, Parallel: parallel},
			func(_ context.Context, tr *Trial) (float64, error) {
				i, u, l, c := tr.Params["i"].(int), tr.Params["u"].(float64), tr.Params["l"].(float64), tr.Params["c"].(string)
				if i < -3 || i > 3 || u < 0.5 || u > 1 || l < 1e-4 || l > 1 || !strings.Contains("abc", c) {
					return 0, fmt.Errorf("out of the space: %v", tr.Params)
				}
				return u, nil
			})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, tr := range res.Trials {
			if tr.State != Complete {
				t.Fatalf("trial %d: %v", tr.Number, tr.Err)
			}
			out = append(out, fmt.Sprint(tr.Params))
		}
		return out
	}
	a, b, c := params(1, 1), params(1, 4), params(2, 1)
	if !slices.Equal(a, b) {
		t.Error("seed 1 proposed different parameters at Parallel 1 and 4")
	}
	if slices.Equal(a, c) {
		t.Error("seeds 1 and 2 proposed the same parameters")
	}
}
