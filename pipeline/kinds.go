package pipeline

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/dataset"
	"github.com/plinthml/plinth/deploy"
	"github.com/plinthml/plinth/feature"
	"github.com/plinthml/plinth/model"
	"github.com/plinthml/plinth/model/formats"
	"github.com/plinthml/plinth/monitor"
	"github.com/plinthml/plinth/registry"
	"github.com/plinthml/plinth/track"
)

// Services are the domains the built-in steps work with.
type Services struct {
	Features *feature.Builder
	Datasets dataset.Store
	Registry *registry.Registry
	Tracker  *track.Tracker
	Deployer *deploy.Deployer
	// DuckDB is the offline engine's database: it reads and writes the
	// Parquet files that flow between steps.
	DuckDB *sql.DB
	// Profiles keeps the reference profiles monitoring compares live
	// traffic with; the register step freezes one per version.
	Profiles monitor.Store
	// Ingester loads batches under their dataset's expectations (ingest,
	// validate); Materializer fills the online store (materialize).
	Ingester     *dataset.Ingester
	Materializer *feature.Materializer
}

// Kinds returns the built-in step kinds over the services.
func Kinds(s *Services) map[string]Kind {
	t := tables{s.DuckDB}
	return map[string]Kind{
		"training_set": &trainingSetKind{s, t},
		"train":        &trainKind{s, t},
		"tune":         &tuneKind{s, t},
		"evaluate":     &evaluateKind{s, t},
		"gate":         gateKind{},
		"register":     &registerKind{s, t},
		"deploy":       &deployKind{s},
		"batch_score":  &scoreKind{s, t},
		"command":      &commandKind{s},
		"ingest":       &ingestKind{s},
		"validate":     &validateKind{s},
		"materialize":  &materializeKind{s},
	}
}

// Resolve turns a reference to a dataset, a registered model or a file
// into a value: a dataset is pinned to its newest version, so the run
// reads the same rows whatever is ingested later.
func (s *Services) Resolve(ctx context.Context, r Ref) (Value, error) {
	switch {
	case r.Dataset != "":
		versions, err := s.Datasets.DatasetVersions(ctx, r.Dataset)
		if err != nil {
			return Value{}, err
		}
		if len(versions) == 0 {
			return Value{}, plinth.Invalid("dataset", "%s has no versions yet", r.Dataset)
		}
		var digests []string
		for _, v := range versions {
			digests = append(digests, v.Digest)
		}
		slices.Sort(digests)
		return Value{Type: Dataset, Digest: "sha256:" + hash([]byte(strings.Join(digests, "\n"))),
			Ref: fmt.Sprintf("%s@%d", r.Dataset, versions[0].Version)}, nil
	case r.Model != "":
		v, err := s.Registry.Resolve(ctx, r.Model+"@"+r.Alias)
		if err != nil {
			return Value{}, err
		}
		if len(v.Artifacts) == 0 {
			return Value{}, plinth.Invalid("model", "%s@%d has no artifact", v.Model, v.Version)
		}
		return Value{Type: Version, Digest: v.Artifacts[0].Digest, Ref: fmt.Sprintf("%s@%d", v.Model, v.Version),
			Attrs: map[string]string{"model": v.Model, "version": strconv.Itoa(v.Version)}}, nil
	case r.File != "":
		f, err := os.Open(r.File)
		if err != nil {
			return Value{}, plinth.Invalid("file", "%v", err)
		}
		defer f.Close()
		info, err := s.Registry.Blobs.Put(ctx, f)
		if err != nil {
			return Value{}, err
		}
		t := Any
		if ext := strings.ToLower(filepath.Ext(r.File)); ext == ".parquet" || ext == ".csv" {
			t = Table
		}
		return Value{Type: t, Digest: info.Digest.String(), Ref: r.File}, nil
	}
	return Value{}, plinth.Invalid("ref", "empty reference")
}

// datasetFiles returns the local snapshot files of a dataset value,
// pinned to the version it names.
func (s *Services) datasetFiles(sc *StepContext, v Value) ([]string, error) {
	name, num, ok := strings.Cut(v.Ref, "@")
	upTo, err := strconv.Atoi(num)
	if !ok || err != nil {
		return nil, fmt.Errorf("dataset value %q names no version", v.Ref)
	}
	snaps := &dataset.Snapshots{Store: s.Datasets, Blobs: sc.Blobs, CacheDir: sc.Dir}
	return snaps.UpTo(sc, name, upTo)
}

