package ui

import (
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/track"
)

type experimentsPage struct {
	Experiments []track.Experiment
}

func (s *server) experiments(w http.ResponseWriter, r *http.Request) error {
	exps, err := s.Tracker.Experiments(r.Context())
	if err != nil {
		return err
	}
	sort.Slice(exps, func(i, j int) bool { return exps[i].CreatedAt.After(exps[j].CreatedAt) })
	return s.render(w, r, "experiments", "Experiments", "runs", experimentsPage{exps})
}

// The run table shows a page of a search at a time: the store does the
// filtering, ordering and paging, so the page costs the same with 100 runs
// or 100,000.

const (
	defaultPageSize = 50
	maxColumns      = 8 // metric and param columns each
)

type runsPage struct {
	Experiments []track.Experiment
	Names       map[string]string // experiment id -> name
	Experiment  string            // the selected experiment's name, or ""
	Filter      string
	Order       string
	PageSize    int
	PageSizes   []int
	Error       string

	Runs    []track.Run
	Name    column // the name and start-time columns sort too
	Started column
	Metrics []column
	Params  []column
	Hidden  int // columns left out for width
	First   int // 1-based number of the first run shown
	NextURL string
	PrevURL string
}

// column is a sortable column of the run table.
type column struct {
	Key   string
	Field string // for ordering, e.g. metrics.auc
	Sort  string // "ascending", "descending" or ""
	Href  string // the table ordered by this column
}

func (s *server) runs(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	p := runsPage{
		Experiment: q.Get("experiment"), Filter: q.Get("filter"), Order: strings.TrimSpace(q.Get("order")),
		PageSize: defaultPageSize, PageSizes: []int{25, 50, 100, 200},
	}
	if n, err := strconv.Atoi(q.Get("n")); err == nil && n > 0 {
		p.PageSize = min(n, 500)
	}
	exps, err := s.Tracker.Experiments(ctx)
	if err != nil {
		return err
	}
	p.Experiments, p.Names = exps, experimentNames(exps)
	req := track.SearchRequest{Filter: p.Filter, MaxResults: p.PageSize, PageToken: q.Get("page")}
	if p.Experiment != "" {
		req.ExperimentIDs = []string{p.Experiment}
	}
	if p.Order != "" {
		req.OrderBy = []string{p.Order}
	}
	back := splitBack(q.Get("back"))
	p.First = len(back)*p.PageSize + 1
	page, err := s.Tracker.Search(ctx, req)
	if err != nil {
		// A bad filter is the user's to fix: show it beside the form.
		if code := plinth.ErrorCode(err); code == plinth.EINVALID || code == plinth.ENOTFOUND {
			p.Error = plinth.ErrorMessage(err)
			s.renderStatus(w, r, http.StatusBadRequest, "runs", "Runs", "runs", p)
			return nil
		}
		return err
	}
	p.Runs = page.Runs
	p.Metrics, p.Params, p.Hidden = p.columns()
	base := url.Values{}
	for k, v := range map[string]string{"experiment": p.Experiment, "filter": p.Filter, "order": p.Order} {
		if v != "" {
			base.Set(k, v)
		}
	}
	if p.PageSize != defaultPageSize {
		base.Set("n", strconv.Itoa(p.PageSize))
	}
	if page.NextPageToken != "" {
		v := cloneValues(base)
		v.Set("page", page.NextPageToken)
		v.Set("back", joinBack(append(back, q.Get("page"))))
		p.NextURL = "/ui/runs?" + v.Encode()
	}
	if len(back) > 0 {
		v := cloneValues(base)
		if prev := back[len(back)-1]; prev != "" {
			v.Set("page", prev)
		}
		if len(back) > 1 {
			v.Set("back", joinBack(back[:len(back)-1]))
		}
		p.PrevURL = "/ui/runs?" + v.Encode()
	}
	p.Name = column{Key: "Name", Field: "name"}
	p.Started = column{Key: "Started", Field: "start_time"}
	p.Name.Sort, p.Name.Href = p.sortLink(base, "name", "attributes")
	p.Started.Sort, p.Started.Href = p.sortLink(base, "start_time", "attributes")
	for _, c := range [][]column{p.Metrics, p.Params} {
		for i := range c {
			c[i].Sort, c[i].Href = p.sortLink(base, c[i].Field, c[i].Field[:strings.IndexByte(c[i].Field, '.')])
		}
	}
	return s.render(w, r, "runs", "Runs", "runs", p)
}

