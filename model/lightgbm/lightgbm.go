// Package lightgbm imports models saved by LightGBM in its text format
// (save_model / the CLI's output_model; header "tree", version v2 to v4)
// into plinth's native model.
//
// LightGBM's decisions are reproduced exactly: a numerical split sends x
// left when x <= threshold (in float64); decision_type's bits give the
// default direction (bit 1) and the missing type (bits 2-3: None reads NaN
// as 0, Zero treats NaN and |x| <= 1e-35 as missing, NaN treats NaN as
// missing); a categorical split (bit 0) sends x left when int(x) is in the
// cat_threshold bitset, and NaN or negative values right (as LightGBM >= 3
// does; 2.x read NaN as category 0 unless missing_type was NaN).
// Raw scores are the plain sum of the leaf values; average_output models
// (random forests) are averaged.
//
// Supported objectives: binary, multiclass, multiclassova, cross_entropy,
// regression (l2, l1, huber, fair, quantile, mape) and poisson, gamma,
// tweedie. Linear trees and ranking objectives are refused.
package lightgbm

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/model"
)

// Decode reads a LightGBM text model from r (at most model.MaxFileBytes).
func Decode(r io.Reader) (*model.Model, error) {
	data, err := model.ReadAll(r, model.MaxFileBytes)
	if err != nil {
		return nil, err
	}
	return Parse(data)
}

// block is the key=value lines of the header or of one Tree= section. The
// values are substrings of the file: nothing is copied until a field is
// parsed, and then only as many values as the header says there are.
type block struct {
	name   string // "header" or "Tree=N", for error fields
	values map[string]string
	flags  map[string]bool // lines without '=' (e.g. average_output)
}

func (b *block) field(key string) string { return b.name + "." + key }

// Parse converts a LightGBM text model into a validated native model.
func Parse(data []byte) (*model.Model, error) {
	if len(data) > model.MaxFileBytes {
		return nil, plinth.Errorf(plinth.EINVALID, "model file is larger than the limit of %d bytes", model.MaxFileBytes)
	}
	header, trees, err := split(string(data))
	if err != nil {
		return nil, err
	}
	m := &model.Model{
		FormatVersion: model.FormatVersion,
		Source:        &model.Source{Library: "lightgbm", Version: header.values["version"], Format: "lightgbm-text"},
	}
	nfeat, err := header.int("max_feature_idx", -1, model.MaxFeatures-1)
	if err != nil {
		return nil, err
	}
	nfeat++
	nclass := 1
	if _, ok := header.values["num_class"]; ok {
		if nclass, err = header.int("num_class", 1, model.MaxClasses); err != nil {
			return nil, err
		}
	}
	perIter := nclass
	if _, ok := header.values["num_tree_per_iteration"]; ok {
		if perIter, err = header.int("num_tree_per_iteration", 1, model.MaxClasses); err != nil {
			return nil, err
		}
	}
	if err := objective(m, header, nclass); err != nil {
		return nil, err
	}
	if perIter != m.NumOutputs() {
		return nil, plinth.Invalid(header.field("num_tree_per_iteration"), "%d trees per iteration for %d outputs", perIter, m.NumOutputs())
	}
	if m.Signature, err = signature(header, nfeat); err != nil {
		return nil, err
	}
	m.BaseScore = make([]float64, m.NumOutputs())

	ts := &model.Trees{Split: model.LessOrEqual, Precision: model.Float64, Trees: make([]model.Tree, len(trees))}
	total := 0
	for i := range trees {
		b, err := trees[i].parse()
		if err != nil {
			return nil, err
		}
		nodes, err := tree(&b, &m.Signature)
		if err != nil {
			return nil, err
		}
		total += len(nodes)
		if total > model.MaxNodes {
			return nil, plinth.Invalid(trees[i].name, "the model has more than the limit of %d nodes", model.MaxNodes)
		}
		ts.Trees[i] = model.Tree{Output: i % perIter, Nodes: nodes}
	}
	if header.flags["average_output"] && len(trees) > 0 {
		// LightGBM divides the sum by the number of iterations.
		iters := float64((len(trees) + perIter - 1) / perIter)
		for i := range ts.Trees {
			for j := range ts.Trees[i].Nodes {
				if n := &ts.Trees[i].Nodes[j]; n.IsLeaf() {
					n.Value /= iters
				}
			}
		}
	}
	m.Trees = ts
	if _, err := m.Predictor(); err != nil {
		return nil, fmt.Errorf("imported model does not validate: %w", err)
	}
	return m, nil
}

