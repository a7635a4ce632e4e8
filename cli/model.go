package cli

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/duckdb"
	"github.com/plinthml/plinth/eval"
	"github.com/plinthml/plinth/model"
	"github.com/plinthml/plinth/model/formats"
	"github.com/plinthml/plinth/progress"
	"github.com/plinthml/plinth/train"
	"github.com/plinthml/plinth/train/tune"
)

// runModel is `plinth model`: training, scoring and explaining model files
// on plain files, without a server or a project, as the XGBoost and
// LightGBM command lines do.
func runModel(ctx context.Context, e *Env, args []string) error {
	sub, args := subcommand(args, "")
	fs := flag.NewFlagSet("plinth model "+sub, flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	f := &flags{FlagSet: fs}
	f.StringVar(&f.output, "output", "table", "output format: table or json")
	data := fs.String("data", "", "CSV file with a header")
	label := fs.String("label", "", "label column (train, evaluate)")
	positive := fs.String("positive", "", "label value that means 1 (default: the label is 0/1)")
	catList := fs.String("categorical", "", "comma-separated categorical columns (train; default: inferred from the values)")
	validFile := fs.String("valid", "", "validation CSV (train; default: the last 20% of --data)")
	out := fs.String("o", "", "output file")
	format := fs.String("format", "", "model format: plinth, xgboost-json, lightgbm-text (default: detected)")
	margin := fs.Bool("margin", false, "write raw margins instead of probabilities (predict)")
	row := fs.Int("row", 0, "row to explain, counting from 0 (explain)")
	top := fs.Int("top", 10, "contributions to show (explain)")
	slice := fs.String("slice", "", "column to break metrics down by (evaluate)")
	algo := fs.String("algo", "gbt", "trainer: gbt (gradient-boosted trees) or linear (train)")
	params := kvFlag{}
	fs.Var(params, "param", "trainer parameter key=value, repeatable (train). Both: objective (binary:logistic, multi:softprob, reg:squarederror; gbt also reg:pseudohubererror, reg:quantileerror with quantile_alpha), num_class, learning_rate, seed. "+
		"gbt: rounds, max_depth, max_leaves, grow_policy, min_child_weight, alpha, lambda, gamma, subsample, colsample_bytree, max_bin, max_cat_to_onehot, early_stopping_rounds, eval_metric, nthread. linear: epochs, l1, l2, batch_size")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	switch sub {
	case "train":
		if *data == "" || *label == "" || *out == "" || len(pos) != 0 {
			return usagef("usage: plinth model train --data FILE --label COL [--positive V] [--valid FILE] [--param k=v]... -o MODEL")
		}
		return modelTrain(e, *algo, *data, *validFile, *label, *positive, splitList(*catList), params, *out)
	case "import":
		if len(pos) != 1 || *out == "" {
			return usagef("usage: plinth model import FILE [--format xgboost-json|lightgbm-text] -o MODEL")
		}
		m, from, err := readModel(pos[0], *format)
		if err != nil {
			return err
		}
		if err := writeModel(m, *out); err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "imported %s (%s, %s) into %s\n", pos[0], from, describeModel(m), *out)
		return nil
	case "info":
		if len(pos) != 1 {
			return usagef("usage: plinth model info MODEL")
		}
		m, from, err := readModel(pos[0], *format)
		if err != nil {
			return err
		}
		return f.emit(e, m.Signature, func(w *tabwriter.Writer) {
			fmt.Fprintf(w, "format\t%s\nmodel\t%s\n", from, describeModel(m))
			imp := importanceByName(m)
			fmt.Fprintln(w, "\nFEATURE\tTYPE\tNULLABLE\tGAIN")
			for _, ft := range m.Signature.Features {
				fmt.Fprintf(w, "%s\t%s\t%v\t%s\n", ft.Name, ft.Type, ft.Nullable, fmtFloat(imp[ft.Name]))
			}
		})
	case "predict", "explain", "evaluate":
		if len(pos) != 1 || *data == "" {
			return usagef("usage: plinth model %s MODEL --data FILE ...", sub)
		}
		m, _, err := readModel(pos[0], *format)
		if err != nil {
			return err
		}
		lbl := ""
		if sub == "evaluate" {
			if *label == "" {
				return usagef("evaluate needs --label COL")
			}
			lbl = *label
		}
		t, err := readTableFor(m, *data, lbl, *positive)
		if err != nil {
			return err
		}
		switch sub {
		case "predict":
			return modelPredict(e, m, t, *margin, *out)
		case "explain":
			return modelExplain(e, f, m, t, *row, *top)
		default:
			return modelEvaluate(e, f, m, t, *data, *slice)
		}
	}
	return usagef("usage: plinth model train|predict|evaluate|explain|import|info ...")
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func readModel(path, format string) (*model.Model, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	m, from, err := formats.Read(f, format)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %s", path, describe(err))
	}
	return m, from, nil
}