// columns picks the metric and param columns from the runs shown, the
// ordering field first, at most maxColumns of each.
func (p *runsPage) columns() (metrics, params []column, hidden int) {
	mk, pk := map[string]bool{}, map[string]bool{}
	for _, run := range p.Runs {
		for k := range run.Metrics {
			mk[k] = true
		}
		for k := range run.Params {
			pk[k] = true
		}
	}
	orderField := strings.Fields(p.Order)
	pick := func(keys map[string]bool, kind string) []column {
		names := make([]string, 0, len(keys))
		for k := range keys {
			names = append(names, k)
		}
		sort.Strings(names)
		if len(orderField) > 0 {
			for i, k := range names {
				if fieldName(kind, k) == orderField[0] {
					names = append([]string{k}, append(names[:i:i], names[i+1:]...)...)
					break
				}
			}
		}
		if len(names) > maxColumns {
			hidden += len(names) - maxColumns
			names = names[:maxColumns]
		}
		cols := make([]column, len(names))
		for i, k := range names {
			cols[i] = column{Key: k, Field: fieldName(kind, k)}
		}
		return cols
	}
	return pick(mk, "metrics"), pick(pk, "params"), hidden
}

// sortLink returns a column's aria-sort state and the link that orders the
// table by it: best first for a metric on the first click (lowest first
// for losses), then the other way.
func (p *runsPage) sortLink(base url.Values, field, kind string) (state, href string) {
	cur := strings.Fields(p.Order)
	if len(cur) == 0 {
		cur = []string{"start_time", "desc"} // the store's default: newest first
	}
	desc := kind == "metrics" && track.MetricGoal(field) == "max" || field == "start_time"
	if len(cur) > 0 && cur[0] == field {
		isDesc := len(cur) > 1 && strings.EqualFold(cur[1], "desc")
		state = "ascending"
		if isDesc {
			state = "descending"
		}
		desc = !isDesc
	}
	v := cloneValues(base)
	dir := "asc"
	if desc {
		dir = "desc"
	}
	v.Set("order", field+" "+dir)
	return state, "/ui/runs?" + v.Encode()
}

// fieldName spells a filter field, quoting names that are not plain
// identifiers.
func fieldName(kind, key string) string {
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return kind + ".`" + key + "`"
		}
	}
	return kind + "." + key
}

// Page tokens of earlier pages ride along in the URL ("-" for the first
// page), so Previous works without server-side state.
func splitBack(s string) []string {
	if s == "" {
		return nil
	}
	parts := strings.Split(s, ",")
	if len(parts) > 1000 {
		parts = parts[len(parts)-1000:]
	}
	for i, t := range parts {
		if t == "-" {
			parts[i] = ""
		}
	}
	return parts
}

func joinBack(tokens []string) string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		if t == "" {
			t = "-"
		}
		out[i] = t
	}
	return strings.Join(out, ",")
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

type runPage struct {
	Run        *track.Run
	Experiment string
	Metrics    []metricRow
	Charts     []template.HTML
	Undrawn    int // curves left out to keep the page fast
	Saved      bool
}

type metricRow struct {
	Key string
	track.MetricSummary
}

// maxCharts bounds the curves drawn on one page, and maxPagePoints the
// metric points read for them, so a page stays fast however much a run
// logged; the table still lists every series.
const (
	maxCharts     = 12
	maxPagePoints = 2_000_000
)

