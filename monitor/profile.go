package monitor

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/model"
)

// FormatVersion is the version of the profile encoding this package reads
// and writes; DecodeProfile refuses any other.
const FormatVersion = 1

// PredictionFeature names the pseudo-feature that profiles the model's
// output, so that prediction drift is measured like feature drift. A model
// with several outputs gets one per output: "__prediction__[0]", ...
const PredictionFeature = "__prediction__"

// PredictionName returns the name of the pseudo-feature of output k of a
// model with the given number of outputs.
func PredictionName(k, outputs int) string {
	if outputs == 1 {
		return PredictionFeature
	}
	return PredictionFeature + "[" + strconv.Itoa(k) + "]"
}

// IsPrediction reports whether name is a prediction pseudo-feature.
func IsPrediction(name string) bool { return strings.HasPrefix(name, PredictionFeature) }

// MaxValues is how many distinct values of a numeric feature a profile
// counts exactly. Below it a feature is discrete (a count, a rating, a
// flag coded as a number) and drift is measured on its value counts, as
// Evidently does for numeric columns with at most 20 unique values.
const MaxValues = 20

// MaxCodes bounds the categories counted one by one for a categorical
// feature whose signature names none (integer codes, as LightGBM models
// carry); larger codes count as unseen.
const MaxCodes = 1024

// Limits of a decoded profile, so that a hostile file is an error rather
// than an out-of-memory kill.
const (
	MaxProfileBytes = 256 << 20
	MaxFeatures     = model.MaxFeatures
	MaxBins         = 1 << 12
	MaxCategories   = 1 << 16
)

// Profile summarises a set of rows for monitoring: per feature (and per
// model output) what drift and data quality checks need, in a few
// kilobytes that merge and serialize. A reference profile describes a
// training set and is frozen at registration; live traffic gets one
// profile per window (Start, End).
//
// Encode a profile with encoding/json and read it back with DecodeProfile,
// which validates it.
type Profile struct {
	FormatVersion int `json:"format_version"`
	// Start and End bound the window [Start, End) of a live profile; both
	// are zero for a reference.
	Start time.Time `json:"start,omitzero"`
	End   time.Time `json:"end,omitzero"`
	// Rows is the number of rows profiled.
	Rows int64 `json:"rows"`
	// UnknownInputs counts logged inputs whose name is no feature of the
	// signature (AddInputs only).
	UnknownInputs int64            `json:"unknown_inputs,omitempty"`
	Features      []FeatureProfile `json:"features"`
	// Learned are thresholds a reference learned from its own chunks
	// (see Learn); empty for live profiles.
	Learned map[string]Learned `json:"learned_thresholds,omitempty"`
}

// FeatureProfile is the profile of one feature or prediction output. Every
// row counts once in Count, Missing or Invalid.
type FeatureProfile struct {
	Name string            `json:"name"`
	Type model.FeatureType `json:"type"`
	// Count is the number of valid values; Missing of absent, null or NaN
	// ones; Invalid of values of the wrong type or out of the type's domain
	// (a string for a number, 2 for a bool, 1.5 for an int, infinity).
	Count   int64 `json:"count"`
	Missing int64 `json:"missing"`
	Invalid int64 `json:"invalid,omitempty"`

	// Numeric features (float, int and prediction outputs).
	Min      float64 `json:"min"`
	Max      float64 `json:"max"`
	Mean     float64 `json:"mean"`
	Variance float64 `json:"variance"` // population variance
	// Values counts each distinct value while there are at most MaxValues
	// of them; it is nil once there are more (or when Count is 0).
	Values []ValueCount `json:"values,omitempty"`
	// Quantiles is a KLL sketch of the values: ranks, quantiles, the
	// Kolmogorov-Smirnov and Wasserstein distances.
	Quantiles *Sketch `json:"quantiles,omitempty"`
	// Histogram counts the values in bins fixed by the reference profile,
	// for PSI and for plots. A profile made without a reference has none.
	Histogram *Histogram `json:"histogram,omitempty"`

	// Categorical and bool features. Categories lists every category of
	// the signature in code order with its count (a bool has "false" and
	// "true"); for a feature whose categories the signature does not name,
	// the codes seen so far, named by their decimal code.
	Categories []CategoryCount `json:"categories,omitempty"`
	// Unseen counts valid values outside Categories: a name the signature
	// does not know, a code past its list (or past MaxCodes).
	Unseen int64 `json:"unseen,omitempty"`
	// Distinct estimates the number of distinct values (HyperLogLog),
	// unseen ones included.
	Distinct *Cardinality `json:"distinct,omitempty"`
}

