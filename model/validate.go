package model

import (
	"fmt"
	"math"

	"github.com/plinthml/plinth"
)

// Validate checks that m is a well-formed model: every index in range, every
// number finite, every tree a tree (acyclic, each node reached once from the
// root, no deeper than MaxDepth), within the package's size limits. Errors
// are EINVALID *plinth.Error values whose Field is the JSON path of the
// offending value, such as "trees.trees[3].nodes[17].left".
func (m *Model) Validate() error {
	if m.FormatVersion != FormatVersion {
		return plinth.Invalid("format_version", "version %d is not supported (this build reads %d)", m.FormatVersion, FormatVersion)
	}
	if err := m.Signature.validate(); err != nil {
		return err
	}
	if err := m.Objective.validate(); err != nil {
		return err
	}
	nout := m.NumOutputs()
	if len(m.BaseScore) != nout {
		return plinth.Invalid("base_score", "has %d values, the objective has %d outputs", len(m.BaseScore), nout)
	}
	for i, v := range m.BaseScore {
		if !finite(v) {
			return plinth.Invalid(fmt.Sprintf("base_score[%d]", i), "not a finite number")
		}
	}
	switch {
	case m.Trees != nil && m.Linear != nil:
		return plinth.Invalid("trees", "a model has trees or linear, not both")
	case m.Trees != nil:
		return m.Trees.validate(&m.Signature, nout)
	case m.Linear != nil:
		return m.Linear.validate(&m.Signature, nout)
	}
	return plinth.Invalid("trees", "a model needs trees or linear")
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func (s *Signature) validate() error {
	if len(s.Features) > MaxFeatures {
		return plinth.Invalid("signature.features", "has %d features, more than the limit of %d", len(s.Features), MaxFeatures)
	}
	seen := make(map[string]int, len(s.Features))
	for i := range s.Features {
		f := &s.Features[i]
		path := fmt.Sprintf("signature.features[%d]", i)
		if f.Name == "" {
			return plinth.Invalid(path+".name", "must not be empty")
		}
		if j, dup := seen[f.Name]; dup {
			return plinth.Invalid(path+".name", "%q is also the name of feature %d", f.Name, j)
		}
		seen[f.Name] = i
		switch f.Type {
		case Float, Int, Bool:
			if len(f.Categories) > 0 {
				return plinth.Invalid(path+".categories", "only a categorical feature has categories, this one is %q", f.Type)
			}
		case Categorical:
			if len(f.Categories) > MaxCategory {
				return plinth.Invalid(path+".categories", "has %d categories, more than the limit of %d", len(f.Categories), MaxCategory)
			}
			cats := make(map[string]bool, len(f.Categories))
			for j, c := range f.Categories {
				if cats[c] {
					return plinth.Invalid(fmt.Sprintf("%s.categories[%d]", path, j), "category %q appears twice", c)
				}
				cats[c] = true
			}
		default:
			return plinth.Invalid(path+".type", "unknown feature type %q (want float, int, bool or categorical)", f.Type)
		}
	}
	return nil
}

func (o *Objective) validate() error {
	switch o.Name {
	case MultiSoftprob, MultiOVA:
		if o.NumClass < 2 || o.NumClass > MaxClasses {
			return plinth.Invalid("objective.num_class", "%s needs 2 to %d classes, have %d", o.Name, MaxClasses, o.NumClass)
		}
	case BinaryLogistic, BinaryLogitRaw, RegSquaredError, RegPseudoHuber, RegAbsoluteError,
		RegQuantile, CountPoisson, RegGamma, RegTweedie:
		if o.NumClass > 1 {
			return plinth.Invalid("objective.num_class", "%s has one output, num_class is %d", o.Name, o.NumClass)
		}
	case "":
		return plinth.Invalid("objective.name", "missing")
	default:
		return plinth.Invalid("objective.name", "unknown objective %q", o.Name)
	}
	if !finite(o.SigmoidScale) || o.SigmoidScale < 0 {
		return plinth.Invalid("objective.sigmoid_scale", "must be a finite number >= 0")
	}
	return nil
}

func (t *Trees) validate(sig *Signature, nout int) error {
	switch t.Split {
	case "", Less, LessOrEqual:
	default:
		return plinth.Invalid("trees.split", "unknown comparison %q (want \"<\" or \"<=\")", t.Split)
	}
	switch t.Precision {
	case "", Float64, Float32:
	default:
		return plinth.Invalid("trees.precision", "unknown precision %q (want float64 or float32)", t.Precision)
	}
	if len(t.Trees) > MaxTrees {
		return plinth.Invalid("trees.trees", "has %d trees, more than the limit of %d", len(t.Trees), MaxTrees)
	}
	total := 0
	var seen []bool // reused across trees
	var stack []stackEntry
	for i := range t.Trees {
		tr := &t.Trees[i]
		path := fmt.Sprintf("trees.trees[%d]", i)
		if tr.Output < 0 || tr.Output >= nout {
			return plinth.Invalid(path+".output", "output %d out of range: the model has %d outputs", tr.Output, nout)
		}
		n := len(tr.Nodes)
		if n == 0 {
			return plinth.Invalid(path+".nodes", "a tree needs at least one node")
		}
		if n > MaxTreeNodes {
			return plinth.Invalid(path+".nodes", "has %d nodes, more than the limit of %d", n, MaxTreeNodes)
		}
		total += n
		if total > MaxNodes {
			return plinth.Invalid(path+".nodes", "the model has more than the limit of %d nodes", MaxNodes)
		}
		for j := range tr.Nodes {
			if err := tr.Nodes[j].validate(sig, n); err != nil {
				// The path is built only now: a Sprintf per node was a tenth
				// of parsing a model (BenchmarkParse).
				err.Field = fmt.Sprintf("%s.nodes[%d].%s", path, j, err.Field)
				return err
			}
		}
		// Walk from the root: each node must be reached exactly once, which
		// rules out cycles, shared subtrees and orphans in one pass.
		if cap(seen) < n {
			seen = make([]bool, n)
		}
		seen = seen[:n]
		clear(seen)
		stack = append(stack[:0], stackEntry{0, 0}) // depth counts splits above a node
		reached := 0
		for len(stack) > 0 {
			e := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen[e.node] {
				return plinth.Invalid(fmt.Sprintf("%s.nodes[%d]", path, e.node), "reached twice from the root: the nodes do not form a tree")
			}
			seen[e.node] = true
			reached++
			if e.depth > MaxDepth {
				return plinth.Invalid(fmt.Sprintf("%s.nodes[%d]", path, e.node), "deeper than the limit of %d", MaxDepth)
			}
			nd := &tr.Nodes[e.node]
			if !nd.IsLeaf() {
				stack = append(stack, stackEntry{int32(nd.Right), e.depth + 1}, stackEntry{int32(nd.Left), e.depth + 1})
			}
		}
		if reached != n {
			for j, ok := range seen {
				if !ok {
					return plinth.Invalid(fmt.Sprintf("%s.nodes[%d]", path, j), "not reachable from the root")
				}
			}
		}
	}
	return nil
}

type stackEntry struct {
	node  int32
	depth int32
}

// validate checks a node of a tree of n nodes; the error's field is the
// node's own (cover, categories[2]), which the caller places in the model.
func (nd *Node) validate(sig *Signature, n int) *plinth.Error {
	if !finite(nd.Cover) || nd.Cover < 0 {
		return plinth.Invalid("cover", "must be a finite number >= 0")
	}
	if !finite(nd.Gain) {
		return plinth.Invalid("gain", "not a finite number")
	}
	if nd.IsLeaf() {
		if !finite(nd.Value) {
			return plinth.Invalid("value", "not a finite number")
		}
		if len(nd.Categories) > 0 {
			return plinth.Invalid("categories", "a leaf has no split")
		}
		return nil
	}
	if nd.Left <= 0 || nd.Left >= n {
		return plinth.Invalid("left", "child index %d out of range [1, %d)", nd.Left, n)
	}
	if nd.Right <= 0 || nd.Right >= n {
		return plinth.Invalid("right", "child index %d out of range [1, %d)", nd.Right, n)
	}
	if nd.Left == nd.Right {
		return plinth.Invalid("right", "same child %d as left", nd.Right)
	}
	if nd.Feature < 0 || nd.Feature >= len(sig.Features) {
		return plinth.Invalid("feature", "feature index %d out of range: the signature has %d features", nd.Feature, len(sig.Features))
	}
	if !finite(nd.Threshold) {
		return plinth.Invalid("threshold", "not a finite number")
	}
	switch nd.Missing {
	case MissingNaN, MissingZero, MissingAsZero:
	default:
		return plinth.Invalid("missing", "unknown rule %q (want \"\", \"zero\" or \"as_zero\")", nd.Missing)
	}
	if len(nd.Categories) > 0 {
		f := &sig.Features[nd.Feature]
		if f.Type != Categorical {
			return plinth.Invalid("categories", "a category split on feature %q of type %q", f.Name, f.Type)
		}
		for k, c := range nd.Categories {
			if c < 0 || c >= MaxCategory {
				return plinth.Invalid(fmt.Sprintf("categories[%d]", k), "category %d out of range [0, %d)", c, MaxCategory)
			}
			if len(f.Categories) > 0 && c >= len(f.Categories) {
				return plinth.Invalid(fmt.Sprintf("categories[%d]", k), "category %d out of range: feature %q has %d categories", c, f.Name, len(f.Categories))
			}
		}
	}
	return nil
}

func (l *Linear) validate(sig *Signature, nout int) error {
	if len(l.Intercept) != nout {
		return plinth.Invalid("linear.intercept", "has %d values, the objective has %d outputs", len(l.Intercept), nout)
	}
	for i, v := range l.Intercept {
		if !finite(v) {
			return plinth.Invalid(fmt.Sprintf("linear.intercept[%d]", i), "not a finite number")
		}
	}
	if len(l.Terms) > len(sig.Features) {
		return plinth.Invalid("linear.terms", "has %d terms for %d features", len(l.Terms), len(sig.Features))
	}
	used := make([]bool, len(sig.Features))
	for i := range l.Terms {
		t := &l.Terms[i]
		path := fmt.Sprintf("linear.terms[%d]", i)
		if t.Feature < 0 || t.Feature >= len(sig.Features) {
			return plinth.Invalid(path+".feature", "feature index %d out of range: the signature has %d features", t.Feature, len(sig.Features))
		}
		if used[t.Feature] {
			return plinth.Invalid(path+".feature", "feature %d has two terms", t.Feature)
		}
		used[t.Feature] = true
		f := &sig.Features[t.Feature]
		if err := checkFinite(path+".weights", t.Weights); err != nil {
			return err
		}
		if err := checkFinite(path+".reference", t.Reference); err != nil {
			return err
		}
		if f.Type == Categorical {
			if len(t.Weights) > 0 {
				return plinth.Invalid(path+".weights", "a categorical feature has category_weights, not weights")
			}
			if len(t.CategoryWeights) > MaxCategory || len(f.Categories) > 0 && len(t.CategoryWeights) > len(f.Categories) {
				return plinth.Invalid(path+".category_weights", "has %d categories, feature %q has %d", len(t.CategoryWeights), f.Name, len(f.Categories))
			}
			for c, w := range t.CategoryWeights {
				p := fmt.Sprintf("%s.category_weights[%d]", path, c)
				if len(w) != nout {
					return plinth.Invalid(p, "has %d values, the objective has %d outputs", len(w), nout)
				}
				if err := checkFinite(p, w); err != nil {
					return err
				}
			}
			if len(t.Reference) != 0 && len(t.Reference) != nout {
				return plinth.Invalid(path+".reference", "has %d values, the objective has %d outputs", len(t.Reference), nout)
			}
			continue
		}
		if len(t.CategoryWeights) > 0 || len(t.Reference) > 0 {
			return plinth.Invalid(path+".category_weights", "feature %q is not categorical", f.Name)
		}
		if len(t.Weights) != nout {
			return plinth.Invalid(path+".weights", "has %d values, the objective has %d outputs", len(t.Weights), nout)
		}
		if !finite(t.Mean) {
			return plinth.Invalid(path+".mean", "not a finite number")
		}
		if !finite(t.Scale) || t.Scale < 0 {
			return plinth.Invalid(path+".scale", "must be a finite number > 0 (or 0 for 1)")
		}
	}
	return nil
}

func checkFinite(path string, vs []float64) error {
	for i, v := range vs {
		if !finite(v) {
			return plinth.Invalid(fmt.Sprintf("%s[%d]", path, i), "not a finite number")
		}
	}
	return nil
}
