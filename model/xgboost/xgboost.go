// Package xgboost imports models saved by XGBoost (>= 1.0) in its JSON
// format, save_model("x.json"), into plinth's native model.
//
// The result predicts exactly what XGBoost predicts: XGBoost rounds feature
// values to float32, sends x left when x < split_condition (float32), sends
// NaN the default_left way, and sums leaf values in float32 starting from
// the base margin; the imported model says so (Trees.Precision = float32).
// Supported: gbtree and dart boosters (numerical and categorical splits),
// gblinear, and the objectives binary:logistic, binary:logitraw,
// reg:logistic, multi:softprob, multi:softmax (imported as softprob: it
// predicts probabilities), reg:squarederror, reg:pseudohubererror,
// reg:absoluteerror, reg:quantileerror (one quantile), count:poisson,
// reg:gamma and reg:tweedie.
package xgboost

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/model"
)

type file struct {
	Learner *learner `json:"learner"`
	Version []int    `json:"version"`
}

type learner struct {
	FeatureNames []string        `json:"feature_names"`
	FeatureTypes []string        `json:"feature_types"`
	Booster      json.RawMessage `json:"gradient_booster"`
	Param        struct {
		BaseScore  string `json:"base_score"`
		NumClass   string `json:"num_class"`
		NumFeature string `json:"num_feature"`
		NumTarget  string `json:"num_target"`
	} `json:"learner_model_param"`
	Objective struct {
		Name        string `json:"name"`
		PseudoHuber struct {
			Slope string `json:"huber_slope"`
		} `json:"pseudo_huber_param"`
		Quantile struct {
			Alpha string `json:"quantile_alpha"`
		} `json:"quantile_loss_param"`
	} `json:"objective"`
}

type booster struct {
	Name       string       `json:"name"`
	Model      *gbtreeModel `json:"model"`
	Dart       *dart        `json:"gbtree"` // dart nests the gbtree
	WeightDrop []float64    `json:"weight_drop"`
}

type dart struct {
	Model *gbtreeModel `json:"model"`
}

type gbtreeModel struct {
	TreeInfo []int   `json:"tree_info"`
	Trees    []xtree `json:"trees"`
	// gblinear keeps its weights here.
	Weights []float64 `json:"weights"`
}

type xtree struct {
	ID                 int        `json:"id"`
	LeftChildren       []int      `json:"left_children"`
	RightChildren      []int      `json:"right_children"`
	SplitIndices       []int      `json:"split_indices"`
	SplitConditions    []nanFloat `json:"split_conditions"`
	SplitType          []int      `json:"split_type"`
	DefaultLeft        flexBools  `json:"default_left"`
	LossChanges        []nanFloat `json:"loss_changes"`
	SumHessian         []nanFloat `json:"sum_hessian"`
	Categories         []int      `json:"categories"`
	CategoriesNodes    []int      `json:"categories_nodes"`
	CategoriesSegments []int      `json:"categories_segments"`
	CategoriesSizes    []int      `json:"categories_sizes"`
	Param              struct {
		NumNodes       string `json:"num_nodes"`
		SizeLeafVector string `json:"size_leaf_vector"`
	} `json:"tree_param"`
}

// nanFloat is a number that may be null: XGBoost writes NaN (not JSON) as
// the split condition of categorical splits, which Parse turns into null.
type nanFloat float64

func (f *nanFloat) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		*f = nanFloat(math.NaN())
		return nil
	}
	v, err := strconv.ParseFloat(string(data), 64)
	if err != nil {
		return fmt.Errorf("%s is not a number", data)
	}
	*f = nanFloat(v)
	return nil
}

// replaceNonFinite returns data with the bare NaN, Infinity and -Infinity
// tokens XGBoost writes (outside strings) replaced by null, so that
// encoding/json accepts the file. It copies only when there is one.
func replaceNonFinite(data []byte) []byte {
	if !bytes.Contains(data, []byte("NaN")) && !bytes.Contains(data, []byte("Infinity")) {
		return data
	}
	out := make([]byte, 0, len(data))
	inString, escaped := false, false
	for i := 0; i < len(data); i++ {
		c := data[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			out = append(out, c)
			continue
		}
		if c == '"' {
			inString = true
		}
		matched := false
		for _, tok := range nonFinite {
			if bytes.HasPrefix(data[i:], tok) {
				out = append(out, "null"...)
				i += len(tok) - 1
				matched = true
				break
			}
		}
		if !matched {
			out = append(out, c)
		}
	}
	return out
}

