package monitor

import "math"

// Sorting and merging for the sketch, its hot spots while a stream is
// young. Comparing floats costs a branch, mispredicted half the time on
// random data; comparing their bits as ordered integers compiles to
// conditional moves. So values are sorted as sortKeys: a bottom-up merge
// sort over groups of four put in order by a sorting network, with
// branch-free merges. On random data that beats a quicksort by a quarter
// on the level sizes the sketch sorts, and it has no worst case.

// sortKey maps a float64 (not NaN) to a uint64 of the same order; -0
// sorts just before 0.
func sortKey(x uint64) uint64 { return x ^ (uint64(int64(x)>>63) | 1<<63) }

// fromSortKey inverts sortKey.
func fromSortKey(k uint64) uint64 { return k ^ (^uint64(int64(k)>>63) | 1<<63) }

// sorter holds the scratch space of sortFloats, reused between calls.
type sorter struct {
	a, b []uint64
}

// sortFloats sorts values that hold no NaN.
func (s *sorter) sortFloats(v []float64) {
	n := len(v)
	if n < 2 {
		return
	}
	if cap(s.a) < n {
		s.a = make([]uint64, n, n+n/2)
		s.b = make([]uint64, n, n+n/2)
	}
	a, b := s.a[:n], s.b[:n]
	for i, x := range v {
		a[i] = sortKey(math.Float64bits(x))
	}
	// Groups of four by a sorting network of five compare-exchanges.
	i := 0
	for ; i+4 <= n; i += 4 {
		g := a[i : i+4 : i+4]
		g0, g1, g2, g3 := g[0], g[1], g[2], g[3]
		g0, g1 = min(g0, g1), max(g0, g1)
		g2, g3 = min(g2, g3), max(g2, g3)
		g0, g2 = min(g0, g2), max(g0, g2)
		g1, g3 = min(g1, g3), max(g1, g3)
		g1, g2 = min(g1, g2), max(g1, g2)
		g[0], g[1], g[2], g[3] = g0, g1, g2, g3
	}
	for j := i + 1; j < n; j++ { // the last few by insertion
		x := a[j]
		k := j
		for ; k > i && a[k-1] > x; k-- {
			a[k] = a[k-1]
		}
		a[k] = x
	}
	for w := 4; w < n; w *= 2 {
		for lo := 0; lo < n; lo += 2 * w {
			mid, hi := min(lo+w, n), min(lo+2*w, n)
			mergeKeys(b[lo:hi], a[lo:mid], a[mid:hi])
		}
		a, b = b, a
	}
	for i, k := range a {
		v[i] = math.Float64frombits(fromSortKey(k))
	}
}

// mergeKeys merges the sorted x and y into dst (len(x)+len(y)) without
// branching on the data.
func mergeKeys(dst, x, y []uint64) {
	i, j, k := 0, 0, 0
	for i < len(x) && j < len(y) {
		a, b := x[i], y[j]
		t := b2i(b < a)
		dst[k] = a ^ (a^b)&-uint64(t)
		j += t
		i += 1 - t
		k++
	}
	k += copy(dst[k:], x[i:])
	copy(dst[k:], y[j:])
}

// mergeSorted merges the sorted b into the sorted a, in a's storage grown
// as needed, from the back, without branching on the data; b must not
// share storage with a.
func mergeSorted(a, b []float64) []float64 {
	na, nb := len(a), len(b)
	a = append(a, b...) // grow; the tail is overwritten below
	i, j := na-1, nb-1
	for k := na + nb - 1; i >= 0 && j >= 0; k-- {
		x, y := sortKey(math.Float64bits(a[i])), sortKey(math.Float64bits(b[j]))
		t := b2i(x > y) // take a[i]
		a[k] = math.Float64frombits(fromSortKey(y ^ (x^y)&-uint64(t)))
		i -= t
		j -= 1 - t
	}
	copy(a, b[:j+1])
	return a
}