// inputFiles returns the local files of a table, file or dataset input.
func (s *Services) inputFiles(sc *StepContext, input string) ([]string, error) {
	v, ok := sc.Inputs[input]
	if !ok {
		return nil, plinth.Invalid("steps."+sc.Step.Name+".inputs."+input, "not given")
	}
	if v.Type == Dataset {
		return s.datasetFiles(sc, v)
	}
	f, err := sc.File(input)
	if err != nil {
		return nil, err
	}
	return []string{f}, nil
}

func (sc *StepContext) strings(name string) ([]string, error) {
	v, ok := sc.With[name]
	if !ok || v == nil {
		return nil, nil
	}
	switch v := v.(type) {
	case string:
		return []string{v}, nil
	case []any:
		out := make([]string, len(v))
		for i, x := range v {
			s, ok := x.(string)
			if !ok {
				return nil, plinth.Invalid(fmt.Sprintf("%s[%d]", sc.field(name), i), "want a string, got %T", x)
			}
			out[i] = s
		}
		return out, nil
	}
	return nil, plinth.Invalid(sc.field(name), "want a list of strings, got %T", v)
}

func (sc *StepContext) required(name string) (string, error) {
	s, err := sc.String(name, "")
	if err == nil && s == "" {
		err = plinth.Invalid(sc.field(name), "required")
	}
	return s, err
}

func copyAttrs(vs ...Value) map[string]string {
	out := map[string]string{}
	for _, v := range vs {
		for k, x := range v.Attrs {
			out[k] = x
		}
	}
	return out
}

// --- training_set ---

// trainingSetKind builds a point-in-time-correct training set for a
// feature service from a label table, and splits off the newest rows (by
// the label time) as the holdout.
type trainingSetKind struct {
	s *Services
	t tables
}

func (*trainingSetKind) Inputs() map[string]Type { return map[string]Type{"labels": Any} }
func (*trainingSetKind) Outputs() map[string]Type {
	return map[string]Type{"train": Table, "holdout": Table}
}
func (*trainingSetKind) Deterministic() bool { return true }

func (k *trainingSetKind) Run(sc *StepContext) (map[string]Value, error) {
	service, err := sc.required("service")
	if err != nil {
		return nil, err
	}
	ts, err := sc.required("timestamp")
	if err != nil {
		return nil, err
	}
	where, err := sc.String("where", "")
	if err != nil {
		return nil, err
	}
	holdout, err := sc.Float("holdout", 0.2)
	if err != nil {
		return nil, err
	}
	if holdout < 0 || holdout >= 1 {
		return nil, plinth.Invalid(sc.field("holdout"), "must be in [0, 1)")
	}
	files, err := k.s.inputFiles(sc, "labels")
	if err != nil {
		return nil, err
	}
	labels := filepath.Join(sc.Dir, "labels.parquet")
	sel := "SELECT * FROM input"
	if sc.Inputs["labels"].Type == Dataset {
		// Snapshots carry their ingestion time, which is no label column.
		sel = "SELECT * EXCLUDE (" + dataset.IngestedAt + ") FROM input"
	}
	if where != "" {
		sel += " WHERE " + where
	}
	if err := k.t.query(sc, labels, sel, files...); err != nil {
		return nil, plinth.Invalid(sc.field("where"), "%s", plinth.ErrorMessage(err))
	}
	built, err := k.s.Features.Build(sc, feature.Request{Service: service, Labels: labels, Timestamp: ts, Output: filepath.Join(sc.Dir, "set.parquet")})
	if err != nil {
		return nil, err
	}
	sc.Logf("training set of %s v%d: %d rows from %s", service, built.ServiceVersion, built.Rows, strings.Join(built.Sources, "; "))
	// Ordered by time, ties broken by every column, so the same rows
	// always make the same bytes — and the same cache key downstream.
	col := `"` + strings.ReplaceAll(ts, `"`, `""`) + `"`
	trainPath, holdPath := filepath.Join(sc.Dir, "train.parquet"), filepath.Join(sc.Dir, "holdout.parquet")
	cut := fmt.Sprintf("(SELECT quantile_disc(%s, %g) FROM input)", col, 1-holdout)
	if holdout == 0 {
		cut = fmt.Sprintf("(SELECT max(%s) FROM input)", col)
	}
	if err := k.t.query(sc, trainPath, fmt.Sprintf("SELECT * FROM input WHERE %s <= %s ORDER BY %s, COLUMNS(*)", col, cut, col), built.Path); err != nil {
		return nil, err
	}
	if err := k.t.query(sc, holdPath, fmt.Sprintf("SELECT * FROM input WHERE %s > %s ORDER BY %s, COLUMNS(*)", col, cut, col), built.Path); err != nil {
		return nil, err
	}
	attrs := map[string]string{"feature_service": service, "feature_service_version": strconv.Itoa(built.ServiceVersion)}
	if v := sc.Inputs["labels"]; v.Type == Dataset {
		attrs["dataset"] = v.Ref
	}
	out := map[string]Value{}
	for name, path := range map[string]string{"train": trainPath, "holdout": holdPath} {
		n, err := k.t.count(sc, path)
		if err != nil {
			return nil, err
		}
		v, err := sc.Put(path, Table, fmt.Sprintf("%s %s (%d rows)", service, name, n))
		if err != nil {
			return nil, err
		}
		v.Attrs = attrs
		out[name] = v
		sc.Logf("%s: %d rows", name, n)
	}
	return out, nil
}