// ValueCount is a value of a discrete numeric feature and its count.
type ValueCount struct {
	Value float64 `json:"value"`
	Count int64   `json:"count"`
}

// CategoryCount is a category and its count.
type CategoryCount struct {
	Name  string `json:"name"`
	Count int64  `json:"count"`
}

// Histogram counts values in len(Edges)+1 bins: bin 0 holds values below
// Edges[0], bin i values in [Edges[i-1], Edges[i]), the last bin values at
// or above the last edge. A reference histogram's edges are its minimum,
// its deciles and the float just above its maximum, so the first and last
// bins count exactly the values outside the reference range.
type Histogram struct {
	Edges  []float64 `json:"edges"`
	Counts []int64   `json:"counts"`
}

// Numeric reports whether t is profiled as a number (float, int) rather
// than as categories (categorical, bool).
func Numeric(t model.FeatureType) bool { return t == model.Float || t == model.Int }

// features indexes the features by name.
func (p *Profile) features() map[string]*FeatureProfile {
	m := make(map[string]*FeatureProfile, len(p.Features))
	for i := range p.Features {
		m[p.Features[i].Name] = &p.Features[i]
	}
	return m
}

// Feature returns the profile of the named feature, or nil.
func (p *Profile) Feature(name string) *FeatureProfile {
	for i := range p.Features {
		if p.Features[i].Name == name {
			return &p.Features[i]
		}
	}
	return nil
}

// MissingRate is the share of rows where the feature was missing.
func (f *FeatureProfile) MissingRate() float64 {
	if n := f.Count + f.Missing + f.Invalid; n > 0 {
		return float64(f.Missing) / float64(n)
	}
	return 0
}

// Std is the standard deviation of a numeric feature.
func (f *FeatureProfile) Std() float64 { return math.Sqrt(f.Variance) }

// Discrete reports whether Values holds every distinct value of the
// feature, that is whether it had at most MaxValues of them.
func (f *FeatureProfile) Discrete() bool { return f.Count == 0 || f.Values != nil }

// TopCategories returns the n most frequent categories, most frequent
// first, ties in category order; unseen values are left out.
func (f *FeatureProfile) TopCategories(n int) []CategoryCount {
	top := slices.Clone(f.Categories)
	slices.SortStableFunc(top, func(a, b CategoryCount) int {
		switch {
		case a.Count > b.Count:
			return -1
		case a.Count < b.Count:
			return 1
		}
		return 0
	})
	return top[:min(max(n, 0), len(top))]
}

// Clone returns a deep copy of p.
func (p *Profile) Clone() *Profile {
	c := *p
	c.Features = make([]FeatureProfile, len(p.Features))
	for i := range p.Features {
		c.Features[i] = p.Features[i].clone()
	}
	return &c
}

func (f *FeatureProfile) clone() FeatureProfile {
	c := *f
	c.Values = slices.Clone(f.Values)
	c.Categories = slices.Clone(f.Categories)
	if f.Quantiles != nil {
		c.Quantiles = f.Quantiles.Clone()
	}
	if f.Histogram != nil {
		c.Histogram = &Histogram{Edges: slices.Clone(f.Histogram.Edges), Counts: slices.Clone(f.Histogram.Counts)}
	}
	if f.Distinct != nil {
		c.Distinct = f.Distinct.Clone()
	}
	return c
}