var nonFinite = [][]byte{[]byte("-Infinity"), []byte("Infinity"), []byte("-NaN"), []byte("NaN")}

// flexBools reads default_left, written as 0/1 by XGBoost 1.x and as
// booleans by some later writers.
type flexBools []bool

func (b *flexBools) UnmarshalJSON(data []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	out := make([]bool, len(raw))
	for i, r := range raw {
		switch s := string(bytes.TrimSpace(r)); s {
		case "true", "1":
			out[i] = true
		case "false", "0":
		default:
			return fmt.Errorf("default_left[%d]: %s is not a boolean", i, s)
		}
	}
	*b = out
	return nil
}

// Decode reads an XGBoost JSON model from r (at most model.MaxFileBytes).
func Decode(r io.Reader) (*model.Model, error) {
	data, err := model.ReadAll(r, model.MaxFileBytes)
	if err != nil {
		return nil, err
	}
	return Parse(data)
}

// Parse converts an XGBoost JSON model into a validated native model.
func Parse(data []byte) (*model.Model, error) {
	if len(data) > model.MaxFileBytes {
		return nil, plinth.Errorf(plinth.EINVALID, "model file is larger than the limit of %d bytes", model.MaxFileBytes)
	}
	if err := model.CheckJSONShape(data, model.MaxJSONObjects, model.MaxJSONValues); err != nil {
		return nil, err
	}
	data = replaceNonFinite(data)
	var f file
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, model.JSONError(err)
	}
	if f.Learner == nil {
		return nil, plinth.Invalid("learner", "missing: not an XGBoost JSON model")
	}
	L := f.Learner
	m := &model.Model{
		FormatVersion: model.FormatVersion,
		Source:        &model.Source{Library: "xgboost", Format: "xgboost-json"},
	}
	if len(f.Version) == 3 {
		m.Source.Version = fmt.Sprintf("%d.%d.%d", f.Version[0], f.Version[1], f.Version[2])
	}
	nfeat, err := param("learner.learner_model_param.num_feature", L.Param.NumFeature, 0, model.MaxFeatures)
	if err != nil {
		return nil, err
	}
	nclass, err := param("learner.learner_model_param.num_class", L.Param.NumClass, 0, model.MaxClasses)
	if err != nil {
		return nil, err
	}
	if L.Param.NumTarget != "" && L.Param.NumTarget != "1" && L.Param.NumTarget != "0" {
		return nil, plinth.Invalid("learner.learner_model_param.num_target", "multi-target models (%s targets) are not supported", L.Param.NumTarget)
	}
	if err := objective(m, L, nclass); err != nil {
		return nil, err
	}
	m.Signature = signature(L, nfeat)
	if err := baseScore(m, L.Param.BaseScore); err != nil {
		return nil, err
	}

	var b booster
	if len(L.Booster) == 0 {
		return nil, plinth.Invalid("learner.gradient_booster", "missing")
	}
	if err := json.Unmarshal(L.Booster, &b); err != nil {
		return nil, model.JSONError(err)
	}
	const bpath = "learner.gradient_booster"
	switch b.Name {
	case "gbtree":
		if b.Model == nil {
			return nil, plinth.Invalid(bpath+".model", "missing")
		}
		err = trees(m, b.Model, nil, bpath+".model")
	case "dart":
		if b.Dart == nil || b.Dart.Model == nil {
			return nil, plinth.Invalid(bpath+".gbtree.model", "missing")
		}
		if len(b.WeightDrop) != len(b.Dart.Model.Trees) {
			return nil, plinth.Invalid(bpath+".weight_drop", "has %d weights for %d trees", len(b.WeightDrop), len(b.Dart.Model.Trees))
		}
		err = trees(m, b.Dart.Model, b.WeightDrop, bpath+".gbtree.model")
	case "gblinear":
		if b.Model == nil {
			return nil, plinth.Invalid(bpath+".model", "missing")
		}
		err = linear(m, b.Model.Weights, bpath+".model.weights")
	default:
		return nil, plinth.Invalid(bpath+".name", "unknown booster %q", b.Name)
	}
	if err != nil {
		return nil, err
	}
	if _, err := m.Predictor(); err != nil {
		return nil, fmt.Errorf("imported model does not validate: %w", err)
	}
	return m, nil
}

