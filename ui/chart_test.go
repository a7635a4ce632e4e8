package ui

import (
	"math"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestLineChart(t *testing.T) {
	c := LineChart{Label: "auc by step", XLabel: "step", Series: []Series{
		{Name: "a<b>", Points: []Point{{0, 0.5}, {1, 0.6}, {2, math.NaN()}, {3, 0.8}}},
		{Name: "one", Points: []Point{{1, 0.7}}},
	}}
	svg := string(c.SVG())
	for _, want := range []string{`role="img"`, `aria-label="auc by step; a&lt;b&gt;: 4 points`, `<polyline class="line s0"`, `<circle class="dot s1"`, "a&lt;b&gt;", ">step<"} {
		if !strings.Contains(svg, want) {
			t.Errorf("chart lacks %q", want)
		}
	}
	if strings.Contains(svg, "NaN") {
		t.Error("a NaN point reached the drawing")
	}
	// Every coordinate lies inside the view box.
	for _, m := range regexp.MustCompile(`(-?[0-9.]+),(-?[0-9.]+)`).FindAllStringSubmatch(svg, -1) {
		if strings.HasPrefix(m[1], "-") || strings.HasPrefix(m[2], "-") {
			t.Errorf("point %s outside the chart", m[0])
		}
	}
}

func TestLineChartEdgeCases(t *testing.T) {
	for name, c := range map[string]LineChart{
		"empty":      {Label: "x"},
		"no points":  {Series: []Series{{Name: "a"}}},
		"flat":       {Series: []Series{{Points: []Point{{0, 3}, {1, 3}}}}},
		"flat zero":  {Series: []Series{{Points: []Point{{0, 0}, {5, 0}}}}},
		"one x":      {Series: []Series{{Points: []Point{{2, 1}, {2, 3}}}}},
		"huge":       {Series: []Series{{Points: []Point{{0, 1e300}, {1, -1e300}}}}},
		"infinities": {Series: []Series{{Points: []Point{{0, math.Inf(1)}, {1, 2}, {2, 3}}}}},
	} {
		t.Run(name, func(t *testing.T) {
			svg := string(c.SVG())
			if strings.Contains(svg, "NaN") || strings.Contains(svg, "Inf") {
				t.Errorf("drawing holds NaN or Inf:\n%s", svg)
			}
		})
	}
}

// TestLineChart100k: a 100,000-point series is downsampled to two points
// per pixel and drawn in well under a second.
func TestLineChart100k(t *testing.T) {
	pts := make([]Point, 100_000)
	for i := range pts {
		pts[i] = Point{float64(i), 1 / (1 + float64(i)/1000)}
	}
	start := time.Now()
	svg := string(LineChart{Label: "loss", Series: []Series{{Name: "loss", Points: pts}}}.SVG())
	d := time.Since(start)
	if d > 200*time.Millisecond {
		t.Errorf("drawing 100k points took %v", d)
	}
	n := strings.Count(regexp.MustCompile(`points="([^"]*)"`).FindStringSubmatch(svg)[1], ",")
	if n > 2*640 || n < 500 {
		t.Errorf("drew %d points, want at most two per pixel of 566", n)
	}
	if len(svg) > 64<<10 {
		t.Errorf("the SVG is %d bytes", len(svg))
	}
}

func BenchmarkLineChart100k(b *testing.B) {
	pts := make([]Point, 100_000)
	for i := range pts {
		pts[i] = Point{float64(i), math.Sin(float64(i) / 300)}
	}
	c := LineChart{Label: "loss", Series: []Series{{Points: pts}}}
	for b.Loop() {
		c.SVG()
	}
}

func TestNiceTicks(t *testing.T) {
	for _, tc := range []struct {
		lo, hi float64
		want   []float64
	}{
		{0, 1, []float64{0, 0.2, 0.4, 0.6000000000000001, 0.8, 1}},
		{0.5, 0.86, []float64{0.5, 0.6, 0.7, 0.8, 0.9}},
		{0, 100_000, []float64{0, 20000, 40000, 60000, 80000, 100000}},
	} {
		got := niceTicks(tc.lo, tc.hi, 5)
		if len(got) != len(tc.want) {
			t.Errorf("niceTicks(%v, %v) = %v, want %v", tc.lo, tc.hi, got, tc.want)
			continue
		}
		for i := range got {
			if math.Abs(got[i]-tc.want[i]) > 1e-9 {
				t.Errorf("niceTicks(%v, %v) = %v, want %v", tc.lo, tc.hi, got, tc.want)
				break
			}
		}
	}
}

func TestBarChart(t *testing.T) {
	svg := string(BarChart{Label: "why", Bars: []Bar{{"hour = 19", 0.5}, {"origin = EWR", -0.25}}}.SVG())
	for _, want := range []string{`class="bar pos"`, `class="bar neg"`, "hour = 19", "−0.25", `aria-label="why; hour = 19 0.5; origin = EWR -0.25"`} {
		if !strings.Contains(svg, want) && !(want == "−0.25" && strings.Contains(svg, "-0.25")) {
			t.Errorf("bar chart lacks %q", want)
		}
	}
	if got := (BarChart{}).SVG(); !strings.Contains(string(got), "Nothing to show") {
		t.Errorf("empty bar chart: %s", got)
	}
}

// TestTimeChart: a time axis has round UTC ticks, and a rule is drawn
// inside the Y range even beyond the data, and named in the legend and the
// chart's text.
func TestTimeChart(t *testing.T) {
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var pts []Point
	for h := 0; h < 12; h++ {
		pts = append(pts, Point{float64(start.Add(time.Duration(h) * time.Hour).Unix()), 0.1 * float64(h%3)})
	}
	svg := string(LineChart{Label: "share", Time: true, Series: []Series{{Name: "v1", Points: pts}},
		Rules: []Rule{{0.5, "threshold 0.5"}}}.SVG())
	for _, want := range []string{">00:00<", ">03:00<", ">09:00<", `class="rule"`, "<title>threshold 0.5</title>", "at 2026-03-01 11:00; threshold 0.5", `>threshold 0.5</li>`} {
		if !strings.Contains(svg, want) {
			t.Errorf("chart lacks %q", want)
		}
	}
	// The rule at 0.5 is above every point: the Y axis reaches it.
	if !strings.Contains(svg, ">0.5<") {
		t.Error("the Y axis stops short of the rule")
	}
	ticks, format := timeTicks(float64(start.Unix()), float64(start.Add(30*24*time.Hour).Unix()), 6)
	if len(ticks) == 0 || len(ticks) > 7 || format(ticks[0]) != "Mar 2" || time.Unix(int64(ticks[0]), 0).UTC().Weekday() != time.Monday {
		t.Errorf("a month: %d ticks, first %q", len(ticks), format(ticks[0]))
	}
	ticks, format = timeTicks(float64(start.Add(20*time.Hour).Unix()), float64(start.Add(30*time.Hour).Unix()), 6)
	if len(ticks) == 0 || format(ticks[0]) != "Mar 1 21:00" {
		t.Errorf("across midnight: first tick %q of %d", format(ticks[0]), len(ticks))
	}
	one := string(LineChart{Time: true, Series: []Series{{Points: pts[:1]}}}.SVG())
	if !strings.Contains(one, "<circle") || strings.Contains(one, "NaN") {
		t.Errorf("a single window:\n%s", one)
	}
}

func TestGroupedBars(t *testing.T) {
	svg := string(GroupedBars{Label: "hour", Groups: []string{"< 0", "0", "12"}, Percent: true, Classes: []string{"s5", "s0"},
		Series: []BarSeries{{"reference", []float64{0, 0.5, 0.5}}, {"current", []float64{0.1, 0.2, math.NaN()}}}}.SVG())
	for _, want := range []string{`role="img"`, `aria-label="hour; &lt; 0: reference 0.0%, current 10.0%; 0: reference 50.0%, current 20.0%`, `<rect class="s5"`, `<rect class="s0"`,
		"<title>0, current: 20.0%</title>", ">40%<", `aria-hidden="true"><rect class="s5"`, ">reference</li>"} {
		if !strings.Contains(svg, want) {
			t.Errorf("chart lacks %q", want)
		}
	}
	if n := strings.Count(svg, "<rect "); n != 8 {
		t.Errorf("%d rects, want 6 bars and 2 swatches", n)
	}
	if strings.Contains(svg, `height="-`) || strings.Contains(svg, `"NaN"`) {
		t.Errorf("bad geometry:\n%s", svg)
	}
	many := make([]string, 12)
	for i := range many {
		many[i] = "category " + string(rune('a'+i))
	}
	if svg := string(GroupedBars{Groups: many, Series: []BarSeries{{"x", make([]float64, 12)}}}.SVG()); !strings.Contains(svg, "rotate(-35") {
		t.Error("many long labels are not slanted")
	}
	if got := (GroupedBars{}).SVG(); !strings.Contains(string(got), "Nothing to show") {
		t.Errorf("empty chart: %s", got)
	}
}
