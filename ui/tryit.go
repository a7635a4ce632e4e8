package ui

import (
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/model"
	"github.com/plinthml/plinth/registry"
	"github.com/plinthml/plinth/serve"
)

// The try-it page is a demo form for an endpoint, generated from the
// signature of the model it serves: a number box per numeric feature, a
// list per categorical one. It scores through the same Predict the API
// calls, so what it shows is what a client would get.

type tryPage struct {
	Endpoint       string
	Model          string
	Version        int
	FeatureService string
	Fields         []formField
	Error          string
	Result         *tryResult
	// CanTrace says a prediction can be found again in the log.
	CanTrace bool
}

type formField struct {
	Name     string // the feature
	ID       string // the element id
	Kind     string // "number", "select"
	Step     string // "any" or "1"
	Type     string // the feature type, shown to the user
	Options  []option
	Value    string
	Nullable bool
	Error    string
}

type option struct {
	Value, Label string
	Selected     bool
}

type tryResult struct {
	// RequestID is the id the prediction is logged under.
	RequestID string
	Response  *serve.Response
	Outputs   []output
	Base      *float64
	Explain   template.HTML
	Top       []serve.Contribution
}

type output struct {
	Name  string
	Value float64
}

// outputs names a prediction's values: by the signature's output names
// where it has them, else "prediction" or "output i".
func outputs(sig registry.Signature, values []float64) []output {
	out := make([]output, len(values))
	for i, v := range values {
		name := "prediction"
		if len(values) > 1 {
			name = "output " + strconv.Itoa(i)
		}
		if i < len(sig.Outputs) && sig.Outputs[i].Name != "" {
			name = sig.Outputs[i].Name
		}
		out[i] = output{name, v}
	}
	return out
}

// explainTop is how many contributions the page asks for and draws.
const explainTop = 10

func (s *server) tryIt(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("endpoint")
	loaded, err := s.Runtime.Serving(name)
	if err != nil {
		return err
	}
	sig := loaded.Predictor.Model().Signature
	p := tryPage{Endpoint: name, Model: loaded.Model, Version: loaded.Version, FeatureService: loaded.FeatureService, CanTrace: s.LookupPrediction != nil}
	defaults := defaultInputs(loaded.Predictor.Model())
	for i, f := range sig.Features {
		p.Fields = append(p.Fields, newField(i, f, defaults[i]))
	}
	if r.Method != http.MethodPost {
		return s.render(w, r, "try", "Try "+name, "endpoints", p)
	}
	if err := checkCSRF(r); err != nil {
		return err
	}
	instance := map[string]any{}
	bad := false
	for i := range p.Fields {
		f := &p.Fields[i]
		raw := strings.TrimSpace(r.PostFormValue("x:" + f.Name))
		f.Value = raw
		for j := range f.Options {
			f.Options[j].Selected = f.Options[j].Value == raw
		}
		v, err := parseInput(sig.Features[i], raw)
		if err != nil {
			f.Error, bad = err.Error(), true
			continue
		}
		if v != nil {
			instance[f.Name] = v
		}
	}
	if bad {
		p.Error = "Some values are not right; see the marked fields."
		s.renderStatus(w, r, http.StatusBadRequest, "try", "Try "+name, "endpoints", p)
		return nil
	}
	// The prediction is logged under a request id of its own, which the
	// result shows so that it can be traced later.
	id := "ui-" + randomHex(8)
	res, err := s.Predict(plinth.WithRequestID(r.Context(), id), name, []map[string]any{instance}, explainTop)
	if err != nil {
		if plinth.ErrorCode(err) != plinth.EINVALID {
			return err
		}
		// Point at the field the model refused.
		var pe *plinth.Error
		if errors.As(err, &pe) {
			feature := pe.Field[strings.LastIndexByte(pe.Field, '.')+1:]
			for i := range p.Fields {
				if p.Fields[i].Name == feature {
					p.Fields[i].Error = pe.Message
				}
			}
		}
		p.Error = plinth.ErrorMessage(err)
		s.renderStatus(w, r, http.StatusBadRequest, "try", "Try "+name, "endpoints", p)
		return nil
	}
	p.Result = s.result(r, res, instance)
	p.Result.RequestID = id
	return s.render(w, r, "try", "Try "+name, "endpoints", p)
}