func param(path, s string, lo, hi int) (int, error) {
	if s == "" {
		return 0, plinth.Invalid(path, "missing")
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < lo || v > hi {
		return 0, plinth.Invalid(path, "%q is not a whole number in [%d, %d]", s, lo, hi)
	}
	return v, nil
}

func parseFloat(path, s string) (float64, error) {
	// XGBoost 2 writes vector parameters as "[5E-1]".
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, plinth.Invalid(path, "%q is not a finite number", s)
	}
	return v, nil
}

func objective(m *model.Model, L *learner, nclass int) error {
	const path = "learner.objective.name"
	o := &m.Objective
	switch name := L.Objective.Name; name {
	case "binary:logistic", "reg:logistic":
		o.Name = model.BinaryLogistic
	case "binary:logitraw":
		o.Name = model.BinaryLogitRaw
	case "multi:softprob", "multi:softmax":
		o.Name = model.MultiSoftprob
		if nclass < 2 {
			return plinth.Invalid("learner.learner_model_param.num_class", "%s needs at least 2 classes, have %d", name, nclass)
		}
		o.NumClass = nclass
	case "reg:squarederror", "reg:linear", "reg:squaredlogerror":
		o.Name = model.RegSquaredError
	case "reg:pseudohubererror":
		o.Name = model.RegPseudoHuber
		if s := L.Objective.PseudoHuber.Slope; s != "" {
			o.HuberSlope, _ = strconv.ParseFloat(s, 64)
		}
	case "reg:absoluteerror":
		o.Name = model.RegAbsoluteError
	case "reg:quantileerror":
		o.Name = model.RegQuantile
		if s := L.Objective.Quantile.Alpha; s != "" {
			a, err := parseFloat("learner.objective.quantile_loss_param.quantile_alpha", s)
			if err != nil {
				return plinth.Invalid("learner.objective.quantile_loss_param.quantile_alpha", "only one quantile is supported, have %q", s)
			}
			o.QuantileAlpha = a
		}
	case "count:poisson":
		o.Name = model.CountPoisson
	case "reg:gamma":
		o.Name = model.RegGamma
	case "reg:tweedie":
		o.Name = model.RegTweedie
	case "":
		return plinth.Invalid(path, "missing")
	default:
		return plinth.Invalid(path, "objective %q is not supported", name)
	}
	if o.Name != model.MultiSoftprob && nclass > 1 {
		return plinth.Invalid("learner.learner_model_param.num_class", "%d classes for objective %s", nclass, L.Objective.Name)
	}
	if o.QuantileAlpha != 0 && !(o.QuantileAlpha > 0 && o.QuantileAlpha < 1) {
		return plinth.Invalid("learner.objective.quantile_loss_param.quantile_alpha", "%v is not in (0, 1)", o.QuantileAlpha)
	}
	return nil
}

func signature(L *learner, nfeat int) model.Signature {
	fs := make([]model.Feature, nfeat)
	for i := range fs {
		fs[i] = model.Feature{Name: "f" + strconv.Itoa(i), Type: model.Float, Nullable: true}
		if len(L.FeatureNames) == nfeat && L.FeatureNames[i] != "" {
			fs[i].Name = L.FeatureNames[i]
		}
		if len(L.FeatureTypes) == nfeat {
			switch L.FeatureTypes[i] {
			case "int":
				fs[i].Type = model.Int
			case "i":
				fs[i].Type = model.Bool
			case "c":
				fs[i].Type = model.Categorical
			}
		}
	}
	// Names must be unique in a plinth signature; XGBoost does not insist.
	seen := map[string]bool{}
	for i := range fs {
		if seen[fs[i].Name] {
			fs[i].Name = fmt.Sprintf("%s#%d", fs[i].Name, i)
		}
		seen[fs[i].Name] = true
	}
	return model.Signature{Features: fs}
}

// baseScore converts XGBoost's base_score (in prediction space) to the
// margin the trees start from, as XGBoost's ObjFunction::ProbToMargin does,
// in float32.
func baseScore(m *model.Model, s string) error {
	const path = "learner.learner_model_param.base_score"
	p, err := parseFloat(path, s)
	if err != nil {
		return err
	}
	p32 := float32(p)
	var margin float32
	switch m.Objective.Name {
	case model.BinaryLogistic, model.BinaryLogitRaw:
		if !(p32 > 0 && p32 < 1) {
			return plinth.Invalid(path, "%v is not a probability in (0, 1)", p)
		}
		margin = float32(-math.Log(float64(1/p32 - 1)))
	case model.CountPoisson, model.RegGamma, model.RegTweedie:
		if !(p32 > 0) {
			return plinth.Invalid(path, "%v is not positive", p)
		}
		margin = float32(math.Log(float64(p32)))
	default:
		margin = p32
	}
	m.BaseScore = make([]float64, m.NumOutputs())
	for k := range m.BaseScore {
		m.BaseScore[k] = float64(margin)
	}
	return nil
}

