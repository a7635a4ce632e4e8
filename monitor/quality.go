package monitor

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/plinthml/plinth"
)

// Kinds of data quality issue.
const (
	IssueMissing      = "missing"         // more missing values than in the reference
	IssueOutOfRange   = "out_of_range"    // numbers outside the reference range
	IssueUnseen       = "unseen_category" // categories the reference never had
	IssueInvalid      = "invalid"         // values of the wrong type or domain
	IssueUnknownInput = "unknown_input"   // inputs no feature of the model has
	IssueVolume       = "volume"          // too few or too many rows
)

// QualityOptions configure CheckQuality. The zero value gives the
// defaults.
type QualityOptions struct {
	// MissingTolerance is how far a feature's missing rate may rise above
	// the reference's before it is an issue; default 0.01.
	MissingTolerance float64
	// Range bounds the expected numbers by reference quantiles, such as
	// {0.01, 0.99}. The zero value means the reference minimum and
	// maximum, which a window profiled against the reference counts
	// exactly (its histogram's outer bins); quantile ranges are read off
	// the sketches, within their rank error.
	Range [2]float64
	// OutOfRangeTolerance is the share of a feature's values that may fall
	// outside the range (beyond the share the reference itself has there)
	// before it is an issue; default 0.01. A window's values exceed the
	// training set's extremes now and then without anything being wrong.
	OutOfRangeTolerance float64
	// ExpectedRows, when positive, is the number of rows a window should
	// have (from past windows or the traffic the endpoint was sized for);
	// a window with fewer than (1 - VolumeTolerance) or more than
	// (1 + VolumeTolerance) times as many is an issue.
	ExpectedRows    float64
	VolumeTolerance float64 // default 0.5
}

// Quality is the data quality of a window of serving inputs, measured
// against the reference.
type Quality struct {
	Start        time.Time        `json:"start,omitzero"`
	End          time.Time        `json:"end,omitzero"`
	Rows         int64            `json:"rows"`
	ExpectedRows float64          `json:"expected_rows,omitempty"`
	Features     []FeatureQuality `json:"features"`
	// Issues are the problems found, each naming the feature (if any) and
	// the problem, in feature order.
	Issues []Issue `json:"issues"`
}

// FeatureQuality holds the measurements of one feature.
type FeatureQuality struct {
	Feature              string  `json:"feature"`
	MissingRate          float64 `json:"missing_rate"`
	ReferenceMissingRate float64 `json:"reference_missing_rate"`
	// OutOfRange counts numbers outside the range (estimated from the
	// sketch for a quantile range), OutOfRangeShare their share of values.
	OutOfRange      int64   `json:"out_of_range,omitempty"`
	OutOfRangeShare float64 `json:"out_of_range_share,omitempty"`
	// Unseen counts values in categories the reference never had (or that
	// the signature does not know); UnseenCategories names up to ten.
	Unseen           int64    `json:"unseen,omitempty"`
	UnseenCategories []string `json:"unseen_categories,omitempty"`
	// Invalid counts values of the wrong type or domain.
	Invalid int64 `json:"invalid,omitempty"`
}

