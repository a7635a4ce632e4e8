package monitor

import (
	"cmp"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
)

// Sketch is a KLL quantile sketch (Karnin, Lang and Liberty, "Optimal
// Quantile Approximation in Streams", FOCS 2016), in the lazy form of
// Liberty's reference implementation. It keeps a few thousand of the values
// it is given, each standing for 2^h of them, and answers rank and quantile
// queries with an additive rank error that depends on k alone, not on the
// number of values: with k = 200 the normalized rank error stays below
// about 1.7% with high probability. Two sketches merge into one that is as
// accurate as if it had seen both streams; that is what lets hourly profiles
// add up to daily ones and parallel workers combine.
//
// The zero value is not usable; call NewSketch. A Sketch is not safe for
// concurrent mutation; concurrent queries are fine.
type Sketch struct {
	k       int
	n       int64       // values seen: the sum of the weights
	levels  [][]float64 // levels[h] holds values of weight 2^h; sorted but for level 0
	caps    []int       // capacity of each level
	size    int         // values held, over all levels
	maxSize int         // sum of caps: compaction starts when size reaches it
	sample  int         // level that level 0's groups are sampled into; 0 while exact
	group   int         // 1 << sample, or a size level 0 never reaches
	rng     uint64      // xorshift state for the compaction coin and the sampler
	sort    sorter
}

// Sketch size limits. MinK keeps the lowest levels meaningful; MaxK bounds
// the memory a decoded sketch may claim.
const (
	DefaultK = 200
	MinK     = 8
	MaxK     = 1 << 16

	minLevel  = 8 // no level is smaller than this, as in DataSketches
	maxSample = 6 // level 0 samples groups of at most 2^6 values
	maxLevel  = 61
)

// NewSketch returns an empty sketch with accuracy parameter k, clamped to
// [MinK, MaxK]; 0 means DefaultK. A sketch holds about 3k values at most and
// is exact until it has seen about k.
func NewSketch(k int) *Sketch {
	if k == 0 {
		k = DefaultK
	}
	k = min(max(k, MinK), MaxK)
	s := &Sketch{k: k}
	s.seed(0)
	s.levels = [][]float64{make([]float64, 0, k+1)}
	s.setCaps()
	return s
}

// setCaps recomputes the capacities after the number of levels changed:
// the top level holds k values and each level below two thirds of the one
// above, but never fewer than minLevel.
//
// Once several of the lowest levels are at that minimum, compacting them
// costs a sort for every few values and buys no accuracy: their error is
// dwarfed by the top levels'. The sketch then samples instead, as the KLL
// paper allows (its "sampler" below the compactors): each group of 2^sample
// values in level 0 is replaced by one of them, chosen uniformly, with
// weight 2^sample. That keeps every weight exact, adds a zero-mean error
// of the same order as one more compaction at that level, and makes Add
// cost a few nanoseconds however long the stream.
func (s *Sketch) setCaps() {
	hs := len(s.levels)
	s.caps = slices.Grow(s.caps[:0], hs)[:hs]
	s.maxSize = 0
	c := float64(s.k)
	atMin := 0
	for h := hs - 1; h >= 0; h-- {
		s.caps[h] = max(int(math.Ceil(c)), minLevel)
		s.maxSize += s.caps[h]
		if s.caps[h] == minLevel {
			atMin++
		}
		c *= 2.0 / 3.0
	}
	// The group is capped so that level 0 stays small: past 64 values per
	// sample, compacting the levels above costs next to nothing anyway.
	s.sample = min(max(atMin-1, 0), maxSample)
	s.group = math.MaxInt
	if s.sample > 0 {
		// Level 0 is the sampler's buffer now, never compacted.
		s.group = 1 << s.sample
		s.maxSize += s.group - s.caps[0]
		s.caps[0] = s.group
	}
}

// seed sets the random state; xorshift must never hold 0.
func (s *Sketch) seed(x uint64) {
	s.rng = mix64(x ^ 0x9E3779B97F4A7C15)
	if s.rng == 0 {
		s.rng = 0x9E3779B97F4A7C15
	}
}

// next returns the next pseudo-random number (xorshift64).
func (s *Sketch) next() uint64 {
	s.rng ^= s.rng << 13
	s.rng ^= s.rng >> 7
	s.rng ^= s.rng << 17
	return s.rng
}

// K returns the accuracy parameter.
func (s *Sketch) K() int { return s.k }

// Count returns the number of values the sketch has seen.
func (s *Sketch) Count() int64 { return s.n }

// Add adds a value. NaN is the caller's to filter out: it has no rank.
func (s *Sketch) Add(x float64) {
	s.levels[0] = append(s.levels[0], x)
	s.n++
	s.size++
	if s.size >= s.maxSize || len(s.levels[0]) >= s.group {
		s.settle()
	}
}

