package cli

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/plinthml/plinth/api"
	"github.com/plinthml/plinth/client"
	"github.com/plinthml/plinth/dataset"
	"github.com/plinthml/plinth/dataset/pgsource"
)

func runDatasets(ctx context.Context, e *Env, args []string) error {
	sub, args := subcommand(args, "list")
	f := newFlags(e, "datasets "+sub)
	limit := f.Int("limit", 20, "rows to show (inspect)")
	pgURL := f.String("postgres", e.Getenv("PLINTH_SOURCE_POSTGRES"), "read the batch from this PostgreSQL database instead of a file (ingest); FILE is then a table or a SELECT")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	need := arity(pos, "datasets")
	c, done, err := f.connect(ctx)
	if err != nil {
		return err
	}
	defer done()

	switch sub {
	case "list":
		names, err := c.Datasets(ctx)
		if err != nil {
			return err
		}
		return f.emit(e, names, func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "DATASET\tVERSIONS\tLATEST ROWS\tINGESTED\tOPEN QUARANTINES")
			for _, n := range names {
				vs, _ := c.DatasetVersions(ctx, n)
				qs, _ := c.Quarantines(ctx, n)
				open := 0
				for _, q := range qs {
					if q.ReplayedAs == 0 {
						open++
					}
				}
				latest, at := "-", "-"
				if len(vs) > 0 {
					latest, at = fmt.Sprint(vs[0].Rows), vs[0].IngestedAt.Local().Format(time.DateTime)
				}
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%d\n", n, len(vs), latest, at, open)
			}
		})
	case "spec":
		if len(pos) == 2 {
			spec, err := readSpec(pos[1], pos[0])
			if err != nil {
				return err
			}
			if _, err := c.SetSpec(ctx, *spec); err != nil {
				return err
			}
		} else if err := need(1, "spec NAME [FILE.yaml|FILE.json]"); err != nil {
			return err
		}
		spec, err := c.Spec(ctx, pos[0])
		if err != nil {
			return err
		}
		if f.output == "json" {
			return f.emit(e, spec, nil)
		}
		out, _ := yaml.Marshal(spec)
		_, err = e.Stdout.Write(out)
		return err
	case "ingest":
		if err := need(2, "ingest NAME FILE (.csv, .csv.gz or .parquet) | ingest NAME TABLE_OR_QUERY --postgres URL"); err != nil {
			return err
		}
		if *pgURL != "" {
			// The rows stream from the database into the same ingestion
			// as a file: expectations, quarantine, a versioned snapshot.
			pr, pw := io.Pipe()
			var copied int64
			go func() {
				n, err := pgsource.Copy(ctx, *pgURL, pos[1], pw)
				copied = n
				pw.CloseWithError(err)
			}()
			res, err := c.Ingest(ctx, pos[0], "csv", "postgres: "+pos[1], pr)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.Stderr, "read %d rows from PostgreSQL\n", copied)
			return f.emit(e, res, func(w *tabwriter.Writer) { ingestSummary(w, pos[0], res) })
		}
		format := "csv"
		if strings.HasSuffix(strings.ToLower(pos[1]), ".parquet") {
			format = "parquet"
		}
		file, err := os.Open(pos[1])
		if err != nil {
			return err
		}
		defer file.Close()
		var body io.Reader = file
		if strings.HasSuffix(strings.ToLower(pos[1]), ".gz") {
			zr, err := gzip.NewReader(file)
			if err != nil {
				return fmt.Errorf("%s: %w", pos[1], err)
			}
			body = zr
		}
		res, err := c.Ingest(ctx, pos[0], format, pos[1], body)
		if err != nil {
			return err
		}
		return f.emit(e, res, func(w *tabwriter.Writer) { ingestSummary(w, pos[0], res) })
	case "push":
		if err := need(2, "push NAME EVENTS.json (a JSON array of objects, or one object per line)"); err != nil {
			return err
		}
		rows, err := readEvents(pos[1])
		if err != nil {
			return err
		}
		res, err := c.Push(ctx, pos[0], rows)
		if err != nil {
			return err
		}
		return f.emit(e, res, func(w *tabwriter.Writer) {
			ingestSummary(w, pos[0], &res.IngestResult)
			for _, o := range res.Online {
				fmt.Fprintf(w, "online view %s: %d entities updated\n", o.View, o.Entities)
			}
		})
	case "versions":
		if err := need(1, "versions NAME"); err != nil {
			return err
		}
		vs, err := c.DatasetVersions(ctx, pos[0])
		if err != nil {
			return err
		}
		return f.emit(e, vs, func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "VERSION\tROWS\tQUARANTINED\tEVENTS\tINGESTED\tBY\tDIGEST\tSOURCE")
			for _, v := range vs {
				events := "-"
				if v.MinEvent != nil {
					events = v.MinEvent.Format(time.DateTime) + " .. " + v.MaxEvent.Format(time.DateTime)
				}
				fmt.Fprintf(w, "%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", v.Version, v.Rows, v.Quarantined, events, v.IngestedAt.Local().Format(time.DateTime), cmp.Or(v.IngestedBy, "-"), shortDigest(v.Digest), filepath.Base(v.Source))
			}
		})
	case "quarantines":
		if err := need(1, "quarantines NAME"); err != nil {
			return err
		}
		qs, err := c.Quarantines(ctx, pos[0])
		if err != nil {
			return err
		}
		return f.emit(e, qs, func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "QUARANTINE\tROWS\tWHOLE BATCH\tCREATED\tREPLAYED AS\tTOP REASON")
			for _, q := range qs {
				replayed := "-"
				if q.ReplayedAs > 0 {
					replayed = fmt.Sprintf("version %d", q.ReplayedAs)
				}
				fmt.Fprintf(w, "%s\t%d\t%v\t%s\t%s\t%s\n", q.ID, q.Rows, q.WholeBatch, q.CreatedAt.Local().Format(time.DateTime), replayed, topReason(q.Reasons))
			}
		})
	case "inspect":
		if err := need(2, "inspect NAME QUARANTINE [--limit N]"); err != nil {
			return err
		}
		q, sample, err := c.InspectQuarantine(ctx, pos[0], pos[1], *limit)
		if err != nil {
			return err
		}
		return f.emit(e, map[string]any{"quarantine": q, "sample": sample}, func(w *tabwriter.Writer) {
			fmt.Fprintf(w, "quarantine %s: %d rows from %s\n", q.ID, q.Rows, filepath.Base(q.Source))
			for _, r := range sortedReasons(q.Reasons) {
				fmt.Fprintf(w, "  %d\t%s\n", q.Reasons[r], r)
			}
			fmt.Fprintln(w)
			fmt.Fprintln(w, strings.Join(sample.Columns, "\t"))
			for _, row := range sample.Rows {
				fmt.Fprintln(w, strings.Join(row, "\t"))
			}
			if int64(len(sample.Rows)) < sample.Total {
				fmt.Fprintf(w, "(%d of %d rows; --limit for more)\n", len(sample.Rows), sample.Total)
			}
		})
	case "replay":
		if err := need(2, "replay NAME QUARANTINE"); err != nil {
			return err
		}
		res, err := c.Replay(ctx, pos[0], pos[1])
		if err != nil {
			return err
		}
		return f.emit(e, res, func(w *tabwriter.Writer) { ingestSummary(w, pos[0], res) })
	}
	return usagef("unknown subcommand %q (have list, spec, ingest, push, versions, quarantines, inspect, replay)", sub)
}

