package monitor

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/model"
)

// Options configure a Profiler (and ProfileTable).
type Options struct {
	// Outputs is the number of model outputs profiled as pseudo-features
	// after the signature's features (see PredictionName); 0 profiles the
	// inputs only, as for a training table without predictions.
	Outputs int
	// Reference, when set, fixes the histogram bins of numeric features
	// (its Histogram edges, matched by name) so that the profile's
	// histograms compare with the reference's bin for bin, and its first
	// and last bins count values outside the reference range exactly.
	// Without it a Profiler keeps no histogram and ProfileTable makes the
	// bins from the table itself.
	Reference *Profile
	// K is the accuracy of the quantile sketches: DefaultK (rank error
	// below about 1.7%) for a Profiler, ReferenceK for ProfileTable.
	K int
	// Bins is the number of equal-mass histogram bins ProfileTable makes
	// without a reference; default 10, the usual PSI binning.
	Bins int
}

// DefaultBins is the number of histogram bins of a reference profile.
const DefaultBins = 10

// Profiler profiles rows as they come, in memory bounded by the number of
// features (a few kilobytes each) whatever the number of rows. Rows come
// either encoded, as Signature.EncodeRow writes them (AddRow, the fast
// path, which does not allocate), or as the prediction log records them
// (AddInputs). Profile takes a snapshot.
//
// A Profiler is not safe for concurrent use: give each goroutine its own
// and Merge their profiles, or use Windows.
type Profiler struct {
	cols     []column
	features int // columns that are signature features; the rest are outputs
	rows     int64
	unknown  int64
	index    map[string]int // feature name to column, for AddInputs
	seen     []bool         // scratch for AddInputs
	ordered  *string        // the first name of the last names found in order
}

// column accumulates one feature.
type column struct {
	name string
	typ  model.FeatureType

	count, missing, invalid int64

	// Numeric: extremes, moments about shift (the first value, which keeps
	// the sums small and the variance accurate without a division per
	// value), exact value counts while few, the sketch and the histogram.
	min, max         float64
	shift, sum, sum2 float64
	values           []ValueCount
	many             bool
	sketch           *Sketch
	edges            []float64
	keys             []uint64 // edges as orderKeys
	hist             []int64

	// Categorical and bool: counts by code, the names by code, and a
	// cardinality sketch of the values counted as unseen.
	names    []string
	named    bool // names come from the signature (else they are codes)
	byName   map[string]int
	counts   []int64
	unseen   int64
	distinct *Cardinality
}

// NewProfiler returns a profiler for rows of the signature's features
// followed by opts.Outputs model outputs.
func NewProfiler(sig *model.Signature, opts Options) (*Profiler, error) {
	if sig == nil {
		return nil, plinth.Invalid("signature", "missing")
	}
	if opts.Outputs < 0 || opts.Outputs > model.MaxClasses {
		return nil, plinth.Invalid("outputs", "%d is not a number of model outputs", opts.Outputs)
	}
	if len(sig.Features)+opts.Outputs == 0 {
		return nil, plinth.Invalid("signature", "no features to profile")
	}
	p := &Profiler{features: len(sig.Features)}
	p.cols = make([]column, 0, len(sig.Features)+opts.Outputs)
	p.index = make(map[string]int, len(sig.Features)+opts.Outputs)
	add := func(name string, typ model.FeatureType, cats []string) error {
		if name == "" {
			return plinth.Invalid("signature", "a feature has no name")
		}
		if _, dup := p.index[name]; dup {
			return plinth.Invalid(name, "feature named twice")
		}
		c, err := newColumn(name, typ, cats, opts)
		if err != nil {
			return err
		}
		p.index[name] = len(p.cols)
		p.cols = append(p.cols, c)
		return nil
	}
	for _, f := range sig.Features {
		if err := add(f.Name, f.Type, f.Categories); err != nil {
			return nil, err
		}
	}
	for k := range opts.Outputs {
		if err := add(PredictionName(k, opts.Outputs), model.Float, nil); err != nil {
			return nil, err
		}
	}
	p.seen = make([]bool, len(p.cols))
	return p, nil
}

func newColumn(name string, typ model.FeatureType, cats []string, opts Options) (column, error) {
	c := column{name: name, typ: typ}
	switch typ {
	case model.Float, model.Int:
		c.sketch = NewSketch(opts.K)
		c.values = make([]ValueCount, 0, MaxValues)
		if opts.Reference != nil {
			if rf := opts.Reference.Feature(name); rf != nil {
				if rf.Type != typ {
					return c, plinth.Invalid(name, "is %s here and %s in the reference", typ, rf.Type)
				}
				if rf.Histogram != nil {
					c.setEdges(rf.Histogram.Edges)
				}
			}
		}
	case model.Bool:
		c.names, c.named = []string{"false", "true"}, true
		c.counts = make([]int64, 2)
	case model.Categorical:
		if len(cats) > MaxCategories {
			return c, plinth.Invalid(name, "more than %d categories", MaxCategories)
		}
		c.names, c.named = slices.Clone(cats), len(cats) > 0
		c.counts = make([]int64, len(cats))
		c.byName = make(map[string]int, len(cats))
		for i, n := range cats {
			if _, dup := c.byName[n]; !dup {
				c.byName[n] = i
			}
		}
		c.distinct = newCardinality()
	default:
		return c, plinth.Invalid(name, "unknown feature type %q", typ)
	}
	return c, nil
}

