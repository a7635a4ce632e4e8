package train

import (
	"math"
	"math/rand/v2"
	"slices"

	"github.com/plinthml/plinth/model"
)

// binned is the training table quantised for histogram boosting: every
// value becomes a one-byte bin, stored row-major (the features of a row sit
// together) because histograms are built over lists of row indices and a
// row's bins then come in one cache line instead of one line per feature.
//
// Feature f has nb[f] value bins and, when it had missing values in
// training, one more slot (index nb[f]) for them. A numeric bin b holds the
// values x with ub[f][b-1] <= x < ub[f][b], so "bin <= b" is exactly
// "x < ub[f][b]", the test the model's split nodes make. A categorical bin
// is the category's code, except that codes from nb[f]-1 up share the last
// bin when a feature has more categories than bins.
type binned struct {
	n, nf   int
	bins    []uint8 // n*nf, row-major: for histograms
	cols    []uint8 // the same bins column-major (feature f at f*n): for partitions
	nb      []int   // value bins per feature
	missing []bool  // the feature has a missing slot (index nb[f])
	off     []int32 // first histogram slot of each feature
	slots   int     // histogram slots over all features
	ub      [][]float64
	cat     []bool
	ncat    []int // categories of a categorical feature (len of the signature's list)
}

// slotsOf is the number of histogram slots of feature f.
func (b *binned) slotsOf(f int) int {
	if b.missing[f] {
		return b.nb[f] + 1
	}
	return b.nb[f]
}

// missingBin is the bin of a missing value of feature f, or -1 when the
// feature had none in training.
func (b *binned) missingBin(f int) int {
	if b.missing[f] {
		return b.nb[f]
	}
	return -1
}

// quantileSample bounds the number of values per feature sorted to find the
// bin boundaries (LightGBM's bin_construct_sample_cnt).
const quantileSample = 200_000

// encodeColumns returns the table's features as numbers for sig: numeric
// columns as they are (shared, not copied) and categories as their code in
// sig (NaN when missing or unknown to sig).
func encodeColumns(t *Table, sig model.Signature) [][]float64 {
	cols := make([][]float64, len(t.Columns))
	for j := range t.Columns {
		c := &t.Columns[j]
		f := &sig.Features[j]
		if c.Type != model.Categorical {
			cols[j] = c.Num
			continue
		}
		index := make(map[string]int, len(f.Categories))
		for i, name := range f.Categories {
			index[name] = i
		}
		col := make([]float64, len(c.Cat))
		for i, v := range c.Cat {
			if k, ok := index[v]; ok {
				col[i] = float64(k)
			} else {
				col[i] = math.NaN()
			}
		}
		cols[j] = col
	}
	return cols
}

// newBinned finds each feature's bins from (a sample of) the training
// columns and quantises them, in parallel over features and row blocks.
func newBinned(cols [][]float64, sig model.Signature, n, maxBins int, seed uint64, threads int) *binned {
	nf := len(cols)
	b := &binned{
		n: n, nf: nf,
		nb:      make([]int, nf),
		missing: make([]bool, nf),
		off:     make([]int32, nf),
		ub:      make([][]float64, nf),
		cat:     make([]bool, nf),
		ncat:    make([]int, nf),
	}
	// One row sample for all features, so that the cuts do not depend on
	// the number of threads.
	var sample []int32
	if n > quantileSample {
		rng := rand.New(rand.NewPCG(seed, 0x62696e73))
		sample = make([]int32, quantileSample)
		for i := range sample {
			sample[i] = int32(rng.IntN(n))
		}
		slices.Sort(sample)
	}
	parallelFor(threads, nf, func(f int) {
		col := cols[f]
		for _, x := range col {
			if x != x {
				b.missing[f] = true
				break
			}
		}
		valueBins := maxBins
		if b.missing[f] {
			valueBins-- // the missing slot takes one of the 256 byte values
		}
		if sig.Features[f].Type == model.Categorical {
			b.cat[f] = true
			b.ncat[f] = len(sig.Features[f].Categories)
			b.nb[f] = max(1, min(b.ncat[f], valueBins))
			return
		}
		var vals []float64
		if sample != nil {
			vals = make([]float64, 0, len(sample))
			for _, i := range sample {
				if x := col[i]; x == x {
					vals = append(vals, x)
				}
			}
		} else {
			vals = make([]float64, 0, n)
			for _, x := range col {
				if x == x {
					vals = append(vals, x)
				}
			}
		}
		b.ub[f] = cutPoints(vals, valueBins)
		b.nb[f] = len(b.ub[f]) + 1
	})
	// Every feature gets 256 histogram slots, whatever its bins: the
	// histogram loop then indexes a [256]histBin by the bin byte without a
	// bounds check.
	for f := range nf {
		b.off[f] = int32(f * 256)
	}
	b.slots = nf * 256
	b.bins = make([]uint8, n*nf)
	b.cols = make([]uint8, n*nf)
	const block = 4096
	parallelFor(threads, (n+block-1)/block, func(blk int) {
		lo, hi := blk*block, min(n, (blk+1)*block)
		for f := range nf {
			col := b.cols[f*n+lo : f*n+hi]
			b.binColumn(f, cols[f][lo:hi], col)
			for i, v := range col {
				b.bins[(lo+i)*nf+f] = v
			}
		}
	})
	return b
}

