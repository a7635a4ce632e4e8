package server

import (
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/encoding"

	"github.com/plinthml/plinth/dataset"
	"github.com/plinthml/plinth/duckdb"
	"github.com/plinthml/plinth/model"
	"github.com/plinthml/plinth/serve"
)

// logColumn says what a column of a prediction log file holds.
type logColumn uint8

const (
	colRequestID logColumn = iota
	colTime
	colEndpoint
	colModel
	colVersion
	colVariant
	colRequest
	colOutputs
	colLatency
	colIngestedAt
	colFeature
)

type logField struct {
	name   string
	column logColumn
	node   parquet.Node
	duckdb string
}

// logFixed are the columns every prediction log file has, as DuckDB
// describes them; features, a struct of the model's inputs, follows when
// the model has any.
var logFixed = []logField{
	{"request_id", colRequestID, parquet.String(), "VARCHAR"},
	{"time", colTime, parquet.Timestamp(parquet.Microsecond), "TIMESTAMP WITH TIME ZONE"},
	{"endpoint", colEndpoint, parquet.String(), "VARCHAR"},
	{"model", colModel, parquet.String(), "VARCHAR"},
	{"version", colVersion, parquet.Int(64), "BIGINT"},
	{"variant", colVariant, parquet.String(), "VARCHAR"},
	{"request", colRequest, parquet.Optional(parquet.String()), "VARCHAR"},
	{"outputs", colOutputs, parquet.List(parquet.Leaf(parquet.DoubleType)), "DOUBLE[]"},
	{"latency_us", colLatency, parquet.Int(64), "BIGINT"},
	{dataset.IngestedAt, colIngestedAt, parquet.Timestamp(parquet.Microsecond), "TIMESTAMP WITH TIME ZONE"},
}

// logLayout is the layout of one model version's prediction log files:
// the fixed columns and a struct, features, with a column per input typed
// as the signature says. A categorical feature with named categories is
// text (the category's name, as sent or by its index), one with integer
// codes a BIGINT; int, bool and float features are BIGINT, BOOLEAN and
// DOUBLE. A missing value is NULL. Typed columns are queried as they are
// (features.dep_delay), and writing them costs the log's writer, which
// shares the serving cores, half what JSON text did (BenchmarkLogSink).
type logLayout struct {
	names      []string      // the features', as the records share them
	categories [][]string    // by feature: the names of a text feature's categories
	kinds      []featureKind // by feature
	schema     *parquet.Schema
	columns    []logColumn // by column index
	feature    []int       // by column index: the feature a colFeature column holds
	fields     []dataset.Field
}

// featureKind is the type of a feature's column.
type featureKind uint8

const (
	kindDouble featureKind = iota
	kindInt
	kindBool
	kindText
)

var kindTypes = [...]struct {
	node   parquet.Node
	duckdb string
}{
	kindDouble: {parquet.Leaf(parquet.DoubleType), "DOUBLE"},
	kindInt:    {parquet.Int(64), "BIGINT"},
	kindBool:   {parquet.Leaf(parquet.BooleanType), "BOOLEAN"},
	kindText:   {parquet.String(), "VARCHAR"},
}

func kindOf(f *model.Feature) featureKind {
	switch {
	case f.Type == model.Categorical && len(f.Categories) > 0:
		return kindText
	case f.Type == model.Categorical || f.Type == model.Int:
		return kindInt
	case f.Type == model.Bool:
		return kindBool
	}
	return kindDouble
}

// layoutKey names the model version whose records share a layout.
type layoutKey struct {
	model   string
	version int
}

func newLogLayout(in serve.Inputs) *logLayout {
	categories, kinds := make([][]string, len(in.Names)), make([]featureKind, len(in.Names))
	typed := len(in.Features) == len(in.Names)
	for i := range in.Names {
		if typed {
			kinds[i] = kindOf(&in.Features[i])
			categories[i] = in.Features[i].Categories
			continue
		}
		// Records without a signature (tests, tools) are typed by their
		// first values.
		if _, text := in.Values[i].(string); text {
			kinds[i] = kindText
		}
	}
	lay := layoutOf(in.Names, kinds)
	lay.categories = categories
	return lay
}

// layoutOf is the layout of files whose features have these names and
// kinds: what the converter, which sees no model, knows of a layout.
func layoutOf(names []string, kinds []featureKind) *logLayout {
	lay := &logLayout{names: names, kinds: kinds}
	var root orderedGroup
	for _, f := range logFixed {
		root = append(root, orderedField{f.node, f.name})
		lay.fields = append(lay.fields, dataset.Field{Name: f.name, Type: f.duckdb})
	}
	index := map[string]int{}
	if len(names) > 0 {
		var features orderedGroup
		described := make([]string, 0, len(names))
		for i, n := range names {
			if _, dup := index[n]; dup {
				continue
			}
			index[n] = i
			t := kindTypes[lay.kinds[i]]
			features = append(features, orderedField{parquet.Optional(t.node), n})
			described = append(described, duckdb.FieldName(n)+" "+t.duckdb)
		}
		root = append(root, orderedField{features, "features"})
		lay.fields = append(lay.fields, dataset.Field{Name: "features", Type: "STRUCT(" + strings.Join(described, ", ") + ")"})
	}
	lay.schema = parquet.NewSchema("prediction_log", root)
	for _, path := range lay.schema.Columns() {
		if path[0] == "features" {
			lay.columns = append(lay.columns, colFeature)
			lay.feature = append(lay.feature, index[path[1]])
			continue
		}
		i := slices.IndexFunc(logFixed, func(f logField) bool { return f.name == path[0] })
		lay.columns = append(lay.columns, logFixed[i].column)
		lay.feature = append(lay.feature, -1)
	}
	return lay
}

