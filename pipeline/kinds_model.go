package pipeline

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/dataset"
	"github.com/plinthml/plinth/deploy"
	"github.com/plinthml/plinth/eval"
	"github.com/plinthml/plinth/model"
	"github.com/plinthml/plinth/track"
	"github.com/plinthml/plinth/train"
	"github.com/plinthml/plinth/train/tune"
)

func decodeGate(m map[string]any) (*deploy.Gate, error) {
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var g deploy.Gate
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&g); err != nil {
		return nil, err
	}
	return &g, nil
}

// fit is what training needs from a step's parameters.
type fit struct {
	algo, label, positive string
	drop                  []string
	params                map[string]any
}

func fitOf(sc *StepContext) (*fit, error) {
	f := &fit{}
	var err error
	if f.algo, err = sc.String("algo", "gbt"); err != nil {
		return nil, err
	}
	if f.algo != "gbt" && f.algo != "linear" {
		return nil, plinth.Invalid(sc.field("algo"), "%q is not gbt or linear", f.algo)
	}
	if f.label, err = sc.required("label"); err != nil {
		return nil, err
	}
	if f.positive, err = sc.String("positive", ""); err != nil {
		return nil, err
	}
	if f.drop, err = sc.strings("drop"); err != nil {
		return nil, err
	}
	if f.params, err = sc.Map("params"); err != nil {
		return nil, err
	}
	return f, nil
}

// train fits a model, reporting the validation metric per round to
// report (which may stop the fit by returning true — only GBT listens).
func (f *fit) train(trainT, valid *train.Table, params map[string]any, report func(step int, v float64) bool) (*model.Model, map[string]float64, error) {
	metrics := map[string]float64{}
	switch f.algo {
	case "gbt":
		p := train.DefaultGBTParams()
		if err := tune.ApplyGBT(&p, params); err != nil {
			return nil, nil, plinth.Invalid("with.params", "%v", err)
		}
		stopped := false
		var last train.GBTProgress
		m, err := train.GBT(trainT, valid, p, func(pr train.GBTProgress) {
			last = pr
			if report != nil && !stopped && report(pr.Round, pr.Valid) {
				stopped = true
			}
		})
		if err != nil {
			return nil, nil, plinth.Invalid("with.params", "%v", err)
		}
		metrics["valid_"+last.Metric] = last.Valid
		metrics["rounds"] = float64(last.Round)
		return m, metrics, nil
	default:
		var p train.LinearParams
		if err := tune.ApplyLinear(&p, params); err != nil {
			return nil, nil, plinth.Invalid("with.params", "%v", err)
		}
		var last train.Progress
		m, err := train.Linear(trainT, valid, p, func(pr train.Progress) {
			last = pr
			if report != nil {
				report(pr.Epoch, pr.ValidLoss)
			}
		})
		if err != nil {
			return nil, nil, plinth.Invalid("with.params", "%v", err)
		}
		metrics["valid_loss"] = last.ValidLoss
		return m, metrics, nil
	}
}

// tables reads the train and (optional) valid inputs; without a valid
// input, the last fifth of train validates.
func (f *fit) tables(sc *StepContext, t tables) (*train.Table, *train.Table, error) {
	path, err := sc.File("train")
	if err != nil {
		return nil, nil, err
	}
	all, err := t.read(sc, sc.Dir, path, f.label, f.positive, f.drop, nil)
	if err != nil {
		return nil, nil, err
	}
	if _, ok := sc.Inputs["valid"]; !ok {
		a, b := all.Split(0.8)
		return a, b, nil
	}
	vpath, err := sc.File("valid")
	if err != nil {
		return nil, nil, err
	}
	// The validation table is read with the model's view of the columns
	// so its categories line up with training's.
	sig := all.Signature()
	valid, err := t.read(sc, sc.Dir, vpath, f.label, f.positive, f.drop, &model.Model{Signature: sig})
	if err != nil {
		return nil, nil, err
	}
	return all, valid, nil
}

// trainKind trains a built-in model and tracks it as a run of the
// experiment named after the pipeline, with its parameters, its
// validation curve and the model file.
type trainKind struct {
	s *Services
	t tables
}

func (*trainKind) Inputs() map[string]Type { return map[string]Type{"train": Table, "valid": Table} }
func (*trainKind) Optional(in string) bool { return in == "valid" }
func (*trainKind) Outputs() map[string]Type {
	return map[string]Type{"model": Model, "metrics": Metrics}
}
func (*trainKind) Deterministic() bool { return true }