// binColumn writes the bins of the values col of feature f to dst.
func (b *binned) binColumn(f int, col []float64, dst []uint8) {
	miss := uint8(b.missingBin(f)) // only used when the feature has missing values
	if b.cat[f] {
		last := b.nb[f] - 1
		for i, x := range col {
			if x != x {
				dst[i] = miss
				continue
			}
			dst[i] = uint8(min(int(x), last))
		}
		return
	}
	// Branch-free search over the bounds padded to 255 with NaN (never
	// <= x): the number of bounds <= x, in eight steps.
	var ub [255]float64
	for i := range ub {
		ub[i] = math.NaN()
	}
	copy(ub[:], b.ub[f])
	for i, x := range col {
		if x != x {
			dst[i] = miss
			continue
		}
		k := 0
		k += 128 * b2i(ub[k+127] <= x)
		k += 64 * b2i(ub[k+63] <= x)
		k += 32 * b2i(ub[k+31] <= x)
		k += 16 * b2i(ub[k+15] <= x)
		k += 8 * b2i(ub[k+7] <= x)
		k += 4 * b2i(ub[k+3] <= x)
		k += 2 * b2i(ub[k+1] <= x)
		k += b2i(ub[k] <= x)
		dst[i] = uint8(k)
	}
}

// cutPoints returns strictly increasing bin upper bounds for the values
// (without NaN; sorted in place): at most maxBins-1 of them, so at most
// maxBins bins. With few distinct values every value gets its own bin,
// bounded halfway to the next; otherwise the bounds are quantiles.
func cutPoints(vals []float64, maxBins int) []float64 {
	if len(vals) == 0 {
		return nil
	}
	slices.Sort(vals)
	distinct := vals[:0:0]
	for i, v := range vals {
		if i == 0 || v != vals[i-1] {
			distinct = append(distinct, v)
			if len(distinct) > maxBins {
				break
			}
		}
	}
	var ub []float64
	if len(distinct) <= maxBins {
		for i := 0; i+1 < len(distinct); i++ {
			if m := midpoint(distinct[i], distinct[i+1]); !math.IsInf(m, 0) {
				ub = append(ub, m)
			}
		}
		return ub
	}
	n := len(vals)
	for j := 1; j < maxBins; j++ {
		v := vals[j*n/maxBins]
		if v <= vals[0] || math.IsInf(v, 0) || (len(ub) > 0 && v <= ub[len(ub)-1]) {
			continue
		}
		ub = append(ub, v)
	}
	return ub
}

// midpoint returns a bound strictly between a < b where the floats allow,
// else b: a goes below it and b at or above it.
func midpoint(a, b float64) float64 {
	m := a/2 + b/2
	if m <= a || m > b || math.IsInf(m, 0) {
		return b
	}
	return m
}

// b2i is 1 for true and 0 for false, without a branch.
func b2i(b bool) int {
	var i int
	if b {
		i = 1
	}
	return i
}
