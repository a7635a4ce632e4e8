package train

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/plinthml/plinth/eval"
	"github.com/plinthml/plinth/model"
)

// LinearParams configures a linear model: logistic regression (binary or
// multinomial) or linear regression, with elastic-net regularization.
type LinearParams struct {
	// Objective is model.BinaryLogistic (the default), model.MultiSoftprob
	// or model.RegSquaredError.
	Objective    string
	NumClass     int     // classes of a multiclass objective; labels are 0..NumClass-1
	Epochs       int     // passes over the data; default 20
	LearningRate float64 // Adam step size; default 0.05
	L2           float64 // ridge penalty on the weights (not the intercepts)
	L1           float64 // lasso penalty on the weights, applied as a proximal step
	BatchSize    int     // default 256
	Seed         uint64  // shuffling; the same seed gives the same model
}

func (p *LinearParams) check() error {
	if p.Objective == "" {
		p.Objective = model.BinaryLogistic
	}
	if p.Epochs == 0 {
		p.Epochs = 20
	}
	if p.LearningRate == 0 {
		p.LearningRate = 0.05
	}
	if p.BatchSize == 0 {
		p.BatchSize = 256
	}
	switch {
	case p.Objective != model.BinaryLogistic && p.Objective != model.MultiSoftprob && p.Objective != model.RegSquaredError:
		return fmt.Errorf("linear: objective %q is not one of %s, %s, %s", p.Objective, model.BinaryLogistic, model.MultiSoftprob, model.RegSquaredError)
	case p.Objective == model.MultiSoftprob && p.NumClass < 2:
		return fmt.Errorf("linear: num_class must be at least 2 for %s, have %d", model.MultiSoftprob, p.NumClass)
	case p.Epochs < 0 || p.BatchSize < 0:
		return fmt.Errorf("linear: epochs and batch_size must be positive")
	case p.LearningRate < 0 || p.L1 < 0 || p.L2 < 0:
		return fmt.Errorf("linear: learning_rate, l1 and l2 must not be negative")
	}
	return nil
}

// outputs is the number of margins the objective has.
func (p *LinearParams) outputs() int {
	if p.Objective == model.MultiSoftprob {
		return p.NumClass
	}
	return 1
}

// Progress reports one epoch (or boosting round) of training.
type Progress struct {
	Epoch     int
	TrainLoss float64 // mean loss over the epoch's batches
	ValidLoss float64 // loss of the model after the epoch on the validation table
	ValidAUC  float64 // binary objectives; NaN otherwise
	ValidAcc  float64 // classification accuracy (threshold 0.5 for binary); NaN for regression
}

