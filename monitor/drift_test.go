package monitor

import (
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/model"
)

var numSig = &model.Signature{Features: []model.Feature{
	{Name: "a", Type: model.Float}, {Name: "b", Type: model.Float}, {Name: "c", Type: model.Float},
}}

// normalProfile profiles n rows of three independent normal features
// with the given shifts of the mean, against ref when given.
func normalProfile(t testing.TB, seed uint64, n int, shift [3]float64, ref *Profile) *Profile {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 17))
	cols := make([][]float64, 3)
	for j := range cols {
		cols[j] = make([]float64, n)
		for i := range cols[j] {
			cols[j][i] = r.NormFloat64() + shift[j]
		}
	}
	p, err := ProfileTable(numSig, cols, Options{Reference: ref, K: DefaultK})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDriftIdentical(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	ref := refProfile(t, testRows(r, 5000, 0))
	d, err := DetectDrift(ref, ref, DriftOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Drifted != 0 || d.DatasetDrift || d.Compared != 5 || len(d.Predictions) != 1 {
		t.Fatalf("%+v", d)
	}
	for _, f := range append(d.Features, d.Predictions...) {
		for m, s := range f.Scores {
			want := 0.0
			if m.IsTest() {
				want = 1
			}
			if !near(s, want, 1e-9) {
				t.Errorf("%s: %s = %v, want %v", f.Feature, m, s, want)
			}
		}
	}
}

// TestDriftNormal: samples of one distribution are not flagged, shifted
// ones are, with tests for small references and distances for large ones.
func TestDriftNormal(t *testing.T) {
	for _, tc := range []struct {
		name    string
		refN    int
		curN    int
		shift   float64
		method  Method
		drifted bool
	}{
		{"small same", 500, 400, 0, KS, false},
		{"small shifted", 500, 400, 0.5, KS, true},
		{"large same", 50_000, 20_000, 0, Wasserstein, false},
		{"large slightly shifted", 50_000, 20_000, 0.05, Wasserstein, false},
		{"large shifted", 50_000, 20_000, 0.3, Wasserstein, true},
		{"million shifted", 20_000, 1_000_000, 0.2, Wasserstein, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := normalProfile(t, 1, tc.refN, [3]float64{}, nil)
			cur := normalProfile(t, 2, tc.curN, [3]float64{tc.shift, 0, tc.shift}, ref)
			d, err := DetectDrift(ref, cur, DriftOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range d.Features {
				want := tc.drifted && f.Feature != "b"
				if f.Method != tc.method || f.Drifted != want {
					t.Errorf("%s: %s %v score %.4g, want %s %v", f.Feature, f.Method, f.Drifted, f.Score, tc.method, want)
				}
				if tc.shift > 0 && f.Feature != "b" {
					// The normalized Wasserstein distance of N(0,1) and
					// N(s,1) is s; PSI grows with the shift too.
					if w := f.Scores[Wasserstein]; !near(w, tc.shift, 0.06+tc.shift*0.1) {
						t.Errorf("%s: wasserstein %v, want about %v", f.Feature, w, tc.shift)
					}
					// A 0.3σ shift gives a PSI of about 0.09 in ten bins.
					if tc.shift >= 0.3 && f.Scores[PSI] < 0.07 {
						t.Errorf("%s: PSI %v", f.Feature, f.Scores[PSI])
					}
				}
			}
			if tc.drifted != d.DatasetDrift || tc.drifted && (d.Drifted != 2 || !near(d.Share, 2.0/3, 1e-12)) {
				t.Errorf("dataset: drifted %d share %v flag %v", d.Drifted, d.Share, d.DatasetDrift)
			}
		})
	}
}

func TestDefaultMethod(t *testing.T) {
	for _, tc := range []struct {
		numeric  bool
		ref      int64
		distinct int
		want     Method
	}{
		{true, 1000, 21, KS},
		{true, 1000, 6, KS},
		{true, 1000, 5, ChiSquared},
		{true, 1000, 2, ZTest},
		{false, 1000, 3, ChiSquared},
		{false, 1000, 2, ZTest},
		{true, 1001, 21, Wasserstein},
		{true, 1001, 5, JensenShannon},
		{false, 1001, 40, JensenShannon},
		{false, 1001, 2, JensenShannon},
	} {
		if got := defaultMethod(tc.numeric, tc.ref, tc.distinct); got != tc.want {
			t.Errorf("numeric %v, %d values, %d distinct: %s, want %s", tc.numeric, tc.ref, tc.distinct, got, tc.want)
		}
	}
}

func TestDriftCategorical(t *testing.T) {
	sig := &model.Signature{Features: []model.Feature{
		{Name: "color", Type: model.Categorical, Categories: []string{"red", "green", "blue", "black"}},
		{Name: "flag", Type: model.Bool},
		{Name: "stars", Type: model.Int},
	}}
	profile := func(n int, colors [4]int, flag float64, stars [3]int) *Profile {
		p, _ := NewProfiler(sig, Options{})
		for i := range n {
			c, s := 0, 0
			for x := i % 100; x >= colors[c]; c++ {
				x -= colors[c]
			}
			for x := i % 100; x >= stars[s]; s++ {
				x -= stars[s]
			}
			b := 0.0
			if float64(i%100) < flag*100 {
				b = 1
			}
			p.AddRow([]float64{float64(c), b, float64(s + 1)})
		}
		return p.Profile()
	}
	ref := profile(500, [4]int{50, 30, 20, 0}, 0.5, [3]int{20, 30, 50})
	same := profile(300, [4]int{50, 30, 20, 0}, 0.5, [3]int{20, 30, 50})
	moved := profile(300, [4]int{20, 30, 30, 20}, 0.8, [3]int{50, 30, 20})
	d, err := DetectDrift(ref, same, DriftOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range d.Features {
		if f.Drifted {
			t.Errorf("same: %s drifted (%s %v)", f.Feature, f.Method, f.Score)
		}
	}
	d, err = DetectDrift(ref, moved, DriftOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Method{"color": ChiSquared, "flag": ZTest, "stars": ChiSquared}
	for _, f := range d.Features {
		if !f.Drifted || f.Method != want[f.Feature] {
			t.Errorf("moved: %s: %s drifted %v (%v)", f.Feature, f.Method, f.Drifted, f.Score)
		}
	}
	// "black" never appears in the reference: chi-squared's statistic is
	// infinite (reported as the largest float) and its p-value 0.
	if c := d.Features[0]; c.Feature == "color" && (c.Statistic != math.MaxFloat64 || c.Score != 0) {
		t.Errorf("color: %+v", c)
	}
	if _, err := json.Marshal(d); err != nil {
		t.Errorf("a drift result does not encode: %v", err)
	}
}

func TestDriftOptions(t *testing.T) {
	ref := normalProfile(t, 1, 5000, [3]float64{}, nil)
	cur := normalProfile(t, 2, 5000, [3]float64{0.15, 0.5, 0.3}, ref)
	// By severity: b (0.5) before c (0.3) before a (0.15).
	d, err := DetectDrift(ref, cur, DriftOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(d.Features); got != "b c a" {
		t.Errorf("order by drift %q", got)
	}
	// By importance, whatever the drift.
	d, _ = DetectDrift(ref, cur, DriftOptions{Importance: map[string]float64{"a": 3, "c": 1}})
	if got := names(d.Features); got != "a c b" || d.Features[0].Importance != 3 {
		t.Errorf("order by importance %q", got)
	}
	// Methods and thresholds chosen by the caller; the share threshold.
	d, _ = DetectDrift(ref, cur, DriftOptions{
		NumericMethod: PSI,
		Methods:       map[string]Method{"a": KS},
		Thresholds:    map[Method]float64{PSI: 0.2},
		Share:         1,
	})
	for _, f := range d.Features {
		want := PSI
		if f.Feature == "a" {
			want = KS
		}
		if f.Method != want || f.Method == PSI && f.Threshold != 0.2 {
			t.Errorf("%s: %s threshold %v", f.Feature, f.Method, f.Threshold)
		}
	}
	if d.DatasetDrift != (d.Drifted == 3) {
		t.Errorf("share 1: %d drifted, flag %v", d.Drifted, d.DatasetDrift)
	}
	for name, opts := range map[string]DriftOptions{
		"method":      {NumericMethod: "t-test"},
		"categorical": {CategoricalMethod: KS},
		"per feature": {Methods: map[string]Method{"a": "x"}},
		"threshold":   {Thresholds: map[Method]float64{KS: 2}},
		"share":       {Share: 1.5},
	} {
		if _, err := DetectDrift(ref, cur, opts); !plinth.IsCode(err, plinth.EINVALID) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A feature missing from the current profile.
	other := normalProfile(t, 3, 10, [3]float64{}, nil)
	other.Features[1].Name = "z"
	if _, err := DetectDrift(ref, other, DriftOptions{}); !plinth.IsCode(err, plinth.EINVALID) {
		t.Errorf("missing feature: %v", err)
	}
}

func names(fs []FeatureDrift) string {
	s := ""
	for i, f := range fs {
		if i > 0 {
			s += " "
		}
		s += f.Feature
	}
	return s
}

// weather reads testdata/weather.csv.gz (see testdata/README.md): hourly
// weather at the New York airports in 2013, by month.
var weatherSig = &model.Signature{Features: []model.Feature{
	{Name: "origin", Type: model.Categorical, Categories: []string{"EWR", "JFK", "LGA"}},
	{Name: "temp", Type: model.Float, Nullable: true},
	{Name: "dewp", Type: model.Float, Nullable: true},
	{Name: "humid", Type: model.Float, Nullable: true},
	{Name: "wind_speed", Type: model.Float, Nullable: true},
	{Name: "precip", Type: model.Float, Nullable: true},
	{Name: "pressure", Type: model.Float, Nullable: true},
	{Name: "visib", Type: model.Float, Nullable: true},
}}

func weather(t testing.TB) (rows [][]float64, months []int) {
	t.Helper()
	f, err := os.Open("testdata/weather.csv.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(zr).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs[1:] { // origin,month,temp,dewp,humid,wind_speed,precip,pressure,visib
		values := map[string]any{"origin": rec[0]}
		for j, f := range weatherSig.Features[1:] {
			if x, err := strconv.ParseFloat(rec[j+2], 64); err == nil {
				values[f.Name] = x
			}
		}
		row := make([]float64, len(weatherSig.Features))
		if err := weatherSig.EncodeRow(values, row); err != nil {
			t.Fatal(err)
		}
		m, _ := strconv.Atoi(rec[1])
		rows = append(rows, row)
		months = append(months, m)
	}
	return rows, months
}

// TestDriftWeather: a model trained on January to March sees July. The
// temperatures drift; a random half of the first quarter against the
// other half does not.
func TestDriftWeather(t *testing.T) {
	rows, months := weather(t)
	var q1a, q1b, july [][]float64
	for i, row := range rows {
		switch {
		case months[i] <= 3 && i%2 == 0:
			q1a = append(q1a, row)
		case months[i] <= 3:
			q1b = append(q1b, row)
		case months[i] == 7:
			july = append(july, row)
		}
	}
	columns := func(rows [][]float64) [][]float64 {
		cols := make([][]float64, len(rows[0]))
		for _, row := range rows {
			for j, x := range row {
				cols[j] = append(cols[j], x)
			}
		}
		return cols
	}
	ref, err := ProfileTable(weatherSig, columns(q1a), Options{})
	if err != nil {
		t.Fatal(err)
	}
	profile := func(rows [][]float64) *Profile {
		p, err := NewProfiler(weatherSig, Options{Reference: ref})
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range rows {
			p.AddRow(row)
		}
		return p.Profile()
	}
	same, err := DetectDrift(ref, profile(q1b), DriftOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range same.Features {
		if f.Drifted {
			t.Errorf("Q1 against Q1: %s drifted (%s %.3g)", f.Feature, f.Method, f.Score)
		}
	}
	d, err := DetectDrift(ref, profile(july), DriftOptions{Importance: map[string]float64{"temp": 2, "humid": 1}})
	if err != nil {
		t.Fatal(err)
	}
	drifted := map[string]bool{}
	for _, f := range d.Features {
		drifted[f.Feature] = f.Drifted
		t.Logf("%-10s %-13s %8.3f drifted=%-5v psi=%.2f ks=%.2g", f.Feature, f.Method, f.Score, f.Drifted, f.Scores[PSI], f.Scores[KS])
	}
	if !drifted["temp"] || !drifted["dewp"] || drifted["origin"] {
		t.Errorf("July against Q1: %v", drifted)
	}
	if d.Features[0].Feature != "temp" {
		t.Errorf("the most important feature is not first: %s", d.Features[0].Feature)
	}
}
