package api

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/plinthml/plinth/serve"
)

// TestAppendPredictResponse: the hand-written prediction response decodes
// to what encoding/json makes of PredictResponse, and declines what JSON
// cannot hold.
func TestAppendPredictResponse(t *testing.T) {
	base := -0.25
	for _, tc := range []struct {
		name string
		res  *serve.Response
	}{
		{"one output", &serve.Response{Endpoint: "delays", Model: "flights", Version: 3, Variant: "stable", Outputs: 1,
			Predictions: []serve.Prediction{{Outputs: []float64{0.8125}}}}},
		{"several", &serve.Response{Endpoint: "e<&>\"", Model: "m\u2028é", Version: 12, Variant: "candidate", Outputs: 3,
			Predictions: []serve.Prediction{{Outputs: []float64{0.1, 0.2, 1e-9}}, {Outputs: []float64{1e21, 0, -3}}}}},
		{"explained", &serve.Response{Endpoint: "delays", Model: "flights", Version: 1, Variant: "stable", Outputs: 1,
			Predictions: []serve.Prediction{{Outputs: []float64{0.5}, BaseValue: &base,
				Explanation: []serve.Contribution{{Feature: "dep_hour", SHAP: 0.75}, {Feature: "carrier", SHAP: -0.125}}}}}},
		{"no outputs", &serve.Response{Endpoint: "x", Model: "y", Predictions: []serve.Prediction{{}}}},
		{"no predictions", &serve.Response{Endpoint: "x", Model: "y"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := json.Marshal(PredictResponse{Response: tc.res, RequestID: "req-1"})
			if err != nil {
				t.Fatal(err)
			}
			got, ok := appendPredictResponse(nil, tc.res, "req-1")
			if !ok {
				t.Fatal("declined")
			}
			sameJSON(t, got, want)
		})
	}
	for _, bad := range []*serve.Response{
		{Predictions: []serve.Prediction{{Outputs: []float64{math.NaN()}}}},
		{Predictions: []serve.Prediction{{Outputs: []float64{1}, Explanation: []serve.Contribution{{SHAP: math.Inf(1)}}}}},
		{Predictions: []serve.Prediction{{Outputs: []float64{1}, BaseValue: func() *float64 { x := math.Inf(-1); return &x }()}}},
	} {
		if _, ok := appendPredictResponse(nil, bad, "r"); ok {
			t.Errorf("%+v: not declined", bad.Predictions[0])
		}
	}
}
