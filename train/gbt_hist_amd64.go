package train

// histRowsSSE2 is histRowsAll in assembly: each histogram update adds the
// (gradient, hessian) pair with one SSE2 instruction instead of two scalar
// ones, the inner loop of training.
//
//go:noescape
func histRowsSSE2(h *histBin, bins *uint8, nf int, gh *float32, rows *int32, n int)

// histRowsFast adds rows to h over all nf features. rows must be ascending
// (node rows always are: partitions are stable).
func histRowsFast(h []histBin, bins []uint8, nf int, gh []float32, rows []int32) {
	if len(rows) == 0 || nf == 0 {
		return
	}
	// The assembly does not check bounds: check the extremes here.
	first, last := int(rows[0]), int(rows[len(rows)-1])
	if first < 0 || first > last || (last+1)*nf > len(bins) || 2*last+1 >= len(gh) || len(h) < nf*256 {
		panic("train: histogram rows out of range")
	}
	histRowsSSE2(&h[0], &bins[0], nf, &gh[0], &rows[0], len(rows))
}