// writeModel writes m in the native format, atomically.
func writeModel(m *model.Model, path string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".plinth-model-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := m.Encode(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func describeModel(m *model.Model) string {
	kind := "linear"
	if m.Trees != nil {
		kind = fmt.Sprintf("%d trees", len(m.Trees.Trees))
	}
	return fmt.Sprintf("%s, %s, %d features", m.Objective.Name, kind, m.NumFeatures())
}

func importanceByName(m *model.Model) map[string]float64 {
	out := map[string]float64{}
	for _, imp := range m.GainImportance() {
		out[imp.Feature] = imp.Value
	}
	return out
}

// readTableFor reads a CSV the way model m expects it: the model's numeric
// features (and its categorical ones known only by code) as numbers, every
// other column as text, so columns the model does not read cannot fail.
func readTableFor(m *model.Model, path, label, positive string) (*train.Table, error) {
	if strings.HasSuffix(strings.ToLower(path), ".parquet") {
		csvPath, cleanup, err := parquetToCSV(path)
		if err != nil {
			return nil, err
		}
		defer cleanup()
		return readTableFor(m, csvPath, label, positive)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	header, err := csv.NewReader(f).Read()
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: read header: %w", path, err)
	}
	numeric := map[string]bool{}
	for _, ft := range m.Signature.Features {
		if ft.Type != model.Categorical || len(ft.Categories) == 0 {
			numeric[ft.Name] = true
		}
	}
	text := []string{}
	for _, h := range header {
		if h = strings.TrimSpace(h); !numeric[h] && h != label {
			text = append(text, h)
		}
	}
	return readCSVFile(path, label, positive, text)
}

// readCSVFile reads a CSV file, or a Parquet file through DuckDB, into a
// table.
func readCSVFile(path, label, positive string, categorical []string) (*train.Table, error) {
	if strings.HasSuffix(strings.ToLower(path), ".parquet") {
		csvPath, cleanup, err := parquetToCSV(path)
		if err != nil {
			return nil, err
		}
		defer cleanup()
		t, err := readCSVFile(csvPath, label, positive, categorical)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, errors.Unwrap(err))
		}
		return t, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t, err := train.ReadCSV(f, label, positive, categorical)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// parquetToCSV converts a Parquet file to a temporary CSV with DuckDB.
func parquetToCSV(path string) (string, func(), error) {
	eng, err := duckdb.Open("")
	if err != nil {
		return "", nil, err
	}
	defer eng.Close()
	tmp, err := os.CreateTemp("", "plinth-*.csv")
	if err != nil {
		return "", nil, err
	}
	tmp.Close()
	cleanup := func() { os.Remove(tmp.Name()) }
	q := fmt.Sprintf(`COPY (SELECT * FROM read_parquet('%s')) TO '%s' (HEADER, DELIMITER ',')`,
		strings.ReplaceAll(path, "'", "''"), strings.ReplaceAll(tmp.Name(), "'", "''"))
	if _, err := eng.DB().Exec(q); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("%s: %v", path, err)
	}
	return tmp.Name(), cleanup, nil
}

