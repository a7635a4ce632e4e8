package model

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"github.com/plinthml/plinth"
)

// Index returns the position of the feature called name, or -1.
func (s *Signature) Index(name string) int {
	return slices.IndexFunc(s.Features, func(f Feature) bool { return f.Name == name })
}

// EncodeRow turns named input values (as decoded from JSON: float64,
// json.Number, string, bool, nil; Go ints are accepted too) into the row
// vector the model reads, written to dst (len NumFeatures). A categorical
// value may be the category's name or its index. Absent or null values,
// and categories training never saw, become NaN (missing) for nullable
// features and are an error otherwise, as are unknown names and values of
// the wrong type; the error's Field is the feature name.
func (s *Signature) EncodeRow(values map[string]any, dst []float64) error {
	if len(dst) != len(s.Features) {
		return plinth.Invalid("row", "has room for %d values, the signature has %d features", len(dst), len(s.Features))
	}
	// An unknown name is the error to report first; counting the known
	// ones finds out whether there is one without a scan per name.
	known := 0
	var invalid error
	for i := range s.Features {
		f := &s.Features[i]
		x, ok := values[f.Name]
		if ok {
			known++
		}
		v, err := f.encode(x)
		if err != nil && invalid == nil {
			invalid = plinth.Invalid(f.Name, "%v", err)
		}
		dst[i] = v
	}
	if known < len(values) {
		for name := range values {
			if s.Index(name) < 0 {
				return plinth.Invalid(name, "not a feature of the model")
			}
		}
	}
	return invalid
}

// EncodeValues is EncodeRow for values already in the signature's order:
// values[i] is the value of feature i (nil when missing). The serving path
// builds rows this way from online features, without a map per request.
func (s *Signature) EncodeValues(values []any, dst []float64) error {
	if len(dst) != len(s.Features) || len(values) != len(s.Features) {
		return plinth.Invalid("row", "has %d values and room for %d, the signature has %d features", len(values), len(dst), len(s.Features))
	}
	for i := range s.Features {
		f := &s.Features[i]
		v, err := f.encode(values[i])
		if err != nil {
			return plinth.Invalid(f.Name, "%v", err)
		}
		dst[i] = v
	}
	return nil
}

func (f *Feature) encode(v any) (float64, error) {
	if v == nil {
		if !f.Nullable {
			return 0, fmt.Errorf("missing, and the feature is not nullable")
		}
		return math.NaN(), nil
	}
	var x float64
	switch v := v.(type) {
	case float64:
		x = v
	case float32:
		x = float64(v)
	case int:
		x = float64(v)
	case int64:
		x = float64(v)
	case json.Number:
		var err error
		if x, err = v.Float64(); err != nil {
			return 0, fmt.Errorf("%q is not a number", v.String())
		}
	case bool:
		// A boolean is 1 or 0 to a numeric feature too: that is how
		// training read it.
		if f.Type == Categorical {
			return 0, fmt.Errorf("a boolean for a %s feature", f.Type)
		}
		if v {
			return 1, nil
		}
		return 0, nil
	case string:
		if f.Type != Categorical {
			return 0, fmt.Errorf("a string for a %s feature", f.Type)
		}
		c := slices.Index(f.Categories, v)
		if c < 0 {
			// A category training never saw (a new route, a new
			// airline) is missing to a nullable feature — the trees send
			// it the default way, and monitoring counts it as unseen — and
			// an error to one that may not be missing.
			if f.Nullable {
				return math.NaN(), nil
			}
			return 0, fmt.Errorf("unknown category %q", v)
		}
		return float64(c), nil
	default:
		return 0, fmt.Errorf("unsupported value type %T", v)
	}
	if math.IsNaN(x) {
		if !f.Nullable {
			return 0, fmt.Errorf("missing (NaN), and the feature is not nullable")
		}
		return x, nil
	}
	if math.IsInf(x, 0) {
		return 0, fmt.Errorf("not a finite number")
	}
	switch f.Type {
	case Int:
		if x != math.Trunc(x) {
			return 0, fmt.Errorf("%v is not a whole number", x)
		}
	case Bool:
		if x != 0 && x != 1 {
			return 0, fmt.Errorf("%v is not 0 or 1", x)
		}
	case Categorical:
		if x != math.Trunc(x) || x < 0 || len(f.Categories) > 0 && x >= float64(len(f.Categories)) {
			return 0, fmt.Errorf("%v is not a category index", x)
		}
	}
	return x, nil
}
