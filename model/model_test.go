package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/plinthml/plinth"
)

// stump builds a one-split model on feature x: x < 1 -> -1, else +2.
func stump() *Model {
	return &Model{
		FormatVersion: FormatVersion,
		Signature: Signature{Features: []Feature{
			{Name: "x", Type: Float, Nullable: true},
			{Name: "color", Type: Categorical, Categories: []string{"red", "green", "blue"}, Nullable: true},
		}},
		Objective: Objective{Name: RegSquaredError},
		BaseScore: []float64{0.5},
		Trees: &Trees{Trees: []Tree{{Nodes: []Node{
			{Feature: 0, Threshold: 1, Left: 1, Right: 2, DefaultLeft: true, Cover: 10, Gain: 3},
			{Value: -1, Cover: 6},
			{Value: 2, Cover: 4},
		}}}},
	}
}

func TestSplitSemantics(t *testing.T) {
	nan := math.NaN()
	cases := []struct {
		name  string
		edit  func(m *Model)
		x     float64
		color float64
		want  float64
	}{
		{"below", nil, 0.5, 0, 0.5 - 1},
		{"at threshold goes right with <", nil, 1, 0, 0.5 + 2},
		{"missing goes default left", nil, nan, 0, 0.5 - 1},
		{"at threshold goes left with <=", func(m *Model) { m.Trees.Split = LessOrEqual }, 1, 0, 0.5 - 1},
		{"just above with <=", func(m *Model) { m.Trees.Split = LessOrEqual }, math.Nextafter(1, 2), 0, 0.5 + 2},
		{"default right", func(m *Model) { m.Trees.Trees[0].Nodes[0].DefaultLeft = false }, nan, 0, 0.5 + 2},
		{"as_zero reads NaN as 0", func(m *Model) {
			n := &m.Trees.Trees[0].Nodes[0]
			n.Missing, n.DefaultLeft, n.Threshold = MissingAsZero, false, 0.5
		}, nan, 0, 0.5 - 1},
		{"zero is missing", func(m *Model) {
			n := &m.Trees.Trees[0].Nodes[0]
			n.Missing, n.DefaultLeft, n.Threshold = MissingZero, false, 0.5
		}, 0, 0, 0.5 + 2},
		{"float32 rounds x", func(m *Model) {
			m.Trees.Precision = Float32
			m.Trees.Trees[0].Nodes[0].Threshold = float64(float32(0.1))
		}, 0.1, 0, 0.5 + 2}, // float32(0.1) > 0.1, but x rounds to it: not less
		{"float64 keeps x", func(m *Model) {
			m.Trees.Trees[0].Nodes[0].Threshold = float64(float32(0.1))
		}, 0.1, 0, 0.5 - 1},
		{"category in set goes left", catSplit, 0, 2, 0.5 - 1},
		{"category not in set goes right", catSplit, 0, 1, 0.5 + 2},
		{"category truncates toward zero", catSplit, 0, 2.7, 0.5 - 1},
		{"negative category goes right", catSplit, 0, -3, 0.5 + 2},
		{"huge category goes right", catSplit, 0, 1e300, 0.5 + 2},
		{"missing category takes default", catSplit, 0, nan, 0.5 - 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := stump()
			if c.edit != nil {
				c.edit(m)
			}
			got, err := m.Predict([]float64{c.x, c.color})
			if err != nil {
				t.Fatal(err)
			}
			if got[0] != c.want {
				t.Errorf("predict(%v, %v) = %v, want %v", c.x, c.color, got[0], c.want)
			}
		})
	}
}

func catSplit(m *Model) {
	n := &m.Trees.Trees[0].Nodes[0]
	n.Feature, n.Categories = 1, []int{0, 2}
}

