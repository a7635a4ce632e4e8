package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/plinthml/plinth/client"
	"github.com/plinthml/plinth/track"
)

func runExperiments(ctx context.Context, e *Env, args []string) error {
	sub, args := subcommand(args, "list")
	f := newFlags(e, "experiments "+sub)
	desc := f.String("description", "", "what the experiment is for (create)")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	c, done, err := f.connect(ctx)
	if err != nil {
		return err
	}
	defer done()
	switch sub {
	case "list":
		es, err := c.Experiments(ctx)
		if err != nil {
			return err
		}
		return f.emit(e, es, func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "ID\tNAME\tCREATED\tDESCRIPTION")
			for _, x := range es {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", x.ID, x.Name, x.CreatedAt.Local().Format(time.DateTime), x.Description)
			}
		})
	case "create":
		if len(pos) != 1 {
			return usagef("usage: plinth experiments create NAME [--description TEXT]")
		}
		x, err := c.CreateExperiment(ctx, pos[0], *desc)
		if err != nil {
			return err
		}
		return f.emit(e, x, func(w *tabwriter.Writer) { fmt.Fprintf(w, "created experiment %s (%s)\n", x.Name, x.ID) })
	}
	return usagef("unknown subcommand %q (have list, create)", sub)
}

func runRuns(ctx context.Context, e *Env, args []string) error {
	sub, args := subcommand(args, "list")
	f := newFlags(e, "runs "+sub)
	var exps, orderBy, metrics listFlag
	params, tags := kvFlag{}, kvFlag{}
	filter := f.String("filter", "", `filter expression, e.g. 'metrics.auc > 0.9 and params.depth = "6"' (list)`)
	max := f.Int("max", 50, "at most this many runs (list)")
	pageToken := f.String("page-token", "", "continue a listing (list)")
	name := f.String("name", "", "run name (start)")
	note := f.String("note", "", "a message about the run, like a commit message (start)")
	parent := f.String("parent", "", "parent run ID (start)")
	status := f.String("status", "finished", "finished, failed or killed (end)")
	path := f.String("path", "", "artifact path in the run (upload; default: the file's name)")
	out := f.String("o", "", "write to this file instead of stdout (download)")
	f.Var(&exps, "experiment", "experiment ID or name; repeatable (list, start)")
	f.Var(&orderBy, "order-by", `ordering term, e.g. "metrics.auc desc"; repeatable (list)`)
	f.Var(&metrics, "metric", "key=value or key=value@step; repeatable (log)")
	f.Var(params, "param", "key=value; repeatable (start, log)")
	f.Var(tags, "tag", "key=value; repeatable (start, log)")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	need := arity(pos, "runs")
	c, done, err := f.connect(ctx)
	if err != nil {
		return err
	}
	defer done()

	switch sub {
	case "list":
		page, err := c.SearchRuns(ctx, track.SearchRequest{ExperimentIDs: exps, Filter: *filter, OrderBy: orderBy, MaxResults: *max, PageToken: *pageToken})
		if err != nil {
			return err
		}
		return f.emit(e, page, func(w *tabwriter.Writer) { runTable(w, page) })
	case "show":
		if err := need(1, "show RUN"); err != nil {
			return err
		}
		run, err := c.Run(ctx, pos[0])
		if err != nil {
			return err
		}
		return f.emit(e, run, func(w *tabwriter.Writer) { showRun(w, run) })
	case "start":
		if len(exps) != 1 || len(pos) != 0 {
			return usagef("usage: plinth runs start --experiment NAME [--name N] [--param k=v]... [--tag k=v]... [--note TEXT]")
		}
		run, err := c.CreateRun(ctx, client.NewRun{Experiment: exps[0], Name: *name, ParentID: *parent, Note: *note, Params: params, Tags: tags})
		if err != nil {
			return err
		}
		return f.emit(e, run, func(w *tabwriter.Writer) { fmt.Fprintln(w, run.ID) })
	case "log":
		if err := need(1, "log RUN [--metric key=value[@step]]... [--param k=v]... [--tag k=v]..."); err != nil {
			return err
		}
		b := track.Batch{}
		now := time.Now()
		for _, m := range metrics {
			p, err := parseMetric(m)
			if err != nil {
				return usagef("--metric: %v", err)
			}
			p.Time = now
			b.Metrics = append(b.Metrics, p)
		}
		for k, v := range params {
			b.Params = append(b.Params, track.KV{Key: k, Value: v})
		}
		for k, v := range tags {
			b.Tags = append(b.Tags, track.KV{Key: k, Value: v})
		}
		return c.LogBatch(ctx, pos[0], b)
	case "end":
		if err := need(1, "end RUN [--status finished|failed|killed]"); err != nil {
			return err
		}
		run, err := c.EndRun(ctx, pos[0], track.Status(*status))
		if err != nil {
			return err
		}
		return f.emit(e, run, func(w *tabwriter.Writer) { fmt.Fprintf(w, "run %s %s\n", run.ID, run.Status) })
	case "note":
		if err := need(2, "note RUN MESSAGE"); err != nil {
			return err
		}
		_, err := c.UpdateRun(ctx, pos[0], track.RunUpdate{Note: &pos[1]})
		return err
	case "metric":
		if err := need(2, "metric RUN KEY"); err != nil {
			return err
		}
		ms, err := c.MetricHistory(ctx, pos[0], pos[1])
		if err != nil {
			return err
		}
		return f.emit(e, ms, func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "STEP\tVALUE\tTIME")
			for _, m := range ms {
				fmt.Fprintf(w, "%d\t%s\t%s\n", m.Step, fmtFloat(m.Value), m.Time.Local().Format(time.DateTime))
			}
		})
	case "compare":
		if len(pos) < 2 {
			return usagef("usage: plinth runs compare RUN RUN [RUN...]")
		}
		cmp, err := c.CompareRuns(ctx, pos...)
		if err != nil {
			return err
		}
		return f.emit(e, cmp, func(w *tabwriter.Writer) { compareTable(w, cmp) })
	case "upload":
		if err := need(2, "upload RUN FILE [--path PATH]"); err != nil {
			return err
		}
		file, err := os.Open(pos[1])
		if err != nil {
			return err
		}
		defer file.Close()
		p := *path
		if p == "" {
			p = filepath.Base(pos[1])
		}
		a, err := c.PutArtifact(ctx, pos[0], p, file)
		if err != nil {
			return err
		}
		return f.emit(e, a, func(w *tabwriter.Writer) { fmt.Fprintf(w, "%s\t%s\t%d bytes\n", a.Path, a.Digest, a.Size) })
	case "download":
		if err := need(2, "download RUN PATH [-o FILE]"); err != nil {
			return err
		}
		rc, err := c.OpenArtifact(ctx, pos[0], pos[1])
		if err != nil {
			return err
		}
		defer rc.Close()
		return copyOut(e, *out, rc)
	}
	return usagef("unknown subcommand %q (have list, show, start, log, end, note, metric, compare, upload, download)", sub)
}