// fits reports whether records with these inputs can share the layout.
func (lay *logLayout) fits(in serve.Inputs) bool {
	a, b := lay.names, in.Names
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0] || slices.Equal(a, b))
}

// appendRow appends a spooled record as a row of the layout's file to
// row. Its strings are not copied: the writer copies them when it takes
// the row.
func (lay *logLayout) appendRow(row parquet.Row, r *spoolRecord) parquet.Row {
	for c, col := range lay.columns {
		switch col {
		case colRequestID:
			row = append(row, textValue(r.requestID).Level(0, 0, c))
		case colTime:
			row = append(row, parquet.Int64Value(r.time.UnixMicro()).Level(0, 0, c))
		case colEndpoint:
			row = append(row, textValue(r.endpoint).Level(0, 0, c))
		case colModel:
			row = append(row, textValue(r.model).Level(0, 0, c))
		case colVersion:
			row = append(row, parquet.Int64Value(r.version).Level(0, 0, c))
		case colVariant:
			row = append(row, textValue(r.variant).Level(0, 0, c))
		case colRequest:
			if r.request == nil {
				row = append(row, parquet.NullValue().Level(0, 0, c))
			} else {
				row = append(row, parquet.ByteArrayValue(r.request).Level(0, 1, c))
			}
		case colOutputs:
			if len(r.outputs) == 0 {
				row = append(row, parquet.NullValue().Level(0, 0, c))
			}
			for j, x := range r.outputs {
				row = append(row, parquet.DoubleValue(x).Level(min(j, 1), 1, c))
			}
		case colLatency:
			row = append(row, parquet.Int64Value(r.latencyUS).Level(0, 0, c))
		case colIngestedAt:
			row = append(row, parquet.Int64Value(r.ingested.UnixMicro()).Level(0, 0, c))
		case colFeature:
			i := lay.feature[c]
			v := r.features[i]
			if v.null {
				row = append(row, parquet.NullValue().Level(0, 0, c))
				continue
			}
			var x parquet.Value
			switch lay.kinds[i] {
			case kindDouble:
				x = parquet.DoubleValue(v.num)
			case kindInt:
				x = parquet.Int64Value(v.int)
			case kindBool:
				x = parquet.BooleanValue(v.bool)
			case kindText:
				x = textValue(v.text)
			}
			row = append(row, x.Level(0, 1, c))
		}
	}
	return row
}

// featureValue is the value of feature i as its column holds it, or NULL:
// values passed the signature's checks, so anything else was missing to
// the model (an unnamed category, NaN).
func (lay *logLayout) featureValue(i int, values []any) parquet.Value {
	if i >= len(values) {
		return parquet.NullValue()
	}
	v := values[i]
	s, isText := v.(string)
	if isText && lay.kinds[i] == kindText {
		return textValue(s)
	}
	x, ok := number(v)
	if !ok {
		return parquet.NullValue()
	}
	switch lay.kinds[i] {
	case kindText:
		if cats := lay.categories[i]; x >= 0 && x < float64(len(cats)) && x == math.Trunc(x) {
			return textValue(cats[int(x)])
		}
		return textValue(strconv.FormatFloat(x, 'g', -1, 64))
	case kindInt:
		if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			return parquet.NullValue()
		}
		return parquet.Int64Value(int64(x))
	case kindBool:
		return parquet.BooleanValue(x != 0)
	}
	return parquet.DoubleValue(x)
}

// number is a value as the model reads a number: booleans are 1 and 0.
func number(v any) (float64, bool) {
	var x float64
	switch v := v.(type) {
	case float64:
		x = v
	case float32:
		x = float64(v)
	case int:
		x = float64(v)
	case int64:
		x = float64(v)
	case int32:
		x = float64(v)
	case bool:
		if v {
			x = 1
		}
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			return 0, false
		}
		x = f
	default:
		return 0, false
	}
	return x, !math.IsNaN(x)
}

// textValue is s as a BYTE_ARRAY value, without a copy.
func textValue(s string) parquet.Value {
	return parquet.ByteArrayValue(unsafe.Slice(unsafe.StringData(s), len(s)))
}

// orderedGroup is a Parquet group whose fields keep their order.
// parquet.Group sorts them by name, which would show a log file's columns
// and a model's features to its readers in alphabetical order.
type orderedGroup []parquet.Field

func (g orderedGroup) ID() int                     { return 0 }
func (g orderedGroup) Type() parquet.Type          { return parquet.Group{}.Type() }
func (g orderedGroup) Optional() bool              { return false }
func (g orderedGroup) Repeated() bool              { return false }
func (g orderedGroup) Required() bool              { return true }
func (g orderedGroup) Leaf() bool                  { return false }
func (g orderedGroup) Fields() []parquet.Field     { return g }
func (g orderedGroup) Encoding() encoding.Encoding { return nil }
func (g orderedGroup) Compression() compress.Codec { return nil }
func (g orderedGroup) GoType() reflect.Type        { return reflect.TypeFor[map[string]any]() }
func (g orderedGroup) String() string {
	fields := make([]string, len(g))
	for i, f := range g {
		fields[i] = f.Name() + ": " + f.String()
	}
	return "{" + strings.Join(fields, ", ") + "}"
}

type orderedField struct {
	parquet.Node
	name string
}

func (f orderedField) Name() string { return f.name }

// Value is for rows read into Go values by reflection, which the log's
// writer does not do.
func (f orderedField) Value(reflect.Value) reflect.Value { return reflect.Value{} }