// split cuts the file into the header and the Tree= sections, stopping at
// "end of trees" (what follows is importances and parameters). Sections
// stay unparsed text (substrings of the file) until tree reads them one at
// a time, so a file of a million empty "Tree=" lines costs little memory.
func split(text string) (block, []section, error) {
	header := block{name: "header", values: map[string]string{}, flags: map[string]bool{}}
	var trees []section
	first := true
	for lineNo := 1; text != ""; lineNo++ {
		var line string
		rest := text
		line, text, _ = strings.Cut(text, "\n")
		line = strings.TrimRight(line, "\r")
		if first {
			if strings.TrimSpace(line) != "tree" {
				return header, nil, plinth.Errorf(plinth.EINVALID, "not a LightGBM text model: the first line is not \"tree\"")
			}
			first = false
			continue
		}
		if line == "" {
			continue
		}
		if line == "end of trees" {
			if n := len(trees); n > 0 {
				trees[n-1].text = trees[n-1].text[:len(trees[n-1].text)-len(rest)]
			}
			return header, trees, nil
		}
		key, value, ok := strings.Cut(line, "=")
		if key == "Tree" {
			if len(trees) >= model.MaxTrees {
				return header, nil, plinth.Errorf(plinth.EINVALID, "line %d: more than the limit of %d trees", lineNo, model.MaxTrees)
			}
			if value != strconv.Itoa(len(trees)) {
				return header, nil, plinth.Invalid("Tree="+clip(value), "line %d: expected Tree=%d", lineNo, len(trees))
			}
			if n := len(trees); n > 0 {
				trees[n-1].text = trees[n-1].text[:len(trees[n-1].text)-len(rest)]
			}
			trees = append(trees, section{name: "Tree=" + value, text: text})
			continue
		}
		if len(trees) > 0 {
			continue // inside a tree section: read later
		}
		if !ok {
			if knownFlags[line] {
				header.flags[line] = true
			}
			continue
		}
		if len(header.values) > 64 {
			return header, nil, plinth.Invalid("header", "line %d: too many fields", lineNo)
		}
		header.values[key] = value
	}
	if first {
		return header, nil, plinth.Errorf(plinth.EINVALID, "empty model file")
	}
	return header, nil, plinth.Errorf(plinth.EINVALID, "model file is truncated: no \"end of trees\" line")
}

// knownFlags are the header lines without '=' that change predictions.
var knownFlags = map[string]bool{"average_output": true}

// section is the unparsed text of one Tree= block.
type section struct {
	name string
	text string
}

// parse reads a section's key=value lines (at most 64 of them).
func (s section) parse() (block, error) {
	b := block{name: s.name, values: map[string]string{}}
	text := s.text
	for text != "" {
		var line string
		line, text, _ = strings.Cut(text, "\n")
		key, value, ok := strings.Cut(strings.TrimRight(line, "\r"), "=")
		if !ok {
			continue
		}
		if len(b.values) >= 64 {
			return b, plinth.Invalid(s.name, "too many fields")
		}
		b.values[key] = value
	}
	return b, nil
}