// Issue is one data quality problem.
type Issue struct {
	Feature string `json:"feature,omitempty"`
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

// CheckQuality measures the data quality of the current profile (a window
// of serving inputs) against the reference: missing values, numbers out
// of range, unseen categories, invalid values, unknown inputs, volume.
func CheckQuality(ref, cur *Profile, opts QualityOptions) (*Quality, error) {
	if ref == nil || cur == nil {
		return nil, plinth.Invalid("profile", "missing")
	}
	if opts.MissingTolerance == 0 {
		opts.MissingTolerance = 0.01
	}
	if opts.OutOfRangeTolerance == 0 {
		opts.OutOfRangeTolerance = 0.01
	}
	if opts.VolumeTolerance == 0 {
		opts.VolumeTolerance = 0.5
	}
	lo, hi := opts.Range[0], opts.Range[1]
	quantiles := lo != 0 || hi != 0
	if quantiles && !(0 <= lo && lo < hi && hi <= 1) {
		return nil, plinth.Invalid("range", "quantiles %v and %v: want 0 <= low < high <= 1", lo, hi)
	}
	for name, v := range map[string]float64{"missing_tolerance": opts.MissingTolerance, "out_of_range_tolerance": opts.OutOfRangeTolerance, "volume_tolerance": opts.VolumeTolerance, "expected_rows": opts.ExpectedRows} {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return nil, plinth.Invalid(name, "%v is not a non-negative number", v)
		}
	}

	q := &Quality{Start: cur.Start, End: cur.End, Rows: cur.Rows, ExpectedRows: opts.ExpectedRows, Issues: []Issue{}}
	issue := func(feature, kind, format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		if feature != "" {
			msg = fmt.Sprintf("feature %q: %s", feature, msg)
		}
		q.Issues = append(q.Issues, Issue{Feature: feature, Kind: kind, Message: msg})
	}
	if opts.ExpectedRows > 0 {
		r := float64(cur.Rows) / opts.ExpectedRows
		switch {
		case r < 1-opts.VolumeTolerance:
			issue("", IssueVolume, "%d rows, %.0f%% fewer than the %.0f expected", cur.Rows, 100*(1-r), opts.ExpectedRows)
		case r > 1+opts.VolumeTolerance:
			issue("", IssueVolume, "%d rows, %.0f%% more than the %.0f expected", cur.Rows, 100*(r-1), opts.ExpectedRows)
		}
	}
	current := cur.features()
	if cur.UnknownInputs > 0 {
		issue("", IssueUnknownInput, "%d inputs named no feature of the model", cur.UnknownInputs)
	}
	for i := range ref.Features {
		rf := &ref.Features[i]
		if IsPrediction(rf.Name) {
			continue
		}
		cf := current[rf.Name]
		if cf == nil {
			return nil, plinth.Invalid(rf.Name, "in the reference but not in the current profile")
		}
		if cf.Type != rf.Type {
			return nil, plinth.Invalid(rf.Name, "is %s in the reference and %s in the current profile", rf.Type, cf.Type)
		}
		fq := FeatureQuality{Feature: rf.Name, MissingRate: cf.MissingRate(), ReferenceMissingRate: rf.MissingRate(), Invalid: cf.Invalid}
		if fq.MissingRate > fq.ReferenceMissingRate+opts.MissingTolerance {
			issue(rf.Name, IssueMissing, "missing in %.1f%% of rows, %.1f%% in the reference", 100*fq.MissingRate, 100*fq.ReferenceMissingRate)
		}
		if cf.Invalid > 0 {
			issue(rf.Name, IssueInvalid, "%d values of the wrong type or out of the %s domain", cf.Invalid, rf.Type)
		}
		if Numeric(rf.Type) {
			if rf.Count > 0 && cf.Count > 0 {
				expected := outOfRange(rf, cf, quantiles, lo, hi, &fq)
				if fq.OutOfRangeShare > expected+opts.OutOfRangeTolerance {
					what := fmt.Sprintf("the reference range [%g, %g]", rf.Min, rf.Max)
					if quantiles {
						what = fmt.Sprintf("the reference's %g to %g quantiles", lo, hi)
					}
					issue(rf.Name, IssueOutOfRange, "%d values (%.1f%%) outside %s", fq.OutOfRange, 100*fq.OutOfRangeShare, what)
				}
			}
		} else {
			unseen(rf, cf, &fq)
			if fq.Unseen > 0 {
				names := strings.Join(quoteAll(fq.UnseenCategories), ", ")
				if names == "" {
					names = "values the model does not know"
				} else if cf.Unseen > 0 {
					names += " and values the model does not know"
				}
				issue(rf.Name, IssueUnseen, "%d values in categories absent from the reference: %s", fq.Unseen, names)
			}
		}
		q.Features = append(q.Features, fq)
	}
	return q, nil
}

// outOfRange fills in the values of cf outside the reference range and
// returns the share of the reference itself outside it (0 for min/max).
func outOfRange(rf, cf *FeatureProfile, quantiles bool, lo, hi float64, fq *FeatureQuality) (expected float64) {
	n := float64(cf.Count)
	if !quantiles {
		switch {
		case cf.Min >= rf.Min && cf.Max <= rf.Max:
			// Nothing outside, exactly.
		case rf.Histogram != nil && cf.Histogram != nil && rf.Histogram.Edges[0] == rf.Min &&
			rf.Histogram.Edges[len(rf.Histogram.Edges)-1] > rf.Max && slices.Equal(rf.Histogram.Edges, cf.Histogram.Edges):
			// Bins made against this reference: their outer bins count
			// exactly what lies outside [min, max].
			h := cf.Histogram.Counts
			fq.OutOfRange = h[0] + h[len(h)-1]
		default:
			c := cf.Quantiles.sorted()
			fq.OutOfRange = int64(math.Round(c.below(rf.Min) + c.n - c.at(rf.Max)))
		}
		fq.OutOfRangeShare = float64(fq.OutOfRange) / n
		return 0
	}
	r, c := rf.Quantiles.sorted(), cf.Quantiles.sorted()
	a, b := r.quantile(lo), r.quantile(hi)
	expected = (r.below(a) + r.n - r.at(b)) / r.n
	out := c.below(a) + c.n - c.at(b)
	fq.OutOfRange = int64(math.Round(out))
	fq.OutOfRangeShare = out / c.n
	return expected
}

// unseen fills in the current values in categories the reference lacks.
func unseen(rf, cf *FeatureProfile, fq *FeatureQuality) {
	had := make(map[string]bool, len(rf.Categories))
	for _, c := range rf.Categories {
		if c.Count > 0 {
			had[c.Name] = true
		}
	}
	for _, c := range cf.Categories {
		if c.Count > 0 && !had[c.Name] {
			fq.Unseen += c.Count
			if len(fq.UnseenCategories) < 10 {
				fq.UnseenCategories = append(fq.UnseenCategories, c.Name)
			}
		}
	}
	fq.Unseen += cf.Unseen
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}
