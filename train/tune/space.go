package tune

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/plinthml/plinth"
)

// Space is the search space: each parameter's name and the domain its
// values come from. The names are what the objective reads from
// Trial.Params, and what ApplyGBT and ApplyLinear understand. In YAML:
//
//	max_depth:     {int: [3, 10]}
//	learning_rate: {log_uniform: [0.01, 0.3]}
//	subsample:     {uniform: [0.5, 1], points: 3}
//	growth:        {choice: [depthwise, lossguide]}
type Space map[string]Dim

// Dim is the domain of one parameter: exactly one of Int, Uniform,
// LogUniform and Choice. Ranges are [low, high] with low < high and both
// ends included. A slice rather than a pair, so that a range of the wrong
// length is an error rather than silently cut.
type Dim struct {
	Int     []int     `json:"int,omitempty" yaml:"int,omitempty"`         // values are int
	Uniform []float64 `json:"uniform,omitempty" yaml:"uniform,omitempty"` // values are float64
	// LogUniform is uniform in the logarithm, for scales such as learning
	// rates where 0.01 to 0.03 matters as much as 0.1 to 0.3; low > 0.
	// Values are float64.
	LogUniform []float64 `json:"log_uniform,omitempty" yaml:"log_uniform,omitempty"`
	// Choice lists the values themselves: int, float64, string or bool.
	Choice []any `json:"choice,omitempty" yaml:"choice,omitempty"`

	// Points is how many evenly spaced values grid search tries in a
	// numeric range (log-spaced for LogUniform). 0 means every integer of
	// an Int range, and Config.GridPoints for Uniform and LogUniform.
	Points int `json:"points,omitempty" yaml:"points,omitempty"`
}

// kinds names the domains a Dim sets.
func (d Dim) kinds() []string {
	var k []string
	if d.Int != nil {
		k = append(k, "int")
	}
	if d.Uniform != nil {
		k = append(k, "uniform")
	}
	if d.LogUniform != nil {
		k = append(k, "log_uniform")
	}
	if d.Choice != nil {
		k = append(k, "choice")
	}
	return k
}

// Validate checks every domain; errors name the parameter
// ("space.max_depth") and the problem.
func (s Space) Validate() error {
	if len(s) == 0 {
		return plinth.Invalid("space", "is empty: name at least one parameter to search")
	}
	for _, name := range s.names() {
		if strings.TrimSpace(name) == "" {
			return plinth.Invalid("space", "a parameter has an empty name")
		}
		if err := s[name].validate("space." + name); err != nil {
			return err
		}
	}
	return nil
}

func (d Dim) validate(field string) error {
	switch k := d.kinds(); len(k) {
	case 0:
		return plinth.Invalid(field, "has no domain: want one of int, uniform, log_uniform or choice")
	case 1:
	default:
		return plinth.Invalid(field, "has %s: want exactly one domain", strings.Join(k, " and "))
	}
	if d.Points < 0 || d.Points == 1 {
		return plinth.Invalid(field, "points must be 0 (the default) or >= 2, have %d", d.Points)
	}
	switch {
	case d.Int != nil:
		if len(d.Int) != 2 {
			return plinth.Invalid(field, "int wants [low, high], have %d values", len(d.Int))
		}
		if d.Int[0] >= d.Int[1] {
			return plinth.Invalid(field, "int low %d must be below high %d", d.Int[0], d.Int[1])
		}
		if uint64(d.Int[1]-d.Int[0]) > 1<<52 {
			return plinth.Invalid(field, "int range [%d, %d] is wider than 2^52", d.Int[0], d.Int[1])
		}
	case d.Uniform != nil:
		return checkRange(field, "uniform", d.Uniform, false)
	case d.LogUniform != nil:
		return checkRange(field, "log_uniform", d.LogUniform, true)
	default:
		if d.Points != 0 {
			return plinth.Invalid(field, "points applies to numeric ranges, not to choice")
		}
		if len(d.Choice) == 0 {
			return plinth.Invalid(field, "choice is empty: list at least one value")
		}
		for i, v := range d.Choice {
			switch v := v.(type) {
			case int, string, bool:
			case float64:
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return plinth.Invalid(field, "choice value %d is %v: want a finite number", i, v)
				}
			default:
				return plinth.Invalid(field, "choice value %d is a %T (%v): want an int, float, string or bool", i, v, v)
			}
			if slices.Index(d.Choice, v) < i {
				return plinth.Invalid(field, "choice lists %v twice", v)
			}
		}
	}
	return nil
}