func (k *trainKind) Run(sc *StepContext) (map[string]Value, error) {
	f, err := fitOf(sc)
	if err != nil {
		return nil, err
	}
	trainT, valid, err := f.tables(sc, k.t)
	if err != nil {
		return nil, err
	}
	run, err := k.s.startRun(sc, sc.Step.Name, "", f.params)
	if err != nil {
		return nil, err
	}
	var curve []track.Metric
	m, metrics, err := f.train(trainT, valid, f.params, func(step int, v float64) bool {
		curve = append(curve, track.Metric{Key: "valid", Value: v, Step: int64(step), Time: time.Now()})
		return false
	})
	if err != nil {
		k.s.endRun(sc, run, track.Failed, nil, nil)
		return nil, err
	}
	sc.Logf("trained %s on %d rows (validated on %d): %v", f.algo, trainT.Len(), valid.Len(), metrics)
	return k.s.finishModel(sc, run, m, metrics, curve)
}

// startRun opens a tracked run in the pipeline's experiment.
func (s *Services) startRun(sc *StepContext, name, parent string, params map[string]any) (*track.Run, error) {
	if s.Tracker == nil {
		return nil, nil
	}
	exp := sc.Run.Pipeline
	if _, err := s.Tracker.Experiment(sc, exp); plinth.ErrorCode(err) == plinth.ENOTFOUND {
		if err := s.Tracker.CreateExperiment(sc, &track.Experiment{Name: exp}); err != nil && plinth.ErrorCode(err) != plinth.ECONFLICT {
			return nil, err
		}
	}
	e, err := s.Tracker.Experiment(sc, exp)
	if err != nil {
		return nil, err
	}
	r := &track.Run{ExperimentID: e.ID, Name: name, ParentID: parent,
		Tags: map[string]string{"pipeline": sc.Run.Pipeline, "pipeline_run": sc.Run.ID, "step": sc.Step.Name}}
	if err := s.Tracker.CreateRun(sc, r); err != nil {
		return nil, err
	}
	var kv []track.KV
	for n, v := range params {
		kv = append(kv, track.KV{Key: n, Value: fmt.Sprint(v)})
	}
	if len(kv) > 0 {
		if err := s.Tracker.LogBatch(sc, r.ID, track.Batch{Params: kv}); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (s *Services) endRun(sc *StepContext, r *track.Run, status track.Status, metrics map[string]float64, curve []track.Metric) error {
	if r == nil {
		return nil
	}
	now := time.Now()
	b := track.Batch{Metrics: curve}
	for n, v := range metrics {
		b.Metrics = append(b.Metrics, track.Metric{Key: n, Value: v, Time: now})
	}
	if len(b.Metrics) > 0 {
		if err := s.Tracker.LogBatch(sc, r.ID, b); err != nil {
			return err
		}
	}
	_, err := s.Tracker.UpdateRun(sc, r.ID, track.RunUpdate{Status: &status, EndTime: &now})
	return err
}

// finishModel stores the model file, attaches it to the tracked run, ends
// the run and returns the step's outputs.
func (s *Services) finishModel(sc *StepContext, run *track.Run, m *model.Model, metrics map[string]float64, curve []track.Metric) (map[string]Value, error) {
	path := filepath.Join(sc.Dir, "model.json")
	out, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := m.Encode(out); err != nil {
		out.Close()
		return nil, err
	}
	if err := out.Close(); err != nil {
		return nil, err
	}
	return s.finishModelFile(sc, run, path, "plinth", metrics, curve)
}

// finishModelFile is finishModel for a file already written, in format.
func (s *Services) finishModelFile(sc *StepContext, run *track.Run, path, format string, metrics map[string]float64, curve []track.Metric) (map[string]Value, error) {
	mv, err := sc.Put(path, Model, format)
	if err != nil {
		return nil, err
	}
	mv.Attrs = copyAttrs(sc.Inputs["train"])
	if run != nil {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		_, err = s.Tracker.PutArtifact(sc, run.ID, filepath.Base(path), f)
		f.Close()
		if err != nil {
			return nil, err
		}
		if err := s.endRun(sc, run, track.Finished, metrics, curve); err != nil {
			return nil, err
		}
		mv.Attrs["run"] = run.ID
		mv.Ref = "run " + run.ID
	}
	return map[string]Value{"model": mv, "metrics": {Type: Metrics, Metrics: metrics}}, nil
}

// evaluateKind scores a model on a table — and, when given, a reference
// model (the champion) on the same rows, so the two are compared on the
// same holdout.
type evaluateKind struct {
	s *Services
	t tables
}

func (*evaluateKind) Inputs() map[string]Type {
	return map[string]Type{"model": Model, "data": Table, "reference": Any}
}
func (*evaluateKind) Optional(in string) bool  { return in == "reference" }
func (*evaluateKind) Outputs() map[string]Type { return map[string]Type{"metrics": Metrics} }
func (*evaluateKind) Deterministic() bool      { return true }

func (k *evaluateKind) Run(sc *StepContext) (map[string]Value, error) {
	label, err := sc.required("label")
	if err != nil {
		return nil, err
	}
	positive, err := sc.String("positive", "")
	if err != nil {
		return nil, err
	}
	data, err := sc.File("data")
	if err != nil {
		return nil, err
	}
	slice, err := sc.String("slice", "")
	if err != nil {
		return nil, err
	}
	score := func(input string) (map[string]float64, error) {
		path, err := sc.File(input)
		if err != nil {
			return nil, err
		}
		m, _, err := readModelFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", input, err)
		}
		t, err := k.t.read(sc, sc.Dir, data, label, positive, nil, m)
		if err != nil {
			return nil, err
		}
		preds, err := train.PredictTable(m, t)
		if err != nil {
			return nil, plinth.Invalid("steps."+sc.Step.Name+".inputs."+input, "%v", err)
		}
		metrics, err := scoreModel(m, t.Label, preds)
		if err != nil {
			return nil, plinth.Invalid("steps."+sc.Step.Name+".inputs."+input, "%v", err)
		}
		if slice != "" && input == "model" {
			if err := sliceMetrics(sc, m, t, preds, slice, metrics); err != nil {
				return nil, err
			}
		}
		return metrics, nil
	}
	metrics, err := score("model")
	if err != nil {
		return nil, err
	}
	sc.Logf("model: %s", formatMetrics(metrics))
	// The reference's metrics are always there, so gate conditions
	// compile whether or not a champion exists: has_reference says.
	for _, n := range slices.Sorted(maps.Keys(metrics)) {
		if n != "rows" && !strings.HasPrefix(n, "slice_") {
			metrics["reference_"+n], metrics["delta_"+n] = 0, 0
		}
	}
	metrics["has_reference"] = 0
	if _, ok := sc.Inputs["reference"]; ok {
		metrics["has_reference"] = 1
		ref, err := score("reference")
		if err != nil {
			return nil, err
		}
		sc.Logf("reference %s: %s", sc.Inputs["reference"].Ref, formatMetrics(ref))
		for n, v := range ref {
			if n == "rows" {
				continue
			}
			metrics["reference_"+n] = v
			metrics["delta_"+n] = metrics[n] - v
		}
	}
	return map[string]Value{"metrics": {Type: Metrics, Metrics: metrics}}, nil
}

func formatMetrics(m map[string]float64) string {
	var parts []string
	for _, n := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%.4g", n, m[n]))
	}
	return strings.Join(parts, " ")
}