func TestObjectives(t *testing.T) {
	for _, c := range []struct {
		obj  Objective
		base []float64
		want []float64
	}{
		{Objective{Name: BinaryLogistic}, []float64{0}, []float64{1 / (1 + math.Exp(1))}},
		{Objective{Name: BinaryLogistic, SigmoidScale: 2}, []float64{0}, []float64{1 / (1 + math.Exp(2))}},
		{Objective{Name: BinaryLogitRaw}, []float64{0}, []float64{-1}},
		{Objective{Name: CountPoisson}, []float64{0}, []float64{math.Exp(-1)}},
		{Objective{Name: MultiSoftprob, NumClass: 2}, []float64{0, 0}, []float64{1 / (1 + math.Exp(1)), 1 / (1 + math.Exp(-1))}},
	} {
		m := stump()
		m.Objective, m.BaseScore = c.obj, c.base
		got, err := m.Predict([]float64{0, 0})
		if err != nil {
			t.Fatal(c.obj.Name, err)
		}
		for k := range c.want {
			if math.Abs(got[k]-c.want[k]) > 1e-15 {
				t.Errorf("%+v: output %d = %v, want %v", c.obj, k, got[k], c.want[k])
			}
		}
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(m *Model)
		field string
	}{
		{"version", func(m *Model) { m.FormatVersion = 2 }, "format_version"},
		{"objective", func(m *Model) { m.Objective.Name = "reg:magic" }, "objective.name"},
		{"base score length", func(m *Model) { m.BaseScore = nil }, "base_score"},
		{"base score NaN", func(m *Model) { m.BaseScore[0] = math.NaN() }, "base_score[0]"},
		{"no trees", func(m *Model) { m.Trees = nil }, "trees"},
		{"duplicate feature", func(m *Model) { m.Signature.Features[1].Name = "x" }, "signature.features[1].name"},
		{"feature type", func(m *Model) { m.Signature.Features[0].Type = "complex" }, "signature.features[0].type"},
		{"child out of range", func(m *Model) { m.Trees.Trees[0].Nodes[0].Right = 3 }, "trees.trees[0].nodes[0].right"},
		{"negative child", func(m *Model) { m.Trees.Trees[0].Nodes[0].Left = -1 }, "trees.trees[0].nodes[0].left"},
		{"same children", func(m *Model) { m.Trees.Trees[0].Nodes[0].Right = 1 }, "trees.trees[0].nodes[0].right"},
		{"feature out of range", func(m *Model) { m.Trees.Trees[0].Nodes[0].Feature = 7 }, "trees.trees[0].nodes[0].feature"},
		{"NaN threshold", func(m *Model) { m.Trees.Trees[0].Nodes[0].Threshold = math.NaN() }, "trees.trees[0].nodes[0].threshold"},
		{"infinite leaf", func(m *Model) { m.Trees.Trees[0].Nodes[1].Value = math.Inf(1) }, "trees.trees[0].nodes[1].value"},
		{"negative cover", func(m *Model) { m.Trees.Trees[0].Nodes[1].Cover = -1 }, "trees.trees[0].nodes[1].cover"},
		{"output out of range", func(m *Model) { m.Trees.Trees[0].Output = 1 }, "trees.trees[0].output"},
		{"cycle", func(m *Model) {
			m.Trees.Trees[0].Nodes[1] = Node{Left: 1, Right: 2} // node 1 is its own child
		}, "trees.trees[0].nodes[1]"},
		{"orphan", func(m *Model) {
			m.Trees.Trees[0].Nodes = append(m.Trees.Trees[0].Nodes, Node{Value: 1})
		}, "trees.trees[0].nodes[3]"},
		{"category split on float", func(m *Model) { m.Trees.Trees[0].Nodes[0].Categories = []int{1} }, "trees.trees[0].nodes[0].categories"},
		{"unknown category", func(m *Model) { catSplit(m); m.Trees.Trees[0].Nodes[0].Categories[1] = 3 }, "trees.trees[0].nodes[0].categories[1]"},
		{"missing rule", func(m *Model) { m.Trees.Trees[0].Nodes[0].Missing = "sometimes" }, "trees.trees[0].nodes[0].missing"},
		{"split rule", func(m *Model) { m.Trees.Split = ">" }, "trees.split"},
		{"too deep", func(m *Model) { m.Trees.Trees[0].Nodes = chain(MaxDepth + 1) }, "trees.trees[0].nodes[" + itoa(2*MaxDepth+1) + "]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := stump()
			c.edit(m)
			err := m.Validate()
			var pe *plinth.Error
			if !errors.As(err, &pe) || pe.Code != plinth.EINVALID {
				t.Fatalf("Validate = %v, want an invalid error", err)
			}
			if pe.Field != c.field {
				t.Errorf("field %q, want %q (%v)", pe.Field, c.field, err)
			}
		})
	}
	if err := stump().Validate(); err != nil {
		t.Fatalf("valid model: %v", err)
	}
	if err := chainModel(MaxDepth).Validate(); err != nil {
		t.Fatalf("tree at the depth limit: %v", err)
	}
}

