package monitor

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/model"
)

// Method is a drift detection method.
//
// Every method compares a current profile with the reference, one feature
// at a time, from the profiles alone: no raw rows are kept, so a drift
// check over millions of rows takes milliseconds. Tests give a p-value
// and flag drift below their threshold; distances flag drift at or above
// it. Defaults follow Evidently (docs "Data drift algorithm", 0.1.50 on):
//
//	method          score     threshold  drift when   applies to
//	ks              p-value   0.05       p < 0.05     numeric
//	chisquare       p-value   0.05       p < 0.05     categorical, discrete numeric (on bins otherwise)
//	z               p-value   0.05       p < 0.05     two categories
//	wasserstein     distance  0.1        d >= 0.1     numeric (divided by the reference std)
//	jensenshannon   distance  0.1        d >= 0.1     categorical, numeric (on bins)
//	psi             index     0.1        psi >= 0.1   categorical, numeric (on bins)
//
// The default method depends on the feature type, the number of values
// in the reference and the number of distinct values n in both profiles:
//
//	                                reference <= 1,000 values   reference > 1,000 values
//	numeric, n > 5                  ks                          wasserstein
//	numeric, 2 < n <= 5             chisquare                   jensenshannon
//	categorical or bool, n > 2      chisquare                   jensenshannon
//	any, n <= 2                     z                           jensenshannon
//
// Small samples get tests; large ones get distances, because with many
// rows a p-value flags differences too small to matter.
//
// Where plinth differs from Evidently, because it works on profiles:
//   - KS and Wasserstein read the KLL sketches: the KS statistic is off by
//     at most the two sketches' rank errors (about 1.7% for a live profile,
//     none for a reference of up to 1,000 values), the p-value is
//     asymptotic with Stephens' correction rather than scipy's exact one.
//   - PSI and Jensen-Shannon on continuous numbers use the reference's
//     decile bins plus one bin each below its minimum and above its
//     maximum, not Sturges bins over both samples.
//   - n is exact up to 20 distinct numeric values (MaxValues); a numeric
//     feature with at most 20 is compared on its exact value counts, as
//     Evidently's binning does.
type Method string

// Drift detection methods.
const (
	KS            Method = "ks"
	ChiSquared    Method = "chisquare"
	ZTest         Method = "z"
	Wasserstein   Method = "wasserstein"
	JensenShannon Method = "jensenshannon"
	PSI           Method = "psi"
)

// DefaultThreshold returns the method's default threshold (see Method).
func DefaultThreshold(m Method) float64 {
	switch m {
	case KS, ChiSquared, ZTest:
		return 0.05
	}
	return 0.1
}

// IsTest reports whether the method's score is a p-value (drift below the
// threshold) rather than a distance (drift at or above it).
func (m Method) IsTest() bool { return m == KS || m == ChiSquared || m == ZTest }

func (m Method) valid() bool {
	switch m {
	case KS, ChiSquared, ZTest, Wasserstein, JensenShannon, PSI:
		return true
	}
	return false
}

// DefaultDriftShare is the share of drifted features at which the dataset
// as a whole counts as drifted, as in Evidently.
const DefaultDriftShare = 0.5

// DriftOptions configure DetectDrift. The zero value gives the defaults.
type DriftOptions struct {
	// NumericMethod and CategoricalMethod, when set, replace the default
	// choice for every feature of that kind (bool counts as categorical).
	NumericMethod     Method
	CategoricalMethod Method
	// Methods sets the method of single features, by name.
	Methods map[string]Method
	// Thresholds replaces default thresholds, by method.
	Thresholds map[Method]float64
	// Learned holds thresholds learned from the reference (see Learn), by
	// feature: a distance drifts only past the larger of its default and
	// its learned threshold.
	Learned map[string]Learned
	// Importance, such as the model's global feature importance, ranks the
	// results: the features that matter most to the model come first,
	// which is the order an alert should name them in.
	Importance map[string]float64
	// Share is the share of drifted features at or above which the dataset
	// has drifted; default DefaultDriftShare.
	Share float64
}

