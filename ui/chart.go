package ui

import (
	"html"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"
)

// Charts are SVG drawn on the server: no script, nothing to download, and
// a page with charts renders as fast as its data is read. Colours come from
// classes (s0..s7) in style.css, so the page's style policy needs no inline
// styles.

// Series is one named line of a chart.
type Series struct {
	Name   string
	Points []Point
}

// LineChart draws series against a shared numeric X axis (steps).
type LineChart struct {
	// Label is the chart's accessible name, e.g. "auc by step".
	Label  string
	XLabel string
	Width  int // default 640
	Height int // default 240
	Series []Series
	// MaxPoints bounds the points drawn per series; longer series are
	// downsampled with LTTB. Default: two per horizontal pixel.
	MaxPoints int
	// Time says the X values are Unix seconds: the axis shows UTC dates
	// and times at round steps (hours, days, weeks).
	Time bool
	// Rules are horizontal reference lines, such as a threshold, drawn
	// dashed across the chart and always inside its Y range.
	Rules []Rule
}

// Rule is a horizontal reference line of a LineChart.
type Rule struct {
	Y     float64
	Label string
}

const palette = 8

// SVG returns the chart as an accessible SVG figure with its legend.
func (c LineChart) SVG() template.HTML {
	w, h := c.Width, c.Height
	if w <= 0 {
		w = 640
	}
	if h <= 0 {
		h = 240
	}
	const left, right, top, bottom = 60, 14, 10, 36
	pw, ph := float64(w-left-right), float64(h-top-bottom)
	maxPts := c.MaxPoints
	if maxPts <= 0 {
		maxPts = 2 * int(pw)
	}

	// Finite points only, then downsampled, then the extents of what is
	// drawn.
	drawn := make([][]Point, len(c.Series))
	minX, maxX, minY, maxY := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	total := 0
	for i, s := range c.Series {
		pts := finite(s.Points)
		total += len(pts)
		pts = LTTB(pts, maxPts)
		drawn[i] = pts
		for _, p := range pts {
			minX, maxX = math.Min(minX, p.X), math.Max(maxX, p.X)
			minY, maxY = math.Min(minY, p.Y), math.Max(maxY, p.Y)
		}
	}
	var b strings.Builder
	b.Grow(64 + 16*len(c.Series)*maxPts)
	b.WriteString(`<figure class="chart">`)
	if c.Label != "" {
		b.WriteString(`<div class="chart-title" aria-hidden="true">` + html.EscapeString(c.Label) + `</div>`)
	}
	if total == 0 {
		b.WriteString(`<p class="muted">No points to draw.</p></figure>`)
		return template.HTML(b.String())
	}
	for _, r := range c.Rules {
		if isFinite(r.Y) {
			minY, maxY = math.Min(minY, r.Y), math.Max(maxY, r.Y)
		}
	}
	if minX == maxX {
		d := 1.0
		if c.Time {
			d = 1800 // half an hour either side of a single window
		}
		minX, maxX = minX-d, maxX+d
	}
	if minY == maxY {
		d := math.Max(math.Abs(minY)*0.1, 1e-9)
		if minY == 0 {
			d = 1
		}
		minY, maxY = minY-d, maxY+d
	}
	yt := niceTicks(minY, maxY, 5)
	minY, maxY = math.Min(minY, yt[0]), math.Max(maxY, yt[len(yt)-1])
	xt, xfmt := niceTicks(minX, maxX, 6), num
	if c.Time {
		xt, xfmt = timeTicks(minX, maxX, 6)
	}
	sx := func(x float64) float64 { return float64(left) + (x-minX)/(maxX-minX)*pw }
	sy := func(y float64) float64 { return float64(top) + (maxY-y)/(maxY-minY)*ph }

	b.WriteString(`<svg class="linechart" viewBox="0 0 `)
	b.WriteString(strconv.Itoa(w) + " " + strconv.Itoa(h))
	b.WriteString(`" width="` + strconv.Itoa(w) + `" height="` + strconv.Itoa(h) + `" role="img" aria-label="`)
	b.WriteString(html.EscapeString(c.describe()))
	b.WriteString(`">`)
	// Grid and axes.
	for _, t := range yt {
		if t < minY || t > maxY {
			continue
		}
		y := fmtf(sy(t))
		b.WriteString(`<line class="grid" x1="` + strconv.Itoa(left) + `" x2="` + fmtf(float64(left)+pw) + `" y1="` + y + `" y2="` + y + `"/>`)
		b.WriteString(`<text class="tick" x="` + strconv.Itoa(left-6) + `" y="` + y + `" dy="0.32em" text-anchor="end">` + html.EscapeString(num(t)) + `</text>`)
	}
	for _, t := range xt {
		if t < minX || t > maxX {
			continue
		}
		x := fmtf(sx(t))
		b.WriteString(`<line class="axis" x1="` + x + `" x2="` + x + `" y1="` + fmtf(float64(top)+ph) + `" y2="` + fmtf(float64(top)+ph+4) + `"/>`)
		b.WriteString(`<text class="tick" x="` + x + `" y="` + fmtf(float64(top)+ph+16) + `" text-anchor="middle">` + html.EscapeString(xfmt(t)) + `</text>`)
	}
	b.WriteString(`<line class="axis" x1="` + strconv.Itoa(left) + `" x2="` + fmtf(float64(left)+pw) + `" y1="` + fmtf(float64(top)+ph) + `" y2="` + fmtf(float64(top)+ph) + `"/>`)
	if c.XLabel != "" {
		b.WriteString(`<text class="axislabel" x="` + fmtf(float64(left)+pw/2) + `" y="` + strconv.Itoa(h-4) + `" text-anchor="middle">` + html.EscapeString(c.XLabel) + `</text>`)
	}
	for _, r := range c.Rules {
		if !isFinite(r.Y) {
			continue
		}
		y := fmtf(sy(r.Y))
		b.WriteString(`<line class="rule" x1="` + strconv.Itoa(left) + `" x2="` + fmtf(float64(left)+pw) + `" y1="` + y + `" y2="` + y + `">`)
		if r.Label != "" {
			b.WriteString(`<title>` + html.EscapeString(r.Label) + `</title>`)
		}
		b.WriteString(`</line>`)
	}
	// Lines.
	buf := make([]byte, 0, 24)
	for i, pts := range drawn {
		cls := "s" + strconv.Itoa(i%palette)
		if len(pts) == 1 {
			b.WriteString(`<circle class="dot ` + cls + `" r="3" cx="` + fmtf(sx(pts[0].X)) + `" cy="` + fmtf(sy(pts[0].Y)) + `"><title>` + html.EscapeString(c.Series[i].Name) + `</title></circle>`)
			continue
		}
		b.WriteString(`<polyline class="line ` + cls + `" points="`)
		for j, p := range pts {
			if j > 0 {
				b.WriteByte(' ')
			}
			buf = strconv.AppendFloat(buf[:0], sx(p.X), 'f', 1, 64)
			buf = append(buf, ',')
			buf = strconv.AppendFloat(buf, sy(p.Y), 'f', 1, 64)
			b.Write(buf)
		}
		b.WriteString(`"><title>` + html.EscapeString(c.Series[i].Name) + `</title></polyline>`)
	}
	b.WriteString(`</svg>`)
	named := len(c.Series) > 1 || c.Series[0].Name != ""
	for _, r := range c.Rules {
		named = named || r.Label != ""
	}
	if named {
		b.WriteString(`<figcaption><ul class="legend">`)
		for i, s := range c.Series {
			if len(c.Series) == 1 && s.Name == "" {
				break
			}
			b.WriteString(`<li><svg class="swatch" width="14" height="4" aria-hidden="true"><line class="line s` + strconv.Itoa(i%palette) + `" x1="0" x2="14" y1="2" y2="2"/></svg>`)
			b.WriteString(html.EscapeString(s.Name))
			b.WriteString(`</li>`)
		}
		for _, r := range c.Rules {
			if r.Label == "" {
				continue
			}
			b.WriteString(`<li><svg class="swatch" width="14" height="4" aria-hidden="true"><line class="rule" x1="0" x2="14" y1="2" y2="2"/></svg>`)
			b.WriteString(html.EscapeString(r.Label))
			b.WriteString(`</li>`)
		}
		b.WriteString(`</ul></figcaption>`)
	}
	b.WriteString(`</figure>`)
	return template.HTML(b.String())
}

