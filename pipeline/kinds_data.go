package pipeline

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/dataset"
)

// ingestKind loads a file (a file: reference or a table from an earlier
// step) into a dataset under the dataset's expectations. The rows that
// fail are quarantined with their reasons; a batch quarantined whole
// fails the step (a user error: the data must be fixed and replayed).
type ingestKind struct{ s *Services }

func (*ingestKind) Inputs() map[string]Type { return map[string]Type{"data": Any} }
func (*ingestKind) Outputs() map[string]Type {
	return map[string]Type{"dataset": Dataset, "metrics": Metrics}
}
func (*ingestKind) Deterministic() bool { return true }

func (k *ingestKind) Run(sc *StepContext) (map[string]Value, error) {
	name, spec, batch, err := k.s.batch(sc)
	if err != nil {
		return nil, err
	}
	v, q, err := k.s.Ingester.Ingest(sc, *spec, batch)
	if err != nil {
		return nil, err
	}
	metrics := map[string]float64{"loaded_rows": 0, "quarantined_rows": 0}
	if q != nil {
		metrics["quarantined_rows"] = float64(q.Rows)
		sc.Logf("quarantined %d rows as %s: %s", q.Rows, q.ID, reasons(q.Reasons))
		if q.WholeBatch {
			return nil, &UserError{Err: fmt.Errorf("the whole batch was quarantined as %s: %s", q.ID, reasons(q.Reasons))}
		}
	}
	if v == nil {
		return nil, &UserError{Err: fmt.Errorf("no row of the batch passed the expectations of %s", name)}
	}
	metrics["loaded_rows"] = float64(v.Rows)
	sc.Logf("%s version %d: %d rows", name, v.Version, v.Rows)
	return map[string]Value{
		"dataset": {Type: Dataset, Digest: v.Digest, Ref: fmt.Sprintf("%s@%d", name, v.Version)},
		"metrics": {Type: Metrics, Metrics: metrics},
	}, nil
}

// batch returns the dataset a step names, its spec, and the step's data
// input as a local batch file the engine can read.
func (s *Services) batch(sc *StepContext) (string, *dataset.Spec, string, error) {
	name, err := sc.required("dataset")
	if err != nil {
		return "", nil, "", err
	}
	spec, err := s.Datasets.Spec(sc, name)
	if err != nil {
		return "", nil, "", err
	}
	path, err := sc.File("data")
	if err != nil {
		return "", nil, "", err
	}
	batch := filepath.Join(sc.Dir, "batch"+batchExt(path))
	return name, spec, batch, copyFile(path, batch)
}

func reasons(r map[string]int64) string {
	var parts []string
	for reason, n := range r {
		parts = append(parts, fmt.Sprintf("%s (%d)", reason, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// batchExt names a batch file the way the engine reads it: by its
// extension (blob paths have none).
func batchExt(path string) string {
	if isParquet(path) {
		return ".parquet"
	}
	f, err := os.Open(path)
	if err == nil {
		defer f.Close()
		var magic [2]byte
		if n, _ := f.Read(magic[:]); n == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
			return ".csv.gz"
		}
	}
	return ".csv"
}

func copyFile(src, dst string) error {
	raw, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, raw, 0o644)
}

// validateKind checks a table against a dataset's expectations without
// loading it: the rows that pass are its output; the step fails when
// more than max_bad_fraction of them do not (default 0: any bad row).
type validateKind struct{ s *Services }

func (*validateKind) Inputs() map[string]Type { return map[string]Type{"data": Any} }
func (*validateKind) Outputs() map[string]Type {
	return map[string]Type{"good": Table, "metrics": Metrics}
}
func (*validateKind) Deterministic() bool { return true }

func (k *validateKind) Run(sc *StepContext) (map[string]Value, error) {
	limit, err := sc.Float("max_bad_fraction", 0)
	if err != nil {
		return nil, err
	}
	name, spec, batch, err := k.s.batch(sc)
	if err != nil {
		return nil, err
	}
	good, bad := filepath.Join(sc.Dir, "good.parquet"), filepath.Join(sc.Dir, "bad.parquet")
	rep, err := k.s.Ingester.Checker.Check(sc, *spec, batch, sc.Now(), good, bad)
	if err != nil {
		return nil, err
	}
	metrics := map[string]float64{"rows": float64(rep.Rows), "good_rows": float64(rep.Good), "bad_rows": float64(rep.Bad)}
	sc.Logf("%d rows: %d pass the expectations of %s, %d fail: %s", rep.Rows, rep.Good, name, rep.Bad, reasons(rep.Reasons))
	if rep.WholeBatch || rep.Rows > 0 && float64(rep.Bad)/float64(rep.Rows) > limit {
		return nil, &UserError{Err: fmt.Errorf("%d of %d rows fail the expectations of %s: %s", rep.Bad, rep.Rows, name, reasons(rep.Reasons))}
	}
	v, err := sc.Put(good, Table, fmt.Sprintf("%s, validated (%d rows)", name, rep.Good))
	if err != nil {
		return nil, err
	}
	return map[string]Value{"good": v, "metrics": {Type: Metrics, Metrics: metrics}}, nil
}

// materializeKind copies the newest feature values of views (all plain and
// windowed views when with.views is empty) into the online store. It always
// runs: it is incremental, and its result depends on the time.
type materializeKind struct{ s *Services }

func (*materializeKind) Inputs() map[string]Type  { return map[string]Type{"after": Any} }
func (*materializeKind) Optional(string) bool     { return true }
func (*materializeKind) Outputs() map[string]Type { return map[string]Type{"metrics": Metrics} }
func (*materializeKind) Deterministic() bool      { return false }

func (k *materializeKind) Run(sc *StepContext) (map[string]Value, error) {
	if k.s.Materializer == nil {
		return nil, plinth.Invalid("steps."+sc.Step.Name, "this node has no online store to materialize into")
	}
	views, err := sc.strings("views")
	if err != nil {
		return nil, err
	}
	start := time.Now()
	res, err := k.s.Materializer.Materialize(sc, views, nil)
	if err != nil {
		return nil, err
	}
	metrics := map[string]float64{}
	for _, r := range res {
		metrics["entities"] += float64(r.Entities)
		metrics["values"] += float64(r.Values)
		sc.Logf("%s: %d entities, %d values, watermark %d", r.View, r.Entities, r.Values, r.Watermark)
	}
	metrics["seconds"] = time.Since(start).Seconds()
	return map[string]Value{"metrics": {Type: Metrics, Metrics: metrics}}, nil
}
