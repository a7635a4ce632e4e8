package monitor

import (
	"encoding/json"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/model"
)

var testSig = &model.Signature{Features: []model.Feature{
	{Name: "x", Type: model.Float, Nullable: true},
	{Name: "n", Type: model.Int},
	{Name: "b", Type: model.Bool},
	{Name: "color", Type: model.Categorical, Categories: []string{"red", "green", "blue"}},
	{Name: "code", Type: model.Categorical},
}}

// testRows returns n random encoded rows of testSig with one output.
func testRows(r *rand.Rand, n int, shift float64) [][]float64 {
	rows := make([][]float64, n)
	for i := range rows {
		x := r.NormFloat64() + shift
		if r.IntN(20) == 0 {
			x = math.NaN()
		}
		rows[i] = []float64{x, float64(r.IntN(4)), float64(r.IntN(2)), float64(r.IntN(3)), float64(r.IntN(30)), r.Float64()}
	}
	return rows
}

func profileRows(t testing.TB, rows [][]float64, opts Options) *Profile {
	t.Helper()
	p, err := NewProfiler(testSig, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rows {
		if err := p.AddRow(row); err != nil {
			t.Fatal(err)
		}
	}
	return p.Profile()
}

func TestProfilerCounts(t *testing.T) {
	p, err := NewProfiler(testSig, Options{Outputs: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Features(); !slices.Equal(got, []string{"x", "n", "b", "color", "code", PredictionFeature}) {
		t.Fatalf("features %v", got)
	}
	nan := math.NaN()
	for _, row := range [][]float64{
		{1, 2, 0, 0, 0, 0.5},
		{3, 2, 1, 2, 7, 0.25},
		{nan, 3, 1, 1, 5000, nan},       // code past MaxCodes: unseen
		{math.Inf(1), 2.5, 2, 3, -1, 1}, // invalid x, n and b; color 3 unseen; code -1 invalid
		{2, nan, nan, nan, nan, 0.75},
	} {
		if err := p.AddRow(row); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.AddRow([]float64{1, 2}); !plinth.IsCode(err, plinth.EINVALID) {
		t.Fatalf("short row: %v", err)
	}
	prof := p.Profile()
	if prof.Rows != 5 {
		t.Fatalf("rows %d", prof.Rows)
	}
	if err := prof.Validate(); err != nil {
		t.Fatal(err)
	}
	x := prof.Feature("x")
	if x.Count != 3 || x.Missing != 1 || x.Invalid != 1 || x.Min != 1 || x.Max != 3 || x.Mean != 2 || !near(x.Variance, 2.0/3, 1e-12) {
		t.Errorf("x: %+v", x)
	}
	if want := []ValueCount{{1, 1}, {2, 1}, {3, 1}}; !slices.Equal(x.Values, want) {
		t.Errorf("x values %v", x.Values)
	}
	if q := x.Quantiles.Quantile(0.5); q != 2 {
		t.Errorf("x median %v", q)
	}
	n := prof.Feature("n")
	if n.Count != 3 || n.Missing != 1 || n.Invalid != 1 {
		t.Errorf("n: %+v", n)
	}
	b := prof.Feature("b")
	if b.Invalid != 1 || b.Missing != 1 || !slices.Equal(b.Categories, []CategoryCount{{"false", 1}, {"true", 2}}) {
		t.Errorf("b: %+v", b)
	}
	color := prof.Feature("color")
	if color.Unseen != 1 || color.Count != 4 || !slices.Equal(color.Categories, []CategoryCount{{"red", 1}, {"green", 1}, {"blue", 1}}) {
		t.Errorf("color: %+v", color)
	}
	if top := color.TopCategories(2); len(top) != 2 || top[0].Name != "red" {
		t.Errorf("top %v", top)
	}
	if d := color.Distinct.Estimate(); d != 4 {
		t.Errorf("color distinct %d, want 4 (three names and the code 3)", d)
	}
	code := prof.Feature("code")
	if code.Count != 3 || code.Invalid != 1 || code.Unseen != 1 || len(code.Categories) != 8 || code.Categories[7] != (CategoryCount{"7", 1}) {
		t.Errorf("code: %+v", code)
	}
	pred := prof.Feature(PredictionFeature)
	if pred.Count != 4 || pred.Missing != 1 || pred.Max != 1 {
		t.Errorf("prediction: %+v", pred)
	}
}

func TestProfilerAddInputs(t *testing.T) {
	p, err := NewProfiler(testSig, Options{Outputs: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range loggedInputs {
		addMap(p, r.inputs, r.outputs)
	}
	prof := p.Profile()
	if err := prof.Validate(); err != nil {
		t.Fatal(err)
	}
	if prof.UnknownInputs != 1 {
		t.Errorf("unknown inputs %d", prof.UnknownInputs)
	}
	for _, tc := range []struct {
		name                            string
		count, missing, invalid, unseen int64
	}{
		{"x", 1, 1, 2, 0},
		{"n", 2, 1, 1, 0},
		{"b", 2, 1, 1, 0},
		{"color", 3, 0, 1, 1},
		{"code", 3, 0, 1, 1}, // a string is a category the signature does not name
		{PredictionFeature, 3, 1, 0, 0},
	} {
		f := prof.Feature(tc.name)
		if f.Count != tc.count || f.Missing != tc.missing || f.Invalid != tc.invalid || f.Unseen != tc.unseen {
			t.Errorf("%s: count %d missing %d invalid %d unseen %d, want %d %d %d %d", tc.name, f.Count, f.Missing, f.Invalid, f.Unseen, tc.count, tc.missing, tc.invalid, tc.unseen)
		}
	}
	if c := prof.Feature("color").Categories; c[1].Count != 1 || c[2].Count != 1 {
		t.Errorf("color %v", c)
	}
}

var loggedInputs = []struct {
	inputs  map[string]any
	outputs []float64
}{
	{map[string]any{"x": 1.5, "n": json.Number("3"), "b": true, "color": "green", "code": 4}, []float64{0.9}},
	{map[string]any{"x": "1.5", "n": 2.5, "b": "yes", "color": "purple", "code": "x", "extra": 1}, nil},
	{map[string]any{"x": nil, "b": 1.0, "color": 2.0, "code": []int{1}}, []float64{0.1}},
	{map[string]any{"x": json.Number("nope"), "n": int64(7), "color": true, "code": float32(2)}, []float64{0.2}},
}

// addMap profiles inputs by name, sorted: not the signature's order.
func addMap(p *Profiler, inputs map[string]any, outputs []float64) {
	names := slices.Sorted(maps.Keys(inputs))
	values := make([]any, len(names))
	for i, n := range names {
		values[i] = inputs[n]
	}
	p.AddInputs(names, values, outputs)
}

// Inputs in the signature's order, as serving logs them, are profiled by
// position; the profile is the one their lookup by name gives.
func TestProfilerAddInputsInOrder(t *testing.T) {
	inOrder, err := NewProfiler(testSig, Options{Outputs: 1})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range testSig.Features {
		names = append(names, f.Name)
	}
	for _, r := range loggedInputs {
		values := make([]any, len(names))
		unknown := len(r.inputs)
		for i, n := range names {
			var ok bool
			if values[i], ok = r.inputs[n]; ok {
				unknown--
			}
		}
		if unknown > 0 {
			continue // in order means exactly the features
		}
		inOrder.AddInputs(names, values, r.outputs)
	}
	// Only the records without extra inputs went in order: profile those
	// by name too.
	want, _ := NewProfiler(testSig, Options{Outputs: 1})
	for _, r := range loggedInputs {
		if _, extra := r.inputs["extra"]; !extra {
			addMap(want, r.inputs, r.outputs)
		}
	}
	got, wantJSON := mustJSON(t, inOrder.Profile()), mustJSON(t, want.Profile())
	if got != wantJSON {
		t.Errorf("in order:\n%s\nby name:\n%s", got, wantJSON)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestMergeEqualsUnion: profiling parts and merging gives the profile of
// the whole: exactly for counts, extremes, values, bins and categories,
// to rounding for the moments, within the rank error for the sketch.
func TestMergeEqualsUnion(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	rows := testRows(r, 30_000, 0)
	ref := refProfile(t, rows[:5000])
	opts := Options{Outputs: 1, Reference: ref}
	whole := profileRows(t, rows, opts)
	merged := profileRows(t, rows[:100], opts)
	for _, part := range [][][]float64{rows[100:100], rows[100:17_000], rows[17_000:]} {
		if err := merged.Merge(profileRows(t, part, opts)); err != nil {
			t.Fatal(err)
		}
	}
	if err := merged.Validate(); err != nil {
		t.Fatal(err)
	}
	if merged.Rows != whole.Rows {
		t.Fatalf("rows %d, want %d", merged.Rows, whole.Rows)
	}
	for i := range whole.Features {
		w, m := &whole.Features[i], &merged.Features[i]
		if w.Count != m.Count || w.Missing != m.Missing || w.Invalid != m.Invalid || w.Unseen != m.Unseen || w.Min != m.Min || w.Max != m.Max {
			t.Errorf("%s: counts or extremes differ: %+v vs %+v", w.Name, w, m)
		}
		if !near(w.Mean, m.Mean, 1e-12) || !near(w.Variance, m.Variance, 1e-9*max(1, w.Variance)) {
			t.Errorf("%s: mean %v/%v variance %v/%v", w.Name, w.Mean, m.Mean, w.Variance, m.Variance)
		}
		if !slices.Equal(w.Values, m.Values) || !slices.Equal(w.Categories, m.Categories) {
			t.Errorf("%s: values or categories differ", w.Name)
		}
		if w.Histogram != nil && !slices.Equal(w.Histogram.Counts, m.Histogram.Counts) {
			t.Errorf("%s: histograms differ: %v vs %v", w.Name, w.Histogram.Counts, m.Histogram.Counts)
		}
		if w.Quantiles != nil {
			for _, q := range []float64{0.1, 0.5, 0.9} {
				a, b := w.Quantiles.Rank(w.Quantiles.Quantile(q)), m.Quantiles.Rank(w.Quantiles.Quantile(q))
				if !near(a, b, 0.03) {
					t.Errorf("%s: rank at the %v quantile %v vs %v", w.Name, q, a, b)
				}
			}
		}
		if w.Distinct != nil && w.Distinct.Estimate() != m.Distinct.Estimate() {
			t.Errorf("%s: distinct %d vs %d", w.Name, w.Distinct.Estimate(), m.Distinct.Estimate())
		}
	}
	// Profiles of different shapes do not merge.
	other := profileRows(t, rows[:10], Options{Outputs: 1})
	if err := merged.Merge(other); !plinth.IsCode(err, plinth.EINVALID) {
		t.Errorf("merge without histograms into one with: %v", err)
	}
	if err := merged.Merge(&Profile{FormatVersion: FormatVersion}); !plinth.IsCode(err, plinth.EINVALID) {
		t.Errorf("merge of no features: %v", err)
	}
}

// refProfile is the reference of rows: ProfileTable over their columns.
func refProfile(t testing.TB, rows [][]float64) *Profile {
	t.Helper()
	cols := make([][]float64, len(rows[0]))
	for _, row := range rows {
		for j, x := range row {
			cols[j] = append(cols[j], x)
		}
	}
	p, err := ProfileTable(testSig, cols, Options{Outputs: len(rows[0]) - len(testSig.Features)})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestProfileTable(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	rows := testRows(r, 20_000, 0)
	ref := refProfile(t, rows)
	if err := ref.Validate(); err != nil {
		t.Fatal(err)
	}
	// The same rows one by one, against the reference, give the same
	// profile (the table's is exact to k = 1000 and bins by itself).
	live := profileRows(t, rows, Options{Outputs: 1, Reference: ref, K: ReferenceK})
	a, _ := json.Marshal(ref)
	b, _ := json.Marshal(live)
	if string(a) != string(b) {
		t.Errorf("ProfileTable and a Profiler against it differ")
	}
	x := ref.Feature("x")
	h := x.Histogram
	if len(h.Edges) != DefaultBins+1 || h.Edges[0] != x.Min || h.Edges[DefaultBins] != math.Nextafter(x.Max, 2*x.Max) {
		t.Fatalf("edges %v (min %v max %v)", h.Edges, x.Min, x.Max)
	}
	if h.Counts[0] != 0 || h.Counts[DefaultBins+1] != 0 {
		t.Errorf("the outer bins of the reference hold values: %v", h.Counts)
	}
	for i, c := range h.Counts[1 : DefaultBins+1] {
		if share := float64(c) / float64(x.Count); !near(share, 0.1, 0.01) {
			t.Errorf("bin %d holds %.3f of the values, want 0.1", i+1, share)
		}
	}
	// A discrete int feature gets a bin per value.
	if e := ref.Feature("n").Histogram.Edges; !slices.Equal(e, []float64{0, 1, 2, 3, math.Nextafter(3, 4)}) {
		t.Errorf("edges of n: %v", e)
	}
	// Bad tables.
	for name, cols := range map[string][][]float64{
		"columns": {{1}},
		"ragged":  {{1, 2}, {1}, {0}, {0}, {0}, {0}},
	} {
		if _, err := ProfileTable(testSig, cols, Options{Outputs: 1}); !plinth.IsCode(err, plinth.EINVALID) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestProfileJSONRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	rows := testRows(r, 5000, 0)
	ref := refProfile(t, rows)
	for name, p := range map[string]*Profile{
		"reference": ref,
		"live":      profileRows(t, rows, Options{Outputs: 1, Reference: ref}),
		"empty":     profileRows(t, nil, Options{}),
	} {
		p.Start = time.Date(2013, 7, 1, 10, 0, 0, 0, time.UTC)
		p.End = p.Start.Add(time.Hour)
		data, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		back, err := DecodeProfile(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		again, _ := json.Marshal(back)
		if string(again) != string(data) {
			t.Fatalf("%s: the round trip changed the profile", name)
		}
		// A decoded profile merges and compares like the original.
		if err := back.Merge(p); err != nil {
			t.Fatalf("%s: merge a decoded profile: %v", name, err)
		}
		if _, err := DetectDrift(ref, back, DriftOptions{}); err != nil && name != "empty" {
			t.Fatalf("%s: drift against a decoded profile: %v", name, err)
		}
	}
}

func TestDecodeProfileRejects(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	good, _ := json.Marshal(refProfile(t, testRows(r, 300, 0)))
	for _, tc := range []struct{ name, from, to string }{
		{"version", `"format_version":1`, `"format_version":2`},
		{"unknown field", `"rows":300`, `"rows":300,"colour":1`},
		{"rows", `"rows":300`, `"rows":301`},
		{"negative", `"rows":300`, `"rows":-1`},
		{"type", `"type":"float"`, `"type":"complex"`},
		{"sketch", `"quantiles":"A`, `"quantiles":"B`},
		{"base64", `"quantiles":"`, `"quantiles":"!`},
		{"trailing", `}]}`, `}]}{}`},
		{"truncated", `}]}`, `}]`},
		{"bool", `"name":"false"`, `"name":"no"`},
		{"histogram", `"edges":[`, `"edges":[-1e300,`},
		{"duplicate", `"name":"n"`, `"name":"x"`},
	} {
		data := strings.Replace(string(good), tc.from, tc.to, 1)
		if data == string(good) {
			t.Fatalf("%s: %q not found", tc.name, tc.from)
		}
		if _, err := DecodeProfile([]byte(data)); !plinth.IsCode(err, plinth.EINVALID) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// TestAddRowAllocates nothing on the hot path, in the exact regime and in
// the sampled one.
func TestAddRowAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	rows := testRows(r, 1<<12, 0)
	p, err := NewProfiler(testSig, Options{Outputs: 1, Reference: refProfile(t, rows)})
	if err != nil {
		t.Fatal(err)
	}
	for range 50 { // let the sketches grow to their size
		for _, row := range rows {
			p.AddRow(row)
		}
	}
	i := 0
	allocs := testing.AllocsPerRun(20_000, func() {
		p.AddRow(rows[i&(len(rows)-1)])
		i++
	})
	if allocs != 0 {
		t.Errorf("AddRow allocates %v times per row", allocs)
	}
}

func TestProfilerReset(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 3))
	rows := testRows(r, 1000, 0)
	p, _ := NewProfiler(testSig, Options{Outputs: 1})
	for _, row := range rows {
		p.AddRow(row)
	}
	p.Reset()
	for _, row := range rows[:10] {
		p.AddRow(row)
	}
	a, _ := json.Marshal(p.Profile())
	b, _ := json.Marshal(profileRows(t, rows[:10], Options{Outputs: 1}))
	if string(a) != string(b) {
		t.Errorf("a reset profiler remembers:\n%s\n%s", a, b)
	}
}

func TestWindows(t *testing.T) {
	var closed []*Profile
	w, err := NewWindows(testSig, Options{Outputs: 1}, WindowOptions{Every: time.Hour, Keep: 2, OnClose: func(p *Profile) { closed = append(closed, p) }})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2013, 7, 1, 10, 0, 0, 0, time.UTC)
	row := []float64{1, 1, 1, 1, 1, 0.5}
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	for _, m := range []int{0, 10, 59, 60, 61, 30, 125, 5, 126} {
		if err := w.AddRow(at(m), row); err != nil {
			t.Fatal(err)
		}
	}
	w.AddInputs(at(130), []string{"x"}, []any{2.0}, nil)
	// Windows 10:00 (4 rows), 11:00 (2), 12:00 (3 rows); opening 12:00
	// closed 10:00, so the row at 10:05 came late.
	if len(closed) != 1 || closed[0].Rows != 4 || !closed[0].Start.Equal(t0) || !closed[0].End.Equal(at(60)) {
		t.Fatalf("closed %+v", closed)
	}
	if w.Late() != 1 {
		t.Errorf("late %d", w.Late())
	}
	open := w.Profiles()
	if len(open) != 2 || open[0].Rows != 2 || open[1].Rows != 3 || !open[1].Start.Equal(at(120)) {
		t.Fatalf("open windows %+v", open)
	}
	done := w.Close(at(180))
	if len(done) != 2 || len(w.Profiles()) != 0 {
		t.Fatalf("close: %d closed, %d open", len(done), len(w.Profiles()))
	}
	if err := w.AddRow(at(150), row); err != nil || w.Late() != 2 {
		t.Errorf("a row for a closed window: %v, late %d", err, w.Late())
	}
	if _, err := NewWindows(testSig, Options{}, WindowOptions{Every: -time.Hour}); !plinth.IsCode(err, plinth.EINVALID) {
		t.Errorf("negative window: %v", err)
	}
}

func TestNewProfilerRejects(t *testing.T) {
	for name, sig := range map[string]*model.Signature{
		"nil":       nil,
		"empty":     {},
		"duplicate": {Features: []model.Feature{{Name: "a", Type: model.Float}, {Name: "a", Type: model.Int}}},
		"type":      {Features: []model.Feature{{Name: "a", Type: "text"}}},
		"no name":   {Features: []model.Feature{{Type: model.Float}}},
	} {
		if _, err := NewProfiler(sig, Options{}); !plinth.IsCode(err, plinth.EINVALID) {
			t.Errorf("%s: %v", name, err)
		}
	}
	ref := &Profile{FormatVersion: FormatVersion, Features: []FeatureProfile{{Name: "x", Type: model.Int}}}
	if _, err := NewProfiler(testSig, Options{Reference: ref}); !plinth.IsCode(err, plinth.EINVALID) {
		t.Errorf("type differs from the reference: %v", err)
	}
}

func TestHugeValues(t *testing.T) {
	p, _ := NewProfiler(testSig, Options{Outputs: 1})
	for _, x := range []float64{math.MaxFloat64, -math.MaxFloat64, 1, math.MaxFloat64} {
		p.AddRow([]float64{x, 1, 1, 1, 1, x})
	}
	prof := p.Profile()
	data, err := json.Marshal(prof)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeProfile(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := back.Merge(prof); err != nil {
		t.Fatal(err)
	}
	if _, err := json.Marshal(back); err != nil {
		t.Fatalf("merged: %v", err)
	}
	if _, err := DetectDrift(prof, back, DriftOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentReads: a frozen reference is read by many checks at once;
// queries never write to it (run with -race).
func TestConcurrentReads(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	ref := refProfile(t, testRows(r, 3000, 0))
	cur := profileRows(t, testRows(r, 3000, 0.5), Options{Outputs: 1, Reference: ref})
	done := make(chan error)
	for range 4 {
		go func() {
			_, err := DetectDrift(ref, cur, DriftOptions{})
			if err == nil {
				_, err = CheckQuality(ref, cur, QualityOptions{Range: [2]float64{0.1, 0.9}})
			}
			ref.Feature("color").Distinct.Estimate()
			ref.Feature("x").Quantiles.Quantile(0.5)
			done <- err
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