func modelTrain(e *Env, algo, dataPath, validPath, label, positive string, categorical []string, params kvFlag, out string) error {
	var fit func(trainT, valid *train.Table) (*model.Model, string, error)
	switch algo {
	case "gbt":
		p, err := gbtParams(params)
		if err != nil {
			return err
		}
		fit = func(trainT, valid *train.Table) (*model.Model, string, error) {
			fmt.Fprintf(e.Stderr, "training %d gradient-boosted rounds (%s) on %d rows, validating on %d\n", p.Rounds, p.Objective, trainT.Len(), valid.Len())
			bar := progress.New(e.Stderr, "rounds", p.Rounds)
			var last train.GBTProgress
			m, err := train.GBT(trainT, valid, p, func(pr train.GBTProgress) {
				last = pr
				bar.Add(1)
			})
			if err != nil {
				return nil, "", err
			}
			summary := fmt.Sprintf("validation %s %.4f", last.Metric, last.Valid)
			if p.EarlyStoppingRounds > 0 && last.BestRound < last.Round {
				summary += fmt.Sprintf(" (stopped early; round %d of %d kept)", last.BestRound, last.Round)
			}
			bar.Done(summary)
			return m, summary, nil
		}
	case "linear":
		p, err := linearParams(params)
		if err != nil {
			return err
		}
		fit = func(trainT, valid *train.Table) (*model.Model, string, error) {
			fmt.Fprintf(e.Stderr, "training a linear model (%s) on %d rows, validating on %d\n", objectiveOr(p.Objective), trainT.Len(), valid.Len())
			bar := progress.New(e.Stderr, "epochs", p.Epochs)
			var last train.Progress
			m, err := train.Linear(trainT, valid, p, func(pr train.Progress) {
				last = pr
				bar.Add(1)
			})
			if err != nil {
				return nil, "", err
			}
			bar.Done(progressSummary(last))
			return m, progressSummary(last), nil
		}
	default:
		return usagef("--algo %q is not gbt or linear", algo)
	}
	all, err := readCSVFile(dataPath, label, positive, categorical)
	if err != nil {
		return err
	}
	trainT, valid := all, (*train.Table)(nil)
	if validPath != "" {
		if categorical == nil {
			// Read the validation file with the types inferred for --data.
			categorical = []string{}
			for _, c := range all.Columns {
				if c.Type == model.Categorical {
					categorical = append(categorical, c.Name)
				}
			}
		}
		if valid, err = readCSVFile(validPath, label, positive, categorical); err != nil {
			return err
		}
	} else {
		trainT, valid = all.Split(0.8)
	}
	start := time.Now()
	m, summary, err := fit(trainT, valid)
	if err != nil {
		return err
	}
	if err := writeModel(m, out); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "wrote %s (%s) in %s: %s\n", out, describeModel(m), time.Since(start).Round(time.Millisecond), summary)
	return nil
}

// gbtParams reads --param flags in XGBoost's names (and the aliases the
// search space takes), over its defaults.
func gbtParams(kv kvFlag) (train.GBTParams, error) {
	p := train.DefaultGBTParams()
	if err := tune.ApplyGBT(&p, typedParams(kv)); err != nil {
		return p, usagef("--param %s", plinth.ErrorMessage(err))
	}
	return p, nil
}

func objectiveOr(o string) string {
	if o == "" {
		return model.BinaryLogistic
	}
	return o
}

// progressSummary states the validation figures that apply.
func progressSummary(p train.Progress) string {
	parts := []string{}
	if !math.IsNaN(p.ValidAUC) {
		parts = append(parts, fmt.Sprintf("validation AUC %.4f", p.ValidAUC))
	}
	if !math.IsNaN(p.ValidAcc) {
		parts = append(parts, fmt.Sprintf("accuracy %.4f", p.ValidAcc))
	}
	if math.IsNaN(p.ValidAcc) {
		parts = append(parts, fmt.Sprintf("validation RMSE %.4f", p.ValidLoss))
	} else {
		parts = append(parts, fmt.Sprintf("log loss %.4f", p.ValidLoss))
	}
	return strings.Join(parts, ", ")
}