// settle samples level 0's full groups and compresses while the sketch is
// over its size.
func (s *Sketch) settle() {
	for len(s.levels[0]) >= s.group {
		lv := s.levels[0]
		g := s.group
		pick := lv[int((s.next()>>32)*uint64(g)>>32)]
		// Insert into the sorted level: it is small, so shifting from the
		// back beats a binary search.
		up := append(s.levels[s.sample], pick)
		i := len(up) - 1
		for ; i > 0 && up[i-1] > pick; i-- {
			up[i] = up[i-1]
		}
		up[i] = pick
		s.levels[s.sample] = up
		s.levels[0] = lv[:copy(lv, lv[g:])]
		s.size -= g - 1
	}
	for s.size >= s.maxSize {
		s.compress()
	}
}

// compress compacts the lowest level that is at capacity, and the ones above
// it while the sketch is still full.
func (s *Sketch) compress() {
	for h := 0; h < len(s.levels); h++ {
		if len(s.levels[h]) < s.caps[h] {
			continue
		}
		if h+1 == len(s.levels) {
			s.levels = append(s.levels, nil)
			s.setCaps()
		}
		s.compact(h)
		if s.size < s.maxSize {
			return
		}
	}
}

// compact promotes every other value of level h, starting at a random one
// of the first two, to level h+1 with twice the weight. With an odd count
// the smallest value stays behind, so the total weight is unchanged. Level 0
// is sorted first; the others are kept sorted, so that promotion is a
// linear merge.
func (s *Sketch) compact(h int) {
	lv := s.levels[h]
	if h == 0 {
		s.sort.sortFloats(lv)
	}
	start := len(lv) & 1
	// Gather the promoted values at the front of lv (after the one that
	// stays), then merge them into the level above.
	m := start
	for i := start + int(s.next()&1); i < len(lv); i += 2 {
		lv[m] = lv[i]
		m++
	}
	s.levels[h+1] = mergeSorted(s.levels[h+1], lv[start:m])
	s.size -= (len(lv) - start) / 2
	s.levels[h] = lv[:start]
}

// Merge adds the values of o to s. The result has the smaller k of the two.
func (s *Sketch) Merge(o *Sketch) {
	if o == nil || o.n == 0 {
		return
	}
	if o.k < s.k {
		s.k = o.k
	}
	for len(s.levels) < len(o.levels) {
		s.levels = append(s.levels, nil)
	}
	s.levels[0] = append(s.levels[0], o.levels[0]...)
	for h := 1; h < len(o.levels); h++ {
		s.levels[h] = mergeSorted(s.levels[h], o.levels[h])
	}
	s.n += o.n
	s.size += o.size
	s.setCaps()
	s.settle()
}

// Clone returns a deep copy of s.
func (s *Sketch) Clone() *Sketch {
	c := *s
	c.levels = make([][]float64, len(s.levels))
	for h, lv := range s.levels {
		c.levels[h] = slices.Clone(lv)
	}
	c.caps = slices.Clone(s.caps)
	c.sort = sorter{}
	return &c
}

// cdf is a sketch's distribution as a step function: the distinct values it
// holds, ascending, and the weight of the values at or below each.
type cdf struct {
	x   []float64
	cum []float64 // cum[i] = weight of values <= x[i]; cum[len-1] = n
	n   float64
}

// sorted returns the distribution the sketch holds. It copies, so that
// queries never write to a sketch that other goroutines may read.
func (s *Sketch) sorted() cdf {
	type item struct {
		x float64
		w int64
	}
	items := make([]item, 0, s.size)
	for h, lv := range s.levels {
		for _, x := range lv {
			items = append(items, item{x, int64(1) << h})
		}
	}
	slices.SortFunc(items, func(a, b item) int { return cmp.Compare(a.x, b.x) })
	d := cdf{x: make([]float64, 0, len(items)), cum: make([]float64, 0, len(items)), n: float64(s.n)}
	var c int64
	for i, it := range items {
		c += it.w
		if i > 0 && it.x == items[i-1].x {
			d.cum[len(d.cum)-1] = float64(c)
			continue
		}
		d.x = append(d.x, it.x)
		d.cum = append(d.cum, float64(c))
	}
	return d
}

// at returns the weight of values <= x.
func (d *cdf) at(x float64) float64 {
	i, found := slices.BinarySearch(d.x, x)
	if found {
		return d.cum[i]
	}
	if i == 0 {
		return 0
	}
	return d.cum[i-1]
}

// below returns the weight of values < x.
func (d *cdf) below(x float64) float64 {
	i, _ := slices.BinarySearch(d.x, x)
	if i == 0 {
		return 0
	}
	return d.cum[i-1]
}

// quantile returns the smallest value whose rank reaches q of the weight.
func (d *cdf) quantile(q float64) float64 {
	if len(d.x) == 0 {
		return math.NaN()
	}
	target := q * d.n
	i, _ := slices.BinarySearchFunc(d.cum, target, func(c, t float64) int {
		if c < t {
			return -1
		}
		return 1
	})
	return d.x[min(i, len(d.x)-1)]
}

