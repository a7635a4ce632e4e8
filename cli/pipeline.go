package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/client"
	"github.com/plinthml/plinth/pipeline"
)

func runPipelines(ctx context.Context, e *Env, args []string) error {
	sub, args := subcommand(args, "list")
	f := newFlags(e, "pipelines "+sub)
	params := kvFlag{}
	f.Var(params, "param", "NAME=VALUE overriding a pipeline parameter; repeatable (plan, run)")
	detach := f.Bool("detach", false, "start the run and return without waiting (run; needs a server)")
	limit := f.Int("limit", 20, "runs to list (runs)")
	reject := f.Bool("reject", false, "reject instead of approving (approve)")
	reason := f.String("reason", "", "why: recorded with the decision (approve)")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	c, done, err := f.connect(ctx)
	if err != nil {
		return err
	}
	defer done()
	need := arity(pos, "pipelines")
	switch sub {
	case "list":
		ps, err := c.Pipelines(ctx)
		if err != nil {
			return err
		}
		return f.emit(e, ps, func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "PIPELINE\tVERSION\tSTEPS\tSCHEDULE\tON DATASET\tLAST RUN\tSTATE\tWHEN")
			for _, p := range ps {
				last, state, when := "-", "-", "-"
				if p.LastRun != nil {
					last, state, when = p.LastRun.ID, string(p.LastRun.State), p.LastRun.CreatedAt.Local().Format(time.DateTime)
				}
				fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", p.Name, p.Version, len(p.Steps), dash(p.Schedule), dash(strings.Join(p.OnDataset, ",")), last, state, when)
			}
		})
	case "plan":
		if err := need(1, "plan PIPELINE [--param NAME=VALUE]"); err != nil {
			return err
		}
		steps, err := c.PlanPipeline(ctx, pos[0], typedParams(params))
		if err != nil {
			return err
		}
		return f.emit(e, steps, func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "STEP\tKIND\tCACHE\tWHY")
			for _, s := range steps {
				hit := "miss"
				if s.Cached {
					hit = "hit"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", s.Step, s.Kind, hit, s.Reason)
			}
		})
	case "run":
		if err := need(1, "run PIPELINE [--param NAME=VALUE] [--detach]"); err != nil {
			return err
		}
		r, err := c.StartPipeline(ctx, pos[0], typedParams(params))
		if err != nil {
			return err
		}
		if *detach {
			if f.url == "" {
				return usagef("--detach needs a server (--url): without one the run lives in this process")
			}
			return f.emit(e, r, func(w *tabwriter.Writer) { fmt.Fprintf(w, "started run %s of %s\n", r.ID, r.Pipeline) })
		}
		return watchRun(ctx, e, f, c, r.ID)
	case "rerun":
		if err := need(1, "rerun RUN"); err != nil {
			return err
		}
		r, err := c.RerunPipeline(ctx, pos[0])
		if err != nil {
			return err
		}
		return watchRun(ctx, e, f, c, r.ID)
	case "runs":
		if err := need(1, "runs PIPELINE [--limit N]"); err != nil {
			return err
		}
		runs, err := c.PipelineRuns(ctx, pos[0], *limit)
		if err != nil {
			return err
		}
		return f.emit(e, runs, func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "RUN\tSTATE\tTRIGGER\tSTARTED\tSTEPS RUN\tCACHED\tWALL\tCPU\tERROR")
			for _, r := range runs {
				ran, cached := 0, 0
				for _, a := range r.Latest() {
					switch {
					case a.Cached:
						cached++
					case a.State == pipeline.Succeeded || a.State == pipeline.Halted:
						ran++
					}
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%d\t%.1fs\t%.1fs\t%s\n", r.ID, r.State, r.Trigger, r.CreatedAt.Local().Format(time.DateTime),
					ran, cached, r.Cost.WallSeconds, r.Cost.CPUSeconds, dash(r.Error))
			}
		})
	case "show":
		if err := need(1, "show RUN"); err != nil {
			return err
		}
		r, err := c.PipelineRun(ctx, pos[0])
		if err != nil {
			return err
		}
		return f.emit(e, r, func(w *tabwriter.Writer) { describeRun(w, r, true) })
	case "approve":
		if err := need(2, "approve RUN STEP --reason TEXT [--reject]"); err != nil {
			return err
		}
		r, err := c.DecideStep(ctx, pos[0], pos[1], !*reject, *reason)
		if err != nil {
			return err
		}
		verb := "approved"
		if *reject {
			verb = "rejected"
		}
		return f.emit(e, r, func(w *tabwriter.Writer) { fmt.Fprintf(w, "%s step %s of run %s\n", verb, pos[1], r.ID) })
	case "cancel":
		if err := need(1, "cancel RUN"); err != nil {
			return err
		}
		r, err := c.CancelPipelineRun(ctx, pos[0])
		if err != nil {
			return err
		}
		return f.emit(e, r, func(w *tabwriter.Writer) { fmt.Fprintf(w, "run %s: %s\n", r.ID, r.State) })
	}
	return usagef("pipelines: unknown subcommand %q (list, plan, run, rerun, runs, show, approve, cancel)", sub)
}

