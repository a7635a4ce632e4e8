package feature

import (
	"fmt"
	"math"
	"reflect"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"

	"github.com/plinthml/plinth"
)

// OnDemand is a feature computed for each row from request data and the
// row's other features by a CEL expression, for example
//
//	weather_hourly__temp < 32.0 && request.sched_hour >= 20
//
// Feature values are variables named view__feature; request data (the
// label table's columns in a training set, the request's fields when
// serving) is the map "request". The same compiled program runs in both
// paths, so a training set and a served prediction cannot disagree on it. A
// missing input or an expression that fails on a row gives null. Numbers in
// request data are doubles in both paths (JSON cannot tell 19 from 19.0),
// and numbers of different types compare as numbers.
type OnDemand struct {
	Name       string `json:"name" yaml:"name"`
	Expression string `json:"expression" yaml:"expression"`
	Type       string `json:"type" yaml:"type"` // float, int, bool or string
}

// OnDemandTypes are the result types an on-demand feature may have.
var OnDemandTypes = map[string]bool{"float": true, "int": true, "bool": true, "string": true}

// Program is a compiled set of on-demand features over given inputs.
type Program struct {
	features []OnDemand
	inputs   []string
	programs []cel.Program
}

// Compile checks on-demand features against the feature columns they may
// read.
func Compile(features []OnDemand, inputs []string) (*Program, error) {
	opts := []cel.EnvOption{cel.Variable("request", cel.MapType(cel.StringType, cel.DynType)), cel.CrossTypeNumericComparisons(true)}
	for _, in := range inputs {
		opts = append(opts, cel.Variable(in, cel.DynType))
	}
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, fmt.Errorf("on-demand features: %w", err)
	}
	p := &Program{features: features, inputs: inputs}
	for i, od := range features {
		field := fmt.Sprintf("on_demand_features[%d]", i)
		if err := checkIdent(field+".name", od.Name); err != nil {
			return nil, err
		}
		if !OnDemandTypes[od.Type] {
			return nil, plinth.Invalid(field+".type", "%q is not one of float, int, bool, string", od.Type)
		}
		ast, iss := env.Compile(od.Expression)
		if iss.Err() != nil {
			return nil, plinth.Invalid(field+".expression", "%v", iss.Err())
		}
		prg, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize))
		if err != nil {
			return nil, plinth.Invalid(field+".expression", "%v", err)
		}
		p.programs = append(p.programs, prg)
	}
	return p, nil
}

// Names are the on-demand features' names, in order.
func (p *Program) Names() []string {
	out := make([]string, len(p.features))
	for i, f := range p.features {
		out[i] = f.Name
	}
	return out
}

// Eval computes the on-demand features of one row: request is the request
// data, features the row's feature values by column name (nil: missing).
func (p *Program) Eval(request map[string]any, features map[string]any) []any {
	vars := make(map[string]any, len(p.inputs)+1)
	req := make(map[string]any, len(request))
	for k, v := range request {
		req[k] = requestValue(v)
	}
	vars["request"] = req
	for _, in := range p.inputs {
		vars[in] = celValue(features[in])
	}
	out := make([]any, len(p.programs))
	for i, prg := range p.programs {
		v, _, err := prg.Eval(vars)
		if err != nil || types.IsUnknownOrError(v) {
			continue // null
		}
		out[i] = convert(v.Value(), p.features[i].Type)
	}
	return out
}

// celValue gives CEL the numeric types it expects: all integers as int64,
// all floats as float64, missing as null.
func celValue(v any) any {
	switch x := v.(type) {
	case nil:
		return types.NullValue
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case float32:
		return float64(x)
	}
	return v
}

// requestValue is celValue with every number a double.
func requestValue(v any) any {
	switch x := v.(type) {
	case int:
		return float64(x)
	case int32:
		return float64(x)
	case int64:
		return float64(x)
	case float32:
		return float64(x)
	}
	return celValue(v)
}

// convert turns a CEL result into the declared type, or nil.
func convert(v any, typ string) any {
	rv := reflect.ValueOf(v)
	switch typ {
	case "float":
		switch rv.Kind() {
		case reflect.Float32, reflect.Float64:
			if f := rv.Float(); !math.IsNaN(f) && !math.IsInf(f, 0) {
				return f
			}
		case reflect.Int, reflect.Int64, reflect.Int32:
			return float64(rv.Int())
		case reflect.Uint, reflect.Uint64:
			return float64(rv.Uint())
		}
	case "int":
		switch rv.Kind() {
		case reflect.Int, reflect.Int64, reflect.Int32:
			return rv.Int()
		case reflect.Uint, reflect.Uint64:
			return int64(rv.Uint())
		}
	case "bool":
		if rv.Kind() == reflect.Bool {
			return rv.Bool()
		}
	case "string":
		if rv.Kind() == reflect.String {
			return rv.String()
		}
	}
	return nil
}