func (s *server) run(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	run, err := s.Tracker.Run(ctx, r.PathValue("run"))
	if err != nil {
		return err
	}
	p := runPage{Run: run, Saved: r.URL.Query().Get("saved") == "1"}
	if e, err := s.Tracker.Experiment(ctx, run.ExperimentID); err == nil {
		p.Experiment = e.Name
	}
	keys := make([]string, 0, len(run.Metrics))
	for k := range run.Metrics {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p.Metrics = append(p.Metrics, metricRow{k, run.Metrics[k]})
	}
	budget := int64(maxPagePoints)
	for _, k := range keys {
		n := run.Metrics[k].Count
		if n < 2 {
			continue // one value is a number, not a curve
		}
		if len(p.Charts) == maxCharts || n > budget {
			p.Undrawn++
			continue
		}
		budget -= n
		pts, err := s.series(r, run.ID, k)
		if err != nil {
			return err
		}
		p.Charts = append(p.Charts, LineChart{Label: k + " by step", XLabel: "step", Series: []Series{{Points: pts}}}.SVG())
	}
	title := run.Name
	if title == "" {
		title = run.ID
	}
	return s.render(w, r, "run", "Run "+title, "runs", p)
}

// series reads a metric's points as a chart series, x = step.
func (s *server) series(r *http.Request, runID, key string) ([]Point, error) {
	ms, err := s.Tracker.MetricHistory(r.Context(), runID, key)
	if err != nil {
		return nil, err
	}
	pts := make([]Point, len(ms))
	for i, m := range ms {
		pts[i] = Point{float64(m.Step), m.Value}
	}
	// The store returns a series in step order; sort only if it did not.
	if !sort.SliceIsSorted(pts, func(i, j int) bool { return pts[i].X < pts[j].X }) {
		sort.SliceStable(pts, func(i, j int) bool { return pts[i].X < pts[j].X })
	}
	return pts, nil
}

// saveNote replaces a run's note: the one thing about a finished run that
// stays editable besides its tags.
func (s *server) saveNote(w http.ResponseWriter, r *http.Request) error {
	if err := checkCSRF(r); err != nil {
		return err
	}
	note := strings.ReplaceAll(r.PostFormValue("note"), "\r\n", "\n")
	run, err := s.Tracker.UpdateRun(r.Context(), r.PathValue("run"), track.RunUpdate{Note: &note})
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/runs/"+url.PathEscape(run.ID)+"?saved=1#note", http.StatusSeeOther)
	return nil
}

type comparePage struct {
	track.Comparison
	Runs      []track.Run
	Differing int
	Charts    []template.HTML
	Undrawn   int
}

const maxCompare = 20

// compare sets runs side by side: params that differ first and marked,
// each metric's final and best value with the best run named, and the
// curves of every run overlaid per metric.
func (s *server) compare(w http.ResponseWriter, r *http.Request) error {
	ids := r.URL.Query()["run"]
	if len(ids) < 2 {
		return plinth.Invalid("", "select at least two runs to compare, in the run table's first column")
	}
	if len(ids) > maxCompare {
		return plinth.Invalid("", "compare takes at most %d runs, %d are selected", maxCompare, len(ids))
	}
	runs := make([]track.Run, len(ids))
	for i, id := range ids {
		run, err := s.Tracker.Run(r.Context(), id)
		if err != nil {
			return err
		}
		runs[i] = *run
	}
	p := comparePage{Comparison: track.Compare(runs), Runs: runs}
	sort.SliceStable(p.Params, func(i, j int) bool { return p.Params[i].Differs && !p.Params[j].Differs })
	for _, row := range p.Params {
		if row.Differs {
			p.Differing++
		}
	}
	budget := int64(maxPagePoints)
	for _, m := range p.Metrics {
		var n int64
		for _, run := range runs {
			n += run.Metrics[m.Key].Count
		}
		if len(p.Charts) == maxCharts || n > budget {
			p.Undrawn++
			continue
		}
		budget -= n
		var series []Series
		curves := false
		for _, run := range runs {
			pts, err := s.series(r, run.ID, m.Key)
			if err != nil {
				return err
			}
			curves = curves || len(pts) > 1
			name := run.Name
			if name == "" {
				name = run.ID
			}
			series = append(series, Series{Name: name, Points: pts})
		}
		if curves {
			p.Charts = append(p.Charts, LineChart{Label: m.Key + " by step, runs overlaid", XLabel: "step", Series: series}.SVG())
		}
	}
	return s.render(w, r, "compare", "Compare runs", "runs", p)
}