func linearParams(kv kvFlag) (train.LinearParams, error) {
	var p train.LinearParams
	if err := tune.ApplyLinear(&p, typedParams(kv)); err != nil {
		return p, usagef("--param %s", plinth.ErrorMessage(err))
	}
	return p, nil
}

func modelPredict(e *Env, m *model.Model, t *train.Table, margin bool, out string) error {
	p, err := model.Compile(m)
	if err != nil {
		return err
	}
	x, err := t.Matrix(m.Signature)
	if err != nil {
		return err
	}
	k := p.NumOutputs()
	preds := make([]float64, x.Rows*k)
	if margin {
		err = p.PredictRaw(x, preds)
	} else {
		err = p.Predict(x, preds)
	}
	if err != nil {
		return err
	}
	w := e.Stdout
	var file *os.File
	if out != "" {
		if file, err = os.Create(out); err != nil {
			return err
		}
		defer file.Close()
		w = file
	}
	cw := csv.NewWriter(w)
	header := []string{"prediction"}
	if k > 1 {
		header = header[:0]
		for c := 0; c < k; c++ {
			header = append(header, "class_"+strconv.Itoa(c))
		}
	}
	cw.Write(header)
	rec := make([]string, k)
	for i := 0; i < x.Rows; i++ {
		for c := 0; c < k; c++ {
			rec[c] = strconv.FormatFloat(preds[i*k+c], 'g', 8, 64)
		}
		cw.Write(rec)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	if file != nil {
		fmt.Fprintf(e.Stderr, "wrote %d predictions to %s\n", x.Rows, out)
		return file.Close()
	}
	return nil
}

// contribution is one feature's share of a prediction.
type contribution struct {
	Feature string  `json:"feature"`
	Value   string  `json:"value"`
	SHAP    float64 `json:"shap"`
}

type explanation struct {
	Row           int            `json:"row"`
	Output        int            `json:"output"`
	Prediction    float64        `json:"prediction"`
	Margin        float64        `json:"margin"`
	Base          float64        `json:"base_value"`
	Contributions []contribution `json:"contributions"`
}

func modelExplain(e *Env, f *flags, m *model.Model, t *train.Table, row, top int) error {
	rows, err := t.Encode(m.Signature)
	if err != nil {
		return err
	}
	if row < 0 || row >= len(rows) {
		return usagef("--row %d: the data has rows 0 to %d", row, len(rows)-1)
	}
	p, err := model.Compile(m)
	if err != nil {
		return err
	}
	nf, k := p.NumFeatures(), p.NumOutputs()
	contribs := make([]float64, k*(nf+1))
	if err := p.Explain(rows[row], contribs); err != nil {
		return err
	}
	raw, pred := make([]float64, k), make([]float64, k)
	if err := p.PredictRawRow(rows[row], raw); err != nil {
		return err
	}
	if err := p.PredictRow(rows[row], pred); err != nil {
		return err
	}
	// Explain the output the model predicts most strongly.
	out := 0
	for c := range pred {
		if pred[c] > pred[out] {
			out = c
		}
	}
	block := contribs[out*(nf+1) : (out+1)*(nf+1)]
	ex := explanation{Row: row, Output: out, Prediction: pred[out], Margin: raw[out], Base: block[nf]}
	for j, ft := range m.Signature.Features {
		ex.Contributions = append(ex.Contributions, contribution{Feature: ft.Name, Value: featureValue(ft, rows[row][j]), SHAP: block[j]})
	}
	sort.SliceStable(ex.Contributions, func(a, b int) bool {
		return math.Abs(ex.Contributions[a].SHAP) > math.Abs(ex.Contributions[b].SHAP)
	})
	if top > 0 && len(ex.Contributions) > top {
		ex.Contributions = ex.Contributions[:top]
	}
	return f.emit(e, ex, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "row %d: prediction %s (output %d), margin %s = base %s + contributions\n", row, fmtFloat(ex.Prediction), out, fmtFloat(ex.Margin), fmtFloat(ex.Base))
		fmt.Fprintln(w, "FEATURE\tVALUE\tCONTRIBUTION")
		for _, c := range ex.Contributions {
			fmt.Fprintf(w, "%s\t%s\t%+.4f\n", c.Feature, c.Value, c.SHAP)
		}
	})
}

