package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/deploy"
)

func runEndpoints(ctx context.Context, e *Env, args []string) error {
	sub, args := subcommand(args, "list")
	f := newFlags(e, "endpoints "+sub)
	reason := f.String("reason", "", "why: recorded in the endpoint's history")
	strategy := f.String("strategy", "single", "single, canary, ab, shadow or bluegreen (deploy)")
	candidate := f.String("candidate", "", "the candidate version, e.g. income@3 (deploy with canary, ab, shadow)")
	weight := f.Float64("weight", 0, "the candidate's share of traffic, 0 to 1 (canary, ab)")
	sticky := f.String("sticky-key", "", "request field that keeps A/B assignments stable (ab)")
	gateWindow := f.Duration("gate-window", 0, "promote the candidate after this long clean; setting it (or --gate-min-requests) turns on the gate (canary, ab)")
	gateMin := f.Int64("gate-min-requests", 0, "candidate requests before the gate decides (default 100)")
	explain := f.Int("explain", 0, "show this many top feature contributions per prediction (predict)")
	variant := f.String("variant", "", "ask for the candidate (or stable) version: smoke-test the green side of a blue-green endpoint (predict)")
	var inputs listFlag
	f.Var(&inputs, "input", "feature=value of the instance; repeatable (predict)")
	instancesJSON := f.String("instances", "", `JSON array of instances, e.g. '[{"age": 39}]' (predict)`)
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	c, done, err := f.connect(ctx)
	if err != nil {
		return err
	}
	defer done()
	need := arity(pos, "endpoints")
	switch sub {
	case "list":
		eps, err := c.Endpoints(ctx)
		if err != nil {
			return err
		}
		return f.emit(e, eps, func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "ENDPOINT\tSTRATEGY\tSTABLE\tCANDIDATE\tREVISION\tUPDATED\tBY\tREASON")
			for _, ep := range eps {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", ep.Name, ep.Strategy, target(ep.Stable), candidateText(ep), ep.Revision, ep.UpdatedAt.Local().Format(time.DateTime), ep.UpdatedBy, dash(ep.Reason))
			}
		})
	case "deploy":
		if err := need(2, "deploy ENDPOINT MODEL[@ALIAS|@VERSION] [--reason TEXT]"); err != nil {
			return err
		}
		spec := deploy.Spec{Model: pos[1], Strategy: *strategy, Candidate: *candidate, Weight: *weight, StickyKey: *sticky, Reason: *reason}
		if *gateWindow > 0 || *gateMin > 0 {
			spec.Gate = &deploy.Gate{Window: plinth.Duration(*gateWindow), MinRequests: *gateMin}
		}
		ep, err := c.Deploy(ctx, pos[0], spec)
		if err != nil {
			return err
		}
		return f.emit(e, ep, func(w *tabwriter.Writer) {
			fmt.Fprintf(w, "endpoint %s serves %s (%s, candidate %s; revision %d)\n", ep.Name, target(ep.Stable), ep.Strategy, candidateText(*ep), ep.Revision)
		})
	case "promote":
		if err := need(1, "promote ENDPOINT [--reason TEXT]"); err != nil {
			return err
		}
		ep, err := c.Promote(ctx, pos[0], *reason)
		if err != nil {
			return err
		}
		return f.emit(e, ep, func(w *tabwriter.Writer) {
			fmt.Fprintf(w, "endpoint %s now serves %s alone (revision %d)\n", ep.Name, target(ep.Stable), ep.Revision)
		})
	case "shadow":
		if err := need(1, "shadow ENDPOINT"); err != nil {
			return err
		}
		st, err := c.Shadow(ctx, pos[0])
		if err != nil {
			return err
		}
		return f.emit(e, st, func(w *tabwriter.Writer) {
			fmt.Fprintf(w, "shadow v%d vs stable v%d: %d requests compared, mean |diff| %s, max |diff| %s, %d errors, %d dropped\n",
				st.ShadowVersion, st.StableVersion, st.Compared, fmtFloat(st.MeanAbsDiff), fmtFloat(st.MaxAbsDiff), st.Errors, st.Dropped)
		})
	case "rollback":
		if err := need(1, "rollback ENDPOINT [--reason TEXT]"); err != nil {
			return err
		}
		ep, err := c.Rollback(ctx, pos[0], *reason)
		if err != nil {
			return err
		}
		return f.emit(e, ep, func(w *tabwriter.Writer) {
			fmt.Fprintf(w, "endpoint %s rolled back to %s (%s; revision %d)\n", ep.Name, target(ep.Stable), ep.Strategy, ep.Revision)
		})
	case "history":
		if err := need(1, "history ENDPOINT"); err != nil {
			return err
		}
		h, err := c.EndpointHistory(ctx, pos[0])
		if err != nil {
			return err
		}
		return f.emit(e, h, func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "REVISION\tACTION\tSTRATEGY\tSTABLE\tCANDIDATE\tWHEN\tBY\tREASON")
			for _, ep := range h {
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ep.Revision, ep.Action, ep.Strategy, target(ep.Stable), candidateText(ep), ep.UpdatedAt.Local().Format(time.DateTime), ep.UpdatedBy, dash(ep.Reason))
			}
		})
	case "predict":
		if err := need(1, "predict ENDPOINT (--input feature=value ... | --instances JSON) [--explain N]"); err != nil {
			return err
		}
		var instances []map[string]any
		switch {
		case *instancesJSON != "":
			if err := json.Unmarshal([]byte(*instancesJSON), &instances); err != nil {
				return usagef("--instances: %v", err)
			}
		case len(inputs) > 0:
			inst := map[string]any{}
			for _, kv := range inputs {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return usagef("--input %q: want feature=value", kv)
				}
				if n, err := strconv.ParseFloat(v, 64); err == nil {
					inst[k] = n
				} else {
					inst[k] = v
				}
			}
			instances = append(instances, inst)
		default:
			return usagef("give --input feature=value ... or --instances JSON")
		}
		res, err := c.PredictVariant(ctx, pos[0], *variant, instances, *explain)
		if err != nil {
			return err
		}
		return f.emit(e, res, func(w *tabwriter.Writer) {
			fmt.Fprintf(w, "%s version %d, %s (request %s)\n", res.Model, res.Version, res.Variant, res.RequestID)
			for i, p := range res.Predictions {
				out := make([]string, len(p.Outputs))
				for j, v := range p.Outputs {
					out[j] = fmtFloat(v)
				}
				fmt.Fprintf(w, "%d\t%s\n", i, strings.Join(out, " "))
				for _, c := range p.Explanation {
					fmt.Fprintf(w, "\t  %s\t%+.4f\n", c.Feature, c.SHAP)
				}
			}
		})
	case "trace":
		if err := need(2, "trace ENDPOINT REQUEST_ID"); err != nil {
			return err
		}
		records, err := c.TracePrediction(ctx, pos[0], pos[1])
		if err != nil {
			return err
		}
		return f.emit(e, records, func(w *tabwriter.Writer) {
			for i, r := range records {
				if i > 0 {
					fmt.Fprintln(w)
				}
				out := make([]string, len(r.Outputs))
				for j, v := range r.Outputs {
					out[j] = fmtFloat(v)
				}
				fmt.Fprintf(w, "%s version %d, %s, %s (request %s, %d µs)\n", r.Model, r.Version, r.Variant, r.Time.Local().Format(time.DateTime), r.RequestID, r.LatencyUS)
				fmt.Fprintf(w, "outputs\t%s\n", strings.Join(out, " "))
				if len(r.Request) > 0 {
					keys := slices.Sorted(maps.Keys(r.Request))
					sent := make([]string, len(keys))
					for j, k := range keys {
						sent[j] = fmt.Sprintf("%s=%v", k, r.Request[k])
					}
					fmt.Fprintf(w, "request\t%s\n", strings.Join(sent, " "))
				}
				if len(r.Inputs.Names) > 0 {
					fmt.Fprintln(w, "features")
				}
				for j, name := range r.Inputs.Names {
					v := r.Inputs.Values[j]
					if v == nil {
						v = "null"
					}
					fmt.Fprintf(w, "  %s\t%v\n", name, v)
				}
			}
		})
	}
	return usagef("unknown subcommand %q (have list, deploy, promote, rollback, history, shadow, predict, trace)", sub)
}

func target(t deploy.Target) string { return fmt.Sprintf("%s@%d (%s)", t.Model, t.Version, t.Ref) }

func candidateText(e deploy.Endpoint) string {
	if e.Candidate == nil {
		return "-"
	}
	s := target(*e.Candidate)
	if e.Weight > 0 {
		s += fmt.Sprintf(" %g%%", e.Weight*100)
	}
	return s
}