// Merge adds the rows profiled in o to p, as if one profile had seen both:
// hourly windows add up to a day, workers' profiles to the whole. The two
// must have the same features and histogram edges. The window widens to
// cover both.
func (p *Profile) Merge(o *Profile) error {
	if len(p.Features) != len(o.Features) {
		return plinth.Invalid("features", "cannot merge a profile of %d features into one of %d", len(o.Features), len(p.Features))
	}
	for i := range p.Features {
		a, b := &p.Features[i], &o.Features[i]
		if a.Name != b.Name || a.Type != b.Type {
			return plinth.Invalid("features", "cannot merge feature %q (%s) into %q (%s)", b.Name, b.Type, a.Name, a.Type)
		}
		if (a.Histogram == nil) != (b.Histogram == nil) || a.Histogram != nil && !slices.Equal(a.Histogram.Edges, b.Histogram.Edges) {
			return plinth.Invalid(a.Name, "histogram bins differ: profiles made against different references do not merge")
		}
		if !Numeric(a.Type) {
			short, long := a.Categories, b.Categories
			if len(short) > len(long) {
				short, long = long, short
			}
			for j := range short {
				if short[j].Name != long[j].Name {
					return plinth.Invalid(a.Name, "categories differ: %q against %q", a.Categories[j].Name, b.Categories[j].Name)
				}
			}
		}
	}
	for i := range p.Features {
		p.Features[i].merge(&o.Features[i])
	}
	p.Rows += o.Rows
	p.UnknownInputs += o.UnknownInputs
	if !o.Start.IsZero() && (p.Start.IsZero() || o.Start.Before(p.Start)) {
		p.Start = o.Start
	}
	if o.End.After(p.End) {
		p.End = o.End
	}
	return nil
}

func (f *FeatureProfile) merge(o *FeatureProfile) {
	n := f.Count + o.Count
	if o.Count > 0 {
		if f.Count == 0 {
			f.Min, f.Max, f.Mean, f.Variance = o.Min, o.Max, o.Mean, o.Variance
		} else {
			// Chan et al.'s pairwise update of mean and variance.
			na, nb := float64(f.Count), float64(o.Count)
			d := o.Mean - f.Mean
			m2 := f.Variance*na + o.Variance*nb + d*d*na*nb/(na+nb)
			f.Mean += d * nb / (na + nb)
			f.Variance = m2 / (na + nb)
			f.Min = min(f.Min, o.Min)
			f.Max = max(f.Max, o.Max)
			f.fixMoments()
		}
	}
	switch {
	case o.Count == 0:
	case f.Count == 0:
		f.Values = slices.Clone(o.Values)
	case f.Values == nil || o.Values == nil:
		f.Values = nil
	default:
		for _, v := range o.Values {
			if i := slices.IndexFunc(f.Values, func(w ValueCount) bool { return w.Value == v.Value }); i >= 0 {
				f.Values[i].Count += v.Count
			} else {
				f.Values = append(f.Values, v)
			}
		}
		if len(f.Values) > MaxValues {
			f.Values = nil
		} else {
			sortValues(f.Values)
		}
	}
	f.Count = n
	f.Missing += o.Missing
	f.Invalid += o.Invalid
	f.Unseen += o.Unseen
	switch {
	case o.Quantiles == nil:
	case f.Quantiles == nil:
		f.Quantiles = o.Quantiles.Clone()
	default:
		f.Quantiles.Merge(o.Quantiles)
	}
	if f.Histogram != nil {
		for i, c := range o.Histogram.Counts {
			f.Histogram.Counts[i] += c
		}
	}
	for i, c := range o.Categories {
		if i < len(f.Categories) {
			f.Categories[i].Count += c.Count
		} else {
			f.Categories = append(f.Categories, c)
		}
	}
	switch {
	case o.Distinct == nil:
	case f.Distinct == nil:
		f.Distinct = o.Distinct.Clone()
	default:
		f.Distinct.Merge(o.Distinct)
	}
}

