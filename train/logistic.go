package train

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/plinthml/plinth/eval"
	"github.com/plinthml/plinth/model"
)

// LogisticParams configures binary logistic regression.
type LogisticParams struct {
	Epochs       int     // passes over the data; default 20
	LearningRate float64 // Adam step size; default 0.05
	L2           float64 // penalty on the weights (not the intercept), per row
	BatchSize    int     // default 256
	Seed         uint64  // shuffling; the same seed gives the same model
}

func (p *LogisticParams) defaults() {
	if p.Epochs == 0 {
		p.Epochs = 20
	}
	if p.LearningRate == 0 {
		p.LearningRate = 0.05
	}
	if p.BatchSize == 0 {
		p.BatchSize = 256
	}
}

// Progress reports one epoch of training.
type Progress struct {
	Epoch     int
	TrainLoss float64 // mean log loss over the epoch's batches
	ValidLoss float64 // log loss of the model after the epoch on the validation table
	ValidAUC  float64
}

// Logistic fits a binary logistic regression with mini-batch Adam over
// standardized numeric features and one weight per category. The model
// standardizes inside itself, so callers pass raw values. report, if not
// nil, is called after every epoch with the validation figures.
func Logistic(trainT, valid *Table, p LogisticParams, report func(Progress)) (*model.Model, error) {
	p.defaults()
	if trainT.Len() == 0 {
		return nil, fmt.Errorf("logistic: empty training table")
	}
	for _, y := range trainT.Label {
		if y != 0 && y != 1 {
			return nil, fmt.Errorf("logistic: labels must be 0 or 1, have %v", y)
		}
	}
	sig := trainT.Signature()
	rows := trainT.Rows(sig)

	// Parameter layout: [intercept, then per feature one weight (numeric)
	// or one per category].
	offset := make([]int, len(sig.Features))
	mean := make([]float64, len(sig.Features))
	scale := make([]float64, len(sig.Features))
	nparams := 1
	for j, f := range sig.Features {
		offset[j] = nparams
		if f.Type == model.Categorical {
			nparams += len(f.Categories)
			continue
		}
		nparams++
		mean[j], scale[j] = meanStd(rows, j)
	}
	w := make([]float64, nparams)
	m1, m2 := make([]float64, nparams), make([]float64, nparams)
	grad := make([]float64, nparams)
	const beta1, beta2, eps = 0.9, 0.999, 1e-8
	step := 0

	// features reads row i into (parameter index, value) pairs.
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
	var m *model.Model
	for epoch := 1; epoch <= p.Epochs; epoch++ {
		rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		var lossSum float64
		for start := 0; start < len(order); start += p.BatchSize {
			batch := order[start:min(start+p.BatchSize, len(order))]
			clear(grad)
			for _, i := range batch {
				ts := features(rows[i])
				z := w[0]
				for _, t := range ts {
					z += w[t.k] * t.x
				}
				prob := sigmoid(z)
				y := trainT.Label[i]
				lossSum -= y*math.Log(max(prob, 1e-15)) + (1-y)*math.Log(max(1-prob, 1e-15))
				g := prob - y
				grad[0] += g
				for _, t := range ts {
					grad[t.k] += g * t.x
				}
			}
			n := float64(len(batch))
			step++
			c1, c2 := 1-math.Pow(beta1, float64(step)), 1-math.Pow(beta2, float64(step))
			for k := range w {
				g := grad[k] / n
				if k > 0 {
					g += p.L2 * w[k]
				}
				m1[k] = beta1*m1[k] + (1-beta1)*g
				m2[k] = beta2*m2[k] + (1-beta2)*g*g
				w[k] -= p.LearningRate * (m1[k] / c1) / (math.Sqrt(m2[k]/c2) + eps)
			}
		}
		m = logisticModel(sig, w, offset, mean, scale)
		if report != nil {
			pr := Progress{Epoch: epoch, TrainLoss: lossSum / float64(len(rows))}
			if valid != nil && valid.Len() > 0 {
				var err error
				if pr.ValidLoss, pr.ValidAUC, err = ScoreBinary(m, valid); err != nil {
					return nil, err
				}
			}
			report(pr)
		}
	}
	return m, nil
}

// logisticModel writes the weights as a native linear model.
func logisticModel(sig model.Signature, w []float64, offset []int, mean, scale []float64) *model.Model {
	lin := &model.Linear{Intercept: []float64{w[0]}}
	for j, f := range sig.Features {
		t := model.Term{Feature: j}
		if f.Type == model.Categorical {
			for c := range f.Categories {
				t.CategoryWeights = append(t.CategoryWeights, []float64{w[offset[j]+c]})
			}
		} else {
			t.Mean, t.Scale, t.Weights = mean[j], scale[j], []float64{w[offset[j]]}
		}
		lin.Terms = append(lin.Terms, t)
	}
	return &model.Model{
		FormatVersion: model.FormatVersion,
		Signature:     sig,
		Objective:     model.Objective{Name: model.BinaryLogistic},
		BaseScore:     []float64{0},
		Linear:        lin,
		Source:        &model.Source{Library: "plinth", Format: "plinth"},
	}
}

// ScoreBinary returns the log loss and AUC of a binary model on a table.
func ScoreBinary(m *model.Model, t *Table) (logLoss, auc float64, err error) {
	pred, err := PredictTable(m, t)
	if err != nil {
		return 0, 0, err
	}
	if logLoss, err = eval.LogLoss(t.Label, pred); err != nil {
		return 0, 0, err
	}
	auc, err = eval.AUC(t.Label, pred)
	return logLoss, auc, err
}

// PredictTable scores every row of t with m's first output.
func PredictTable(m *model.Model, t *Table) ([]float64, error) {
	p, err := model.Compile(m)
	if err != nil {
		return nil, err
	}
	out := make([]float64, p.NumOutputs())
	pred := make([]float64, t.Len())
	for i, row := range t.Rows(m.Signature) {
		if err := p.PredictRow(row, out); err != nil {
			return nil, err
		}
		pred[i] = out[0]
	}
	return pred, nil
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

// meanStd returns the mean and standard deviation of column j, ignoring
// missing values; a constant column gets scale 1.
func meanStd(rows [][]float64, j int) (float64, float64) {
	var sum, sq float64
	var n int
	for _, r := range rows {
		if x := r[j]; !math.IsNaN(x) {
			sum += x
			sq += x * x
			n++
		}
	}
	if n == 0 {
		return 0, 1
	}
	mean := sum / float64(n)
	std := math.Sqrt(max(sq/float64(n)-mean*mean, 0))
	if std < 1e-12 {
		std = 1
	}
	return mean, std
}