// Rank returns the estimated fraction of the values that are <= x, or NaN
// for an empty sketch.
func (s *Sketch) Rank(x float64) float64 {
	if s.n == 0 {
		return math.NaN()
	}
	d := s.sorted()
	return d.at(x) / d.n
}

// Quantile returns the estimated q-quantile (0 <= q <= 1) of the values, or
// NaN for an empty sketch.
func (s *Sketch) Quantile(q float64) float64 {
	qs := s.Quantiles([]float64{q})
	return qs[0]
}

// Quantiles returns the estimated quantiles qs at once, sorting the sketch
// only once.
func (s *Sketch) Quantiles(qs []float64) []float64 {
	out := make([]float64, len(qs))
	if s.n == 0 {
		for i := range out {
			out[i] = math.NaN()
		}
		return out
	}
	d := s.sorted()
	for i, q := range qs {
		out[i] = d.quantile(min(max(q, 0), 1))
	}
	return out
}

const sketchVersion = 1

// MarshalBinary encodes the sketch: a version byte, k, n and the number of
// levels as uvarints, then each level's length and its values as
// little-endian float64.
func (s *Sketch) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, 1+4*binary.MaxVarintLen64+8*s.size+2*len(s.levels))
	b = append(b, sketchVersion)
	b = binary.AppendUvarint(b, uint64(s.k))
	b = binary.AppendUvarint(b, uint64(s.n))
	b = binary.AppendUvarint(b, uint64(len(s.levels)))
	for _, lv := range s.levels {
		b = binary.AppendUvarint(b, uint64(len(lv)))
		for _, x := range lv {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
		}
	}
	return b, nil
}

var errSketch = errors.New("bad quantile sketch")

// UnmarshalBinary decodes what MarshalBinary wrote. It checks everything a
// later query or merge relies on: the weights add up to the count, no value
// is NaN or infinite, and the sketch is no larger than its k allows.
func (s *Sketch) UnmarshalBinary(b []byte) error {
	if len(b) == 0 || b[0] != sketchVersion {
		return fmt.Errorf("%w: unknown version", errSketch)
	}
	b = b[1:]
	next := func(what string, limit uint64) (uint64, error) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, fmt.Errorf("%w: truncated %s", errSketch, what)
		}
		if v > limit {
			return 0, fmt.Errorf("%w: %s %d out of range", errSketch, what, v)
		}
		b = b[n:]
		return v, nil
	}
	k, err := next("k", MaxK)
	if err != nil {
		return err
	}
	if k < MinK {
		return fmt.Errorf("%w: k %d below %d", errSketch, k, MinK)
	}
	n, err := next("count", math.MaxInt64)
	if err != nil {
		return err
	}
	hs, err := next("level count", maxLevel)
	if err != nil {
		return err
	}
	if hs == 0 {
		return fmt.Errorf("%w: no levels", errSketch)
	}
	d := Sketch{k: int(k), n: int64(n), levels: make([][]float64, hs)}
	d.seed(n)
	d.setCaps()
	var weight uint64
	for h := range d.levels {
		m, err := next("level length", uint64(len(b)/8))
		if err != nil {
			return err
		}
		if m > 0 && (h >= 63 || m > (math.MaxInt64-weight)>>h) {
			return fmt.Errorf("%w: weights overflow", errSketch)
		}
		weight += m << h
		lv := make([]float64, m, max(int(m), 1))
		for i := range lv {
			x := math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return fmt.Errorf("%w: value %v", errSketch, x)
			}
			if h > 0 && i > 0 && x < lv[i-1] {
				return fmt.Errorf("%w: level %d not sorted", errSketch, h)
			}
			lv[i] = x
		}
		b = b[8*m:]
		d.levels[h] = lv
		d.size += int(m)
	}
	if len(b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", errSketch, len(b))
	}
	if weight != n {
		return fmt.Errorf("%w: weights add up to %d, not the count %d", errSketch, weight, n)
	}
	if d.size >= d.maxSize {
		return fmt.Errorf("%w: %d values exceed what k=%d allows", errSketch, d.size, d.k)
	}
	*s = d
	return nil
}

// MarshalText encodes the sketch as base64 of its binary form, so that it
// travels inside JSON as one compact string.
func (s *Sketch) MarshalText() ([]byte, error) {
	b, err := s.MarshalBinary()
	if err != nil {
		return nil, err
	}
	out := make([]byte, base64.StdEncoding.EncodedLen(len(b)))
	base64.StdEncoding.Encode(out, b)
	return out, nil
}

// UnmarshalText decodes what MarshalText wrote.
func (s *Sketch) UnmarshalText(text []byte) error {
	b := make([]byte, base64.StdEncoding.DecodedLen(len(text)))
	n, err := base64.StdEncoding.Decode(b, text)
	if err != nil {
		return fmt.Errorf("%w: %v", errSketch, err)
	}
	return s.UnmarshalBinary(b[:n])
}