func checkRange(field, kind string, r []float64, log bool) error {
	if len(r) != 2 {
		return plinth.Invalid(field, "%s wants [low, high], have %d values", kind, len(r))
	}
	lo, hi := r[0], r[1]
	for _, v := range r {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return plinth.Invalid(field, "%s bound %v is not a finite number", kind, v)
		}
	}
	if lo >= hi {
		return plinth.Invalid(field, "%s low %v must be below high %v", kind, lo, hi)
	}
	if log && lo <= 0 {
		return plinth.Invalid(field, "log_uniform low must be > 0, have %v", lo)
	}
	return nil
}

// names are the parameters in sorted order: every walk over the space
// goes in this order so that a seed gives the same draws.
func (s Space) names() []string {
	names := make([]string, 0, len(s))
	for name := range s {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// UnmarshalJSON decodes the space strictly and names the parameter in
// errors, which encoding/json would not for a map value.
func (s *Space) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return plinth.Invalid("space", "%v", err)
	}
	if raw == nil {
		*s = nil
		return nil
	}
	out := make(Space, len(raw))
	for name, r := range raw {
		var d Dim
		if err := d.UnmarshalJSON(r); err != nil {
			return plinth.Invalid("space."+name, "%v", err)
		}
		out[name] = d
	}
	*s = out
	return nil
}

// UnmarshalJSON rejects unknown fields (a misspelt "log-uniform" would
// otherwise leave an empty domain) and decodes choice numbers written
// without a fraction or exponent as int, as YAML does, so that choice:
// [100, 200] gives int values.
func (d *Dim) UnmarshalJSON(b []byte) error {
	type plain Dim // without this method
	var p plain
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return err
	}
	for i, v := range p.Choice {
		n, ok := v.(json.Number)
		if !ok {
			continue
		}
		if !strings.ContainsAny(string(n), ".eE") {
			if x, err := n.Int64(); err == nil && int64(int(x)) == x {
				p.Choice[i] = int(x)
				continue
			}
		}
		x, err := n.Float64()
		if err != nil {
			return fmt.Errorf("choice value %d: %w", i, err)
		}
		p.Choice[i] = x
	}
	*d = Dim(p)
	return nil
}

// random draws a value uniformly from the domain.
func (d Dim) random(r *rand.Rand) any {
	switch {
	case d.Int != nil:
		return d.Int[0] + int(r.Int64N(int64(d.Int[1]-d.Int[0])+1))
	case d.Uniform != nil:
		return d.Uniform[0] + r.Float64()*(d.Uniform[1]-d.Uniform[0])
	case d.LogUniform != nil:
		lo, hi := math.Log(d.LogUniform[0]), math.Log(d.LogUniform[1])
		return clamp(math.Exp(lo+r.Float64()*(hi-lo)), d.LogUniform[0], d.LogUniform[1])
	default:
		return d.Choice[r.IntN(len(d.Choice))]
	}
}

// gridValues are the values grid search tries: every choice, every
// integer (or Points of them), and Points (or points) evenly spaced values
// of a float range, ends included.
func (d Dim) gridValues(points int) []any {
	if d.Points > 0 {
		points = d.Points
	}
	var vals []any
	switch {
	case d.Int != nil:
		lo, hi := d.Int[0], d.Int[1]
		if d.Points == 0 || d.Points > hi-lo {
			for v := lo; v <= hi; v++ {
				vals = append(vals, v)
			}
			return vals
		}
		// Spacing >= 1, so the rounded values are distinct.
		for i := range points {
			vals = append(vals, lo+int(math.Round(float64(i)*float64(hi-lo)/float64(points-1))))
		}
	case d.Uniform != nil:
		lo, hi := d.Uniform[0], d.Uniform[1]
		for i := range points {
			vals = append(vals, lo+float64(i)*(hi-lo)/float64(points-1))
		}
		vals[points-1] = hi
	case d.LogUniform != nil:
		lo, hi := math.Log(d.LogUniform[0]), math.Log(d.LogUniform[1])
		for i := range points {
			vals = append(vals, math.Exp(lo+float64(i)*(hi-lo)/float64(points-1)))
		}
		vals[0], vals[points-1] = d.LogUniform[0], d.LogUniform[1]
	default:
		vals = d.Choice
	}
	return vals
}

func clamp(v, lo, hi float64) float64 { return min(max(v, lo), hi) }
