package monitor

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strings"
	"time"
)

// WriteHTML writes a report as a self-contained HTML page with its plots
// drawn as inline SVG: no scripts, no network, so it can be mailed or
// archived as it is.
func WriteHTML(w io.Writer, rep *Report, alerts []Alert) error {
	return reportPage.Execute(w, htmlReport{Report: rep, Alerts: alerts})
}

type htmlReport struct {
	*Report
	Alerts []Alert
}

// series is one line of a chart.
type series struct {
	Name   string
	Points []point
}

type point struct {
	T time.Time
	V float64
}

var palette = []string{"#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2"}

// lineChart draws lines over time with a labelled y axis; a threshold, if
// not NaN, is drawn dashed.
func lineChart(title string, lines []series, threshold float64) template.HTML {
	const w, h, left, bottom, top, right = 640.0, 220.0, 48.0, 28.0, 24.0, 130.0
	var tmin, tmax time.Time
	vmin, vmax := math.Inf(1), math.Inf(-1)
	for _, l := range lines {
		for _, p := range l.Points {
			if tmin.IsZero() || p.T.Before(tmin) {
				tmin = p.T
			}
			if p.T.After(tmax) {
				tmax = p.T
			}
			vmin, vmax = math.Min(vmin, p.V), math.Max(vmax, p.V)
		}
	}
	if !math.IsNaN(threshold) {
		vmin, vmax = math.Min(vmin, threshold), math.Max(vmax, threshold)
	}
	if math.IsInf(vmin, 0) {
		return template.HTML(fmt.Sprintf(`<p class="empty">%s: no data</p>`, template.HTMLEscapeString(title)))
	}
	if vmin > 0 && vmin < vmax/3 {
		vmin = 0
	}
	if vmax == vmin {
		vmax = vmin + 1
	}
	span := tmax.Sub(tmin).Seconds()
	if span == 0 {
		span = 1
	}
	x := func(t time.Time) float64 { return left + (t.Sub(tmin).Seconds()/span)*(w-left-right) }
	y := func(v float64) float64 { return top + (1-(v-vmin)/(vmax-vmin))*(h-top-bottom) }
	var b strings.Builder
	fmt.Fprintf(&b, `<figure><svg viewBox="0 0 %.0f %.0f" role="img" aria-label="%s">`, w, h, template.HTMLEscapeString(title))
	fmt.Fprintf(&b, `<text x="%.0f" y="16" class="title">%s</text>`, left, template.HTMLEscapeString(title))
	for i := 0; i <= 4; i++ {
		v := vmin + (vmax-vmin)*float64(i)/4
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" class="grid"/><text x="%.0f" y="%.1f" class="tick" text-anchor="end">%.3g</text>`,
			left, w-right, y(v), y(v), left-4, y(v)+4, v)
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" class="tick">%s</text><text x="%.0f" y="%.0f" class="tick" text-anchor="end">%s</text>`,
		left, h-8, tmin.Format("2006-01-02 15:04"), w-right, h-8, tmax.Format("2006-01-02 15:04"))
	if !math.IsNaN(threshold) {
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" class="threshold"/>`, left, w-right, y(threshold), y(threshold))
	}
	for i, l := range lines {
		color := palette[i%len(palette)]
		var pts []string
		for _, p := range l.Points {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(p.T), y(p.V)))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`, color, strings.Join(pts, " "))
		for _, p := range l.Points {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"><title>%s %s: %.4g</title></circle>`,
				x(p.T), y(p.V), color, template.HTMLEscapeString(l.Name), p.T.Format(time.RFC3339), p.V)
		}
		fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="10" height="10" fill="%s"/><text x="%.0f" y="%.0f" class="tick">%s</text>`,
			w-right+10, top+float64(i)*16, color, w-right+24, top+float64(i)*16+9, template.HTMLEscapeString(l.Name))
	}
	b.WriteString(`</svg></figure>`)
	return template.HTML(b.String())
}

// barChart draws a distribution: the reference and the period side by
// side, per bin.
func barChart(d Distribution) template.HTML {
	const w, h, left, bottom, top = 300.0, 170.0, 36.0, 40.0, 22.0
	n := len(d.Labels)
	if n == 0 {
		return ""
	}
	vmax := 0.0
	for i := range d.Reference {
		vmax = math.Max(vmax, math.Max(d.Reference[i], d.Current[i]))
	}
	if vmax == 0 {
		vmax = 1
	}
	slot := (w - left - 8) / float64(n)
	var b strings.Builder
	fmt.Fprintf(&b, `<figure class="small"><svg viewBox="0 0 %.0f %.0f" role="img" aria-label="distribution of %s">`, w, h, template.HTMLEscapeString(d.Feature))
	fmt.Fprintf(&b, `<text x="%.0f" y="14" class="title">%s</text>`, left, template.HTMLEscapeString(d.Feature))
	for i := range d.Labels {
		for j, v := range []float64{d.Reference[i], d.Current[i]} {
			bh := v / vmax * (h - top - bottom)
			color := []string{"#94a3b8", "#2563eb"}[j]
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %.1f%%</title></rect>`,
				left+float64(i)*slot+float64(j)*slot*0.42+slot*0.08, h-bottom-bh, slot*0.4, bh, color,
				template.HTMLEscapeString(d.Labels[i]), []string{"reference", "current"}[j], v*100)
		}
		if n <= 12 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" class="tick" transform="rotate(35 %.1f %.0f)">%s</text>`,
				left+float64(i)*slot+slot/2, h-bottom+12, left+float64(i)*slot+slot/2, h-bottom+12, template.HTMLEscapeString(d.Labels[i]))
		}
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" class="tick">%.0f%%</text>`, 2.0, top+8, vmax*100)
	b.WriteString(`</svg><figcaption><span class="ref">■</span> reference <span class="cur">■</span> current</figcaption></figure>`)
	return template.HTML(b.String())
}