// scoreKind scores a table or a dataset with a model in batch: in chunks
// of with.chunk rows (default 100,000), so memory stays bounded whatever
// the size, writing the data with a prediction column (one per class for
// a multiclass model) as Parquet. With with.dataset the scores are also
// registered as a version of that dataset, their source naming the model
// and the run. As a pipeline step it is resumable and cached like any.
type scoreKind struct {
	s *Services
	t tables
}

func (*scoreKind) Inputs() map[string]Type  { return map[string]Type{"model": Any, "data": Any} }
func (*scoreKind) Outputs() map[string]Type { return map[string]Type{"scores": Table} }
func (*scoreKind) Deterministic() bool      { return true }

func (k *scoreKind) Run(sc *StepContext) (map[string]Value, error) {
	mpath, err := sc.File("model")
	if err != nil {
		return nil, err
	}
	m, _, err := readModelFile(mpath)
	if err != nil {
		return nil, err
	}
	chunk, err := sc.Float("chunk", 100_000)
	if err != nil {
		return nil, err
	}
	if chunk < 1 {
		return nil, plinth.Invalid(sc.field("chunk"), "must be at least 1")
	}
	files, err := k.s.inputFiles(sc, "data")
	if err != nil {
		return nil, err
	}
	// One file to read in chunks, rows in a stable order.
	data := filepath.Join(sc.Dir, "data.parquet")
	if err := k.t.query(sc, data, "SELECT * FROM input", files...); err != nil {
		return nil, err
	}
	total, err := k.t.count(sc, data)
	if err != nil {
		return nil, err
	}
	p, err := model.Compile(m)
	if err != nil {
		return nil, err
	}
	kOut := p.NumOutputs()
	predPath := filepath.Join(sc.Dir, "predictions.csv")
	f, err := os.Create(predPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	w := csv.NewWriter(f)
	header := []string{"prediction"}
	if kOut > 1 {
		header = header[:0]
		for c := range kOut {
			header = append(header, "prediction_"+strconv.Itoa(c))
		}
	}
	w.Write(header)
	size := int64(chunk)
	row := make([]string, kOut)
	for off := int64(0); off < total; off += size {
		part := filepath.Join(sc.Dir, "part.parquet")
		if err := k.t.query(sc, part, fmt.Sprintf("SELECT * FROM input LIMIT %d OFFSET %d", size, off), data); err != nil {
			return nil, err
		}
		t, err := k.t.read(sc, sc.Dir, part, "", "", nil, m)
		if err != nil {
			return nil, err
		}
		x, err := t.Matrix(m.Signature)
		if err != nil {
			return nil, plinth.Invalid("steps."+sc.Step.Name+".inputs.data", "%v", err)
		}
		preds := make([]float64, x.Rows*kOut)
		if err := p.Predict(x, preds); err != nil {
			return nil, err
		}
		for r := range x.Rows {
			for c := range kOut {
				row[c] = strconv.FormatFloat(preds[r*kOut+c], 'g', -1, 64)
			}
			w.Write(row)
		}
		sc.Logf("scored %d of %d rows", min(off+size, total), total)
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	// The file's name is the source the dataset version records.
	out := filepath.Join(sc.Dir, fmt.Sprintf("scores-of-run-%s-step-%s.parquet", sc.Run.ID, strings.NewReplacer("[", "_", "]", "").Replace(sc.Step.Name)))
	sel := fmt.Sprintf("SELECT * FROM input POSITIONAL JOIN read_csv(%s, header = true)", quote(predPath))
	if err := k.t.query(sc, out, sel, data); err != nil {
		return nil, err
	}
	v, err := sc.Put(out, Table, fmt.Sprintf("scores (%d rows)", total))
	if err != nil {
		return nil, err
	}
	if name, err := sc.String("dataset", ""); err != nil {
		return nil, err
	} else if name != "" {
		ref, err := k.register(sc, name, out, sc.Inputs["model"].Ref)
		if err != nil {
			return nil, err
		}
		v.Ref = ref
	}
	return map[string]Value{"scores": v}, nil
}

// register stores scores as the next version of a dataset, created on
// first use.
func (k *scoreKind) register(sc *StepContext, name, path, model string) (string, error) {
	spec, err := k.s.Datasets.Spec(sc, name)
	if plinth.ErrorCode(err) == plinth.ENOTFOUND {
		spec = &dataset.Spec{Name: name}
		if err := spec.Validate(); err != nil {
			return "", plinth.Invalid(sc.field("dataset"), "%s", plinth.ErrorMessage(err))
		}
		err = k.s.Datasets.SetSpec(sc, *spec)
	}
	if err != nil {
		return "", err
	}
	v, _, err := k.s.Ingester.Ingest(sc, *spec, path)
	if err != nil {
		return "", err
	}
	if v == nil {
		return "", fmt.Errorf("the scores were quarantined by the expectations of %s", name)
	}
	sc.Logf("scores of %s registered as %s version %d (%d rows), from run %s", model, name, v.Version, v.Rows, sc.Run.ID)
	return fmt.Sprintf("%s@%d", name, v.Version), nil
}

// scoreModel measures m's predictions against the labels with the metrics
// that fit its objective (eval.Summarize's, as named figures).
func scoreModel(m *model.Model, labels, preds []float64) (map[string]float64, error) {
	k := m.NumOutputs()
	sum, err := eval.Summarize(labels, preds, k, strings.HasPrefix(m.Objective.Name, "binary:"))
	if err != nil {
		if k > 1 {
			return nil, fmt.Errorf("labels must be class indices 0..%d: %w", k-1, err)
		}
		return nil, err
	}
	return sum.Flat(), nil
}

// sliceMetrics adds a binary classifier's metrics per value of a column:
// slice_<value>_auc, slice_<value>_rows, ... (values made identifiers), so
// gates can hold every slice to a bar.
func sliceMetrics(sc *StepContext, m *model.Model, t *train.Table, preds []float64, column string, metrics map[string]float64) error {
	values := t.Strings(column)
	if values == nil {
		return plinth.Invalid(sc.field("slice"), "the data has no column %q", column)
	}
	if !strings.HasPrefix(m.Objective.Name, "binary:") {
		return plinth.Invalid(sc.field("slice"), "slices are measured for binary classifiers, not %s", m.Objective.Name)
	}
	byValue, err := eval.BinarySlices(values, t.Label, preds)
	if err != nil {
		return err
	}
	for _, s := range byValue {
		key := "slice_" + envName(s.Value)
		metrics[key+"_rows"] = float64(s.Count)
		metrics[key+"_accuracy"] = s.Accuracy
		metrics[key+"_log_loss"] = s.LogLoss
		if !math.IsNaN(s.AUC) {
			metrics[key+"_auc"] = s.AUC
		}
		sc.Logf("slice %s=%s: %d rows, AUC %.4f, accuracy %.4f", column, s.Value, s.Count, s.AUC, s.Accuracy)
	}
	return nil
}
