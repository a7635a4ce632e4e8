package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/plinthml/plinth/monitor"
)

func runMonitor(ctx context.Context, e *Env, args []string) error {
	sub, args := subcommand(args, "report")
	f := newFlags(e, "monitor "+sub)
	from := f.String("from", "", "start of the period, RFC 3339 (report; default: the monitor's lookback before the newest window)")
	to := f.String("to", "", "end of the period, RFC 3339 (report)")
	html := f.String("html", "", "also write the report as an HTML page with plots to this file (report)")
	silence := f.Duration("for", 0, "how long to silence the rule (silence)")
	reason := f.String("reason", "", "why the rule is silenced; the audit trail shows it (silence)")
	sample := f.Int("sample", 500, "requests by entity to compare (skew)")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	c, done, err := f.connect(ctx)
	if err != nil {
		return err
	}
	defer done()
	need := arity(pos, "monitor")
	switch sub {
	case "report":
		if err := need(1, "report ENDPOINT [--from T] [--to T] [--html FILE]"); err != nil {
			return err
		}
		var tf, tt time.Time
		for _, p := range []struct {
			s   string
			dst *time.Time
			n   string
		}{{*from, &tf, "--from"}, {*to, &tt, "--to"}} {
			if p.s == "" {
				continue
			}
			if *p.dst, err = time.Parse(time.RFC3339, p.s); err != nil {
				return usagef("%s: %q is not an RFC 3339 time", p.n, p.s)
			}
		}
		rep, err := c.MonitorReport(ctx, pos[0], tf, tt)
		if err != nil {
			return err
		}
		if *html != "" {
			rc, err := c.MonitorReportHTML(ctx, pos[0], rep.From, rep.To)
			if err != nil {
				return err
			}
			out, err := os.Create(*html)
			if err != nil {
				rc.Close()
				return err
			}
			_, err = io.Copy(out, rc)
			rc.Close()
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(e.Stderr, "wrote %s\n", *html)
		}
		return f.emit(e, rep, func(w *tabwriter.Writer) { describeReport(w, rep) })
	case "check":
		if err := need(1, "check ENDPOINT"); err != nil {
			return err
		}
		rep, fired, err := c.CheckMonitor(ctx, pos[0])
		if err != nil {
			return err
		}
		return f.emit(e, map[string]any{"report": rep, "fired": fired}, func(w *tabwriter.Writer) {
			describeReport(w, rep)
			for _, a := range fired {
				fmt.Fprintf(w, "\nALERT %s fired: %s\n", a.Rule, a.Message)
			}
		})
	case "alerts":
		if err := need(1, "alerts ENDPOINT"); err != nil {
			return err
		}
		alerts, err := c.Alerts(ctx, pos[0])
		if err != nil {
			return err
		}
		return f.emit(e, alerts, func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "RULE\tSTATE\tSTARTED\tMESSAGE")
			for _, a := range alerts {
				state := a.State
				if a.Silenced {
					state += " (silenced)"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", a.Rule, state, a.StartedAt.Local().Format(time.DateTime), a.Message)
			}
		})
	case "skew":
		if err := need(1, "skew ENDPOINT [--sample N]"); err != nil {
			return err
		}
		sk, err := c.Skew(ctx, pos[0], *sample)
		if err != nil {
			return err
		}
		return f.emit(e, sk, func(w *tabwriter.Writer) {
			fmt.Fprintf(w, "%s (feature service %s): %d requests by entity compared with the offline store\n", pos[0], sk.Service, sk.Sampled)
			fmt.Fprintln(w, "FEATURE\tCOMPARED\tMISMATCHED\tRATE\tEXAMPLE")
			for _, fs := range sk.Features {
				ex := "-"
				if fs.Example != nil {
					ex = fmt.Sprintf("request %s: online %v, offline %v", fs.Example.RequestID, fs.Example.Online, fs.Example.Offline)
				}
				fmt.Fprintf(w, "%s\t%d\t%d\t%.3f\t%s\n", fs.Feature, fs.Compared, fs.Mismatched, fs.Rate, ex)
			}
		})
	case "silence":
		if err := need(2, "silence ENDPOINT RULE --for DURATION [--reason TEXT]"); err != nil {
			return err
		}
		if *silence <= 0 {
			return usagef("silence needs --for, e.g. --for 2h")
		}
		si, err := c.Silence(ctx, pos[0], pos[1], *silence, *reason)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "silenced %s on %s until %s\n", si.Rule, si.Endpoint, si.Until.Local().Format(time.DateTime))
		return nil
	}
	return usagef("monitor: unknown subcommand %q (report, check, alerts, skew, silence)", sub)
}

func describeReport(w *tabwriter.Writer, rep *monitor.Report) {
	fmt.Fprintf(w, "endpoint %s, %s@%d, %s to %s: %d predictions\n", rep.Endpoint, rep.Model, rep.Version,
		rep.From.UTC().Format(time.RFC3339), rep.To.UTC().Format(time.RFC3339), rep.Rows)
	for _, m := range rep.Missing {
		fmt.Fprintf(w, "note: %s\n", m)
	}
	if d := rep.Drift; d != nil {
		verdict := "no dataset drift"
		if d.DatasetDrift {
			verdict = "DATASET DRIFT"
		}
		fmt.Fprintf(w, "%s: %d of %d features drifted (share %.2f, threshold %.2f)\n", verdict, d.Drifted, d.Compared, d.Share, d.ShareThreshold)
		fmt.Fprintln(w, "FEATURE\tMETHOD\tSCORE\tTHRESHOLD\tDRIFTED\tIMPORTANCE")
		for _, fd := range d.Features {
			drifted := "-"
			if fd.Drifted {
				drifted = "yes"
			}
			fmt.Fprintf(w, "%s\t%s\t%.4g\t%.4g\t%s\t%.3g\n", fd.Feature, fd.Method, fd.Score, fd.Threshold, drifted, fd.Importance)
		}
		for _, fd := range d.Predictions {
			fmt.Fprintf(w, "%s\t%s\t%.4g\t%.4g\t%v\t\n", fd.Feature, fd.Method, fd.Score, fd.Threshold, fd.Drifted)
		}
	}
	if q := rep.Quality; q != nil && len(q.Issues) > 0 {
		fmt.Fprintln(w, "\nQUALITY ISSUE\tFEATURE\tMESSAGE")
		for _, i := range q.Issues {
			fmt.Fprintf(w, "%s\t%s\t%s\n", i.Kind, i.Feature, i.Message)
		}
	}
	if len(rep.Performance) > 0 {
		fmt.Fprintln(w, "\nPERIOD\tVERSION\tLABELLED\tMETRICS")
		for _, p := range rep.Performance {
			keys := make([]string, 0, len(p.Metrics))
			for k := range p.Metrics {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var ms string
			for _, k := range keys {
				ms += fmt.Sprintf("%s=%.4g ", k, p.Metrics[k])
			}
			fmt.Fprintf(w, "%s\t%s@%d\t%d\t%s\n", p.Start.UTC().Format("2006-01-02"), p.Model, p.Version, p.Rows, ms)
		}
	}
}