func trees(m *model.Model, gb *gbtreeModel, weights []float64, path string) error {
	if len(gb.Trees) > model.MaxTrees {
		return plinth.Invalid(path+".trees", "has %d trees, more than the limit of %d", len(gb.Trees), model.MaxTrees)
	}
	if len(gb.TreeInfo) != len(gb.Trees) {
		return plinth.Invalid(path+".tree_info", "has %d entries for %d trees", len(gb.TreeInfo), len(gb.Trees))
	}
	ts := &model.Trees{Split: model.Less, Precision: model.Float32, Trees: make([]model.Tree, len(gb.Trees))}
	total := 0
	for i := range gb.Trees {
		tpath := fmt.Sprintf("%s.trees[%d]", path, i)
		w := float32(1)
		if weights != nil {
			w = float32(weights[i])
		}
		nodes, err := tree(&gb.Trees[i], w, m.Signature.Features, tpath)
		if err != nil {
			return err
		}
		total += len(nodes)
		if total > model.MaxNodes {
			return plinth.Invalid(tpath, "the model has more than the limit of %d nodes", model.MaxNodes)
		}
		out := gb.TreeInfo[i]
		if out < 0 || out >= m.NumOutputs() {
			return plinth.Invalid(fmt.Sprintf("%s.tree_info[%d]", path, i), "output %d out of range: the model has %d outputs", out, m.NumOutputs())
		}
		ts.Trees[i] = model.Tree{Output: out, Nodes: nodes}
	}
	m.Trees = ts
	return nil
}

// tree converts one XGBoost tree (struct of arrays, children by index) into
// native nodes, walking from the root so that deleted nodes are dropped and
// a cycle or a shared child is caught.
func tree(t *xtree, weight float32, features []model.Feature, path string) ([]model.Node, error) {
	n := len(t.LeftChildren)
	if n == 0 {
		return nil, plinth.Invalid(path+".left_children", "empty tree")
	}
	if n > model.MaxTreeNodes {
		return nil, plinth.Invalid(path+".left_children", "has %d nodes, more than the limit of %d", n, model.MaxTreeNodes)
	}
	if t.Param.SizeLeafVector != "" && t.Param.SizeLeafVector != "0" && t.Param.SizeLeafVector != "1" {
		return nil, plinth.Invalid(path+".tree_param.size_leaf_vector", "vector leaves are not supported")
	}
	for _, a := range []struct {
		name string
		n    int
	}{
		{"right_children", len(t.RightChildren)},
		{"split_indices", len(t.SplitIndices)},
		{"split_conditions", len(t.SplitConditions)},
		{"default_left", len(t.DefaultLeft)},
		{"sum_hessian", len(t.SumHessian)},
		{"loss_changes", len(t.LossChanges)},
	} {
		if a.n != n {
			return nil, plinth.Invalid(path+"."+a.name, "has %d entries, left_children has %d", a.n, n)
		}
	}
	if len(t.SplitType) != 0 && len(t.SplitType) != n {
		return nil, plinth.Invalid(path+".split_type", "has %d entries, left_children has %d", len(t.SplitType), n)
	}
	cats, err := categorySets(t, n, path)
	if err != nil {
		return nil, err
	}
	newIndex := make([]int, n) // 0 = not yet placed (the root is placed first)
	order := make([]int, 0, n)
	newIndex[0] = 0
	order = append(order, 0)
	placed := make([]bool, n)
	placed[0] = true
	for qi := 0; qi < len(order); qi++ {
		i := order[qi]
		l, r := t.LeftChildren[i], t.RightChildren[i]
		if l == -1 {
			if r != -1 {
				return nil, plinth.Invalid(fmt.Sprintf("%s.right_children[%d]", path, i), "a leaf (left child -1) has right child %d", r)
			}
			continue
		}
		for side, c := range []int{l, r} {
			name := [2]string{"left_children", "right_children"}[side]
			if c <= 0 || c >= n {
				return nil, plinth.Invalid(fmt.Sprintf("%s.%s[%d]", path, name, i), "child index %d out of range [1, %d)", c, n)
			}
			if placed[c] {
				return nil, plinth.Invalid(fmt.Sprintf("%s.%s[%d]", path, name, i), "node %d is reached twice: the nodes do not form a tree", c)
			}
			placed[c] = true
			newIndex[c] = len(order)
			order = append(order, c)
		}
	}
	nodes := make([]model.Node, len(order))
	for k, i := range order {
		nd := &nodes[k]
		nd.Cover = float64(t.SumHessian[i])
		if t.LeftChildren[i] == -1 {
			nd.Value = float64(float32(t.SplitConditions[i]) * weight)
			continue
		}
		f := t.SplitIndices[i]
		if f < 0 || f >= len(features) {
			return nil, plinth.Invalid(fmt.Sprintf("%s.split_indices[%d]", path, i), "feature %d out of range: the model has %d features", f, len(features))
		}
		nd.Feature = f
		nd.Gain = float64(t.LossChanges[i])
		nd.Left, nd.Right = newIndex[t.LeftChildren[i]], newIndex[t.RightChildren[i]]
		nd.DefaultLeft = t.DefaultLeft[i]
		if len(t.SplitType) == n && t.SplitType[i] == 1 {
			set, ok := cats[i]
			if !ok || len(set) == 0 {
				return nil, plinth.Invalid(fmt.Sprintf("%s.split_type[%d]", path, i), "categorical split without categories")
			}
			if features[f].Type != model.Categorical {
				features[f].Type = model.Categorical
			}
			// XGBoost sends the listed categories right; the native format
			// sends them left. Swap the children to keep the meaning.
			nd.Categories = set
			nd.Left, nd.Right = nd.Right, nd.Left
			nd.DefaultLeft = !nd.DefaultLeft
			continue
		}
		nd.Threshold = float64(float32(t.SplitConditions[i]))
	}
	return nodes, nil
}