func (r htmlReport) DriftChart() template.HTML {
	s := series{Name: "drift share"}
	p := series{Name: "prediction drift"}
	for _, w := range r.Series {
		s.Points = append(s.Points, point{w.Start, w.Share})
		p.Points = append(p.Points, point{w.Start, w.Prediction})
	}
	thr := DefaultDriftShare
	if r.Drift != nil {
		thr = r.Drift.ShareThreshold
	}
	return lineChart("Share of drifted features per window (dashed: the dataset-drift threshold)", []series{s}, thr)
}

func (r htmlReport) FeatureChart() template.HTML {
	if r.Drift == nil {
		return ""
	}
	var lines []series
	for _, f := range r.Drift.Features {
		if len(lines) == 5 {
			break
		}
		if !f.Drifted {
			continue
		}
		l := series{Name: f.Feature}
		for _, w := range r.Series {
			if v, ok := w.Scores[f.Feature]; ok {
				l.Points = append(l.Points, point{w.Start, v})
			}
		}
		lines = append(lines, l)
	}
	if len(lines) == 0 {
		return ""
	}
	return lineChart("Drift score of the most important drifted features, per window", lines, math.NaN())
}

func (r htmlReport) PerformanceChart() template.HTML {
	byVersion := map[string]*series{}
	for _, p := range r.Performance {
		v, ok := p.Metrics["auc"]
		name := fmt.Sprintf("%s@%d AUC", p.Model, p.Version)
		if !ok {
			v, ok = p.Metrics["rmse"]
			name = fmt.Sprintf("%s@%d RMSE", p.Model, p.Version)
		}
		if !ok {
			continue
		}
		if byVersion[name] == nil {
			byVersion[name] = &series{Name: name}
		}
		byVersion[name].Points = append(byVersion[name].Points, point{p.Start, v})
	}
	var lines []series
	for _, s := range byVersion {
		lines = append(lines, *s)
	}
	sort.Slice(lines, func(i, j int) bool { return lines[i].Name < lines[j].Name })
	if len(lines) == 0 {
		return ""
	}
	return lineChart("Performance on the labels that came in", lines, math.NaN())
}

func (r htmlReport) DistributionCharts() template.HTML {
	var b strings.Builder
	for _, d := range r.Distributions {
		b.WriteString(string(barChart(d)))
	}
	return template.HTML(b.String())
}