// --- gate ---

// gateKind passes a run on only when every condition holds on the
// metrics; otherwise it halts the run — the steps after it are skipped and
// the run still succeeds, because a challenger that loses is an outcome,
// not a failure. With approval: true it then waits for a person's
// decision; a gate that asks for approval is never taken from the cache.
type gateKind struct{}

func (gateKind) Inputs() map[string]Type  { return map[string]Type{"metrics": Metrics} }
func (gateKind) Outputs() map[string]Type { return map[string]Type{"metrics": Metrics} }
func (gateKind) Deterministic() bool      { return true }

// Cacheable keeps a gate that asks a person out of the cache: each run
// asks again.
func (gateKind) Cacheable(with map[string]any) bool {
	ok, _ := with["approval"].(bool)
	return !ok
}

func (gateKind) Run(sc *StepContext) (map[string]Value, error) {
	conds, err := sc.strings("conditions")
	if err != nil {
		return nil, err
	}
	if len(conds) == 0 {
		return nil, plinth.Invalid(sc.field("conditions"), "a gate needs at least one condition")
	}
	metrics := sc.Inputs["metrics"].Metrics
	var failed []string
	for i, c := range conds {
		ok, err := evalCondition(c, metrics)
		if err != nil {
			return nil, plinth.Invalid(fmt.Sprintf("%s[%d]", sc.field("conditions"), i), "%v", err)
		}
		sc.Logf("%-40s %v", c, ok)
		if !ok {
			failed = append(failed, c)
		}
	}
	if len(failed) > 0 {
		return nil, &Halt{Reason: "gate not passed: " + strings.Join(failed, "; ")}
	}
	if ok, _ := sc.With["approval"].(bool); ok {
		d, err := sc.Await("the conditions hold; a person must approve")
		if err != nil {
			return nil, err
		}
		if !d.Approve {
			return nil, &Halt{Reason: fmt.Sprintf("rejected by %s: %s", d.By, d.Reason)}
		}
		sc.Logf("approved by %s: %s", d.By, d.Reason)
	}
	return map[string]Value{"metrics": sc.Inputs["metrics"]}, nil
}

// Halt is returned by a step that decides the run should go no further:
// the attempt succeeds, its dependents are skipped, the run succeeds.
type Halt struct{ Reason string }

func (h *Halt) Error() string { return h.Reason }

// --- register ---

// registerKind registers a model as a version of a registered model, with
// its lineage: the tracked run, the feature service and the datasets. The
// same model file registers once: a rerun finds the version it made. Given
// the training table (input data), it freezes the version's reference
// profile — the training distribution of every feature and of the
// predictions — which monitoring compares live traffic with.
type registerKind struct {
	s *Services
	t tables
}

func (*registerKind) Inputs() map[string]Type {
	return map[string]Type{"model": Model, "metrics": Metrics, "data": Table}
}
func (*registerKind) Optional(in string) bool  { return in == "metrics" || in == "data" }
func (*registerKind) Outputs() map[string]Type { return map[string]Type{"version": Version} }
func (*registerKind) Deterministic() bool      { return true }