// readEvents reads events from a JSON array or newline-delimited JSON.
func readEvents(path string) ([]map[string]any, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rows []map[string]any
	if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '[' {
		if err := api.DecodeJSON(bytes.NewReader(t), &rows); err != nil {
			return nil, fmt.Errorf("%s: %s", path, describe(err))
		}
		return rows, nil
	}
	for i, line := range bytes.Split(raw, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var row map[string]any
		if err := api.DecodeJSON(bytes.NewReader(line), &row); err != nil {
			return nil, fmt.Errorf("%s line %d: %s", path, i+1, describe(err))
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// readSpec reads a dataset spec from a YAML or JSON file, refusing unknown
// fields; a spec without a name takes name.
func readSpec(path, name string) (*dataset.Spec, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var spec dataset.Spec
	if strings.HasSuffix(strings.ToLower(path), ".json") {
		if err := api.DecodeJSON(bytes.NewReader(raw), &spec); err != nil {
			return nil, fmt.Errorf("%s: %s", path, describe(err))
		}
	} else {
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		dec.KnownFields(true)
		if err := dec.Decode(&spec); err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
	}
	if spec.Name == "" {
		spec.Name = name
	}
	if err := spec.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %s", path, describe(err))
	}
	return &spec, nil
}

func ingestSummary(w *tabwriter.Writer, name string, res *client.IngestResult) {
	if v := res.Version; v != nil {
		fmt.Fprintf(w, "%s version %d: %d rows loaded (%s)\n", name, v.Version, v.Rows, shortDigest(v.Digest))
	}
	if q := res.Quarantine; q != nil {
		what := fmt.Sprintf("%d rows", q.Rows)
		if q.WholeBatch {
			what = fmt.Sprintf("the whole batch (%d rows)", q.Rows)
		}
		fmt.Fprintf(w, "quarantined %s as %s:\n", what, q.ID)
		for _, r := range sortedReasons(q.Reasons) {
			fmt.Fprintf(w, "  %d\t%s\n", q.Reasons[r], r)
		}
		fmt.Fprintf(w, "inspect with: plinth datasets inspect %s %s\n", name, q.ID)
	}
}

func sortedReasons(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	return keys
}

func topReason(m map[string]int64) string {
	if r := sortedReasons(m); len(r) > 0 {
		return fmt.Sprintf("%s (%d)", r[0], m[r[0]])
	}
	return "-"
}

func shortDigest(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}
