package ui

import (
	"html"
	"html/template"
	"math"
	"strconv"
	"strings"
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
	if minX == maxX {
		minX, maxX = minX-1, maxX+1
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
	xt := niceTicks(minX, maxX, 6)
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
		b.WriteString(`<text class="tick" x="` + x + `" y="` + fmtf(float64(top)+ph+16) + `" text-anchor="middle">` + html.EscapeString(num(t)) + `</text>`)
	}
	b.WriteString(`<line class="axis" x1="` + strconv.Itoa(left) + `" x2="` + fmtf(float64(left)+pw) + `" y1="` + fmtf(float64(top)+ph) + `" y2="` + fmtf(float64(top)+ph) + `"/>`)
	if c.XLabel != "" {
		b.WriteString(`<text class="axislabel" x="` + fmtf(float64(left)+pw/2) + `" y="` + strconv.Itoa(h-4) + `" text-anchor="middle">` + html.EscapeString(c.XLabel) + `</text>`)
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
	if len(c.Series) > 1 || c.Series[0].Name != "" {
		b.WriteString(`<figcaption><ul class="legend">`)
		for i, s := range c.Series {
			b.WriteString(`<li><svg class="swatch" width="14" height="4" aria-hidden="true"><line class="line s` + strconv.Itoa(i%palette) + `" x1="0" x2="14" y1="2" y2="2"/></svg>`)
			b.WriteString(html.EscapeString(s.Name))
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
		b.WriteString(strconv.Itoa(len(pts)) + " points, last " + num(last.Y) + " at " + num(last.X))
	}
	return b.String()
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