func featureValue(f model.Feature, x float64) string {
	switch {
	case math.IsNaN(x):
		return "(missing)"
	case f.Type == model.Categorical && int(x) >= 0 && int(x) < len(f.Categories):
		return f.Categories[int(x)]
	}
	return fmtFloat(x)
}

func modelEvaluate(e *Env, f *flags, m *model.Model, t *train.Table, path, sliceCol string) error {
	preds, err := train.PredictTable(m, t)
	if err != nil {
		return err
	}
	k, rows := m.NumOutputs(), t.Len()
	binary := strings.HasPrefix(m.Objective.Name, "binary:")
	sum, err := eval.Summarize(t.Label, preds, k, binary)
	if err != nil {
		if k > 1 {
			return fmt.Errorf("evaluate: labels must be class indices 0..%d: %w", k-1, err)
		}
		return fmt.Errorf("evaluate: %w", err)
	}
	report := map[string]any{"rows": rows, "objective": m.Objective.Name}
	var lines []string
	switch {
	case sum.Multiclass != nil:
		mc := sum.Multiclass
		report["multiclass"] = mc
		lines = append(lines, fmt.Sprintf("accuracy\t%.4f", mc.Accuracy), fmt.Sprintf("log loss\t%.4f", mc.LogLoss))
	case sum.Binary != nil:
		b := sum.Binary
		report["auc"], report["log_loss"], report["threshold_0.5"], report["calibration_error"] = b.AUC, b.LogLoss, b.AtHalf, b.CalibrationError
		lines = append(lines, fmt.Sprintf("AUC\t%.4f", b.AUC), fmt.Sprintf("log loss\t%.4f", b.LogLoss),
			fmt.Sprintf("accuracy@0.5\t%.4f", b.AtHalf.Accuracy), fmt.Sprintf("precision@0.5\t%.4f", b.AtHalf.Precision),
			fmt.Sprintf("recall@0.5\t%.4f", b.AtHalf.Recall), fmt.Sprintf("F1@0.5\t%.4f", b.AtHalf.F1), fmt.Sprintf("calibration error\t%.4f", b.CalibrationError))
	default:
		r := sum.Regression
		report["regression"] = r
		lines = append(lines, fmt.Sprintf("RMSE\t%.4f", r.RMSE), fmt.Sprintf("MAE\t%.4f", r.MAE), fmt.Sprintf("R²\t%.4f", r.R2))
	}
	if sliceCol != "" {
		if !binary {
			return usagef("--slice: slices are measured for binary classifiers, not %s", m.Objective.Name)
		}
		col := t.Strings(sliceCol)
		if col == nil {
			return usagef("--slice %s: no such column in %s", sliceCol, path)
		}
		slices, err := eval.BinarySlices(col, t.Label, preds)
		if err != nil {
			return err
		}
		report["slices"] = slices
		lines = append(lines, "", "SLICE "+sliceCol+"\tROWS\tPOSITIVE\tAUC\tLOG LOSS\tACCURACY")
		for _, s := range slices {
			lines = append(lines, fmt.Sprintf("%s\t%d\t%.3f\t%.4f\t%.4f\t%.4f", s.Value, s.Count, s.Positive, s.AUC, s.LogLoss, s.Accuracy))
		}
	}
	return f.emit(e, report, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "%s: %d rows\n", path, rows)
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
	})
}
