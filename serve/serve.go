// Package serve is the inference path: loaded model versions behind named
// endpoints, swapped atomically, and predictions by raw features with the
// model version that answered, optional explanations, and input checked
// against the model's signature.
//
// It must not import training or pipeline code (architecture_test.go).
package serve

import (
	"context"
	"fmt"
	"math"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/blob"
	"github.com/plinthml/plinth/model"
	"github.com/plinthml/plinth/model/formats"
	"github.com/plinthml/plinth/registry"
)

// Loaded is a model version ready to answer.
type Loaded struct {
	Model     string
	Version   int
	Format    string
	Predictor *model.Predictor
}

// Runtime holds the endpoints and the versions they serve. A version is
// loaded and compiled before it is swapped in with one atomic store, so a
// request sees the old version or the new one, never a half-applied change.
type Runtime struct {
	Registry *registry.Registry
	Blobs    blob.Store

	mu        sync.Mutex
	endpoints map[string]*atomic.Pointer[Loaded]
}

// Load reads a registered version from the blob store, parses and compiles
// it, and returns the function that puts it behind endpoint.
func (r *Runtime) Load(ctx context.Context, endpoint, modelName string, version int) (func(), error) {
	v, err := r.Registry.Version(ctx, modelName, version)
	if err != nil {
		return nil, err
	}
	format := v.Format
	if format == "other" || format == "onnx" {
		return nil, plinth.Invalid("format", "%s@%d is %q; plinth serves plinth, xgboost-json and lightgbm-text models", modelName, version, format)
	}
	if len(v.Artifacts) == 0 {
		return nil, plinth.Invalid("artifacts", "%s@%d has no artifact", modelName, version)
	}
	d, err := blob.ParseDigest(v.Artifacts[0].Digest)
	if err != nil {
		return nil, err
	}
	rc, err := r.Blobs.Open(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("load %s@%d: %w", modelName, version, err)
	}
	defer rc.Close()
	m, _, err := formats.Read(rc, format)
	if err != nil {
		return nil, fmt.Errorf("load %s@%d: %w", modelName, version, err)
	}
	p, err := model.Compile(m)
	if err != nil {
		return nil, fmt.Errorf("load %s@%d: %w", modelName, version, err)
	}
	loaded := &Loaded{Model: modelName, Version: version, Format: format, Predictor: p}
	return func() { r.slot(endpoint).Store(loaded) }, nil
}

func (r *Runtime) slot(endpoint string) *atomic.Pointer[Loaded] {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.endpoints == nil {
		r.endpoints = map[string]*atomic.Pointer[Loaded]{}
	}
	s := r.endpoints[endpoint]
	if s == nil {
		s = &atomic.Pointer[Loaded]{}
		r.endpoints[endpoint] = s
	}
	return s
}

// Serving returns what an endpoint serves, or ENOTFOUND.
func (r *Runtime) Serving(endpoint string) (*Loaded, error) {
	r.mu.Lock()
	s := r.endpoints[endpoint]
	r.mu.Unlock()
	if s == nil || s.Load() == nil {
		return nil, plinth.NotFound("endpoint", endpoint)
	}
	return s.Load(), nil
}

// Contribution is one feature's share of a prediction's margin.
type Contribution struct {
	Feature string  `json:"feature"`
	SHAP    float64 `json:"shap"`
}

// Prediction is the answer for one instance.
type Prediction struct {
	Outputs     []float64      `json:"outputs"`
	Explanation []Contribution `json:"explanation,omitempty"` // top contributions, largest first
	BaseValue   *float64       `json:"base_value,omitempty"`
}

// Response is the answer to a prediction request.
type Response struct {
	Endpoint    string       `json:"endpoint"`
	Model       string       `json:"model"`
	Version     int          `json:"version"`
	Outputs     int          `json:"outputs_per_instance"`
	Predictions []Prediction `json:"predictions"`
}

// MaxInstances bounds one request.
const MaxInstances = 10000

// Predict scores instances (feature name -> value) with the endpoint's
// version. Each instance is checked against the model's signature; an
// error names the instance and the feature. With explain > 0, each
// prediction carries its explain largest feature contributions (TreeSHAP
// or linear) for its first (or, multiclass, most likely) output.
func (r *Runtime) Predict(ctx context.Context, endpoint string, instances []map[string]any, explain int) (*Response, error) {
	l, err := r.Serving(endpoint)
	if err != nil {
		return nil, err
	}
	if len(instances) == 0 || len(instances) > MaxInstances {
		return nil, plinth.Invalid("instances", "want 1 to %d instances, have %d", MaxInstances, len(instances))
	}
	p := l.Predictor
	sig := p.Model().Signature
	nf, k := p.NumFeatures(), p.NumOutputs()
	res := &Response{Endpoint: endpoint, Model: l.Model, Version: l.Version, Outputs: k, Predictions: make([]Prediction, len(instances))}
	row := make([]float64, nf)
	var contrib []float64
	if explain > 0 {
		contrib = make([]float64, k*(nf+1))
	}
	for i, inst := range instances {
		if err := sig.EncodeRow(inst, row); err != nil {
			return nil, prefixField(fmt.Sprintf("instances[%d]", i), err)
		}
		out := make([]float64, k)
		if err := p.PredictRow(row, out); err != nil {
			return nil, prefixField(fmt.Sprintf("instances[%d]", i), err)
		}
		pred := Prediction{Outputs: out}
		if explain > 0 {
			if err := p.Explain(row, contrib); err != nil {
				return nil, err
			}
			best := 0
			for c := range out {
				if out[c] > out[best] {
					best = c
				}
			}
			block := contrib[best*(nf+1) : (best+1)*(nf+1)]
			base := block[nf]
			pred.BaseValue = &base
			for j, f := range sig.Features {
				pred.Explanation = append(pred.Explanation, Contribution{Feature: f.Name, SHAP: block[j]})
			}
			sort.SliceStable(pred.Explanation, func(a, b int) bool {
				return math.Abs(pred.Explanation[a].SHAP) > math.Abs(pred.Explanation[b].SHAP)
			})
			if len(pred.Explanation) > explain {
				pred.Explanation = pred.Explanation[:explain]
			}
		}
		res.Predictions[i] = pred
	}
	return res, nil
}

func prefixField(prefix string, err error) error {
	if pe, ok := err.(*plinth.Error); ok {
		f := prefix
		if pe.Field != "" {
			f += "." + pe.Field
		}
		return &plinth.Error{Code: pe.Code, Field: f, Message: pe.Message}
	}
	return err
}
