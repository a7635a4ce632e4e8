// Package eval computes model quality metrics from labels and predictions.
// It is shared by training (validation curves), pipelines (gates) and
// monitoring (performance once delayed labels arrive), so that a number
// means the same thing everywhere.
package eval

import (
	"errors"
	"math"
	"sort"
)

// ErrLength is returned when labels and predictions differ in length or are
// empty.
var ErrLength = errors.New("eval: labels and predictions must be non-empty and of equal length")

// AUC is the area under the ROC curve of scores p for binary labels y (0 or
// 1): the probability that a random positive scores above a random negative,
// ties counting half. It is NaN when one class is absent.
func AUC(y, p []float64) (float64, error) {
	if len(y) == 0 || len(y) != len(p) {
		return 0, ErrLength
	}
	idx := make([]int, len(p))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return p[idx[a]] < p[idx[b]] })
	// Sum the (average, for ties) ranks of the positives: Mann-Whitney U.
	var rankSum, pos float64
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && p[idx[j]] == p[idx[i]] {
			j++
		}
		avgRank := float64(i+j+1) / 2 // ranks are 1-based: (i+1 + j) / 2
		for k := i; k < j; k++ {
			if y[idx[k]] > 0.5 {
				rankSum += avgRank
				pos++
			}
		}
		i = j
	}
	neg := float64(len(y)) - pos
	if pos == 0 || neg == 0 {
		return math.NaN(), nil
	}
	return (rankSum - pos*(pos+1)/2) / (pos * neg), nil
}

// LogLoss is the mean binary cross-entropy of probabilities p for labels y,
// with p clipped to [1e-15, 1-1e-15] as scikit-learn does.
func LogLoss(y, p []float64) (float64, error) {
	if len(y) == 0 || len(y) != len(p) {
		return 0, ErrLength
	}
	const eps = 1e-15
	var sum float64
	for i := range y {
		q := min(max(p[i], eps), 1-eps)
		sum -= y[i]*math.Log(q) + (1-y[i])*math.Log(1-q)
	}
	return sum / float64(len(y)), nil
}

// Binary holds threshold metrics of a binary classifier.
type Binary struct {
	Threshold float64 `json:"threshold"`
	Accuracy  float64 `json:"accuracy"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	TP        int     `json:"tp"`
	FP        int     `json:"fp"`
	TN        int     `json:"tn"`
	FN        int     `json:"fn"`
}

// AtThreshold scores predictions p >= threshold as positive.
func AtThreshold(y, p []float64, threshold float64) (Binary, error) {
	if len(y) == 0 || len(y) != len(p) {
		return Binary{}, ErrLength
	}
	b := Binary{Threshold: threshold}
	for i := range y {
		predicted, actual := p[i] >= threshold, y[i] > 0.5
		switch {
		case predicted && actual:
			b.TP++
		case predicted:
			b.FP++
		case actual:
			b.FN++
		default:
			b.TN++
		}
	}
	b.Accuracy = float64(b.TP+b.TN) / float64(len(y))
	b.Precision = ratio(b.TP, b.TP+b.FP)
	b.Recall = ratio(b.TP, b.TP+b.FN)
	if b.Precision+b.Recall > 0 {
		b.F1 = 2 * b.Precision * b.Recall / (b.Precision + b.Recall)
	}
	return b, nil
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Regression holds regression metrics.
type Regression struct {
	RMSE float64 `json:"rmse"`
	MAE  float64 `json:"mae"`
	R2   float64 `json:"r2"`
}

// Regress compares predictions p with targets y.
func Regress(y, p []float64) (Regression, error) {
	if len(y) == 0 || len(y) != len(p) {
		return Regression{}, ErrLength
	}
	var mean float64
	for _, v := range y {
		mean += v
	}
	mean /= float64(len(y))
	var se, ae, tot float64
	for i := range y {
		d := y[i] - p[i]
		se += d * d
		ae += math.Abs(d)
		tot += (y[i] - mean) * (y[i] - mean)
	}
	n := float64(len(y))
	r := Regression{RMSE: math.Sqrt(se / n), MAE: ae / n}
	if tot > 0 {
		r.R2 = 1 - se/tot
	}
	return r, nil
}