func (k *registerKind) Run(sc *StepContext) (map[string]Value, error) {
	name, err := sc.required("name")
	if err != nil {
		return nil, err
	}
	alias, err := sc.String("alias", "")
	if err != nil {
		return nil, err
	}
	desc, err := sc.String("description", "registered by pipeline "+sc.Run.Pipeline+" run "+sc.Run.ID)
	if err != nil {
		return nil, err
	}
	mv := sc.Inputs["model"]
	// Tags mark a family of models, one per slice of the data:
	// {family: delays_by_origin, slice: "origin=${item}"}.
	tagMap, err := sc.Map("tags")
	if err != nil {
		return nil, err
	}
	tags := map[string]string{}
	for k, v := range tagMap {
		tags[k] = fmt.Sprint(v)
	}
	if _, err := k.s.Registry.Model(sc, name); plinth.ErrorCode(err) == plinth.ENOTFOUND {
		if err := k.s.Registry.CreateModel(sc, &registry.Model{Name: name, Tags: tags}); err != nil && plinth.ErrorCode(err) != plinth.ECONFLICT {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	versions, err := k.s.Registry.Versions(sc, name)
	if err != nil {
		return nil, err
	}
	var v *registry.Version
	for i := range versions {
		if len(versions[i].Artifacts) > 0 && versions[i].Artifacts[0].Digest == mv.Digest {
			v = &versions[i]
			sc.Logf("%s@%d already holds this model", name, v.Version)
		}
	}
	if v == nil {
		path, err := sc.File("model")
		if err != nil {
			return nil, err
		}
		m, format, err := readModelFile(path)
		if err != nil {
			return nil, err
		}
		req := registry.NewVersion{
			Format: format, Artifacts: []registry.Artifact{{Path: "model", Digest: mv.Digest}}, RunID: mv.Attrs["run"],
			Signature: registry.SignatureOf(m), Description: desc, FeatureService: mv.Attrs["feature_service"],
		}
		req.FeatureServiceVersion, _ = strconv.Atoi(mv.Attrs["feature_service_version"])
		if mt, ok := sc.Inputs["metrics"]; ok {
			req.Metrics = mt.Metrics
		}
		if d := mv.Attrs["dataset"]; d != "" {
			n, ver, _ := strings.Cut(d, "@")
			req.Datasets = []registry.DatasetRef{{Name: n, Version: ver, Role: "training"}}
		}
		if v, err = k.s.Registry.CreateVersion(sc, name, req); err != nil {
			return nil, err
		}
		sc.Logf("registered %s@%d", name, v.Version)
	}
	if _, ok := sc.Inputs["data"]; ok && k.s.Profiles != nil {
		if err := k.reference(sc, name, v.Version); err != nil {
			return nil, err
		}
	}
	if alias != "" {
		if err := k.s.Registry.SetAlias(sc, name, alias, v.Version, "pipeline "+sc.Run.Pipeline+" run "+sc.Run.ID); err != nil {
			return nil, err
		}
		sc.Logf("%s@%s -> %d", name, alias, v.Version)
	}
	return map[string]Value{"version": {Type: Version, Digest: mv.Digest, Ref: fmt.Sprintf("%s@%d", name, v.Version),
		Attrs: map[string]string{"model": name, "version": strconv.Itoa(v.Version)}}}, nil
}

// reference freezes the version's reference profile from the training
// table, unless it has one.
func (k *registerKind) reference(sc *StepContext, name string, version int) error {
	if _, err := k.s.Profiles.Reference(sc, name, version); err == nil {
		return nil
	}
	mpath, err := sc.File("model")
	if err != nil {
		return err
	}
	m, _, err := readModelFile(mpath)
	if err != nil {
		return err
	}
	data, err := sc.File("data")
	if err != nil {
		return err
	}
	t, err := k.t.read(sc, sc.Dir, data, "", "", nil, m)
	if err != nil {
		return err
	}
	rows, err := t.Encode(m.Signature)
	if err != nil {
		return plinth.Invalid("steps."+sc.Step.Name+".inputs.data", "%v", err)
	}
	p, err := model.Compile(m)
	if err != nil {
		return err
	}
	preds := make([]float64, len(rows)*p.NumOutputs())
	out := make([]float64, p.NumOutputs())
	for i, r := range rows {
		if err := p.PredictRow(r, out); err != nil {
			return err
		}
		copy(preds[i*len(out):], out)
	}
	ref, err := monitor.Reference(m, rows, preds)
	if err != nil {
		return err
	}
	if err := k.s.Profiles.SaveReference(sc, name, version, ref); err != nil && plinth.ErrorCode(err) != plinth.ECONFLICT {
		return err
	}
	sc.Logf("froze the reference profile of %s@%d: %d rows, %d features", name, version, ref.Rows, len(ref.Features))
	return nil
}

// --- deploy ---

// deployKind puts a version on an endpoint: as its only version, or as a
// canary (or A/B or shadow candidate) beside the stable version, with a
// gate that promotes or rolls it back. A new endpoint serves the version
// through an alias (with.alias, default "production") that the step points
// at it; promoting a canary later moves that alias, so the alias always
// names what the endpoint serves, and the next run's evaluation compares
// against it.
type deployKind struct{ s *Services }

func (*deployKind) Inputs() map[string]Type  { return map[string]Type{"version": Version} }
func (*deployKind) Outputs() map[string]Type { return map[string]Type{"endpoint": Any} }
func (*deployKind) Deterministic() bool      { return false }

func (k *deployKind) Run(sc *StepContext) (map[string]Value, error) {
	endpoint, err := sc.required("endpoint")
	if err != nil {
		return nil, err
	}
	strategy, err := sc.String("strategy", deploy.Canary)
	if err != nil {
		return nil, err
	}
	weight, err := sc.Float("weight", 0.1)
	if err != nil {
		return nil, err
	}
	alias, err := sc.String("alias", "production")
	if err != nil {
		return nil, err
	}
	v := sc.Inputs["version"]
	ref := v.Ref
	reason := "pipeline " + sc.Run.Pipeline + " run " + sc.Run.ID
	spec := deploy.Spec{Model: ref, Strategy: deploy.Single, Reason: reason}
	cur, err := k.s.Deployer.Store.Endpoint(sc, endpoint)
	if plinth.ErrorCode(err) == plinth.ENOTFOUND && alias != "" {
		version, _ := strconv.Atoi(v.Attrs["version"])
		if err := k.s.Registry.SetAlias(sc, v.Attrs["model"], alias, version, reason); err != nil {
			return nil, err
		}
		spec.Model = v.Attrs["model"] + "@" + alias
		sc.Logf("endpoint %s is new: %s serves all traffic as %s", endpoint, ref, spec.Model)
	}
	if strategy != deploy.Single {
		switch {
		case plinth.ErrorCode(err) == plinth.ENOTFOUND:
		case err != nil:
			return nil, err
		case fmt.Sprintf("%s@%d", cur.Stable.Model, cur.Stable.Version) == ref:
			sc.Logf("%s already serves %s", endpoint, ref)
			return map[string]Value{"endpoint": {Type: Any, Ref: fmt.Sprintf("%s rev %d", endpoint, cur.Revision)}}, nil
		default:
			stable := cur.Stable.Model + "@" + cur.Stable.Ref
			if cur.Stable.Ref == "latest" {
				stable = cur.Stable.Model
			}
			spec = deploy.Spec{Model: stable, Strategy: strategy, Candidate: ref,
				Weight: weight, Reason: reason}
			if g, err := sc.Map("gate"); err != nil {
				return nil, err
			} else if g != nil {
				gate, err := decodeGate(g)
				if err != nil {
					return nil, plinth.Invalid(sc.field("gate"), "%v", err)
				}
				spec.Gate = gate
			}
		}
	}
	e, err := k.s.Deployer.Deploy(sc, endpoint, spec)
	if err != nil {
		return nil, err
	}
	sc.Logf("endpoint %s revision %d: %s", endpoint, e.Revision, e.Strategy)
	return map[string]Value{"endpoint": {Type: Any, Ref: fmt.Sprintf("%s rev %d", endpoint, e.Revision)}}, nil
}

// --- shared ---

// readModelFile reads a model file in any supported format.
func readModelFile(path string) (*model.Model, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	m, format, err := formats.Read(f, "")
	if err != nil {
		return nil, "", plinth.Invalid("model", "%v", err)
	}
	return m, format, nil
}
