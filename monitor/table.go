package monitor

import (
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/model"
)

// ReferenceK is the sketch accuracy ProfileTable uses by default. A
// reference is built once and compared with every window, so it affords
// a larger sketch: exact up to about 1,000 values (the sample size below
// which the default tests are p-value tests) and a rank error of a few
// tenths of a percent beyond.
const ReferenceK = 1000

// ProfileTable profiles a table held as columns of float64, encoded like
// the signature (NaN for missing): one column per feature in signature
// order, then opts.Outputs columns of model outputs (predictions on the
// same rows, when prediction drift is to be watched). It is how a model
// version's training set becomes its reference profile, frozen at
// registration, and how a batch of current rows is profiled at once.
//
// Without opts.Reference, each numeric feature's histogram gets
// opts.Bins equal-mass bins between the column's minimum and maximum, from
// a first pass over the data; with it, the reference's bins. Columns are
// profiled in parallel.
func ProfileTable(sig *model.Signature, columns [][]float64, opts Options) (*Profile, error) {
	if opts.K == 0 {
		opts.K = ReferenceK
	}
	if opts.Bins == 0 {
		opts.Bins = DefaultBins
	}
	if opts.Bins < 1 || opts.Bins > MaxBins-2 {
		return nil, plinth.Invalid("bins", "%d bins: want 1 to %d", opts.Bins, MaxBins-2)
	}
	p, err := NewProfiler(sig, opts)
	if err != nil {
		return nil, err
	}
	if len(columns) != len(p.cols) {
		return nil, plinth.Invalid("columns", "%d columns for %d features and %d outputs", len(columns), p.features, len(p.cols)-p.features)
	}
	rows := len(columns[0])
	for i, col := range columns {
		if len(col) != rows {
			return nil, plinth.Invalid(p.cols[i].name, "column has %d rows, the first %d", len(col), rows)
		}
	}
	p.rows = int64(rows)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(columns)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(columns) {
					return
				}
				c := &p.cols[i]
				binLater := Numeric(c.typ) && c.edges == nil
				for _, x := range columns[i] {
					c.add(x)
				}
				if binLater && c.count > 0 {
					c.setEdges(equalMassEdges(c, opts.Bins))
					for _, x := range columns[i] {
						if x == x && !math.IsInf(x, 0) && (c.typ != model.Int || x == math.Trunc(x)) {
							c.hist[bin(c.keys, x)]++
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	return p.Profile(), nil
}

// equalMassEdges returns histogram edges for a column profiled once: its
// minimum, the quantiles at 1/bins, ..., (bins-1)/bins, and the float just
// above its maximum, with ties removed (a discrete feature gets fewer bins).
func equalMassEdges(c *column, bins int) []float64 {
	qs := make([]float64, bins-1)
	for i := range qs {
		qs[i] = float64(i+1) / float64(bins)
	}
	edges := append([]float64{c.min}, c.sketch.Quantiles(qs)...)
	if top := math.Nextafter(c.max, math.Inf(1)); !math.IsInf(top, 0) {
		edges = append(edges, top)
	}
	slices.Sort(edges)
	return slices.Compact(edges)
}