// describe is the chart's text for screen readers: what it shows and each
// series' last value.
func (c LineChart) describe() string {
	var b strings.Builder
	b.WriteString(c.Label)
	for _, s := range c.Series {
		pts := s.Points
		if len(pts) == 0 {
			continue
		}
		last := pts[len(pts)-1]
		b.WriteString("; ")
		if s.Name != "" {
			b.WriteString(s.Name + ": ")
		}
		at := num(last.X)
		if c.Time {
			at = time.Unix(int64(last.X), 0).UTC().Format("2006-01-02 15:04")
		}
		b.WriteString(strconv.Itoa(len(pts)) + " points, last " + num(last.Y) + " at " + at)
	}
	for _, r := range c.Rules {
		if r.Label != "" {
			b.WriteString("; " + r.Label)
		}
	}
	return b.String()
}

// timeSteps are the round steps of a time axis, in seconds.
var timeSteps = []float64{60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400, 14 * 86400, 28 * 86400}

// timeTicks returns at most n ticks at a round step (UTC hours and days)
// in [lo, hi], Unix seconds, and how to write them.
func timeTicks(lo, hi float64, n int) ([]float64, func(float64) string) {
	step := timeSteps[len(timeSteps)-1]
	for _, s := range timeSteps {
		if (hi-lo)/s <= float64(n) {
			step = s
			break
		}
	}
	layout := "Jan 2"
	switch {
	case step < 86400 && hi-lo <= 86400 && time.Unix(int64(lo), 0).UTC().YearDay() == time.Unix(int64(hi), 0).UTC().YearDay():
		layout = "15:04"
	case step < 86400:
		layout = "Jan 2 15:04"
	}
	// Weeks start on Mondays; the Unix epoch was a Thursday.
	offset := 0.0
	if step >= 7*86400 {
		offset = 4 * 86400
	}
	var ticks []float64
	for t := math.Ceil((lo-offset)/step)*step + offset; t <= hi && len(ticks) <= 4*n; t += step {
		ticks = append(ticks, t)
	}
	return ticks, func(t float64) string { return time.Unix(int64(t), 0).UTC().Format(layout) }
}