// Linear fits a linear model with mini-batch Adam over standardized numeric
// features and one weight per category (per output). The model standardizes
// inside itself, so callers pass raw values; regression targets are
// standardized during training and the weights rescaled after. report, if
// not nil, is called after every epoch.
func Linear(trainT, valid *Table, p LinearParams, report func(Progress)) (*model.Model, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	if trainT.Len() == 0 {
		return nil, fmt.Errorf("linear: empty training table")
	}
	k := p.outputs()
	for i, y := range trainT.Label {
		switch p.Objective {
		case model.BinaryLogistic:
			if y != 0 && y != 1 {
				return nil, fmt.Errorf("linear: row %d: binary labels must be 0 or 1, have %v", i, y)
			}
		case model.MultiSoftprob:
			if y != math.Trunc(y) || y < 0 || int(y) >= k {
				return nil, fmt.Errorf("linear: row %d: class labels must be integers 0..%d, have %v", i, k-1, y)
			}
		default:
			if math.IsNaN(y) || math.IsInf(y, 0) {
				return nil, fmt.Errorf("linear: row %d: label %v is not a finite number", i, y)
			}
		}
	}
	sig := trainT.Signature()
	rows := trainT.Rows(sig)

	// Regression fits the standardized target.
	yMean, yScale := 0.0, 1.0
	if p.Objective == model.RegSquaredError {
		yMean, yScale = meanStdOf(trainT.Label)
	}

	// Parameter layout per output: [intercept, then per feature one weight
	// (numeric) or one per category]; outputs are consecutive blocks.
	offset := make([]int, len(sig.Features))
	mean := make([]float64, len(sig.Features))
	scale := make([]float64, len(sig.Features))
	width := 1
	for j, f := range sig.Features {
		offset[j] = width
		if f.Type == model.Categorical {
			width += len(f.Categories)
			continue
		}
		width++
		mean[j], scale[j] = meanStd(rows, j)
	}
	n := width * k
	w := make([]float64, n)
	m1, m2, grad := make([]float64, n), make([]float64, n), make([]float64, n)
	const beta1, beta2, eps = 0.9, 0.999, 1e-8
	step := 0

	type term struct {
		k int
		x float64
	}
	terms := make([]term, 0, len(sig.Features))
	features := func(row []float64) []term {
		terms = terms[:0]
		for j, f := range sig.Features {
			x := row[j]
			if math.IsNaN(x) {
				continue // missing: imputed with the mean, contributes 0
			}
			if f.Type == model.Categorical {
				terms = append(terms, term{offset[j] + int(x), 1})
			} else {
				terms = append(terms, term{offset[j], (x - mean[j]) / scale[j]})
			}
		}
		return terms
	}

	rng := rand.New(rand.NewPCG(p.Seed, 0x706c696e7468))
	order := make([]int, len(rows))
	for i := range order {
		order[i] = i
	}
	z, prob := make([]float64, k), make([]float64, k)
	var result *model.Model
	for epoch := 1; epoch <= p.Epochs; epoch++ {
		rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		var lossSum float64
		for start := 0; start < len(order); start += p.BatchSize {
			batch := order[start:min(start+p.BatchSize, len(order))]
			clear(grad)
			for _, i := range batch {
				ts := features(rows[i])
				for c := 0; c < k; c++ {
					base := c * width
					z[c] = w[base]
					for _, t := range ts {
						z[c] += w[base+t.k] * t.x
					}
				}
				y := trainT.Label[i]
				switch p.Objective {
				case model.BinaryLogistic:
					prob[0] = sigmoid(z[0])
					lossSum -= y*math.Log(max(prob[0], 1e-15)) + (1-y)*math.Log(max(1-prob[0], 1e-15))
					prob[0] -= y // now the gradient of the loss in z
				case model.MultiSoftprob:
					softmax(z, prob)
					lossSum -= math.Log(max(prob[int(y)], 1e-15))
					prob[int(y)] -= 1
				default:
					d := z[0] - (y-yMean)/yScale
					lossSum += d * d
					prob[0] = d
				}
				for c := 0; c < k; c++ {
					base, g := c*width, prob[c]
					grad[base] += g
					for _, t := range ts {
						grad[base+t.k] += g * t.x
					}
				}
			}
			nb := float64(len(batch))
			step++
			c1, c2 := 1-math.Pow(beta1, float64(step)), 1-math.Pow(beta2, float64(step))
			for j := range w {
				intercept := j%width == 0
				g := grad[j] / nb
				if !intercept {
					g += p.L2 * w[j]
				}
				m1[j] = beta1*m1[j] + (1-beta1)*g
				m2[j] = beta2*m2[j] + (1-beta2)*g*g
				lr := p.LearningRate / (math.Sqrt(m2[j]/c2) + eps)
				w[j] -= lr * m1[j] / c1
				if p.L1 > 0 && !intercept {
					// Proximal step: soft-threshold towards zero, so L1 gives
					// exact zeros rather than small oscillating weights.
					w[j] = math.Copysign(max(math.Abs(w[j])-lr*p.L1, 0), w[j])
				}
			}
		}
		result = linearModel(sig, p, w, width, offset, mean, scale, yMean, yScale)
		if report != nil {
			trainLoss := lossSum / float64(len(rows))
			if p.Objective == model.RegSquaredError {
				trainLoss = math.Sqrt(trainLoss) * yScale // RMSE in the target's units
			}
			pr := Progress{Epoch: epoch, TrainLoss: trainLoss, ValidAUC: math.NaN(), ValidAcc: math.NaN()}
			if valid != nil && valid.Len() > 0 {
				var err error
				if pr.ValidLoss, pr.ValidAUC, pr.ValidAcc, err = Score(result, valid); err != nil {
					return nil, err
				}
			}
			report(pr)
		}
	}
	return result, nil
}