func (b *block) int(key string, lo, hi int) (int, error) {
	s, ok := b.values[key]
	if !ok {
		return 0, plinth.Invalid(b.field(key), "missing")
	}
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || v < lo || v > hi {
		return 0, plinth.Invalid(b.field(key), "%q is not a whole number in [%d, %d]", clip(s), lo, hi)
	}
	return v, nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// floats parses exactly n space-separated numbers of key. It never
// allocates more than n values, whatever the line holds.
func (b *block) floats(key string, n int, required bool) ([]float64, error) {
	s, ok := b.values[key]
	if !ok {
		if required {
			return nil, plinth.Invalid(b.field(key), "missing")
		}
		return nil, nil
	}
	out := make([]float64, 0, n)
	for s = strings.TrimSpace(s); s != ""; {
		var tok string
		tok, s, _ = strings.Cut(s, " ")
		if tok == "" {
			continue
		}
		if len(out) == n {
			return nil, plinth.Invalid(b.field(key), "has more than the %d values expected", n)
		}
		v, err := strconv.ParseFloat(tok, 64)
		if err != nil {
			return nil, plinth.Invalid(fmt.Sprintf("%s[%d]", b.field(key), len(out)), "%q is not a number", clip(tok))
		}
		out = append(out, v)
	}
	if len(out) != n {
		return nil, plinth.Invalid(b.field(key), "has %d values, expected %d", len(out), n)
	}
	return out, nil
}

// ints is floats for whole numbers in [lo, hi].
func (b *block) ints(key string, n int, lo, hi int, required bool) ([]int, error) {
	fs, err := b.floats(key, n, required)
	if err != nil || fs == nil {
		return nil, err
	}
	out := make([]int, n)
	for i, v := range fs {
		if v != math.Trunc(v) || v < float64(lo) || v > float64(hi) {
			return nil, plinth.Invalid(fmt.Sprintf("%s[%d]", b.field(key), i), "%v is not a whole number in [%d, %d]", v, lo, hi)
		}
		out[i] = int(v)
	}
	return out, nil
}

func objective(m *model.Model, h block, nclass int) error {
	spec, ok := h.values["objective"]
	if !ok {
		return plinth.Invalid(h.field("objective"), "missing")
	}
	words := strings.Fields(spec)
	if len(words) == 0 {
		return plinth.Invalid(h.field("objective"), "empty")
	}
	params := map[string]string{}
	for _, w := range words[1:] {
		k, v, _ := strings.Cut(w, ":")
		params[k] = v
	}
	if _, ok := params["sqrt"]; ok {
		return plinth.Invalid(h.field("objective"), "reg_sqrt models are not supported")
	}
	o := &m.Objective
	if s, ok := params["sigmoid"]; ok {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || !(v > 0) || math.IsInf(v, 0) {
			return plinth.Invalid(h.field("objective"), "sigmoid %q is not a positive number", s)
		}
		if v != 1 {
			o.SigmoidScale = v
		}
	}
	switch words[0] {
	case "binary":
		o.Name = model.BinaryLogistic
	case "cross_entropy", "xentropy":
		o.Name = model.BinaryLogistic
		o.SigmoidScale = 0
	case "multiclass", "softmax":
		o.Name = model.MultiSoftprob
		o.NumClass = nclass
	case "multiclassova", "multiclass_ova", "ova", "ovr":
		o.Name = model.MultiOVA
		o.NumClass = nclass
	case "regression", "regression_l2", "l2", "mean_squared_error", "mse", "fair", "mape":
		o.Name = model.RegSquaredError
	case "regression_l1", "l1", "mean_absolute_error", "mae":
		o.Name = model.RegAbsoluteError
	case "huber":
		o.Name = model.RegPseudoHuber
	case "quantile":
		o.Name = model.RegQuantile
		if a, err := strconv.ParseFloat(params["alpha"], 64); err == nil && a > 0 && a < 1 {
			o.QuantileAlpha = a
		}
	case "poisson":
		o.Name = model.CountPoisson
	case "gamma":
		o.Name = model.RegGamma
	case "tweedie":
		o.Name = model.RegTweedie
	default:
		return plinth.Invalid(h.field("objective"), "objective %q is not supported", words[0])
	}
	if o.NumClass == 0 && nclass != 1 {
		return plinth.Invalid(h.field("num_class"), "%d classes for objective %s", nclass, words[0])
	}
	if o.NumClass == 1 {
		return plinth.Invalid(h.field("num_class"), "objective %s needs at least 2 classes", words[0])
	}
	return nil
}

// signature names the features (feature_names) and marks as categorical
// those whose feature_infos entry lists categories ("1:5:3") rather than a
// range ("[0:7]") or "none".
func signature(h block, nfeat int) (model.Signature, error) {
	names := strings.Fields(h.values["feature_names"])
	infos := strings.Fields(h.values["feature_infos"])
	if len(names) != 0 && len(names) != nfeat {
		return model.Signature{}, plinth.Invalid(h.field("feature_names"), "has %d names, max_feature_idx says %d features", len(names), nfeat)
	}
	if len(infos) != 0 && len(infos) != nfeat {
		return model.Signature{}, plinth.Invalid(h.field("feature_infos"), "has %d entries, max_feature_idx says %d features", len(infos), nfeat)
	}
	fs := make([]model.Feature, nfeat)
	seen := map[string]bool{}
	for i := range fs {
		fs[i] = model.Feature{Name: "Column_" + strconv.Itoa(i), Type: model.Float, Nullable: true}
		if len(names) > 0 {
			fs[i].Name = names[i]
		}
		if seen[fs[i].Name] {
			fs[i].Name = fmt.Sprintf("%s#%d", fs[i].Name, i)
		}
		seen[fs[i].Name] = true
		if len(infos) > 0 && infos[i] != "none" && !strings.HasPrefix(infos[i], "[") {
			fs[i].Type = model.Categorical
		}
	}
	return model.Signature{Features: fs}, nil
}

const (
	catMask         = 1
	defaultLeftMask = 2
)

// tree converts one Tree= block. LightGBM numbers internal nodes 0..L-2
// (0 is the root) and refers to leaf j as child ^j (-j-1); the native tree
// keeps the internal nodes' numbers and puts leaf j at L-1+j.
func tree(b *block, sig *model.Signature) ([]model.Node, error) {
	leaves, err := b.int("num_leaves", 1, model.MaxTreeNodes/2)
	if err != nil {
		return nil, err
	}
	if _, ok := b.values["is_linear"]; ok && strings.TrimSpace(b.values["is_linear"]) != "0" {
		return nil, plinth.Invalid(b.field("is_linear"), "linear trees are not supported")
	}
	leafValue, err := b.floats("leaf_value", leaves, true)
	if err != nil {
		return nil, err
	}
	leafCount, err := b.floats("leaf_count", leaves, false)
	if err != nil {
		return nil, err
	}
	if leaves == 1 {
		n := model.Node{Value: leafValue[0]}
		if leafCount != nil {
			n.Cover = leafCount[0]
		}
		return []model.Node{n}, nil
	}
	inner := leaves - 1
	nf := len(sig.Features)
	feature, err := b.ints("split_feature", inner, 0, nf-1, true)
	if err != nil {
		return nil, err
	}
	gain, err := b.floats("split_gain", inner, false)
	if err != nil {
		return nil, err
	}
	threshold, err := b.floats("threshold", inner, true)
	if err != nil {
		return nil, err
	}
	decision, err := b.ints("decision_type", inner, 0, 255, false)
	if err != nil {
		return nil, err
	}
	left, err := b.ints("left_child", inner, -leaves, inner-1, true)
	if err != nil {
		return nil, err
	}
	right, err := b.ints("right_child", inner, -leaves, inner-1, true)
	if err != nil {
		return nil, err
	}
	innerCount, err := b.floats("internal_count", inner, false)
	if err != nil {
		return nil, err
	}
	var catBounds, catBits []int
	numCat := 0
	if _, ok := b.values["num_cat"]; ok {
		if numCat, err = b.int("num_cat", 0, inner); err != nil {
			return nil, err
		}
	}
	if numCat > 0 {
		if catBounds, err = b.ints("cat_boundaries", numCat+1, 0, model.MaxCategory/32+1, true); err != nil {
			return nil, err
		}
		words := catBounds[numCat]
		for i := 1; i <= numCat; i++ {
			if catBounds[i] < catBounds[i-1] {
				return nil, plinth.Invalid(fmt.Sprintf("%s[%d]", b.field("cat_boundaries"), i), "boundaries must not decrease")
			}
		}
		if catBits, err = b.ints("cat_threshold", words, 0, math.MaxUint32, true); err != nil {
			return nil, err
		}
	}

	nodes := make([]model.Node, inner+leaves)
	child := func(c int) int {
		if c < 0 {
			return inner + (-c - 1)
		}
		return c
	}
	for i := range inner {
		n := &nodes[i]
		n.Feature = feature[i]
		n.Left, n.Right = child(left[i]), child(right[i])
		if gain != nil {
			n.Gain = gain[i]
		}
		if innerCount != nil {
			n.Cover = innerCount[i]
		}
		dt := 0
		if decision != nil {
			dt = decision[i]
		}
		if dt&catMask != 0 {
			idx := threshold[i]
			if idx != math.Trunc(idx) || idx < 0 || idx >= float64(numCat) {
				return nil, plinth.Invalid(fmt.Sprintf("%s[%d]", b.field("threshold"), i), "category split %v out of range [0, %d)", idx, numCat)
			}
			lo, hi := catBounds[int(idx)], catBounds[int(idx)+1]
			for w, word := range catBits[lo:hi] {
				for bit := range 32 {
					if word&(1<<bit) != 0 {
						n.Categories = append(n.Categories, w*32+bit)
					}
				}
			}
			if len(n.Categories) == 0 {
				return nil, plinth.Invalid(fmt.Sprintf("%s[%d]", b.field("cat_threshold"), i), "category split with an empty category set")
			}
			if sig.Features[n.Feature].Type != model.Categorical {
				sig.Features[n.Feature].Type = model.Categorical
			}
			// NaN (and negatives) go right in LightGBM >= 3.
			n.DefaultLeft = false
			continue
		}
		n.Threshold = threshold[i]
		n.DefaultLeft = dt&defaultLeftMask != 0
		switch (dt >> 2) & 3 {
		case 0:
			n.Missing = model.MissingAsZero
		case 1:
			n.Missing = model.MissingZero
		case 2:
			n.Missing = model.MissingNaN
		default:
			return nil, plinth.Invalid(fmt.Sprintf("%s[%d]", b.field("decision_type"), i), "unknown missing type in %d", dt)
		}
	}
	for j := range leaves {
		n := &nodes[inner+j]
		n.Value = leafValue[j]
		if leafCount != nil {
			n.Cover = leafCount[j]
		}
	}
	return nodes, nil
}