// Drift is the result of comparing a current profile with the reference.
type Drift struct {
	Start time.Time `json:"start,omitzero"` // the current window
	End   time.Time `json:"end,omitzero"`
	// Features are the results of the signature's features, ranked: by
	// importance when DriftOptions.Importance is given, else drifted first
	// and by how far past its threshold the score is.
	Features []FeatureDrift `json:"features"`
	// Predictions are the results of the model outputs, if profiled.
	Predictions []FeatureDrift `json:"predictions,omitempty"`
	// Compared is the number of features with values on both sides, and
	// Drifted how many of them drifted; Share = Drifted / Compared.
	Compared int     `json:"compared"`
	Drifted  int     `json:"drifted"`
	Share    float64 `json:"share"`
	// DatasetDrift is Share >= ShareThreshold.
	ShareThreshold float64 `json:"share_threshold"`
	DatasetDrift   bool    `json:"dataset_drift"`
}

// FeatureDrift is the drift of one feature.
type FeatureDrift struct {
	Feature string            `json:"feature"`
	Type    model.FeatureType `json:"type"`
	// Method is the method that decides Drifted; Score is its p-value or
	// distance, Statistic the test statistic behind a p-value (KS D,
	// chi-squared), Threshold the threshold it was held to.
	Method    Method  `json:"method,omitempty"`
	Score     float64 `json:"score"`
	Statistic float64 `json:"statistic,omitempty"`
	Threshold float64 `json:"threshold,omitempty"`
	Drifted   bool    `json:"drifted"`
	// Scores has every method's score that applies to the feature, for
	// reports and for choosing thresholds.
	Scores     map[Method]float64 `json:"scores,omitempty"`
	Importance float64            `json:"importance,omitempty"`
	// ReferenceCount and CurrentCount are the valid values compared.
	ReferenceCount int64 `json:"reference_count"`
	CurrentCount   int64 `json:"current_count"`
	// Skipped says why no method ran (no values on one side).
	Skipped string `json:"skipped,omitempty"`

	severity float64
}

// DetectDrift compares the current profile with the reference, per
// feature and per model output, and over the dataset. Features are
// matched by name; every feature of the reference must be in the current
// profile, with the same type.
func DetectDrift(ref, cur *Profile, opts DriftOptions) (*Drift, error) {
	if ref == nil || cur == nil {
		return nil, plinth.Invalid("profile", "missing")
	}
	if opts.Share == 0 {
		opts.Share = DefaultDriftShare
	}
	if opts.Share < 0 || opts.Share > 1 {
		return nil, plinth.Invalid("share", "%v is not a share between 0 and 1", opts.Share)
	}
	for _, m := range []Method{opts.NumericMethod, opts.CategoricalMethod} {
		if m != "" && !m.valid() {
			return nil, plinth.Invalid("method", "unknown drift method %q", m)
		}
	}
	if opts.CategoricalMethod == KS || opts.CategoricalMethod == Wasserstein {
		return nil, plinth.Invalid("categorical_method", "%s needs ordered values", opts.CategoricalMethod)
	}
	for name, m := range opts.Methods {
		if !m.valid() {
			return nil, plinth.Invalid("methods."+name, "unknown drift method %q", m)
		}
	}
	for m, t := range opts.Thresholds {
		if !m.valid() {
			return nil, plinth.Invalid("thresholds", "unknown drift method %q", m)
		}
		if math.IsNaN(t) || t < 0 || m.IsTest() && t > 1 {
			return nil, plinth.Invalid("thresholds."+string(m), "%v is not a threshold", t)
		}
	}
	d := &Drift{Start: cur.Start, End: cur.End, ShareThreshold: opts.Share}
	current := cur.features()
	for i := range ref.Features {
		rf := &ref.Features[i]
		cf := current[rf.Name]
		if cf == nil {
			return nil, plinth.Invalid(rf.Name, "in the reference but not in the current profile")
		}
		if cf.Type != rf.Type {
			return nil, plinth.Invalid(rf.Name, "is %s in the reference and %s in the current profile", rf.Type, cf.Type)
		}
		fd, err := featureDrift(rf, cf, opts)
		if err != nil {
			return nil, fmt.Errorf("drift of %s: %w", rf.Name, err)
		}
		if IsPrediction(rf.Name) {
			d.Predictions = append(d.Predictions, fd)
			continue
		}
		if fd.Skipped == "" {
			d.Compared++
			if fd.Drifted {
				d.Drifted++
			}
		}
		d.Features = append(d.Features, fd)
	}
	if d.Compared > 0 {
		d.Share = float64(d.Drifted) / float64(d.Compared)
	}
	d.DatasetDrift = d.Compared > 0 && d.Share >= opts.Share
	byImportance := len(opts.Importance) > 0
	slices.SortStableFunc(d.Features, func(a, b FeatureDrift) int {
		if byImportance {
			if c := cmp.Compare(b.Importance, a.Importance); c != 0 {
				return c
			}
		}
		if a.Drifted != b.Drifted {
			if a.Drifted {
				return -1
			}
			return 1
		}
		return cmp.Compare(b.severity, a.severity)
	})
	return d, nil
}