func finite(pts []Point) []Point {
	for i, p := range pts {
		if !isFinite(p.X) || !isFinite(p.Y) {
			out := append([]Point(nil), pts[:i]...)
			for _, q := range pts[i+1:] {
				if isFinite(q.X) && isFinite(q.Y) {
					out = append(out, q)
				}
			}
			return out
		}
	}
	return pts
}

func isFinite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func fmtf(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

// niceTicks returns about n round tick values (1, 2 or 5 times a power of
// ten apart) covering [lo, hi].
func niceTicks(lo, hi float64, n int) []float64 {
	span := hi - lo
	if span <= 0 || !isFinite(span) {
		return []float64{lo}
	}
	raw := span / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	start := math.Floor(lo/step) * step
	var ticks []float64
	for t := start; t <= hi+step*0.5 && len(ticks) < 4*n; t += step {
		// Rounding keeps 0.30000000000000004 off the axis.
		ticks = append(ticks, math.Round(t/step)*step)
	}
	return ticks
}

// Bar is one bar of a BarChart.
type Bar struct {
	Name  string
	Value float64
}

// BarChart draws horizontal bars, one per row: feature importances, or an
// explanation's signed contributions (positive to the right, negative to
// the left of zero).
type BarChart struct {
	Label string
	Bars  []Bar
	Width int // default 560
}

// SVG returns the bar chart as an accessible SVG figure.
func (c BarChart) SVG() template.HTML {
	if len(c.Bars) == 0 {
		return `<p class="muted">Nothing to show.</p>`
	}
	w := c.Width
	if w <= 0 {
		w = 560
	}
	const labelW, valueW, rowH, pad = 170, 64, 24, 4
	h := rowH*len(c.Bars) + 2*pad
	lo, hi := 0.0, 0.0
	for _, bar := range c.Bars {
		if isFinite(bar.Value) {
			lo, hi = math.Min(lo, bar.Value), math.Max(hi, bar.Value)
		}
	}
	if hi == lo {
		hi = lo + 1
	}
	// Room for value labels left of the bars only when some are negative.
	plotL, plotW := float64(labelW), float64(w-labelW-valueW)
	if lo < 0 {
		plotL, plotW = float64(labelW+valueW), float64(w-labelW-2*valueW)
	}
	sx := func(v float64) float64 { return plotL + (v-lo)/(hi-lo)*plotW }
	zero := sx(0)
	var b strings.Builder
	b.WriteString(`<figure class="chart"><svg class="barchart" viewBox="0 0 ` + strconv.Itoa(w) + " " + strconv.Itoa(h) + `" width="` + strconv.Itoa(w) + `" height="` + strconv.Itoa(h) + `" role="img" aria-label="`)
	desc := c.Label
	for _, bar := range c.Bars {
		desc += "; " + bar.Name + " " + num(bar.Value)
	}
	b.WriteString(html.EscapeString(desc) + `">`)
	for i, bar := range c.Bars {
		y := float64(pad + i*rowH)
		v := bar.Value
		if !isFinite(v) {
			v = 0
		}
		x0, x1 := zero, sx(v)
		cls := "bar pos"
		if v < 0 {
			x0, x1 = x1, zero
			cls = "bar neg"
		}
		b.WriteString(`<text class="barlabel" x="` + strconv.Itoa(labelW-6) + `" y="` + fmtf(y+rowH/2) + `" dy="0.32em" text-anchor="end">` + html.EscapeString(truncate(26, bar.Name)) + `</text>`)
		b.WriteString(`<rect class="` + cls + `" x="` + fmtf(x0) + `" y="` + fmtf(y+3) + `" width="` + fmtf(math.Max(x1-x0, 1)) + `" height="` + strconv.Itoa(rowH-6) + `"><title>` + html.EscapeString(bar.Name+": "+num(bar.Value)) + `</title></rect>`)
		vx, anchor := x1+4, "start"
		if bar.Value < 0 {
			vx, anchor = x0-4, "end"
		}
		b.WriteString(`<text class="tick" x="` + fmtf(vx) + `" y="` + fmtf(y+rowH/2) + `" dy="0.32em" text-anchor="` + anchor + `">` + html.EscapeString(num(bar.Value)) + `</text>`)
	}
	b.WriteString(`<line class="axis" x1="` + fmtf(zero) + `" x2="` + fmtf(zero) + `" y1="0" y2="` + strconv.Itoa(h) + `"/>`)
	b.WriteString(`</svg></figure>`)
	return template.HTML(b.String())
}

// splitBar draws an endpoint's traffic split: the stable version's share
// and the candidate's, side by side in one bar.
func splitBar(stableLabel, candLabel string, candShare float64) template.HTML {
	const w, h = 480, 28
	cw := math.Max(0, math.Min(1, candShare)) * w
	var b strings.Builder
	b.WriteString(`<svg class="split" viewBox="0 0 ` + strconv.Itoa(w) + " " + strconv.Itoa(h) + `" width="` + strconv.Itoa(w) + `" height="` + strconv.Itoa(h) + `" role="img" aria-label="`)
	b.WriteString(html.EscapeString(stableLabel + " " + pctString(1-candShare) + ", " + candLabel + " " + pctString(candShare)))
	b.WriteString(`">`)
	b.WriteString(`<rect class="stable" x="0" y="0" width="` + fmtf(w-cw) + `" height="` + strconv.Itoa(h) + `"/>`)
	if cw > 0 {
		b.WriteString(`<rect class="candidate" x="` + fmtf(w-cw) + `" y="0" width="` + fmtf(cw) + `" height="` + strconv.Itoa(h) + `"/>`)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func pctString(f float64) string { return strconv.FormatFloat(100*f, 'f', 0, 64) + "%" }

// BarSeries is one named set of values of a GroupedBars chart, one value
// per group.
type BarSeries struct {
	Name   string
	Values []float64
}

// GroupedBars draws vertical bars side by side per group: a feature's
// reference and current distributions over the same bins, as shares.
type GroupedBars struct {
	Label  string
	Groups []string // the bins or categories, left to right
	Series []BarSeries
	// Percent writes the values as percentages (they are shares).
	Percent bool
	Width   int // default 480
	Height  int // default 220
	// Classes colour the series (s0..s7 of style.css); default s0, s1...
	Classes []string
}

// SVG returns the chart as an accessible SVG figure with its legend.
func (c GroupedBars) SVG() template.HTML {
	if len(c.Groups) == 0 || len(c.Series) == 0 {
		return `<p class="muted">Nothing to show.</p>`
	}
	w, h := c.Width, c.Height
	if w <= 0 {
		w = 480
	}
	if h <= 0 {
		h = 220
	}
	// Long or many labels are drawn slanted, which needs room below.
	slant := len(c.Groups) > 6
	for _, g := range c.Groups {
		slant = slant || len([]rune(g)) > 6
	}
	const left, right, top = 48, 8, 10
	bottom := 24
	if slant {
		bottom = 56
	}
	pw, ph := float64(w-left-right), float64(h-top-bottom)
	hi := 0.0
	for _, s := range c.Series {
		for _, v := range s.Values {
			if isFinite(v) {
				hi = math.Max(hi, v)
			}
		}
	}
	if hi == 0 {
		hi = 1
	}
	yt := niceTicks(0, hi, 4)
	hi = math.Max(hi, yt[len(yt)-1])
	tickFmt, format := num, num
	if c.Percent {
		tickFmt = func(f float64) string { return num(100*f) + "%" }
		format = func(f float64) string { return strconv.FormatFloat(100*f, 'f', 1, 64) + "%" }
	}
	class := func(i int) string {
		if i < len(c.Classes) {
			return c.Classes[i]
		}
		return "s" + strconv.Itoa(i%palette)
	}
	sy := func(v float64) float64 { return float64(top) + (hi-v)/hi*ph }
	slot := pw / float64(len(c.Groups))
	barW := slot * 0.8 / float64(len(c.Series))

	var b strings.Builder
	b.WriteString(`<figure class="chart">`)
	if c.Label != "" {
		b.WriteString(`<div class="chart-title" aria-hidden="true">` + html.EscapeString(c.Label) + `</div>`)
	}
	b.WriteString(`<svg class="groupedbars" viewBox="0 0 ` + strconv.Itoa(w) + " " + strconv.Itoa(h) + `" width="` + strconv.Itoa(w) + `" height="` + strconv.Itoa(h) + `" role="img" aria-label="`)
	desc := c.Label
	for i, g := range c.Groups {
		desc += "; " + g + ":"
		for j, s := range c.Series {
			if j > 0 {
				desc += ","
			}
			desc += " " + s.Name + " " + format(value(s.Values, i))
		}
	}
	b.WriteString(html.EscapeString(desc) + `">`)
	for _, t := range yt {
		y := fmtf(sy(t))
		b.WriteString(`<line class="grid" x1="` + strconv.Itoa(left) + `" x2="` + fmtf(float64(left)+pw) + `" y1="` + y + `" y2="` + y + `"/>`)
		b.WriteString(`<text class="tick" x="` + strconv.Itoa(left-6) + `" y="` + y + `" dy="0.32em" text-anchor="end">` + html.EscapeString(tickFmt(t)) + `</text>`)
	}
	for i, g := range c.Groups {
		x0 := float64(left) + float64(i)*slot + slot*0.1
		for j, s := range c.Series {
			v := value(s.Values, i)
			if !isFinite(v) || v < 0 {
				v = 0
			}
			y := sy(v)
			b.WriteString(`<rect class="` + class(j) + `" x="` + fmtf(x0+float64(j)*barW) + `" y="` + fmtf(y) + `" width="` + fmtf(math.Max(barW-1, 1)) + `" height="` + fmtf(float64(top)+ph-y) + `"><title>` +
				html.EscapeString(g+", "+s.Name+": "+format(value(s.Values, i))) + `</title></rect>`)
		}
		x := fmtf(float64(left) + (float64(i)+0.5)*slot)
		ly := fmtf(float64(top) + ph + 14)
		if slant {
			b.WriteString(`<text class="tick" x="` + x + `" y="` + ly + `" text-anchor="end" transform="rotate(-35 ` + x + " " + ly + `)">` + html.EscapeString(truncate(12, g)) + `</text>`)
		} else {
			b.WriteString(`<text class="tick" x="` + x + `" y="` + ly + `" text-anchor="middle">` + html.EscapeString(g) + `</text>`)
		}
	}
	b.WriteString(`<line class="axis" x1="` + strconv.Itoa(left) + `" x2="` + fmtf(float64(left)+pw) + `" y1="` + fmtf(float64(top)+ph) + `" y2="` + fmtf(float64(top)+ph) + `"/>`)
	b.WriteString(`</svg><figcaption><ul class="legend">`)
	for j, s := range c.Series {
		b.WriteString(`<li><svg class="swatch" width="12" height="12" aria-hidden="true"><rect class="` + class(j) + `" x="0" y="0" width="12" height="12"/></svg>` + html.EscapeString(s.Name) + `</li>`)
	}
	b.WriteString(`</ul></figcaption></figure>`)
	return template.HTML(b.String())
}

func value(vs []float64, i int) float64 {
	if i < len(vs) {
		return vs[i]
	}
	return math.NaN()
}
