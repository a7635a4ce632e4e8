package monitor

import (
	"math"

	"github.com/plinthml/plinth/model"
)

// Learned is a threshold learned for one feature from the reference's own
// variation: the mean plus three standard deviations of the drift scores
// of chunks of the training data against the whole of it.
type Learned struct {
	Method    Method  `json:"method"`
	Threshold float64 `json:"threshold"`
}

// learnChunks is how many contiguous chunks the training rows are cut
// into to learn thresholds.
const learnChunks = 10

// Learn learns each feature's drift threshold from chunks of the rows the
// reference was made from (encoded columns, signature order then
// outputs, as ProfileTable takes them): each chunk is compared with the
// reference by the method a window of that size would get, and the
// threshold is the scores' mean + 3σ. Training data ordered by time gives
// the variation a model has already seen between periods; thresholds
// below the defaults are left to the defaults.
func Learn(sig *model.Signature, ref *Profile, columns [][]float64, outputs int) (map[string]Learned, error) {
	n := 0
	if len(columns) > 0 {
		n = len(columns[0])
	}
	if n < 2*learnChunks {
		return nil, nil
	}
	scores := map[string][]float64{}
	methods := map[string]Method{}
	size := n / learnChunks
	for c := range learnChunks {
		chunk := make([][]float64, len(columns))
		for j := range columns {
			chunk[j] = columns[j][c*size : (c+1)*size]
		}
		p, err := ProfileTable(sig, chunk, Options{Outputs: outputs, Reference: ref})
		if err != nil {
			return nil, err
		}
		d, err := DetectDrift(ref, p, DriftOptions{})
		if err != nil {
			return nil, err
		}
		for _, f := range append(d.Features, d.Predictions...) {
			if f.Skipped != "" || f.Method.IsTest() {
				continue
			}
			scores[f.Feature] = append(scores[f.Feature], f.Score)
			methods[f.Feature] = f.Method
		}
	}
	out := map[string]Learned{}
	for name, s := range scores {
		var mean, sq float64
		for _, v := range s {
			mean += v
		}
		mean /= float64(len(s))
		for _, v := range s {
			sq += (v - mean) * (v - mean)
		}
		std := math.Sqrt(sq / float64(len(s)))
		out[name] = Learned{Method: methods[name], Threshold: mean + 3*std}
	}
	return out, nil
}