// fixMoments keeps the mean and variance finite, and so encodable, when
// values near the float64 limits overflow the sums.
func (f *FeatureProfile) fixMoments() {
	if math.IsNaN(f.Mean) || math.IsInf(f.Mean, 0) {
		f.Mean = f.Min/2 + f.Max/2
	}
	f.Mean = min(max(f.Mean, f.Min), f.Max)
	if math.IsNaN(f.Variance) || math.IsInf(f.Variance, 0) {
		f.Variance = math.MaxFloat64
	}
}

func sortValues(vs []ValueCount) {
	slices.SortFunc(vs, func(a, b ValueCount) int { return cmp.Compare(a.Value, b.Value) })
}

// DecodeProfile parses a profile encoded as JSON and validates it. Unknown
// fields are an error, and so is any inconsistency a later merge or drift
// computation would trip on; the error names the offending field.
func DecodeProfile(data []byte) (*Profile, error) {
	if len(data) > MaxProfileBytes {
		return nil, plinth.Errorf(plinth.EINVALID, "profile is larger than the limit of %d bytes", MaxProfileBytes)
	}
	if err := model.CheckJSONShape(data, 1<<22, 1<<24); err != nil {
		return nil, fmt.Errorf("decode profile: %w", err)
	}
	p := new(Profile)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(p); err != nil {
		return nil, fmt.Errorf("decode profile: %w", jsonError(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, plinth.Errorf(plinth.EINVALID, "decode profile: data after the JSON document (at byte %d)", dec.InputOffset())
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("decode profile: %w", err)
	}
	return p, nil
}

// jsonError turns an encoding/json error into an EINVALID error that says
// where the document went wrong.
func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return plinth.Errorf(plinth.EINVALID, "truncated: %v", err)
	case errors.As(err, &syn):
		return plinth.Errorf(plinth.EINVALID, "not valid JSON at byte %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(document)"
		}
		return plinth.Invalid(field, "cannot hold a JSON %s (at byte %d)", typ.Value, typ.Offset)
	}
	return plinth.Errorf(plinth.EINVALID, "%v", err)
}

// Validate checks that p is a profile this package could have written:
// counts add up, sketches agree with the counts, bins are ordered.
func (p *Profile) Validate() error {
	if p.FormatVersion != FormatVersion {
		return plinth.Invalid("format_version", "version %d is not supported (this build reads %d)", p.FormatVersion, FormatVersion)
	}
	if p.Rows < 0 || p.UnknownInputs < 0 {
		return plinth.Invalid("rows", "negative count")
	}
	if p.End.Before(p.Start) {
		return plinth.Invalid("end", "before the start")
	}
	if len(p.Features) > MaxFeatures {
		return plinth.Invalid("features", "more than %d", MaxFeatures)
	}
	seen := make(map[string]bool, len(p.Features))
	for i := range p.Features {
		f := &p.Features[i]
		if seen[f.Name] {
			return plinth.Invalid(fmt.Sprintf("features[%d].name", i), "duplicate feature %q", f.Name)
		}
		seen[f.Name] = true
		if err := f.validate(p.Rows); err != nil {
			if e, ok := err.(*plinth.Error); ok && e.Field != "" {
				e.Field = fmt.Sprintf("features[%d].%s", i, e.Field)
				return e
			}
			return err
		}
	}
	return nil
}