var reportPage = template.Must(template.New("report").Funcs(template.FuncMap{
	"pct":  func(v float64) string { return fmt.Sprintf("%.1f%%", v*100) },
	"num":  func(v float64) string { return fmt.Sprintf("%.4g", v) },
	"time": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Monitoring report: {{.Endpoint}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1000px;color:#0f172a;padding:0 1rem}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #e2e8f0}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.25rem .5rem;border-bottom:1px solid #f1f5f9}
th{color:#475569;font-weight:600}.drifted{color:#dc2626;font-weight:600}.ok{color:#16a34a}
figure{margin:1rem 0}figure.small{display:inline-block;width:300px;margin:.5rem}svg{width:100%;height:auto}
.title{font-size:12px;font-weight:600}.tick{font-size:10px;fill:#475569}.grid{stroke:#e2e8f0}
.threshold{stroke:#dc2626;stroke-dasharray:4 3}.ref{color:#94a3b8}.cur{color:#2563eb}.empty,.note{color:#64748b}
.firing{color:#dc2626}.resolved{color:#16a34a}
</style></head><body>
<h1>Monitoring report: endpoint {{.Endpoint}}</h1>
<p>{{.Model}}@{{.Version}}, {{time .From}} to {{time .To}} (UTC), {{.Rows}} predictions.</p>
{{range .Missing}}<p class="note">{{.}}</p>{{end}}
{{with .Drift}}<p>{{if .DatasetDrift}}<span class="drifted">Dataset drift:</span>{{else}}<span class="ok">No dataset drift:</span>{{end}}
{{.Drifted}} of {{.Compared}} features drifted ({{pct .Share}}; the threshold is {{pct .ShareThreshold}}).</p>{{end}}
<h2>Drift over time</h2>
{{.DriftChart}}
{{.FeatureChart}}
{{if .Distributions}}<h2>Reference and current distributions of the drifted features</h2>{{.DistributionCharts}}{{end}}
{{if .Performance}}<h2>Performance</h2>{{.PerformanceChart}}
<table><thead><tr><th scope="col">Period</th><th scope="col">Version</th><th scope="col">Labelled</th><th scope="col">AUC</th><th scope="col">Log loss</th><th scope="col">Accuracy</th></tr></thead><tbody>
{{range .Performance}}<tr><td>{{time .Start}}</td><td>{{.Model}}@{{.Version}}</td><td>{{.Rows}}</td><td>{{num (index .Metrics "auc")}}</td><td>{{num (index .Metrics "log_loss")}}</td><td>{{num (index .Metrics "accuracy")}}</td></tr>{{end}}
</tbody></table>{{end}}
{{with .Drift}}<h2>Drift per feature, most important to the model first</h2>
<table><thead><tr><th scope="col">Feature</th><th scope="col">Type</th><th scope="col">Method</th><th scope="col">Score</th><th scope="col">Threshold</th><th scope="col">Drifted</th><th scope="col">Importance</th></tr></thead><tbody>
{{range .Features}}<tr><td>{{.Feature}}</td><td>{{.Type}}</td><td>{{.Method}}</td><td>{{num .Score}}</td><td>{{num .Threshold}}</td><td>{{if .Drifted}}<span class="drifted">yes</span>{{else}}no{{end}}{{if .Skipped}} ({{.Skipped}}){{end}}</td><td>{{num .Importance}}</td></tr>{{end}}
{{range .Predictions}}<tr><td>{{.Feature}}</td><td>prediction</td><td>{{.Method}}</td><td>{{num .Score}}</td><td>{{num .Threshold}}</td><td>{{if .Drifted}}<span class="drifted">yes</span>{{else}}no{{end}}</td><td></td></tr>{{end}}
</tbody></table>{{end}}
{{with .Quality}}<h2>Data quality</h2>{{if .Issues}}<ul>{{range .Issues}}<li><strong>{{.Feature}}</strong> ({{.Kind}}): {{.Message}}</li>{{end}}</ul>{{else}}<p class="ok">No data quality issues.</p>{{end}}{{end}}
{{with .Skew}}<h2>Training–serving skew</h2>
{{if .Sampled}}<p>The newest {{.Sampled}} requests by entity, their online features against the offline store's at the same times.</p>
{{if .Skewed}}<p class="drifted">Skewed: {{range $i, $f := .Skewed}}{{if $i}}, {{end}}{{$f}}{{end}}</p>{{else}}<p class="ok">No feature disagrees on more than 1% of them.</p>{{end}}
{{else}}<p>No requests by entity to compare yet.</p>{{end}}
{{if .Features}}<table><thead><tr><th scope="col">Feature</th><th scope="col">Compared</th><th scope="col">Mismatched</th><th scope="col">Share</th></tr></thead><tbody>
{{range .Features}}<tr><td>{{.Feature}}</td><td>{{.Compared}}</td><td>{{.Mismatched}}</td><td>{{pct .Rate}}</td></tr>{{end}}
</tbody></table>{{end}}{{end}}
<h2>Alerts</h2>{{if .Alerts}}<table><thead><tr><th scope="col">Rule</th><th scope="col">State</th><th scope="col">Since</th><th scope="col">Message</th></tr></thead><tbody>
{{range .Alerts}}<tr><td>{{.Rule}}</td><td class="{{.State}}">{{.State}}{{if .Silenced}} (silenced){{end}}</td><td>{{time .StartedAt}}</td><td>{{.Message}}</td></tr>{{end}}
</tbody></table>{{else}}<p class="note">No alerts.</p>{{end}}
</body></html>
`))