// linearModel writes the weights as a native linear model.
func linearModel(sig model.Signature, p LinearParams, w []float64, width int, offset []int, mean, scale []float64, yMean, yScale float64) *model.Model {
	k := p.outputs()
	lin := &model.Linear{Intercept: make([]float64, k)}
	for c := 0; c < k; c++ {
		lin.Intercept[c] = w[c*width]*yScale + yMean
	}
	for j, f := range sig.Features {
		t := model.Term{Feature: j}
		if f.Type == model.Categorical {
			for cat := range f.Categories {
				ws := make([]float64, k)
				for c := 0; c < k; c++ {
					ws[c] = w[c*width+offset[j]+cat] * yScale
				}
				t.CategoryWeights = append(t.CategoryWeights, ws)
			}
		} else {
			t.Mean, t.Scale, t.Weights = mean[j], scale[j], make([]float64, k)
			for c := 0; c < k; c++ {
				t.Weights[c] = w[c*width+offset[j]] * yScale
			}
		}
		lin.Terms = append(lin.Terms, t)
	}
	obj := model.Objective{Name: p.Objective}
	if p.Objective == model.MultiSoftprob {
		obj.NumClass = k
	}
	return &model.Model{
		FormatVersion: model.FormatVersion,
		Signature:     sig,
		Objective:     obj,
		BaseScore:     make([]float64, k),
		Linear:        lin,
		Source:        &model.Source{Library: "plinth", Format: "plinth"},
	}
}

// Score evaluates a model on a table: the loss of its objective (log loss,
// multiclass log loss, or RMSE), the AUC (binary only, else NaN) and the
// accuracy (classification only, else NaN).
func Score(m *model.Model, t *Table) (loss, auc, acc float64, err error) {
	pred, err := PredictTable(m, t)
	if err != nil {
		return 0, 0, 0, err
	}
	auc, acc = math.NaN(), math.NaN()
	switch k := m.NumOutputs(); {
	case k > 1:
		mc, err := eval.Multiclass(t.Label, pred, k)
		if err != nil {
			return 0, 0, 0, err
		}
		return mc.LogLoss, auc, mc.Accuracy, nil
	case m.Objective.Name == model.BinaryLogistic:
		if loss, err = eval.LogLoss(t.Label, pred); err != nil {
			return 0, 0, 0, err
		}
		auc, _ = eval.AUC(t.Label, pred)
		b, _ := eval.AtThreshold(t.Label, pred, 0.5)
		return loss, auc, b.Accuracy, nil
	default:
		r, err := eval.Regress(t.Label, pred)
		return r.RMSE, auc, acc, err
	}
}

// ScoreBinary returns the log loss and AUC of a binary model on a table.
func ScoreBinary(m *model.Model, t *Table) (logLoss, auc float64, err error) {
	logLoss, auc, _, err = Score(m, t)
	return logLoss, auc, err
}

// PredictTable scores every row of t; a model with k outputs gives k values
// per row, row after row.
func PredictTable(m *model.Model, t *Table) ([]float64, error) {
	p, err := model.Compile(m)
	if err != nil {
		return nil, err
	}
	x, err := t.Matrix(m.Signature)
	if err != nil {
		return nil, err
	}
	pred := make([]float64, x.Rows*p.NumOutputs())
	if err := p.Predict(x, pred); err != nil {
		return nil, err
	}
	return pred, nil
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

func softmax(z, out []float64) {
	mx := z[0]
	for _, v := range z[1:] {
		mx = max(mx, v)
	}
	var sum float64
	for i, v := range z {
		out[i] = math.Exp(v - mx)
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
}

// meanStd returns the mean and standard deviation of column j, ignoring
// missing values; a constant column gets scale 1.
func meanStd(rows [][]float64, j int) (float64, float64) {
	col := make([]float64, 0, len(rows))
	for _, r := range rows {
		if x := r[j]; !math.IsNaN(x) {
			col = append(col, x)
		}
	}
	return meanStdOf(col)
}

func meanStdOf(xs []float64) (float64, float64) {
	if len(xs) == 0 {
		return 0, 1
	}
	var sum, sq float64
	for _, x := range xs {
		sum += x
		sq += x * x
	}
	mean := sum / float64(len(xs))
	std := math.Sqrt(max(sq/float64(len(xs))-mean*mean, 0))
	if std < 1e-12 {
		std = 1
	}
	return mean, std
}