func (f *FeatureProfile) validate(rows int64) error {
	if f.Name == "" {
		return plinth.Invalid("name", "empty")
	}
	switch f.Type {
	case model.Float, model.Int, model.Bool, model.Categorical:
	default:
		return plinth.Invalid("type", "unknown feature type %q", f.Type)
	}
	if f.Count < 0 || f.Missing < 0 || f.Invalid < 0 || f.Unseen < 0 {
		return plinth.Invalid("count", "negative count")
	}
	if f.Count > rows || f.Missing > rows-f.Count || f.Invalid != rows-f.Count-f.Missing {
		return plinth.Invalid("count", "count %d, missing %d and invalid %d do not add up to the %d rows", f.Count, f.Missing, f.Invalid, rows)
	}
	for _, x := range []float64{f.Min, f.Max, f.Mean, f.Variance} {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return plinth.Invalid("min", "not a finite number")
		}
	}
	if f.Variance < 0 {
		return plinth.Invalid("variance", "negative")
	}
	if !Numeric(f.Type) {
		return f.validateCategories()
	}
	if f.Categories != nil || f.Unseen != 0 {
		return plinth.Invalid("categories", "a %s feature has no categories", f.Type)
	}
	if f.Count > 0 && f.Min > f.Max {
		return plinth.Invalid("min", "above the max")
	}
	if len(f.Values) > MaxValues {
		return plinth.Invalid("values", "more than %d", MaxValues)
	}
	var sum int64
	for i, v := range f.Values {
		if v.Count <= 0 || math.IsNaN(v.Value) || math.IsInf(v.Value, 0) || v.Value < f.Min || v.Value > f.Max {
			return plinth.Invalid("values", "value %v with count %d", v.Value, v.Count)
		}
		if i > 0 && v.Value <= f.Values[i-1].Value {
			return plinth.Invalid("values", "not in ascending order")
		}
		sum += v.Count
		if sum < 0 {
			return plinth.Invalid("values", "counts overflow")
		}
	}
	if f.Values != nil && sum != f.Count {
		return plinth.Invalid("values", "counts add up to %d, not the count %d", sum, f.Count)
	}
	if f.Quantiles != nil && f.Quantiles.Count() != f.Count {
		return plinth.Invalid("quantiles", "the sketch holds %d values, not the count %d", f.Quantiles.Count(), f.Count)
	}
	if f.Quantiles == nil && f.Count > 0 {
		return plinth.Invalid("quantiles", "missing")
	}
	if h := f.Histogram; h != nil {
		if len(h.Edges) == 0 || len(h.Edges) > MaxBins || len(h.Counts) != len(h.Edges)+1 {
			return plinth.Invalid("histogram", "%d edges and %d counts", len(h.Edges), len(h.Counts))
		}
		for i, e := range h.Edges {
			if math.IsNaN(e) || math.IsInf(e, 0) || i > 0 && e <= h.Edges[i-1] {
				return plinth.Invalid("histogram.edges", "not finite and strictly increasing")
			}
		}
		sum = 0
		for _, c := range h.Counts {
			if c < 0 {
				return plinth.Invalid("histogram.counts", "negative count")
			}
			sum += c
			if sum < 0 {
				return plinth.Invalid("histogram.counts", "counts overflow")
			}
		}
		if sum != f.Count {
			return plinth.Invalid("histogram.counts", "add up to %d, not the count %d", sum, f.Count)
		}
	}
	if f.Distinct != nil {
		return plinth.Invalid("distinct", "a %s feature has no cardinality sketch", f.Type)
	}
	return nil
}

func (f *FeatureProfile) validateCategories() error {
	if f.Values != nil || f.Quantiles != nil || f.Histogram != nil {
		return plinth.Invalid("values", "a %s feature has no numeric summary", f.Type)
	}
	if f.Type == model.Bool && (len(f.Categories) != 2 || f.Categories[0].Name != "false" || f.Categories[1].Name != "true" || f.Unseen != 0) {
		return plinth.Invalid("categories", "a bool feature has the categories false and true")
	}
	if len(f.Categories) > MaxCategories {
		return plinth.Invalid("categories", "more than %d", MaxCategories)
	}
	sum := f.Unseen
	for _, c := range f.Categories {
		if c.Count < 0 {
			return plinth.Invalid("categories", "negative count for %q", c.Name)
		}
		sum += c.Count
		if sum < 0 {
			return plinth.Invalid("categories", "counts overflow")
		}
	}
	if sum != f.Count {
		return plinth.Invalid("categories", "counts and unseen add up to %d, not the count %d", sum, f.Count)
	}
	return nil
}