// typedParams reads NAME=VALUE flags, taking numbers and booleans as such.
func typedParams(kv kvFlag) map[string]any {
	out := map[string]any{}
	for k, v := range kv {
		var x any
		if err := json.Unmarshal([]byte(v), &x); err == nil {
			switch x.(type) {
			case float64, bool:
				out[k] = x
				continue
			}
		}
		out[k] = v
	}
	return out
}

// watchRun prints each step as it changes state until the run ends, then
// the run's summary; a failed run is an error.
func watchRun(ctx context.Context, e *Env, f *flags, c *client.Client, id string) error {
	seen := map[string]string{}
	fmt.Fprintf(e.Stderr, "run %s\n", id)
	var r *pipeline.Report
	for {
		var err error
		if r, err = c.PipelineRun(ctx, id); err != nil {
			return err
		}
		for _, st := range r.Spec.Steps {
			a := r.Latest()[st.Name]
			if a == nil {
				continue
			}
			line := stepLine(a)
			if seen[st.Name] != line {
				seen[st.Name] = line
				fmt.Fprintf(e.Stderr, "  %-16s %s\n", st.Name, line)
			}
		}
		if r.State.Final() {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
	if err := f.emit(e, r, func(w *tabwriter.Writer) { describeRun(w, r, false) }); err != nil {
		return err
	}
	if r.State != pipeline.Succeeded {
		return plinth.Errorf(plinth.EINVALID, "run %s %s: %s", r.ID, r.State, r.Error)
	}
	return nil
}

func stepLine(a *pipeline.Attempt) string {
	switch {
	case a.Cached:
		return "cached (from run " + a.CachedFrom + ")"
	case a.State == pipeline.Running:
		return fmt.Sprintf("running (attempt %d)", a.Number)
	case a.State == pipeline.Waiting:
		return fmt.Sprintf("waiting for approval: plinth pipelines approve %s %s --reason ...", a.Run, a.Step)
	case a.State.Final() && a.State != pipeline.Succeeded:
		return fmt.Sprintf("%s: %s", a.State, a.Error)
	}
	return fmt.Sprintf("%s in %.1fs (cpu %.1fs, peak %s)", a.State, a.Cost.WallSeconds, a.Cost.CPUSeconds, bytesText(a.Cost.PeakRSS))
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

func describeRun(w *tabwriter.Writer, r *pipeline.Report, full bool) {
	fmt.Fprintf(w, "run %s of %s v%d: %s (%s)\n", r.ID, r.Pipeline, r.PipelineVersion, r.State, r.Trigger)
	if r.Error != "" {
		fmt.Fprintf(w, "error: %s\n", r.Error)
	}
	fmt.Fprintf(w, "cost: %.1fs wall, %.1fs cpu, peak %s\n", r.Cost.WallSeconds, r.Cost.CPUSeconds, bytesText(r.Cost.PeakRSS))
	fmt.Fprintln(w, "STEP\tATTEMPT\tSTATE\tWALL\tCPU\tOUTPUTS")
	for _, st := range r.Spec.Steps {
		a := r.Latest()[st.Name]
		if a == nil {
			fmt.Fprintf(w, "%s\t-\tnot started\t\t\t\n", st.Name)
			continue
		}
		state := string(a.State)
		if a.Cached {
			state = "cached"
		}
		var outs []string
		for _, n := range slices.Sorted(maps.Keys(a.Outputs)) {
			v := a.Outputs[n]
			switch {
			case len(v.Metrics) > 0:
				var ms []string
				for _, k := range slices.Sorted(maps.Keys(v.Metrics)) {
					ms = append(ms, fmt.Sprintf("%s=%.4g", k, v.Metrics[k]))
				}
				outs = append(outs, n+": "+strings.Join(ms, " "))
			case v.Ref != "":
				outs = append(outs, n+": "+v.Ref)
			default:
				outs = append(outs, n)
			}
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%.1fs\t%.1fs\t%s\n", st.Name, a.Number, state, a.Cost.WallSeconds, a.Cost.CPUSeconds, strings.Join(outs, "; "))
	}
	if full {
		for _, a := range r.Attempts {
			if a.Log == "" && a.Error == "" {
				continue
			}
			fmt.Fprintf(w, "\n--- %s attempt %d (%s)\n", a.Step, a.Number, a.State)
			if a.Log != "" {
				fmt.Fprint(w, strings.TrimRight(a.Log, "\n")+"\n")
			}
			if a.Error != "" {
				fmt.Fprintf(w, "error: %s\n", a.Error)
			}
		}
	}
}
