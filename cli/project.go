package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/plinthml/plinth/feature"
	"github.com/plinthml/plinth/project"
)

// runPlan is `plinth plan` and, with apply set, `plinth apply`: the
// project file against the registry.
func runPlan(apply bool) func(ctx context.Context, e *Env, args []string) error {
	name := "plan"
	if apply {
		name = "apply"
	}
	return func(ctx context.Context, e *Env, args []string) error {
		f := newFlags(e, name)
		file := f.String("f", "plinth.yaml", "project file, or a folder of YAML files")
		prune := f.Bool("prune", false, "remove registered definitions the project no longer holds")
		pos, err := f.parse(args)
		if err != nil {
			return err
		}
		if len(pos) > 0 {
			return usagef("unexpected argument %q (the project file is -f FILE)", pos[0])
		}
		proj, err := project.Load(*file)
		if err != nil {
			return fmt.Errorf("%s: %s", *file, describe(err))
		}
		c, done, err := f.connect(ctx)
		if err != nil {
			return err
		}
		defer done()
		registered, err := c.Definitions(ctx)
		if err != nil {
			return err
		}
		changes := project.Plan(proj, registered, *prune)
		if f.output == "json" && !apply {
			return f.emit(e, changes, nil)
		}
		fmt.Fprint(e.Stdout, project.Render(changes))
		if !apply {
			return nil
		}
		var set, remove []project.Definition
		defs := map[string]project.Definition{}
		for _, d := range proj.Definitions() {
			defs[d.Kind+"/"+d.Name] = d
		}
		for _, ch := range changes {
			switch ch.Action {
			case "add", "change":
				set = append(set, defs[ch.Kind+"/"+ch.Name])
			case "remove":
				remove = append(remove, project.Definition{Kind: ch.Kind, Name: ch.Name})
			}
		}
		if len(set)+len(remove) == 0 {
			return nil
		}
		if err := c.ApplyDefinitions(ctx, set, remove); err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "Applied: %d definitions written, %d removed.\n", len(set), len(remove))
		return nil
	}
}