// featureDrift compares one feature.
func featureDrift(rf, cf *FeatureProfile, opts DriftOptions) (FeatureDrift, error) {
	fd := FeatureDrift{
		Feature: rf.Name, Type: rf.Type,
		Importance:     finite(opts.Importance[rf.Name]),
		ReferenceCount: rf.Count, CurrentCount: cf.Count,
	}
	switch {
	case rf.Count == 0:
		fd.Skipped = "no values in the reference"
		return fd, nil
	case cf.Count == 0:
		fd.Skipped = "no values in the current profile"
		return fd, nil
	}
	numeric := Numeric(rf.Type)
	// Counts by category or by discrete value, when there are such.
	var rc, cc []float64
	discrete := !numeric
	switch {
	case !numeric:
		rc, cc = categoryCounts(rf, cf)
	case rf.Values != nil && cf.Values != nil:
		rc, cc = valueCounts(rf, cf)
		discrete = rc != nil
	}
	distinct := MaxValues + 1
	if discrete {
		kr, _ := nonEmpty(rc, cc)
		distinct = len(kr)
	}

	m := opts.Methods[rf.Name]
	if m == "" {
		if numeric {
			m = opts.NumericMethod
		} else {
			m = opts.CategoricalMethod
		}
	}
	if m == "" {
		m = defaultMethod(numeric, rf.Count, distinct)
	}
	if !numeric && (m == KS || m == Wasserstein) {
		return fd, plinth.Invalid("method", "%s needs ordered values; %s is %s", m, rf.Name, rf.Type)
	}

	scores := make(map[Method]float64, 6)
	stats := make(map[Method]float64, 2)
	if numeric {
		r, c := rf.Quantiles.sorted(), cf.Quantiles.sorted()
		ks := ksStatistic(&r, &c)
		scores[KS] = ksPValue(ks, float64(rf.Count), float64(cf.Count))
		stats[KS] = ks
		scores[Wasserstein] = wasserstein(&r, &c) / max(rf.Std(), 0.001)
		if !discrete {
			rc, cc = binCounts(rf, cf, &r, &c)
		}
	}
	// Chi-squared and z need categories with values on either side.
	kr, kc := nonEmpty(rc, cc)
	if rc != nil {
		scores[PSI] = psi(rc, cc)
		scores[JensenShannon] = jensenShannon(rc, cc)
		chi, p := chiSquared(kc, scale(kr, sum(kc)/sum(kr)))
		scores[ChiSquared], stats[ChiSquared] = p, chi
		if discrete && len(kr) <= 2 {
			var a, b float64
			if len(kr) > 0 {
				a, b = kr[0], kc[0]
			}
			scores[ZTest] = zTest(a, sum(kr), b, sum(kc))
		}
	}
	score, ok := scores[m]
	if !ok {
		return fd, plinth.Invalid("method", "%s does not apply to %s, which has %d distinct values", m, rf.Name, distinct)
	}
	t, set := opts.Thresholds[m]
	if !set {
		t = DefaultThreshold(m)
	}
	// A threshold learned from the reference's own variation raises a
	// distance's bar where the training data itself moves that much.
	if l, ok := opts.Learned[rf.Name]; ok && !m.IsTest() && l.Method == m && l.Threshold > t {
		t = l.Threshold
	}
	fd.Method, fd.Threshold = m, t
	fd.Score, fd.Statistic = finite(score), finite(stats[m])
	if m.IsTest() {
		fd.Drifted = score < t
		fd.severity = math.Log(max(score, 1e-300)) / math.Log(max(min(t, 1-1e-9), 1e-300))
	} else {
		fd.Drifted = score >= t
		fd.severity = score / max(t, 1e-12)
	}
	for k, v := range scores {
		scores[k] = finite(v)
	}
	fd.Scores = scores
	return fd, nil
}

