package api

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/deploy"
	"github.com/plinthml/plinth/internal/jsonx"
	"github.com/plinthml/plinth/model"
	"github.com/plinthml/plinth/serve"
)

func (s *Server) listEndpoints(w http.ResponseWriter, r *http.Request) error {
	eps, err := s.Deployer.Store.Endpoints(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"endpoints": eps})
	return nil
}

func (s *Server) deployEndpoint(w http.ResponseWriter, r *http.Request) error {
	var req deploy.Spec
	if err := decode(w, r, &req); err != nil {
		return err
	}
	e, err := s.Deployer.Deploy(r.Context(), r.PathValue("endpoint"), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, e)
	return nil
}

func (s *Server) promoteEndpoint(w http.ResponseWriter, r *http.Request) error {
	var req RollbackRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	e, err := s.Deployer.Promote(r.Context(), r.PathValue("endpoint"), req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, e)
	return nil
}

func (s *Server) routeStats(w http.ResponseWriter, r *http.Request) error {
	st, err := s.Runtime.Stats(r.PathValue("endpoint"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (s *Server) shadowStats(w http.ResponseWriter, r *http.Request) error {
	st, err := s.Runtime.Shadow(r.PathValue("endpoint"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

// RollbackRequest is the body of POST /api/v1/endpoints/{endpoint}/rollback
// and /promote.
type RollbackRequest struct {
	Reason string `json:"reason,omitempty"`
}

func (s *Server) rollbackEndpoint(w http.ResponseWriter, r *http.Request) error {
	var req RollbackRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	e, err := s.Deployer.Rollback(r.Context(), r.PathValue("endpoint"), req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, e)
	return nil
}

func (s *Server) endpointHistory(w http.ResponseWriter, r *http.Request) error {
	h, err := s.Deployer.Store.History(r.Context(), r.PathValue("endpoint"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"revisions": h})
	return nil
}

// tracePrediction returns what the prediction log holds of a request, by
// the request id its response carried: the version and variant that
// answered, the features the model read, the entity keys sent, the
// outputs and the latency. A request still in the log's buffer is flushed
// to be found.
func (s *Server) tracePrediction(w http.ResponseWriter, r *http.Request) error {
	endpoint, id := r.PathValue("endpoint"), r.PathValue("request_id")
	if s.LookupPrediction == nil {
		return plinth.Errorf(plinth.EUNAVAILABLE, "this server keeps no prediction log")
	}
	records, err := s.LookupPrediction(r.Context(), endpoint, id)
	if err != nil {
		return err
	}
	if len(records) == 0 {
		return plinth.NotFound("prediction of request", id)
	}
	writeJSON(w, http.StatusOK, map[string]any{"records": records})
	return nil
}

// PredictRequest is the body of POST /api/v1/endpoints/{endpoint}/predict.
type PredictRequest struct {
	Instances []map[string]any `json:"instances"`
	// Time is what time the predictions are about, when not now (a
	// replay or backfill): the prediction log and monitoring use it.
	Time *time.Time `json:"time,omitempty"`
	// Explain asks for each prediction's largest feature contributions.
	Explain int `json:"explain,omitempty"`
}

// PredictResponse adds the request id to the runtime's answer.
type PredictResponse struct {
	*serve.Response
	RequestID string `json:"request_id"`
}

func (s *Server) predict(w http.ResponseWriter, r *http.Request) error {
	var req PredictRequest
	if err := decodePredict(w, r, &req); err != nil {
		return err
	}
	if req.Explain < 0 || req.Explain > 1000 {
		return plinth.Invalid("explain", "must be between 0 and 1000")
	}
	ctx := r.Context()
	if req.Time != nil {
		ctx = serve.WithEventTime(ctx, *req.Time)
	}
	// A blue-green endpoint's green version answers the requests that
	// ask for it: smoke tests before the switch.
	if v := r.Header.Get("X-Plinth-Variant"); v != "" {
		if v != "candidate" && v != "stable" {
			return plinth.Invalid("X-Plinth-Variant", "%q is not candidate or stable", v)
		}
		ctx = serve.WithVariant(ctx, v)
	}
	res, err := s.Runtime.Predict(ctx, r.PathValue("endpoint"), req.Instances, req.Explain)
	if err != nil {
		return err
	}
	id := plinth.RequestIDFrom(r.Context())
	buf := responsePool.Get().(*[]byte)
	body, ok := appendPredictResponse((*buf)[:0], res, id)
	if !ok {
		// encoding/json reports the value JSON cannot hold.
		writeJSON(w, http.StatusOK, PredictResponse{Response: res, RequestID: id})
		return nil
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(body) // a Writer does not keep what it is given, so body can be reused
	if cap(body) <= maxPooledBody {
		*buf = body
		responsePool.Put(buf)
	}
	return nil
}

// responsePool holds the prediction responses' bytes while they are
// written.
var responsePool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// appendPredictResponse appends what encoding/json writes for
// PredictResponse{res, id}, without its reflection: this is the serving
// path (TestAppendPredictResponse holds the two together). It reports false
// for outputs or contributions that are not finite, which JSON cannot hold.
func appendPredictResponse(b []byte, res *serve.Response, id string) ([]byte, bool) {
	b = append(b, `{"endpoint":`...)
	b = jsonx.AppendString(b, res.Endpoint)
	b = append(b, `,"model":`...)
	b = jsonx.AppendString(b, res.Model)
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, int64(res.Version), 10)
	b = append(b, `,"variant":`...)
	b = jsonx.AppendString(b, res.Variant)
	b = append(b, `,"outputs_per_instance":`...)
	b = strconv.AppendInt(b, int64(res.Outputs), 10)
	b = append(b, `,"predictions":`...)
	if res.Predictions == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
	}
	for i, p := range res.Predictions {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"outputs":`...)
		if p.Outputs == nil {
			b = append(b, "null"...)
		} else {
			b = append(b, '[')
			for j, x := range p.Outputs {
				if math.IsNaN(x) || math.IsInf(x, 0) {
					return b, false
				}
				if j > 0 {
					b = append(b, ',')
				}
				b = jsonx.AppendValue(b, x)
			}
			b = append(b, ']')
		}
		if len(p.Explanation) > 0 {
			b = append(b, `,"explanation":[`...)
			for j, c := range p.Explanation {
				if math.IsNaN(c.SHAP) || math.IsInf(c.SHAP, 0) {
					return b, false
				}
				if j > 0 {
					b = append(b, ',')
				}
				b = append(b, `{"feature":`...)
				b = jsonx.AppendString(b, c.Feature)
				b = append(b, `,"shap":`...)
				b = jsonx.AppendValue(b, c.SHAP)
				b = append(b, '}')
			}
			b = append(b, ']')
		}
		if p.BaseValue != nil {
			if math.IsNaN(*p.BaseValue) || math.IsInf(*p.BaseValue, 0) {
				return b, false
			}
			b = append(b, `,"base_value":`...)
			b = jsonx.AppendValue(b, *p.BaseValue)
		}
		b = append(b, '}')
	}
	if res.Predictions != nil {
		b = append(b, ']')
	}
	b = append(b, `,"request_id":`...)
	b = jsonx.AppendString(b, id)
	return append(b, "}\n"...), true
}

// --- Open Inference Protocol v2 (KServe / Triton REST) ---

// v2Error writes the protocol's error body, {"error": "..."}.
func (s *Server) v2Error(w http.ResponseWriter, r *http.Request, err error) {
	code := plinth.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	if code == plinth.EOVERLOADED {
		w.Header().Set("Retry-After", "1")
	}
	msg := plinth.ErrorMessage(err)
	var pe *plinth.Error
	if errors.As(err, &pe) && pe.Field != "" {
		msg = pe.Field + ": " + msg
	}
	if code == plinth.EINTERNAL {
		s.Logger.Error("internal error", "path", r.URL.Path, "error", err)
	}
	writeJSON(w, status, map[string]string{"error": msg})
}

func (s *Server) v2Live(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]bool{"live": true})
	return nil
}

func (s *Server) v2Ready(w http.ResponseWriter, r *http.Request) error {
	if s.Ready != nil {
		if err := s.Ready(r.Context()); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]bool{"ready": false})
			return nil
		}
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ready": true})
	return nil
}

// v2Model returns what an endpoint serves, checking a version in the path.
func (s *Server) v2Model(r *http.Request) (*serve.Loaded, error) {
	l, err := s.Runtime.Serving(r.PathValue("name"))
	if err != nil {
		return nil, plinth.Errorf(plinth.ENOTFOUND, "model %q is not served here", r.PathValue("name"))
	}
	if v := r.PathValue("version"); v != "" && v != strconv.Itoa(l.Version) {
		return nil, plinth.Errorf(plinth.ENOTFOUND, "model %q serves version %d, not %q", r.PathValue("name"), l.Version, v)
	}
	return l, nil
}

// v2Tensor is the protocol's tensor JSON.
type v2Tensor struct {
	Name     string         `json:"name"`
	Shape    []int          `json:"shape"`
	Datatype string         `json:"datatype"`
	Data     []any          `json:"data"`
	Params   map[string]any `json:"parameters,omitempty"`
}

func v2Datatype(f model.Feature) string {
	switch f.Type {
	case model.Categorical:
		if len(f.Categories) > 0 {
			return "BYTES"
		}
		return "INT64"
	case model.Bool:
		return "BOOL"
	case model.Int:
		return "INT64"
	}
	return "FP64"
}

func (s *Server) v2Metadata(w http.ResponseWriter, r *http.Request) error {
	l, err := s.v2Model(r)
	if err != nil {
		s.v2Error(w, r, err)
		return nil
	}
	var inputs []map[string]any
	for _, f := range l.Predictor.Model().Signature.Features {
		inputs = append(inputs, map[string]any{"name": f.Name, "datatype": v2Datatype(f), "shape": []int{-1}})
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"name": r.PathValue("name"), "versions": []string{strconv.Itoa(l.Version)}, "platform": "plinth_" + l.Format,
		"inputs":  inputs,
		"outputs": []map[string]any{{"name": "predict", "datatype": "FP64", "shape": []int{-1, l.Predictor.NumOutputs()}}},
	})
	return nil
}

func (s *Server) v2ModelReady(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.v2Model(r); err != nil {
		s.v2Error(w, r, err)
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": r.PathValue("name"), "ready": true})
	return nil
}

type v2Request struct {
	ID         string         `json:"id,omitempty"`
	Inputs     []v2Tensor     `json:"inputs"`
	Outputs    []any          `json:"outputs,omitempty"`
	Parameters map[string]any `json:"parameters,omitempty"`
}

// v2Infer takes one input tensor per feature (shape [N] or [N,1]), or one
// [N, features] tensor in signature order, and answers with one output
// tensor "predict" of shape [N, outputs].
func (s *Server) v2Infer(w http.ResponseWriter, r *http.Request) error {
	l, err := s.v2Model(r)
	if err != nil {
		s.v2Error(w, r, err)
		return nil
	}
	var req v2Request
	if err := decode(w, r, &req); err != nil {
		s.v2Error(w, r, err)
		return nil
	}
	instances, err := v2Instances(req.Inputs, l.Predictor.Model().Signature)
	if err != nil {
		s.v2Error(w, r, err)
		return nil
	}
	res, err := s.Runtime.Predict(r.Context(), r.PathValue("name"), instances, 0)
	if err != nil {
		s.v2Error(w, r, err)
		return nil
	}
	data := make([]float64, 0, len(res.Predictions)*res.Outputs)
	for _, p := range res.Predictions {
		data = append(data, p.Outputs...)
	}
	id := req.ID
	if id == "" {
		id = plinth.RequestIDFrom(r.Context())
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"model_name": r.PathValue("name"), "model_version": strconv.Itoa(res.Version), "id": id,
		"outputs": []map[string]any{{"name": "predict", "datatype": "FP64", "shape": []int{len(res.Predictions), res.Outputs}, "data": data}},
	})
	return nil
}

// v2Instances turns input tensors into named instances.
func v2Instances(inputs []v2Tensor, sig model.Signature) ([]map[string]any, error) {
	if len(inputs) == 0 {
		return nil, plinth.Invalid("inputs", "no input tensors")
	}
	rowsOf := func(i int, t v2Tensor) (int, error) {
		field := fmt.Sprintf("inputs[%d]", i)
		if len(t.Shape) == 0 || len(t.Shape) > 2 {
			return 0, plinth.Invalid(field+".shape", "want [N] or [N, k], have %v", t.Shape)
		}
		n := t.Shape[0]
		width := 1
		if len(t.Shape) == 2 {
			width = t.Shape[1]
		}
		if n < 0 || width < 0 || n*width != len(t.Data) {
			return 0, plinth.Invalid(field+".data", "has %d values, shape %v needs %d", len(t.Data), t.Shape, n*width)
		}
		return n, nil
	}
	// One matrix in signature order.
	if len(inputs) == 1 && sig.Index(inputs[0].Name) < 0 && len(inputs[0].Shape) == 2 {
		t := inputs[0]
		n, err := rowsOf(0, t)
		if err != nil {
			return nil, err
		}
		if t.Shape[1] != len(sig.Features) {
			return nil, plinth.Invalid("inputs[0].shape", "has %d columns, the model reads %d features", t.Shape[1], len(sig.Features))
		}
		out := make([]map[string]any, n)
		for i := range out {
			out[i] = make(map[string]any, len(sig.Features))
			for j, f := range sig.Features {
				out[i][f.Name] = t.Data[i*t.Shape[1]+j]
			}
		}
		return out, nil
	}
	var out []map[string]any
	for i, t := range inputs {
		n, err := rowsOf(i, t)
		if err != nil {
			return nil, err
		}
		if len(t.Shape) == 2 && t.Shape[1] != 1 {
			return nil, plinth.Invalid(fmt.Sprintf("inputs[%d].shape", i), "a per-feature tensor has shape [N] or [N, 1], have %v", t.Shape)
		}
		if out == nil {
			out = make([]map[string]any, n)
			for j := range out {
				out[j] = map[string]any{}
			}
		} else if n != len(out) {
			return nil, plinth.Invalid(fmt.Sprintf("inputs[%d].shape", i), "has %d rows, inputs[0] has %d", n, len(out))
		}
		for j, v := range t.Data {
			out[j][t.Name] = v
		}
	}
	return out, nil
}