func itoa(i int) string { return strings.TrimSpace(strings.Repeat(" ", 0) + fmtInt(i)) }

func fmtInt(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

// chain builds a tree of the given number of splits in a row: node 2k
// splits into leaf 2k+1 and node 2k+2.
func chain(splits int) []Node {
	var nodes []Node
	for k := range splits {
		nodes = append(nodes, Node{Feature: 0, Threshold: float64(k), Left: 2*k + 1, Right: 2*k + 2, Cover: float64(splits - k + 1)})
		nodes = append(nodes, Node{Value: float64(k), Cover: 1})
	}
	return append(nodes, Node{Value: -1, Cover: 1})
}

func chainModel(splits int) *Model {
	m := stump()
	m.Trees.Trees[0].Nodes = chain(splits)
	return m
}

func TestParse(t *testing.T) {
	var buf bytes.Buffer
	if err := stump().Encode(&buf); err != nil {
		t.Fatal(err)
	}
	good := buf.String()
	m, err := Parse(buf.Bytes())
	if err != nil {
		t.Fatalf("parse own output: %v\n%s", err, good)
	}
	if got, _ := m.Predict([]float64{0, 0}); got[0] != -0.5 {
		t.Errorf("round trip predicts %v", got)
	}
	cases := []struct {
		name, data, msg string
	}{
		{"empty", "", "truncated"},
		{"truncated", good[:len(good)/2], "truncated"},
		{"garbage", "\x00\x01binary", "not valid JSON"},
		{"not a model", `{"learner":{}}`, "format_version: missing"},
		{"future version", strings.Replace(good, `"format_version":1`, `"format_version":9`, 1), "version 9 is not supported"},
		{"unknown field", strings.Replace(good, `"format_version":1`, `"format_version":1,"surprise":true`, 1), "unknown field"},
		{"wrong type", strings.Replace(good, `"left":1`, `"left":"one"`, 1), "trees.trees.nodes.left"},
		{"fractional index", strings.Replace(good, `"left":1`, `"left":1.5`, 1), "trees.trees.nodes.left"},
		{"trailing data", good + "{}", "after its JSON document"},
		{"too many objects", `{"format_version":1,"x":[` + strings.Repeat("{},", MaxJSONObjects) + `{}]}`, "more than"},
		{"deep", strings.Repeat("[", 1000), "deeper"},
		{"bad child", strings.Replace(good, `"left":1`, `"left":7`, 1), "trees.trees[0].nodes[0].left: child index 7 out of range"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.data))
			if err == nil || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("Parse = %v, want an error saying %q", err, c.msg)
			}
			if !plinth.IsCode(err, plinth.EINVALID) {
				t.Errorf("code %q, want invalid", plinth.ErrorCode(err))
			}
		})
	}
}

// randomModel builds a random ensemble over nf features with covers that
// are consistent (a child's cover is part of its parent's).
func randomModel(rng *rand.Rand, nf, ntrees, depth, nout int) *Model {
	m := &Model{FormatVersion: FormatVersion, BaseScore: make([]float64, nout)}
	for f := range nf {
		m.Signature.Features = append(m.Signature.Features, Feature{Name: "f" + fmtInt(f), Type: Float, Nullable: true})
	}
	m.Objective = Objective{Name: BinaryLogistic}
	if nout > 1 {
		m.Objective = Objective{Name: MultiSoftprob, NumClass: nout}
	}
	m.Trees = &Trees{}
	for t := range ntrees {
		var nodes []Node
		var grow func(d int, cover float64) int
		grow = func(d int, cover float64) int {
			i := len(nodes)
			nodes = append(nodes, Node{Cover: cover})
			if d == depth || rng.Float64() < 0.15 {
				nodes[i].Value = rng.NormFloat64()
				return i
			}
			frac := 0.1 + 0.8*rng.Float64()
			l := grow(d+1, cover*frac)
			r := grow(d+1, cover*(1-frac))
			nodes[i] = Node{Feature: rng.IntN(nf), Threshold: rng.NormFloat64(), Left: l, Right: r,
				DefaultLeft: rng.IntN(2) == 0, Cover: cover, Gain: rng.Float64()}
			return i
		}
		grow(0, 100)
		m.Trees.Trees = append(m.Trees.Trees, Tree{Output: t % nout, Nodes: nodes})
	}
	return m
}

