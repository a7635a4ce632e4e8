package eval

import (
	"math"
	"sort"
)

// CalibrationBin is one bin of a reliability curve.
type CalibrationBin struct {
	Lower, Upper  float64 // the bin's probability range
	Count         int
	MeanPredicted float64
	FractionTrue  float64
}

// Calibration bins probabilities p into n equal-width bins and returns the
// expected calibration error (the count-weighted mean gap between predicted
// and observed frequency) with the curve behind it.
func Calibration(y, p []float64, n int) (float64, []CalibrationBin, error) {
	if len(y) == 0 || len(y) != len(p) {
		return 0, nil, ErrLength
	}
	if n <= 0 {
		n = 10
	}
	bins := make([]CalibrationBin, n)
	sumP, sumY := make([]float64, n), make([]float64, n)
	for i := range y {
		b := min(max(int(p[i]*float64(n)), 0), n-1)
		bins[b].Count++
		sumP[b] += p[i]
		sumY[b] += y[i]
	}
	var ece float64
	for b := range bins {
		bins[b].Lower, bins[b].Upper = float64(b)/float64(n), float64(b+1)/float64(n)
		if c := bins[b].Count; c > 0 {
			bins[b].MeanPredicted = sumP[b] / float64(c)
			bins[b].FractionTrue = sumY[b] / float64(c)
			ece += float64(c) * math.Abs(bins[b].MeanPredicted-bins[b].FractionTrue)
		}
	}
	return ece / float64(len(y)), bins, nil
}

// Multi holds multiclass metrics. Confusion[i][j] counts rows of class i
// predicted as j.
type Multi struct {
	Accuracy  float64 `json:"accuracy"`
	LogLoss   float64 `json:"log_loss"`
	Confusion [][]int `json:"confusion"`
}

// Multiclass scores class probabilities prob (row-major, k per row) against
// labels y (class indices 0..k-1).
func Multiclass(y []float64, prob []float64, k int) (Multi, error) {
	if k < 2 || len(y) == 0 || len(prob) != len(y)*k {
		return Multi{}, ErrLength
	}
	m := Multi{Confusion: make([][]int, k)}
	for i := range m.Confusion {
		m.Confusion[i] = make([]int, k)
	}
	const eps = 1e-15
	correct := 0
	for i, label := range y {
		row := prob[i*k : (i+1)*k]
		best := 0
		for j := range row {
			if row[j] > row[best] {
				best = j
			}
		}
		c := int(label)
		if c < 0 || c >= k {
			return Multi{}, ErrLength
		}
		m.Confusion[c][best]++
		if best == c {
			correct++
		}
		m.LogLoss -= math.Log(min(max(row[c], eps), 1-eps))
	}
	m.Accuracy = float64(correct) / float64(len(y))
	m.LogLoss /= float64(len(y))
	return m, nil
}

// Slice is the quality of a binary classifier on the rows sharing one value
// of a column: where a model is weak shows here, not in the average.
type Slice struct {
	Value    string  `json:"value"`
	Count    int     `json:"count"`
	Positive float64 `json:"positive_rate"`
	AUC      float64 `json:"auc"` // NaN when the slice has one class only
	LogLoss  float64 `json:"log_loss"`
	Accuracy float64 `json:"accuracy"` // at threshold 0.5
}

// BinarySlices scores each value of column separately, largest slice first.
func BinarySlices(column []string, y, p []float64) ([]Slice, error) {
	if len(column) != len(y) || len(y) != len(p) || len(y) == 0 {
		return nil, ErrLength
	}
	rows := map[string][]int{}
	for i, v := range column {
		rows[v] = append(rows[v], i)
	}
	out := make([]Slice, 0, len(rows))
	for v, idx := range rows {
		ys, ps := make([]float64, len(idx)), make([]float64, len(idx))
		var pos float64
		for j, i := range idx {
			ys[j], ps[j] = y[i], p[i]
			pos += y[i]
		}
		auc, _ := AUC(ys, ps)
		ll, _ := LogLoss(ys, ps)
		b, _ := AtThreshold(ys, ps, 0.5)
		out = append(out, Slice{Value: v, Count: len(idx), Positive: pos / float64(len(idx)), AUC: auc, LogLoss: ll, Accuracy: b.Accuracy})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Value < out[j].Value
	})
	return out, nil
}
