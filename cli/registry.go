package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/plinthml/plinth/api"
	"github.com/plinthml/plinth/registry"
)

func runModels(ctx context.Context, e *Env, args []string) error {
	sub, args := subcommand(args, "list")
	f := newFlags(e, "models "+sub)
	run := f.String("run", "", "run the version comes from (register)")
	artifact := f.String("artifact", "", "path of the run's artifact to register (register, with --run)")
	file := f.String("file", "", "model file to upload and register (register)")
	format := f.String("format", "plinth", "model format: plinth, xgboost-json, lightgbm-text, onnx, other (register)")
	sigFile := f.String("signature", "", "JSON file with the signature {inputs: [...], outputs: [...]} (register)")
	desc := f.String("description", "", "version description (register) or model description (card)")
	reason := f.String("reason", "", "why: recorded in the audit log")
	intended := f.String("intended-use", "", "intended use (card)")
	limits := f.String("limitations", "", "known limitations (card)")
	limit := f.Int("limit", 50, "at most this many events (audit)")
	fsvc := f.String("feature-service", "", "feature service NAME@VERSION the model was trained on (register)")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	c, done, err := f.connect(ctx)
	if err != nil {
		return err
	}
	defer done()
	need := arity(pos, "models")
	version := func(i int) (int, error) {
		n, err := strconv.Atoi(pos[i])
		if err != nil || n <= 0 {
			return 0, usagef("%q is not a version number", pos[i])
		}
		return n, nil
	}

	switch sub {
	case "list":
		ms, err := c.Models(ctx)
		if err != nil {
			return err
		}
		return f.emit(e, ms, func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "MODEL\tLATEST\tALIASES\tUPDATED\tDESCRIPTION")
			for _, m := range ms {
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\n", m.Name, m.LatestVersion, aliasList(m.Aliases), m.UpdatedAt.Local().Format(time.DateTime), firstLine(m.Card.Description))
			}
		})
	case "show":
		if err := need(1, "show MODEL"); err != nil {
			return err
		}
		m, err := c.Model(ctx, pos[0])
		if err != nil {
			return err
		}
		vs, err := c.Versions(ctx, pos[0])
		if err != nil {
			return err
		}
		return f.emit(e, map[string]any{"model": m, "versions": vs}, func(w *tabwriter.Writer) {
			fmt.Fprintf(w, "model\t%s\n", m.Name)
			fmt.Fprintf(w, "aliases\t%s\n", aliasList(m.Aliases))
			fmt.Fprintf(w, "description\t%s\n", m.Card.Description)
			fmt.Fprintf(w, "intended use\t%s\n", m.Card.IntendedUse)
			fmt.Fprintf(w, "limitations\t%s\n", m.Card.Limitations)
			fmt.Fprintln(w)
			versionTable(w, vs, m.Aliases)
		})
	case "versions":
		if err := need(1, "versions MODEL"); err != nil {
			return err
		}
		m, err := c.Model(ctx, pos[0])
		if err != nil {
			return err
		}
		vs, err := c.Versions(ctx, pos[0])
		if err != nil {
			return err
		}
		return f.emit(e, vs, func(w *tabwriter.Writer) { versionTable(w, vs, m.Aliases) })
	case "register":
		if err := need(1, "register MODEL (--run RUN --artifact PATH | --file FILE) [--format F] [--signature FILE]"); err != nil {
			return err
		}
		req := registry.NewVersion{Format: *format, RunID: *run, RunArtifact: *artifact, Description: *desc}
		if *fsvc != "" {
			name, ver, ok := strings.Cut(*fsvc, "@")
			n, err := strconv.Atoi(ver)
			if !ok || err != nil || n <= 0 {
				return usagef("--feature-service %q: want NAME@VERSION, e.g. delays@3", *fsvc)
			}
			req.FeatureService, req.FeatureServiceVersion = name, n
		}
		if *sigFile != "" {
			raw, err := os.ReadFile(*sigFile)
			if err != nil {
				return err
			}
			if err := api.DecodeJSON(strings.NewReader(string(raw)), &req.Signature); err != nil {
				return fmt.Errorf("signature file %s: %s", *sigFile, describe(err))
			}
		}
		switch {
		case *file != "" && *artifact != "":
			return usagef("give --file or --artifact, not both")
		case *file != "":
			fh, err := os.Open(*file)
			if err != nil {
				return err
			}
			info, err := c.PutBlob(ctx, fh)
			fh.Close()
			if err != nil {
				return err
			}
			req.Artifacts = []registry.Artifact{{Path: filepath.Base(*file), Digest: info.Digest.String()}}
		case *artifact == "":
			return usagef("give --file FILE, or --run RUN with --artifact PATH")
		}
		v, err := c.CreateVersion(ctx, pos[0], req)
		if err != nil {
			return err
		}
		return f.emit(e, v, func(w *tabwriter.Writer) { fmt.Fprintf(w, "registered %s version %d\n", v.Model, v.Version) })
	case "alias":
		if err := need(3, "alias MODEL ALIAS VERSION [--reason TEXT]"); err != nil {
			return err
		}
		n, err := version(2)
		if err != nil {
			return err
		}
		m, err := c.SetAlias(ctx, pos[0], pos[1], n, *reason)
		if err != nil {
			return err
		}
		return f.emit(e, m, func(w *tabwriter.Writer) { fmt.Fprintf(w, "%s@%s -> version %d\n", pos[0], pos[1], n) })
	case "unalias":
		if err := need(2, "unalias MODEL ALIAS [--reason TEXT]"); err != nil {
			return err
		}
		return c.DeleteAlias(ctx, pos[0], pos[1], *reason)
	case "approve", "reject":
		if err := need(2, sub+" MODEL VERSION [--reason TEXT]"); err != nil {
			return err
		}
		n, err := version(1)
		if err != nil {
			return err
		}
		state := registry.Approved
		if sub == "reject" {
			state = registry.Rejected
		}
		v, err := c.Review(ctx, pos[0], n, state, *reason)
		if err != nil {
			return err
		}
		return f.emit(e, v, func(w *tabwriter.Writer) { fmt.Fprintf(w, "%s version %d %s\n", v.Model, v.Version, v.Approval.State) })
	case "delete-version":
		if err := need(2, "delete-version MODEL VERSION [--reason TEXT]"); err != nil {
			return err
		}
		n, err := version(1)
		if err != nil {
			return err
		}
		return c.DeleteVersion(ctx, pos[0], n, *reason)
	case "card":
		if err := need(1, "card MODEL [--description T] [--intended-use T] [--limitations T]"); err != nil {
			return err
		}
		m, err := c.Model(ctx, pos[0])
		if err != nil {
			return err
		}
		card := m.Card
		set := map[string]bool{}
		f.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
		if set["description"] {
			card.Description = *desc
		}
		if set["intended-use"] {
			card.IntendedUse = *intended
		}
		if set["limitations"] {
			card.Limitations = *limits
		}
		if len(set) > 0 && card != m.Card {
			if m, err = c.UpdateCard(ctx, pos[0], card, *reason); err != nil {
				return err
			}
		}
		return f.emit(e, m.Card, func(w *tabwriter.Writer) {
			fmt.Fprintf(w, "description\t%s\nintended use\t%s\nlimitations\t%s\n", m.Card.Description, m.Card.IntendedUse, m.Card.Limitations)
		})
	case "audit":
		if err := need(1, "audit MODEL"); err != nil {
			return err
		}
		events, err := c.Audit(ctx, pos[0], *limit)
		if err != nil {
			return err
		}
		return f.emit(e, events, func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "TIME\tWHO\tACTION\tVERSION\tALIAS\tREASON\tDETAIL")
			for _, ev := range events {
				v := "-"
				if ev.Version > 0 {
					v = strconv.Itoa(ev.Version)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ev.Time.Local().Format(time.DateTime), ev.Principal, ev.Action, v, dash(ev.Alias), dash(ev.Reason), dash(ev.Detail))
			}
		})
	}
	return usagef("unknown subcommand %q (have list, show, versions, register, alias, unalias, approve, reject, delete-version, card, audit)", sub)
}

func versionTable(w *tabwriter.Writer, vs []registry.Version, aliases map[string]int) {
	byVersion := map[int][]string{}
	for a, v := range aliases {
		byVersion[v] = append(byVersion[v], a)
	}
	fmt.Fprintln(w, "VERSION\tALIASES\tFORMAT\tRUN\tAPPROVAL\tCREATED\tMETRICS")
	for _, v := range vs {
		as := byVersion[v.Version]
		sort.Strings(as)
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", v.Version, dash(strings.Join(as, ",")), v.Format, dash(v.RunID),
			v.Approval.State, v.CreatedAt.Local().Format(time.DateTime), metricList(v.Metrics))
	}
}

func aliasList(aliases map[string]int) string {
	var parts []string
	for a, v := range aliases {
		parts = append(parts, fmt.Sprintf("%s=%d", a, v))
	}
	sort.Strings(parts)
	return dash(strings.Join(parts, ","))
}

func metricList(m map[string]float64) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, k+"="+fmtFloat(v))
	}
	sort.Strings(parts)
	if len(parts) > 4 {
		parts = append(parts[:4], "...")
	}
	return dash(strings.Join(parts, " "))
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