// bruteShapley computes exact Shapley values of one tree by enumerating
// feature subsets, with the path-dependent value function TreeSHAP uses:
// v(S) follows x on features in S and splits by cover on the others.
func bruteShapley(p *Predictor, root int32, row []float64) []float64 {
	nf := p.nfeat
	var v func(i int32, s uint) float64
	v = func(i int32, s uint) float64 {
		n := &p.nodes[i]
		if n.info&leafBit != 0 {
			return p.value[i]
		}
		f := n.info & featMask
		if s&(1<<f) != 0 {
			return v(n.left+p.decide(n, row[f]), s)
		}
		l, r := n.left, n.left+1
		return (p.cover[l]*v(l, s) + p.cover[r]*v(r, s)) / p.cover[i]
	}
	phi := make([]float64, nf+1)
	fact := func(n int) float64 {
		r := 1.0
		for i := 2; i <= n; i++ {
			r *= float64(i)
		}
		return r
	}
	for f := range nf {
		for s := uint(0); s < 1<<nf; s++ {
			if s&(1<<f) != 0 {
				continue
			}
			size := 0
			for b := s; b != 0; b &= b - 1 {
				size++
			}
			w := fact(size) * fact(nf-size-1) / fact(nf)
			phi[f] += w * (v(root, s|1<<f) - v(root, s))
		}
	}
	phi[nf] = v(root, 0)
	return phi
}

func TestTreeSHAPMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 20 {
		nf := 2 + trial%5
		m := randomModel(rng, nf, 1, 6, 1)
		p, err := Compile(m)
		if err != nil {
			t.Fatal(err)
		}
		row := make([]float64, nf)
		out := make([]float64, nf+1)
		for range 5 {
			for f := range row {
				row[f] = rng.NormFloat64()
				if rng.IntN(6) == 0 {
					row[f] = math.NaN()
				}
			}
			if err := p.Explain(row, out); err != nil {
				t.Fatal(err)
			}
			want := bruteShapley(p, 0, row)
			for f := range want {
				if math.Abs(out[f]-want[f]) > 1e-9 {
					t.Fatalf("trial %d feature %d: TreeSHAP %v, brute force %v", trial, f, out[f], want[f])
				}
			}
		}
	}
}

func TestSHAPLocalAccuracy(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, nout := range []int{1, 3} {
		m := randomModel(rng, 8, 30, 8, nout)
		p, err := Compile(m)
		if err != nil {
			t.Fatal(err)
		}
		row := make([]float64, 8)
		raw := make([]float64, nout)
		out := make([]float64, nout*9)
		for range 50 {
			for f := range row {
				row[f] = rng.NormFloat64()
			}
			p.PredictRawRow(row, raw)
			p.Explain(row, out)
			for k := range nout {
				sum := 0.0
				for _, v := range out[k*9 : (k+1)*9] {
					sum += v
				}
				if math.Abs(sum-raw[k]) > 1e-9 {
					t.Fatalf("output %d: SHAP sum %v, margin %v", k, sum, raw[k])
				}
			}
		}
	}
}

func TestLinear(t *testing.T) {
	m := &Model{
		FormatVersion: FormatVersion,
		Signature: Signature{Features: []Feature{
			{Name: "age", Type: Float, Nullable: true},
			{Name: "color", Type: Categorical, Categories: []string{"red", "green"}},
		}},
		Objective: Objective{Name: BinaryLogistic},
		BaseScore: []float64{0},
		Linear: &Linear{
			Intercept: []float64{0.25},
			Terms: []Term{
				{Feature: 0, Mean: 40, Scale: 10, Weights: []float64{0.5}},
				{Feature: 1, CategoryWeights: [][]float64{{-1}, {1}}, Reference: []float64{0.2}},
			},
		},
	}
	p, err := Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]float64, 1)
	expl := make([]float64, 3)
	for _, c := range []struct {
		row  []float64
		want []float64 // attributions age, color, base
	}{
		{[]float64{50, 1}, []float64{0.5, 0.8, 0.45}},
		{[]float64{30, 0}, []float64{-0.5, -1.2, 0.45}},
		{[]float64{math.NaN(), 1}, []float64{0, 0.8, 0.45}},
	} {
		p.PredictRawRow(c.row, raw)
		p.Explain(c.row, expl)
		sum := 0.0
		for i, w := range c.want {
			if math.Abs(expl[i]-w) > 1e-12 {
				t.Errorf("row %v: attribution %d = %v, want %v", c.row, i, expl[i], w)
			}
			sum += w
		}
		if math.Abs(raw[0]-sum) > 1e-12 {
			t.Errorf("row %v: margin %v, attributions sum to %v", c.row, raw[0], sum)
		}
	}
	var buf bytes.Buffer
	if err := m.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(buf.Bytes()); err != nil {
		t.Fatalf("linear round trip: %v", err)
	}
}

func TestBatchMatchesRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, nout := range []int{1, 4} {
		m := randomModel(rng, 10, 40, 6, nout)
		m.Trees.Precision = Float32
		p, err := Compile(m)
		if err != nil {
			t.Fatal(err)
		}
		rows := 3000 // above parallelMinRows, not a multiple of blockRows
		x := Matrix{Rows: rows, Cols: 10, Data: make([]float64, rows*10)}
		for i := range x.Data {
			x.Data[i] = rng.NormFloat64()
			if rng.IntN(10) == 0 {
				x.Data[i] = math.NaN()
			}
		}
		out := make([]float64, rows*nout)
		if err := p.Predict(x, out); err != nil {
			t.Fatal(err)
		}
		want := make([]float64, nout)
		for r := range rows {
			p.PredictRow(x.Data[r*10:(r+1)*10], want)
			for k := range nout {
				if out[r*nout+k] != want[k] {
					t.Fatalf("row %d output %d: batch %v, single %v", r, k, out[r*nout+k], want[k])
				}
			}
		}
	}
}

func TestZeroAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, prec := range []string{Float64, Float32} {
		m := randomModel(rng, 12, 50, 6, 1)
		m.Trees.Precision = prec
		p, err := Compile(m)
		if err != nil {
			t.Fatal(err)
		}
		row := make([]float64, 12)
		out := make([]float64, 1)
		expl := make([]float64, 13)
		for name, f := range map[string]func(){
			"PredictRow":    func() { p.PredictRow(row, out) },
			"PredictRawRow": func() { p.PredictRawRow(row, out) },
			"Explain":       func() { p.Explain(row, expl) },
		} {
			f() // warm the pools
			if n := testing.AllocsPerRun(200, f); n != 0 {
				t.Errorf("%s (%s): %v allocations per call, want 0", name, prec, n)
			}
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	m := randomModel(rng, 6, 20, 5, 1)
	m.Trees.Precision = Float32
	p, err := Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	rows := make([][]float64, 64)
	want := make([]float64, len(rows))
	for i := range rows {
		rows[i] = []float64{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64(), math.NaN(), rng.NormFloat64(), rng.NormFloat64()}
		out := []float64{0}
		p.PredictRow(rows[i], out)
		want[i] = out[0]
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Go(func() {
			out := []float64{0}
			expl := make([]float64, 7)
			for i := range 2000 {
				r := (i + g) % len(rows)
				p.PredictRow(rows[r], out)
				p.Explain(rows[r], expl)
				if out[0] != want[r] {
					errs <- "concurrent prediction differs"
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

func TestEncodeRow(t *testing.T) {
	sig := stump().Signature
	sig.Features = append(sig.Features, Feature{Name: "n", Type: Int}, Feature{Name: "b", Type: Bool})
	dst := make([]float64, 4)
	if err := sig.EncodeRow(map[string]any{"x": 1.5, "color": "blue", "n": 3.0, "b": true}, dst); err != nil {
		t.Fatal(err)
	}
	if dst[0] != 1.5 || dst[1] != 2 || dst[2] != 3 || dst[3] != 1 {
		t.Errorf("encoded %v", dst)
	}
	if err := sig.EncodeRow(map[string]any{"n": 3.0, "b": false}, dst); err != nil || !math.IsNaN(dst[0]) || !math.IsNaN(dst[1]) {
		t.Errorf("nullable features: %v, %v", dst, err)
	}
	// A category training never saw is missing to a nullable feature.
	if err := sig.EncodeRow(map[string]any{"n": 3.0, "b": true, "color": "purple"}, dst); err != nil || !math.IsNaN(dst[1]) {
		t.Errorf("unseen category: %v, %v", dst, err)
	}
	for _, c := range []struct {
		vals  map[string]any
		field string
	}{
		{map[string]any{"n": 3.0}, "b"},
		{map[string]any{"n": 3.5, "b": true}, "n"},
		{map[string]any{"n": 3.0, "b": 2.0}, "b"},
		{map[string]any{"n": 3.0, "b": true, "x": "tall"}, "x"},
		{map[string]any{"n": 3.0, "b": true, "y": 1.0}, "y"},
	} {
		err := sig.EncodeRow(c.vals, dst)
		var pe *plinth.Error
		if !errors.As(err, &pe) || pe.Field != c.field {
			t.Errorf("EncodeRow(%v) = %v, want an error on %q", c.vals, err, c.field)
		}
	}
}

// EncodeValues takes values in the signature's order and must encode them,
// and reject them, as EncodeRow does the same values by name.
func TestEncodeValues(t *testing.T) {
	sig := stump().Signature
	sig.Features = append(sig.Features, Feature{Name: "n", Type: Int}, Feature{Name: "b", Type: Bool})
	for _, vals := range []map[string]any{
		{"x": 1.5, "color": "blue", "n": 3.0, "b": true},
		{"n": 3.0, "b": false},
		{"n": 3.0, "b": true, "color": "purple"},
		{"n": 3.0, "b": true, "color": 1.0, "x": json.Number("2.5")},
		{"n": 3.0},
		{"n": 3.5, "b": true},
		{"n": 3.0, "b": 2.0},
		{"n": 3.0, "b": true, "x": "tall"},
		{"n": math.Inf(1), "b": true},
	} {
		ordered := make([]any, len(sig.Features))
		for i, f := range sig.Features {
			ordered[i] = vals[f.Name]
		}
		byName, byPos := make([]float64, 4), make([]float64, 4)
		errName, errPos := sig.EncodeRow(vals, byName), sig.EncodeValues(ordered, byPos)
		if fmt.Sprint(errName) != fmt.Sprint(errPos) {
			t.Errorf("%v: EncodeRow: %v, EncodeValues: %v", vals, errName, errPos)
		}
		if errName == nil && fmt.Sprint(byName) != fmt.Sprint(byPos) {
			t.Errorf("%v: EncodeRow wrote %v, EncodeValues %v", vals, byName, byPos)
		}
	}
	if err := sig.EncodeValues(make([]any, 3), make([]float64, 4)); !plinth.IsCode(err, plinth.EINVALID) {
		t.Errorf("short values: %v", err)
	}
}

func TestImportance(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	m := randomModel(rng, 5, 10, 4, 1)
	gain := m.GainImportance()
	total := 0.0
	for _, g := range gain {
		total += g.Value
	}
	want := 0.0
	for _, tr := range m.Trees.Trees {
		for _, n := range tr.Nodes {
			if !n.IsLeaf() {
				want += n.Gain
			}
		}
	}
	if math.Abs(total-want) > 1e-9 || len(gain) != 5 {
		t.Errorf("gain importance sums to %v, want %v", total, want)
	}
	p, _ := m.Predictor()
	x := Matrix{Rows: 20, Cols: 5, Data: make([]float64, 100)}
	for i := range x.Data {
		x.Data[i] = rng.NormFloat64()
	}
	imp, err := p.MeanAbsSHAP(x)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range imp {
		if v.Value < 0 || math.IsNaN(v.Value) {
			t.Errorf("mean |SHAP| %v", v)
		}
	}
}

func TestMemoryBytes(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	small, big := randomModel(rng, 5, 10, 4, 1), randomModel(rng, 5, 200, 6, 1)
	ps, _ := Compile(small)
	pb, _ := Compile(big)
	if ps.MemoryBytes() <= 0 || pb.MemoryBytes() <= 5*ps.MemoryBytes() {
		t.Fatalf("10 trees: %d bytes, 200 deeper trees: %d bytes", ps.MemoryBytes(), pb.MemoryBytes())
	}
}
