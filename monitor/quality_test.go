package monitor

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/plinthml/plinth"
)

func TestQuality(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	rows := testRows(r, 10_000, 0)
	for _, row := range rows {
		if row[3] == 2 {
			row[3] = 1 // no "blue" in the reference
		}
	}
	ref := refProfile(t, rows)
	x := ref.Feature("x")

	// A clean window: the same distribution, profiled against the
	// reference, through the log path.
	p, _ := NewProfiler(testSig, Options{Outputs: 1, Reference: ref})
	for _, row := range testRows(r, 2000, 0) {
		if row[3] == 2 {
			row[3] = 0
		}
		p.AddRow(row)
	}
	q, err := CheckQuality(ref, p.Profile(), QualityOptions{ExpectedRows: 2000})
	if err != nil {
		t.Fatal(err)
	}
	if len(q.Issues) != 0 {
		t.Errorf("clean window: %v", q.Issues)
	}
	if len(q.Features) != 5 {
		t.Errorf("%d features measured, want the 5 inputs", len(q.Features))
	}

	// A broken window.
	p.Reset()
	for i := range 1000 {
		in := map[string]any{"x": r.NormFloat64(), "n": 1, "b": true, "color": "red", "code": 3}
		switch i % 10 {
		case 0:
			delete(in, "x") // 10% missing against 5% in the reference
		case 1:
			in["x"] = x.Max + 1 // 10% above the range, counted exactly
		case 2:
			in["color"] = "blue" // known to the signature, absent from the reference
		case 3:
			in["color"] = "purple" // unknown to the signature
		case 4:
			in["n"] = "three" // wrong type
		case 5:
			in["nickname"] = "bob"
		}
		addMap(p, in, []float64{0.5})
	}
	cur := p.Profile()
	q, err = CheckQuality(ref, cur, QualityOptions{ExpectedRows: 5000})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, is := range q.Issues {
		got[is.Feature+" "+is.Kind] = true
		if is.Feature != "" && !strings.Contains(is.Message, `"`+is.Feature+`"`) {
			t.Errorf("message does not name the feature: %s", is.Message)
		}
	}
	for _, want := range []string{" volume", " unknown_input", "x missing", "x out_of_range", "color unseen_category", "n invalid"} {
		if !got[want] {
			t.Errorf("no %q issue in %v", want, q.Issues)
		}
	}
	if len(q.Issues) != 6 {
		t.Errorf("%d issues: %v", len(q.Issues), q.Issues)
	}
	fx := q.Features[0]
	if fx.OutOfRange < 100 || fx.OutOfRange > 101 || !near(fx.MissingRate, 0.1, 1e-12) {
		t.Errorf("x: %+v", fx)
	}
	fc := q.Features[3]
	if fc.Unseen != 200 || len(fc.UnseenCategories) != 1 || fc.UnseenCategories[0] != "blue" {
		t.Errorf("color: %+v", fc)
	}

	// A quantile range: the 1% to 99% of the reference holds 98% of it;
	// a window shifted by one std has 9.3% outside it (P(Z > 1.326)).
	p.Reset()
	for _, row := range testRows(r, 5000, 1) {
		row[3] = min(row[3], 1)
		p.AddRow(row)
	}
	q, err = CheckQuality(ref, p.Profile(), QualityOptions{Range: [2]float64{0.01, 0.99}})
	if err != nil {
		t.Fatal(err)
	}
	if fx := q.Features[0]; !near(fx.OutOfRangeShare, 0.093, 0.015) || len(q.Issues) != 1 || q.Issues[0].Kind != IssueOutOfRange {
		t.Errorf("quantile range: %+v %v", fx, q.Issues)
	}

	for name, opts := range map[string]QualityOptions{
		"range":     {Range: [2]float64{0.9, 0.1}},
		"tolerance": {MissingTolerance: -1},
		"nan":       {ExpectedRows: math.NaN()},
	} {
		if _, err := CheckQuality(ref, ref, opts); !plinth.IsCode(err, plinth.EINVALID) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
