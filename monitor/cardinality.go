package monitor

import (
	"encoding/base64"
	"fmt"
	"math"

	"github.com/axiomhq/hyperloglog"
)

// cardinalityPrecision is the HyperLogLog precision: 2^12 registers, a
// standard error of about 1.6%, at most 4 KiB a feature and a few bytes
// while the feature has few distinct values (the sparse form).
const cardinalityPrecision = 12

// Cardinality estimates the number of distinct values of a feature with a
// HyperLogLog sketch (github.com/axiomhq/hyperloglog). It merges by union,
// so the estimate of merged windows is the distinct count of their union,
// which summing per-window counts cannot give.
type Cardinality struct {
	hll *hyperloglog.Sketch
}

func newCardinality() *Cardinality {
	hll, err := hyperloglog.NewSketch(cardinalityPrecision, true)
	if err != nil {
		panic(err) // the precision is a valid constant
	}
	return &Cardinality{hll: hll}
}

// Estimate returns the estimated number of distinct values.
func (c *Cardinality) Estimate() uint64 {
	// Estimate may compact the sparse form in place: work on a copy so
	// that concurrent readers of a shared profile never write.
	return c.hll.Clone().Estimate()
}

// Merge adds the values of o.
func (c *Cardinality) Merge(o *Cardinality) {
	// Both come from this package at one precision; a decoded sketch of
	// another precision is refused by UnmarshalText.
	if err := c.hll.Merge(o.hll); err != nil {
		panic(err)
	}
}

// Clone returns a deep copy.
func (c *Cardinality) Clone() *Cardinality { return &Cardinality{hll: c.hll.Clone()} }

func (c *Cardinality) insert(h uint64) { c.hll.InsertHash(h) }

// MarshalText encodes the sketch as base64 of its binary form.
func (c *Cardinality) MarshalText() ([]byte, error) {
	b, err := c.hll.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("encode cardinality sketch: %w", err)
	}
	return []byte(base64.StdEncoding.EncodeToString(b)), nil
}

// UnmarshalText decodes what MarshalText wrote.
func (c *Cardinality) UnmarshalText(text []byte) error {
	b := make([]byte, base64.StdEncoding.DecodedLen(len(text)))
	n, err := base64.StdEncoding.Decode(b, text)
	if err != nil {
		return fmt.Errorf("bad cardinality sketch: %v", err)
	}
	hll := new(hyperloglog.Sketch)
	if err := hll.UnmarshalBinary(b[:n]); err != nil {
		return fmt.Errorf("bad cardinality sketch: %w", err)
	}
	// Check the precision by merging into an empty sketch of ours.
	probe := newCardinality()
	if err := probe.hll.Merge(hll); err != nil {
		return fmt.Errorf("bad cardinality sketch: %w", err)
	}
	c.hll = hll
	return nil
}

// hashFloat hashes a value for the cardinality sketch: the bits of the
// float (with -0 folded into 0) through the SplitMix64 finalizer, which
// spreads them well enough for HyperLogLog.
func hashFloat(x float64) uint64 {
	if x == 0 {
		x = 0
	}
	return mix64(math.Float64bits(x))
}

// hashString hashes a category name: FNV-1a, then the finalizer. It must
// not change between releases: stored sketches merge with new ones.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return mix64(h)
}

func mix64(z uint64) uint64 {
	z ^= z >> 30
	z *= 0xbf58476d1ce4e5b9
	z ^= z >> 27
	z *= 0x94d049bb133111eb
	z ^= z >> 31
	return z
}