// copyOut streams r to the named file (atomically) or to stdout.
func copyOut(e *Env, path string, r io.Reader) error {
	if path == "" {
		_, err := io.Copy(e.Stdout, r)
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".plinth-download-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func parseMetric(s string) (track.Metric, error) {
	key, rest, ok := strings.Cut(s, "=")
	if !ok || key == "" {
		return track.Metric{}, fmt.Errorf("want key=value[@step], have %q", s)
	}
	val, stepText, hasStep := strings.Cut(rest, "@")
	v, err := strconv.ParseFloat(val, 64)
	if err != nil {
		return track.Metric{}, fmt.Errorf("%q: value %q is not a number", s, val)
	}
	m := track.Metric{Key: key, Value: v}
	if hasStep {
		if m.Step, err = strconv.ParseInt(stepText, 10, 64); err != nil {
			return track.Metric{}, fmt.Errorf("%q: step %q is not an integer", s, stepText)
		}
	}
	return m, nil
}

// runTable lists runs with the metrics and params that vary most usefully:
// every metric, and the params that differ between the runs shown.
func runTable(w *tabwriter.Writer, page *track.Page) {
	metricKeys, paramKeys := map[string]bool{}, map[string]map[string]bool{}
	for _, r := range page.Runs {
		for k := range r.Metrics {
			metricKeys[k] = true
		}
		for k, v := range r.Params {
			if paramKeys[k] == nil {
				paramKeys[k] = map[string]bool{}
			}
			paramKeys[k][v] = true
		}
	}
	mk := sortedSet(metricKeys)
	var pk []string
	for k, vals := range paramKeys {
		if len(vals) > 1 || len(page.Runs) == 1 {
			pk = append(pk, k)
		}
	}
	sort.Strings(pk)
	if len(mk) > 6 {
		mk = mk[:6]
	}
	if len(pk) > 6 {
		pk = pk[:6]
	}
	header := []string{"RUN", "NAME", "STATUS", "STARTED"}
	for _, k := range mk {
		header = append(header, k)
	}
	for _, k := range pk {
		header = append(header, "params."+k)
	}
	fmt.Fprintln(w, strings.Join(header, "\t"))
	for _, r := range page.Runs {
		row := []string{r.ID, r.Name, string(r.Status), r.StartTime.Local().Format(time.DateTime)}
		for _, k := range mk {
			if m, ok := r.Metrics[k]; ok {
				row = append(row, fmtFloat(m.Value))
			} else {
				row = append(row, "-")
			}
		}
		for _, k := range pk {
			if v, ok := r.Params[k]; ok {
				row = append(row, v)
			} else {
				row = append(row, "-")
			}
		}
		fmt.Fprintln(w, strings.Join(row, "\t"))
	}
	if page.NextPageToken != "" {
		fmt.Fprintf(w, "(more: --page-token %s)\n", page.NextPageToken)
	}
}

func showRun(w *tabwriter.Writer, r *track.Run) {
	fmt.Fprintf(w, "run\t%s\n", r.ID)
	fmt.Fprintf(w, "name\t%s\n", r.Name)
	fmt.Fprintf(w, "experiment\t%s\n", r.ExperimentID)
	if r.ParentID != "" {
		fmt.Fprintf(w, "parent\t%s\n", r.ParentID)
	}
	fmt.Fprintf(w, "status\t%s\n", r.Status)
	fmt.Fprintf(w, "started\t%s\n", r.StartTime.Local().Format(time.DateTime))
	if r.EndTime != nil {
		fmt.Fprintf(w, "ended\t%s (%s)\n", r.EndTime.Local().Format(time.DateTime), r.EndTime.Sub(r.StartTime).Round(time.Millisecond))
	}
	if r.Code.Commit != "" {
		dirty := ""
		if r.Code.Dirty {
			dirty = " (dirty)"
		}
		fmt.Fprintf(w, "code\t%s%s %s\n", r.Code.Commit, dirty, r.Code.Repo)
	}
	if r.Note != "" {
		fmt.Fprintf(w, "note\t%s\n", r.Note)
	}
	for _, k := range sortedKeys(r.Params) {
		fmt.Fprintf(w, "params.%s\t%s\n", k, r.Params[k])
	}
	for _, k := range sortedKeys(r.Tags) {
		fmt.Fprintf(w, "tags.%s\t%s\n", k, r.Tags[k])
	}
	mk := make([]string, 0, len(r.Metrics))
	for k := range r.Metrics {
		mk = append(mk, k)
	}
	sort.Strings(mk)
	for _, k := range mk {
		m := r.Metrics[k]
		fmt.Fprintf(w, "metrics.%s\t%s (step %d; min %s, max %s, %d points)\n", k, fmtFloat(m.Value), m.Step, fmtFloat(m.Min), fmtFloat(m.Max), m.Count)
	}
	for _, in := range r.Inputs {
		fmt.Fprintf(w, "input\t%s@%s %s %s\n", in.Name, in.Version, in.Role, in.Digest)
	}
	for _, a := range r.Artifacts {
		fmt.Fprintf(w, "artifact\t%s (%d bytes, %s)\n", a.Path, a.Size, a.Digest)
	}
}

func compareTable(w *tabwriter.Writer, c *track.Comparison) {
	header := []string{""}
	for _, r := range c.Runs {
		header = append(header, r.Name)
	}
	fmt.Fprintln(w, strings.Join(header, "\t"))
	id := []string{"run"}
	for _, r := range c.Runs {
		id = append(id, r.ID)
	}
	fmt.Fprintln(w, strings.Join(id, "\t"))
	for _, p := range c.Params {
		if !p.Differs {
			continue
		}
		row := []string{"params." + p.Key + " *"}
		for _, v := range p.Values {
			if v == nil {
				row = append(row, "-")
			} else {
				row = append(row, *v)
			}
		}
		fmt.Fprintln(w, strings.Join(row, "\t"))
	}
	for _, m := range c.Metrics {
		final := []string{"metrics." + m.Key}
		best := []string{"  best (" + m.Goal + ")"}
		for i := range m.Final {
			mark := ""
			if i == m.BestRun {
				mark = " <"
			}
			final = append(final, fmtPtr(m.Final[i]))
			best = append(best, fmtPtr(m.Best[i])+mark)
		}
		fmt.Fprintln(w, strings.Join(final, "\t"))
		fmt.Fprintln(w, strings.Join(best, "\t"))
	}
	same := 0
	for _, p := range c.Params {
		if !p.Differs {
			same++
		}
	}
	if same > 0 {
		fmt.Fprintf(w, "(%d params equal in all runs not shown; --output json has them)\n", same)
	}
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', 6, 64) }

func fmtPtr(f *float64) string {
	if f == nil {
		return "-"
	}
	return fmtFloat(*f)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sortedSet(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
