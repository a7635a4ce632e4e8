// Package model holds plinth's model formats and the code that scores them:
// the native model format (a versioned JSON document, see FORMAT.md), the
// compiled Predictor (flat node arrays, zero-allocation single rows, parallel
// batches), exact TreeSHAP and linear explanations, and global importance.
//
// It is the leaf of the serving path: it imports nothing from training or
// pipelines. Importers for other libraries' files live in sub-packages named
// after the library (model/xgboost, model/lightgbm); they produce a *Model.
//
// Building a model in code (what a trainer does):
//
//	m := &model.Model{
//		FormatVersion: model.FormatVersion,
//		Signature: model.Signature{Features: []model.Feature{
//			{Name: "age", Type: model.Float, Nullable: true},
//		}},
//		Objective: model.Objective{Name: model.BinaryLogistic},
//		BaseScore: []float64{0},
//		Trees: &model.Trees{Trees: []model.Tree{{Nodes: []model.Node{
//			{Feature: 0, Threshold: 40, Left: 1, Right: 2, DefaultLeft: true, Cover: 100},
//			{Value: -0.5, Cover: 60},
//			{Value: 0.7, Cover: 40},
//		}}}},
//	}
//	p, err := model.Compile(m) // validates; p is immutable and safe for concurrent use
package model

import (
	"sync/atomic"
)

// FormatVersion is the version of the native format this package reads and
// writes. A file with another version is refused rather than half-understood.
const FormatVersion = 1

// Model is a model in the native format. The fields are plain data so that
// trainers and importers can fill them in; Validate checks them and Compile
// turns them into a Predictor. Exactly one of Trees and Linear is set.
//
// A Model must not be changed once it has been used for prediction: Predict
// caches its compiled form.
type Model struct {
	FormatVersion int       `json:"format_version"`
	Name          string    `json:"name,omitempty"`
	Signature     Signature `json:"signature"`
	Objective     Objective `json:"objective"`
	// BaseScore is added to every raw output before the objective's
	// transform: one value per output, in margin (link) space.
	BaseScore []float64 `json:"base_score"`
	Trees     *Trees    `json:"trees,omitempty"`
	Linear    *Linear   `json:"linear,omitempty"`
	// Source records where an imported model came from; informational.
	Source *Source `json:"source,omitempty"`

	compiled atomic.Pointer[Predictor]
}

// Source is the provenance of an imported model.
type Source struct {
	Library string `json:"library"`           // "xgboost", "lightgbm", "plinth"
	Version string `json:"version,omitempty"` // the library's version, when the file says
	Format  string `json:"format,omitempty"`  // e.g. "xgboost-json", "lightgbm-text"
}

// Signature is the model's input: the features, in the order of the row
// vector every predict call takes.
type Signature struct {
	Features []Feature `json:"features"`
}

// FeatureType is the kind of value a feature holds.
type FeatureType string

// Feature types. In a row vector every feature is a float64; NaN means
// missing. An int feature holds whole numbers, a bool 0 or 1, and a
// categorical the index of its category (into Categories when given).
const (
	Float       FeatureType = "float"
	Int         FeatureType = "int"
	Bool        FeatureType = "bool"
	Categorical FeatureType = "categorical"
)

// Feature describes one input column.
type Feature struct {
	Name string      `json:"name"`
	Type FeatureType `json:"type"`
	// Categories maps category index to name for a categorical feature; the
	// model's category splits refer to these indices. Empty means the
	// feature carries integer codes whose names the model does not know
	// (typical of imported LightGBM models).
	Categories []string `json:"categories,omitempty"`
	// Nullable says the model accepts a missing value for the feature.
	Nullable bool `json:"nullable,omitempty"`
}

// Objective names. They follow XGBoost's spelling; importers map other
// libraries' names onto them.
const (
	BinaryLogistic   = "binary:logistic"  // sigmoid(margin)
	BinaryLogitRaw   = "binary:logitraw"  // margin
	MultiSoftprob    = "multi:softprob"   // softmax over NumClass margins
	MultiOVA         = "multi:ova"        // sigmoid of each of NumClass margins
	RegSquaredError  = "reg:squarederror" // margin
	RegPseudoHuber   = "reg:pseudohubererror"
	RegAbsoluteError = "reg:absoluteerror"
	RegQuantile      = "reg:quantileerror"
	CountPoisson     = "count:poisson" // exp(margin)
	RegGamma         = "reg:gamma"     // exp(margin)
	RegTweedie       = "reg:tweedie"   // exp(margin)
)

// Objective is what the model was trained for; it fixes the number of
// outputs and the transform from raw margin to prediction.
type Objective struct {
	Name string `json:"name"`
	// NumClass is the number of classes (and outputs) of a multiclass
	// objective; 0 otherwise.
	NumClass int `json:"num_class,omitempty"`
	// SigmoidScale multiplies the margin inside the sigmoid of binary and
	// one-vs-all objectives (LightGBM's "sigmoid" parameter); 0 means 1.
	SigmoidScale float64 `json:"sigmoid_scale,omitempty"`
	// QuantileAlpha and HuberSlope are informational training parameters.
	QuantileAlpha float64 `json:"quantile_alpha,omitempty"`
	HuberSlope    float64 `json:"huber_slope,omitempty"`
}