// defaultMethod is Evidently's choice (see Method).
func defaultMethod(numeric bool, refCount int64, distinct int) Method {
	if refCount <= 1000 {
		switch {
		case numeric && distinct > 5:
			return KS
		case distinct > 2:
			return ChiSquared
		default:
			return ZTest
		}
	}
	if numeric && distinct > 5 {
		return Wasserstein
	}
	return JensenShannon
}

// categoryCounts aligns the category counts of two profiles by name, the
// unseen values of each as one more category.
func categoryCounts(rf, cf *FeatureProfile) (rc, cc []float64) {
	index := make(map[string]int, len(rf.Categories))
	for _, c := range rf.Categories {
		index[c.Name] = len(rc)
		rc = append(rc, float64(c.Count))
	}
	cc = make([]float64, len(rc), len(rc)+1)
	for _, c := range cf.Categories {
		if i, ok := index[c.Name]; ok {
			cc[i] += float64(c.Count)
		} else {
			index[c.Name] = len(rc)
			rc = append(rc, 0)
			cc = append(cc, float64(c.Count))
		}
	}
	rc = append(rc, float64(rf.Unseen))
	cc = append(cc, float64(cf.Unseen))
	return rc, cc
}

// valueCounts aligns the value counts of two discrete numeric profiles, or
// returns nil when together they have more than MaxValues values.
func valueCounts(rf, cf *FeatureProfile) (rc, cc []float64) {
	i, j := 0, 0
	for i < len(rf.Values) || j < len(cf.Values) {
		switch {
		case j == len(cf.Values) || i < len(rf.Values) && rf.Values[i].Value < cf.Values[j].Value:
			rc, cc = append(rc, float64(rf.Values[i].Count)), append(cc, 0)
			i++
		case i == len(rf.Values) || cf.Values[j].Value < rf.Values[i].Value:
			rc, cc = append(rc, 0), append(cc, float64(cf.Values[j].Count))
			j++
		default:
			rc, cc = append(rc, float64(rf.Values[i].Count)), append(cc, float64(cf.Values[j].Count))
			i++
			j++
		}
	}
	if len(rc) > MaxValues {
		return nil, nil
	}
	return rc, cc
}

// binCounts returns the counts of both sides in the reference's bins: the
// histograms' when they share the reference's edges, else counts read off
// the sketches.
func binCounts(rf, cf *FeatureProfile, r, c *cdf) (rc, cc []float64) {
	var edges []float64
	if rf.Histogram != nil {
		edges = rf.Histogram.Edges
	} else {
		qs := make([]float64, DefaultBins-1)
		for i := range qs {
			qs[i] = r.quantile(float64(i+1) / DefaultBins)
		}
		edges = append([]float64{rf.Min}, qs...)
		if top := math.Nextafter(rf.Max, math.Inf(1)); !math.IsInf(top, 0) {
			edges = append(edges, top)
		}
		slices.Sort(edges)
		edges = slices.Compact(edges)
	}
	counts := func(f *FeatureProfile, d *cdf) []float64 {
		if f.Histogram != nil && slices.Equal(f.Histogram.Edges, edges) {
			out := make([]float64, len(f.Histogram.Counts))
			for i, n := range f.Histogram.Counts {
				out[i] = float64(n)
			}
			return out
		}
		out := make([]float64, len(edges)+1)
		prev := 0.0
		for i, e := range edges {
			b := d.below(e)
			out[i] = b - prev
			prev = b
		}
		out[len(edges)] = d.n - prev
		return out
	}
	return counts(rf, r), counts(cf, c)
}

// nonEmpty returns the pairs of counts where either side has values.
func nonEmpty(a, b []float64) (ka, kb []float64) {
	for i := range a {
		if a[i] > 0 || b[i] > 0 {
			ka, kb = append(ka, a[i]), append(kb, b[i])
		}
	}
	return ka, kb
}

func sum(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s
}

func scale(xs []float64, f float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = x * f
	}
	return out
}

// finite keeps results encodable as JSON: an infinite statistic (a
// category the reference never saw) becomes the largest float64.
func finite(x float64) float64 {
	switch {
	case math.IsNaN(x):
		return 0
	case math.IsInf(x, 1):
		return math.MaxFloat64
	case math.IsInf(x, -1):
		return -math.MaxFloat64
	}
	return x
}