func (c *column) setEdges(edges []float64) {
	c.edges = slices.Clone(edges)
	c.keys = make([]uint64, len(edges))
	for i, e := range edges {
		c.keys[i] = orderKey(e)
	}
	c.hist = make([]int64, len(edges)+1)
}

// Features returns the names of the columns a row holds, in order: the
// signature's features, then the prediction outputs.
func (p *Profiler) Features() []string {
	names := make([]string, len(p.cols))
	for i := range p.cols {
		names[i] = p.cols[i].name
	}
	return names
}

// Rows returns the number of rows profiled.
func (p *Profiler) Rows() int64 { return p.rows }

// AddRow profiles one encoded row: the features in signature order, as
// Signature.EncodeRow writes them, followed by the model outputs. NaN is a
// missing value; a value outside its type's domain (infinity, 1.5 for an
// int, 2 for a bool, a negative category code) is counted as invalid. The
// only error is a row of the wrong length.
func (p *Profiler) AddRow(row []float64) error {
	if len(row) != len(p.cols) {
		return plinth.Invalid("row", "has %d values, the profiler %d columns", len(row), len(p.cols))
	}
	p.rows++
	cols := p.cols[:len(row)]
	for i, x := range row {
		cols[i].add(x)
	}
	return nil
}

// AddInputs profiles one logged request: values[i] is the input called
// names[i] as the prediction log keeps it (decoded JSON: float64,
// json.Number, string, bool, nil; Go integers too), and outputs are the
// model outputs (nil or short when not logged: those outputs count as
// missing). It never fails: a value of the wrong type is counted as
// invalid, an unknown category as unseen, a feature not named as missing
// and an input no feature has in Profile.UnknownInputs, since these are
// what data quality monitoring is looking for.
//
// Names in the signature's order, as the serving path logs them, are
// profiled by position; others by a lookup per name.
func (p *Profiler) AddInputs(names []string, values []any, outputs []float64) {
	p.rows++
	if p.inOrder(names) {
		for i, v := range values[:p.features] {
			p.cols[i].addAny(v)
		}
	} else {
		clear(p.seen)
		for k, name := range names {
			i, ok := p.index[name]
			if !ok || i >= p.features || p.seen[i] {
				p.unknown++
				continue
			}
			p.seen[i] = true
			p.cols[i].addAny(values[k])
		}
		for i := range p.features {
			if !p.seen[i] {
				p.cols[i].missing++
			}
		}
	}
	for k := range len(p.cols) - p.features {
		c := &p.cols[p.features+k]
		if k < len(outputs) {
			c.add(outputs[k])
		} else {
			c.missing++
		}
	}
}

// add profiles one encoded value.
func (c *column) add(x float64) {
	if x != x {
		c.missing++
		return
	}
	switch c.typ {
	case model.Float, model.Int:
		c.addNumber(x)
	case model.Bool:
		switch x {
		case 0:
			c.counts[0]++
		case 1:
			c.counts[1]++
		default:
			c.invalid++
			return
		}
		c.count++
	default:
		c.addCode(x)
	}
}

func (c *column) addNumber(x float64) {
	if math.IsInf(x, 0) || c.typ == model.Int && x != math.Trunc(x) {
		c.invalid++
		return
	}
	if c.count == 0 {
		c.min, c.max, c.shift = x, x, x
	}
	c.count++
	if x < c.min {
		c.min = x
	}
	if x > c.max {
		c.max = x
	}
	d := x - c.shift
	c.sum += d
	c.sum2 += d * d
	if !c.many {
		c.addValue(x)
	}
	if c.edges != nil {
		c.hist[bin(c.keys, x)]++
	}
	c.sketch.Add(x)
}

func (c *column) addValue(x float64) {
	for i := range c.values {
		if c.values[i].Value == x {
			c.values[i].Count++
			return
		}
	}
	if len(c.values) == MaxValues {
		c.many, c.values = true, nil
		return
	}
	c.values = append(c.values, ValueCount{Value: x, Count: 1})
}