func runFeatures(ctx context.Context, e *Env, args []string) error {
	sub, args := subcommand(args, "list")
	f := newFlags(e, "features "+sub)
	labels := f.String("labels", "", "label table: CSV or Parquet with the entity keys, the label time and the labels (training-set)")
	timestamp := f.String("timestamp", "", "label time column (training-set)")
	asOf := f.String("as-of", "", "RFC 3339 time: ignore data ingested later (training-set)")
	out := f.String("o", "", "Parquet file to write (training-set, range)")
	var entityFlags listFlag
	f.Var(&entityFlags, "entity", "join key=value of one entity row; repeat for composite keys, separate rows with ';' (get)")
	start := f.String("start", "", "RFC 3339 start of the range, inclusive (range)")
	end := f.String("end", "", "RFC 3339 end of the range, exclusive (range)")
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
		defs, err := c.Definitions(ctx)
		if err != nil {
			return err
		}
		return f.emit(e, defs, func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "KIND\tNAME\tVERSION\tUPDATED\tSUMMARY")
			for _, d := range defs {
				fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\n", d.Kind, d.Name, d.Version, d.UpdatedAt.Local().Format(time.DateTime), summarize(d))
			}
		})
	case "training-set":
		if len(pos) != 1 || *labels == "" || *timestamp == "" || *out == "" {
			return usagef("usage: plinth features training-set SERVICE --labels FILE --timestamp COL [--as-of TIME] -o OUT.parquet")
		}
		var at *time.Time
		if *asOf != "" {
			t, err := time.Parse(time.RFC3339Nano, *asOf)
			if err != nil {
				return usagef("--as-of %q is not an RFC 3339 time such as 2013-06-01T00:00:00Z", *asOf)
			}
			at = &t
		}
		format := "csv"
		if strings.HasSuffix(strings.ToLower(*labels), ".parquet") {
			format = "parquet"
		}
		lf, err := os.Open(*labels)
		if err != nil {
			return err
		}
		defer lf.Close()
		res, err := c.BuildTrainingSet(ctx, pos[0], *timestamp, at, format, lf)
		if err != nil {
			return err
		}
		rc, err := c.OpenBlob(ctx, res.Version.Digest)
		if err != nil {
			return err
		}
		defer rc.Close()
		if err := copyOut(e, *out, rc); err != nil {
			return err
		}
		return f.emit(e, res, func(w *tabwriter.Writer) {
			fmt.Fprintf(w, "wrote %s: %d rows, features %s\n", *out, res.Built.Rows, strings.Join(res.Built.Columns, ", "))
			fmt.Fprintf(w, "feature service %s version %d; stored as dataset %s version %d\n", res.Built.Service, res.Built.ServiceVersion, res.Version.Dataset, res.Version.Version)
			for _, s := range res.Built.Sources {
				fmt.Fprintf(w, "  %s\n", s)
			}
		})
	case "range":
		if len(pos) != 1 || *start == "" || *end == "" || *out == "" {
			return usagef("usage: plinth features range VIEW --start TIME --end TIME [--as-of TIME] -o OUT.parquet")
		}
		times := map[string]*time.Time{}
		for name, v := range map[string]string{"start": *start, "end": *end, "as-of": *asOf} {
			if v == "" {
				continue
			}
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return usagef("--%s %q is not an RFC 3339 time such as 2013-06-01T00:00:00Z", name, v)
			}
			times[name] = &t
		}
		rc, err := c.ViewRows(ctx, pos[0], *times["start"], *times["end"], times["as-of"])
		if err != nil {
			return err
		}
		defer rc.Close()
		if err := copyOut(e, *out, rc); err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "wrote %s\n", *out)
		return nil
	case "materialize":
		res, err := c.Materialize(ctx, pos...)
		if err != nil {
			return err
		}
		return f.emit(e, res, func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "VIEW\tENTITIES\tVALUES\tDATASET VERSION\tTOOK")
			for _, r := range res {
				fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%s\n", r.View, r.Entities, r.Values, r.Watermark, r.Took.Round(time.Millisecond))
			}
		})
	case "get":
		if len(pos) != 1 || len(entityFlags) == 0 {
			return usagef("usage: plinth features get SERVICE --entity key=value [--entity key=value]...")
		}
		var rows []map[string]any
		for _, group := range strings.Split(strings.Join(entityFlags, ","), ";") {
			row := map[string]any{}
			for _, kv := range strings.Split(group, ",") {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return usagef("--entity %q: want key=value", kv)
				}
				row[k] = v
			}
			rows = append(rows, row)
		}
		names, got, err := c.OnlineFeatures(ctx, pos[0], rows)
		if err != nil {
			return err
		}
		return f.emit(e, map[string]any{"features": names, "rows": got}, func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "ROW\tFEATURE\tVALUE\tSTATUS\tEVENT TIME")
			for i, r := range got {
				for _, n := range names {
					v := r[n]
					at := "-"
					if v.EventTime != nil {
						at = v.EventTime.Format(time.RFC3339)
					}
					val := "-"
					if v.Value != nil {
						val = fmt.Sprint(v.Value)
					}
					fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", i, n, val, v.Status, at)
				}
			}
		})
	}
	return usagef("unknown subcommand %q (have list, training-set, range, materialize, get)", sub)
}

// summarize describes a definition in a few words.
func summarize(d project.Definition) string {
	switch d.Kind {
	case project.KindView:
		var v feature.View
		json.Unmarshal(d.Spec, &v)
		ttl := "no TTL"
		if v.TTL > 0 {
			ttl = "TTL " + v.TTL.Std().String()
		}
		return fmt.Sprintf("%s from %s by %s, %s", strings.Join(v.Features, ","), v.Source, strings.Join(v.Entities, ","), ttl)
	case project.KindService:
		var s feature.Service
		json.Unmarshal(d.Spec, &s)
		return strings.Join(s.Features, ", ")
	case project.KindEntity:
		var en feature.Entity
		json.Unmarshal(d.Spec, &en)
		return "join keys " + strings.Join(en.JoinKeys, ",")
	}
	var m map[string]any
	json.Unmarshal(d.Spec, &m)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}