// categorySets reads XGBoost's categorical split encoding: for the j-th
// categorical node categories_nodes[j], its categories are
// categories[categories_segments[j] : +categories_sizes[j]].
func categorySets(t *xtree, n int, path string) (map[int][]int, error) {
	k := len(t.CategoriesNodes)
	if k == 0 {
		return nil, nil
	}
	if len(t.CategoriesSegments) != k || len(t.CategoriesSizes) != k {
		return nil, plinth.Invalid(path+".categories_segments", "categories_nodes, categories_segments and categories_sizes differ in length")
	}
	sets := make(map[int][]int, k)
	for j, nd := range t.CategoriesNodes {
		if nd < 0 || nd >= n {
			return nil, plinth.Invalid(fmt.Sprintf("%s.categories_nodes[%d]", path, j), "node %d out of range", nd)
		}
		lo, size := t.CategoriesSegments[j], t.CategoriesSizes[j]
		if lo < 0 || size < 0 || lo > len(t.Categories) || size > len(t.Categories)-lo {
			return nil, plinth.Invalid(fmt.Sprintf("%s.categories_segments[%d]", path, j), "segment [%d, +%d) out of range of %d categories", lo, size, len(t.Categories))
		}
		set := t.Categories[lo : lo+size]
		for c, v := range set {
			if v < 0 || v >= model.MaxCategory {
				return nil, plinth.Invalid(fmt.Sprintf("%s.categories[%d]", path, lo+c), "category %d out of range", v)
			}
		}
		sets[nd] = set
	}
	return sets, nil
}

// linear imports a gblinear model: weights holds (num_feature+1) rows of
// num_output values, the last row being the bias. XGBoost skips missing
// values, which the native linear model does too (a term with mean 0).
func linear(m *model.Model, w []float64, path string) error {
	nf, nout := m.NumFeatures(), m.NumOutputs()
	if len(w) != (nf+1)*nout {
		return plinth.Invalid(path, "has %d weights, want (num_feature+1)*outputs = %d", len(w), (nf+1)*nout)
	}
	lin := &model.Linear{Intercept: make([]float64, nout)}
	for k := range nout {
		lin.Intercept[k] = w[nf*nout+k]
	}
	for f := range nf {
		m.Signature.Features[f].Type = model.Float
		ws := make([]float64, nout)
		copy(ws, w[f*nout:(f+1)*nout])
		lin.Terms = append(lin.Terms, model.Term{Feature: f, Weights: ws})
	}
	m.Linear = lin
	return nil
}