// bin returns the number of edges at or below x, that is the histogram bin
// of x, given the edges as orderKeys. Integer comparisons compile to
// flag-setting instructions without branches, so the bin costs no
// mispredictions whatever the data; for the usual dozen edges a linear
// count, whose comparisons run in parallel, beats a binary search, whose
// steps wait on one another.
func bin(keys []uint64, x float64) int {
	k := orderKey(x)
	if len(keys) <= 32 {
		n := 0
		for _, e := range keys {
			n += b2i(e <= k)
		}
		return n
	}
	base, n := 0, len(keys)
	for n > 1 {
		half := n >> 1
		base += half & -b2i(keys[base+half] <= k)
		n -= half
	}
	return base + b2i(keys[base] <= k)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// orderKey maps a float64 (not NaN) to a uint64 of the same order, with
// -0 and 0 equal.
func orderKey(x float64) uint64 {
	b := math.Float64bits(x + 0) // -0 + 0 = 0
	return b ^ (uint64(int64(b)>>63) | 1<<63)
}

// addCode profiles a category code.
func (c *column) addCode(x float64) {
	if x < 0 || x != math.Trunc(x) || math.IsInf(x, 0) {
		c.invalid++
		return
	}
	c.count++
	switch {
	case x < float64(len(c.counts)):
		c.counts[int(x)]++
	case !c.named && x < MaxCodes:
		n := int(x) + 1
		for i := len(c.counts); i < n; i++ {
			c.names = append(c.names, strconv.Itoa(i))
		}
		c.counts = append(c.counts, make([]int64, n-len(c.counts))...)
		c.counts[int(x)]++
	default:
		c.unseen++
		c.distinct.insert(hashFloat(x))
	}
}

// addAny profiles a logged value.
func (c *column) addAny(v any) {
	var x float64
	switch v := v.(type) {
	case nil:
		c.missing++
		return
	case float64:
		x = v
	case float32:
		x = float64(v)
	case int:
		x = float64(v)
	case int64:
		x = float64(v)
	case int32:
		x = float64(v)
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			c.invalid++
			return
		}
		x = f
	case bool:
		if c.typ != model.Bool {
			c.invalid++
			return
		}
		if v {
			x = 1
		}
	case string:
		if c.typ != model.Categorical {
			c.invalid++
			return
		}
		c.count++
		if i, ok := c.byName[v]; ok {
			c.counts[i]++
			return
		}
		c.unseen++
		c.distinct.insert(hashString(v))
		return
	default:
		c.invalid++
		return
	}
	c.add(x)
}

// Profile returns a snapshot of what the profiler has seen; the profiler
// goes on.
func (p *Profiler) Profile() *Profile {
	out := &Profile{FormatVersion: FormatVersion, Rows: p.rows, UnknownInputs: p.unknown}
	out.Features = make([]FeatureProfile, len(p.cols))
	for i := range p.cols {
		out.Features[i] = p.cols[i].profile()
	}
	return out
}

func (c *column) profile() FeatureProfile {
	f := FeatureProfile{Name: c.name, Type: c.typ, Count: c.count, Missing: c.missing, Invalid: c.invalid}
	if Numeric(c.typ) {
		if c.count > 0 {
			n := float64(c.count)
			m := c.sum / n
			f.Min, f.Max = c.min, c.max
			f.Mean = c.shift + m
			f.Variance = max(c.sum2/n-m*m, 0)
			f.fixMoments() // rounding, or sums overflowed by huge values
			if !c.many {
				f.Values = slices.Clone(c.values)
				sortValues(f.Values)
			}
		}
		f.Quantiles = c.sketch.Clone()
		if c.edges != nil {
			f.Histogram = &Histogram{Edges: slices.Clone(c.edges), Counts: slices.Clone(c.hist)}
		}
		return f
	}
	f.Categories = make([]CategoryCount, len(c.counts))
	for i, n := range c.counts {
		f.Categories[i] = CategoryCount{Name: c.names[i], Count: n}
	}
	f.Unseen = c.unseen
	if c.typ == model.Categorical {
		// The counted categories join the sketch of the unseen ones here,
		// once, rather than a hash per row.
		f.Distinct = c.distinct.Clone()
		for i, n := range c.counts {
			if n == 0 {
				continue
			}
			if c.named {
				f.Distinct.insert(hashString(c.names[i]))
			} else {
				f.Distinct.insert(hashFloat(float64(i)))
			}
		}
	}
	return f
}

// Reset forgets every row, keeping the configuration (and the reference
// bins).
func (p *Profiler) Reset() {
	p.rows, p.unknown = 0, 0
	for i := range p.cols {
		c := &p.cols[i]
		c.count, c.missing, c.invalid = 0, 0, 0
		c.min, c.max, c.shift, c.sum, c.sum2 = 0, 0, 0, 0, 0
		if c.sketch != nil {
			c.sketch = NewSketch(c.sketch.K())
			c.values, c.many = make([]ValueCount, 0, MaxValues), false
		}
		clear(c.hist)
		if !c.named {
			c.names, c.counts = c.names[:0], c.counts[:0]
		}
		clear(c.counts)
		c.unseen = 0
		if c.distinct != nil {
			c.distinct = newCardinality()
		}
	}
}

// inOrder reports whether names are the features, in the signature's
// order. The records of a model version share one names slice, so once it
// was compared this is a pointer comparison.
func (p *Profiler) inOrder(names []string) bool {
	if len(names) != p.features {
		return false
	}
	if len(names) == 0 || &names[0] == p.ordered {
		return true
	}
	for i, n := range names {
		if p.cols[i].name != n {
			return false
		}
	}
	p.ordered = &names[0]
	return true
}