// Split comparison and precision rules of a tree ensemble.
const (
	Less        = "<"  // a numeric split sends x left when x < threshold
	LessOrEqual = "<=" // ... when x <= threshold (LightGBM)

	Float64 = "float64" // compare and accumulate in float64
	Float32 = "float32" // round x to float32 before comparing, accumulate in float32 (XGBoost)
)

// Trees is a tree ensemble: the raw output k is BaseScore[k] plus the sum of
// the leaf values reached in the trees whose Output is k.
type Trees struct {
	// Split is the numeric comparison, Less ("<", the default) or
	// LessOrEqual ("<=").
	Split string `json:"split,omitempty"`
	// Precision is Float64 (the default) or Float32. Float32 reproduces
	// XGBoost exactly: features are rounded to float32 before comparison
	// with float32 thresholds, and leaf values are summed in float32.
	Precision string `json:"precision,omitempty"`
	Trees     []Tree `json:"trees"`
}

// Tree is one decision tree. Nodes[0] is the root; a node is a leaf when its
// Left and Right are both 0 (0 can never be a child: it is the root).
type Tree struct {
	// Output is the index of the output (class) this tree adds to.
	Output int    `json:"output,omitempty"`
	Nodes  []Node `json:"nodes"`
}

// Missing-value rules of a split node.
const (
	// MissingNaN (the default, ""): NaN takes the default direction.
	MissingNaN = ""
	// MissingZero: NaN and values in [-1e-35, 1e-35] take the default
	// direction (LightGBM missing_type Zero).
	MissingZero = "zero"
	// MissingAsZero: NaN is read as 0 and compared like any value
	// (LightGBM missing_type None).
	MissingAsZero = "as_zero"
)

// Node is a split or a leaf of a Tree.
//
// A numeric split sends x left when x < Threshold (or <=, see Trees.Split).
// A categorical split (Categories non-empty) sends x left when int(x) is one
// of Categories and right otherwise (negative, unknown, too large). NaN goes
// the default direction (DefaultLeft), subject to Missing.
type Node struct {
	Feature     int     `json:"feature,omitempty"`
	Threshold   float64 `json:"threshold,omitempty"`
	Categories  []int   `json:"categories,omitempty"`
	Left        int     `json:"left,omitempty"`
	Right       int     `json:"right,omitempty"`
	DefaultLeft bool    `json:"default_left,omitempty"`
	Missing     string  `json:"missing,omitempty"`
	// Gain is the loss reduction of the split, for importance.
	Gain float64 `json:"gain,omitempty"`
	// Value is the leaf's output (leaves only).
	Value float64 `json:"value,omitempty"`
	// Cover is the training weight (hessian sum or row count) that reached
	// the node; TreeSHAP needs it on every node.
	Cover float64 `json:"cover,omitempty"`
}

// IsLeaf reports whether n is a leaf.
func (n *Node) IsLeaf() bool { return n.Left == 0 && n.Right == 0 }

// Linear is a (generalised) linear model over standardised features:
//
//	margin[k] = BaseScore[k] + Intercept[k] + sum over terms of term(k)
//
// A numeric term adds Weights[k] * (x - Mean) / Scale; a missing x adds 0
// (it is imputed with the mean). A categorical term adds
// CategoryWeights[c][k] for category c, and 0 for a missing or unknown one.
type Linear struct {
	Intercept []float64 `json:"intercept"`
	Terms     []Term    `json:"terms"`
}

// Term is the part of a linear model that reads one feature.
type Term struct {
	Feature int       `json:"feature"`
	Mean    float64   `json:"mean,omitempty"`
	Scale   float64   `json:"scale,omitempty"` // 0 means 1
	Weights []float64 `json:"weights,omitempty"`
	// CategoryWeights[c][k] is the weight of category c for output k.
	CategoryWeights [][]float64 `json:"category_weights,omitempty"`
	// Reference[k] is the expected contribution of a categorical term over
	// the training data; explanations attribute weight - reference to the
	// feature and fold the reference into the base value. Optional.
	Reference []float64 `json:"reference,omitempty"`
}

// NumOutputs is the number of raw outputs (margins) of the model: NumClass
// for multiclass objectives, otherwise 1.
func (m *Model) NumOutputs() int {
	if m.Objective.NumClass > 1 {
		return m.Objective.NumClass
	}
	return 1
}

// NumFeatures is the length of the row vector the model reads.
func (m *Model) NumFeatures() int { return len(m.Signature.Features) }

// Predictor returns the compiled form of m, compiling and caching it on
// first use. It fails if m does not validate.
func (m *Model) Predictor() (*Predictor, error) {
	if p := m.compiled.Load(); p != nil {
		return p, nil
	}
	p, err := Compile(m)
	if err != nil {
		return nil, err
	}
	// Two racing callers compile twice; either result is equivalent.
	m.compiled.CompareAndSwap(nil, p)
	return m.compiled.Load(), nil
}

// Predict returns the predictions (probabilities for classifiers, values for
// regressors) of one row. It allocates its result; the serving path uses
// Predictor.PredictRow with a reused buffer instead.
func (m *Model) Predict(row []float64) ([]float64, error) {
	p, err := m.Predictor()
	if err != nil {
		return nil, err
	}
	out := make([]float64, p.NumOutputs())
	if err := p.PredictRow(row, out); err != nil {
		return nil, err
	}
	return out, nil
}