func (s *server) result(r *http.Request, res *serve.Response, instance map[string]any) *tryResult {
	out := &tryResult{Response: res}
	if len(res.Predictions) == 0 {
		return out
	}
	pred := res.Predictions[0]
	var sig registry.Signature
	if v, err := s.Registry.Version(r.Context(), res.Model, res.Version); err == nil {
		sig = v.Signature
	}
	out.Outputs = outputs(sig, pred.Outputs)
	out.Base = pred.BaseValue
	out.Top = pred.Explanation
	if len(pred.Explanation) > 0 {
		bars := make([]Bar, len(pred.Explanation))
		for i, c := range pred.Explanation {
			// The value beside the name: "hour = 19" explains more than "hour".
			label := c.Feature
			if v, ok := instance[c.Feature]; ok {
				label += " = " + fmt.Sprint(v)
			} else {
				label += " missing"
			}
			bars[i] = Bar{label, c.SHAP}
		}
		out.Explain = BarChart{Label: "Largest feature contributions to this prediction (SHAP, in margin units)", Bars: bars}.SVG()
	}
	return out
}

func newField(i int, f model.Feature, def string) formField {
	ff := formField{Name: f.Name, ID: "f" + strconv.Itoa(i), Kind: "number", Step: "any", Type: string(f.Type), Nullable: f.Nullable, Value: def}
	switch {
	case f.Type == model.Categorical && len(f.Categories) > 0:
		ff.Kind = "select"
		if f.Nullable {
			ff.Options = append(ff.Options, option{"", "(missing)", def == ""})
		}
		for _, c := range f.Categories {
			ff.Options = append(ff.Options, option{c, c, c == def})
		}
	case f.Type == model.Bool:
		ff.Kind = "select"
		if f.Nullable {
			ff.Options = append(ff.Options, option{"", "(missing)", def == ""})
		}
		ff.Options = append(ff.Options, option{"1", "true", def == "1"}, option{"0", "false", def != "1"})
	case f.Type == model.Int, f.Type == model.Categorical:
		ff.Step = "1"
	}
	return ff
}

// parseInput turns a form value into what Predict takes; "" is a missing
// value (nil).
func parseInput(f model.Feature, raw string) (any, error) {
	if raw == "" {
		if !f.Nullable {
			return nil, errors.New("needs a value")
		}
		return nil, nil
	}
	if f.Type == model.Categorical && len(f.Categories) > 0 {
		return raw, nil
	}
	x, err := strconv.ParseFloat(raw, 64)
	if err != nil || math.IsInf(x, 0) || math.IsNaN(x) {
		return nil, errors.New("is not a number")
	}
	return x, nil
}

// defaultInputs fills the form with plausible values, so a first click on
// Predict answers: the median split threshold of each numeric feature in a
// tree model, the training mean in a linear one, the first category.
func defaultInputs(m *model.Model) []string {
	sig := m.Signature.Features
	out := make([]string, len(sig))
	thresholds := make([][]float64, len(sig))
	if m.Trees != nil {
		for _, t := range m.Trees.Trees {
			for _, n := range t.Nodes {
				if !n.IsLeaf() && len(n.Categories) == 0 && n.Feature < len(sig) && isFinite(n.Threshold) {
					thresholds[n.Feature] = append(thresholds[n.Feature], n.Threshold)
				}
			}
		}
	}
	if m.Linear != nil {
		for _, t := range m.Linear.Terms {
			if t.Feature < len(sig) && t.CategoryWeights == nil {
				thresholds[t.Feature] = []float64{t.Mean}
			}
		}
	}
	for i, f := range sig {
		switch {
		case f.Type == model.Categorical && len(f.Categories) > 0:
			out[i] = f.Categories[0]
		case f.Type == model.Bool:
			out[i] = "0"
		case len(thresholds[i]) > 0:
			ts := thresholds[i]
			sort.Float64s(ts)
			v := ts[len(ts)/2]
			if f.Type == model.Int || f.Type == model.Categorical {
				v = math.Round(v)
			}
			out[i] = strconv.FormatFloat(v, 'g', 6, 64)
		case f.Type == model.Categorical:
			out[i] = "0"
		case !f.Nullable:
			out[i] = "0"
		}
	}
	return out
}
