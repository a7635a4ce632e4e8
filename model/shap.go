package model

import (
	"math"

	"github.com/plinthml/plinth"
)

// Explain writes the feature attributions of one row, in margin space, to
// out, which must hold NumOutputs()*(NumFeatures()+1) values: for output k,
// out[k*(F+1)+f] is the attribution of feature f and out[k*(F+1)+F] the base
// value, so that each block sums to the raw margin PredictRawRow returns.
// (This is the layout of XGBoost's pred_contribs.)
//
// Trees are explained with exact path-dependent TreeSHAP (Lundberg et al.
// 2018, Algorithm 2), which needs the node covers; linear models with
// weight * (x - mean) / scale per numeric feature.
func (p *Predictor) Explain(row, out []float64) error {
	if err := p.checkRow(row); err != nil {
		return err
	}
	width := p.nfeat + 1
	if err := p.checkOut(out, p.nout*width); err != nil {
		return err
	}
	out = out[:p.nout*width]
	clear(out)
	if p.linear != nil {
		p.explainLinear(row, out)
		return nil
	}
	if p.cover == nil {
		return plinth.Errorf(plinth.EINVALID, "model cannot be explained: its split nodes carry no cover (training weight)")
	}
	if p.f32 {
		buf := p.rowPool.Get().(*[]float64)
		defer p.rowPool.Put(buf)
		row = round32(row, *buf)
	}
	scratch := p.shapPool.Get().(*[]pathElem)
	defer p.shapPool.Put(scratch)
	for t, root := range p.roots {
		k := int(p.outputOf[t])
		phi := out[k*width : (k+1)*width]
		path := *scratch
		p.treeShap(row, phi, root, path, 0, 1, 1, -1)
	}
	for k := range p.nout {
		out[k*width+p.nfeat] += p.base[k] + p.treeBase[k]
	}
	return nil
}

func (p *Predictor) explainLinear(row, out []float64) {
	width := p.nfeat + 1
	for k := range p.nout {
		out[k*width+p.nfeat] = p.base[k] + p.linear.Intercept[k]
	}
	for i := range p.linear.Terms {
		t := &p.linear.Terms[i]
		x := row[t.Feature]
		if t.CategoryWeights != nil {
			for k := range p.nout {
				ref := 0.0
				if len(t.Reference) > 0 {
					ref = t.Reference[k]
				}
				w := 0.0
				if x == x && x > -1 && x < float64(len(t.CategoryWeights)) {
					w = t.CategoryWeights[int(x)][k]
				}
				out[k*width+t.Feature] = w - ref
				out[k*width+p.nfeat] += ref
			}
			continue
		}
		if x != x {
			continue
		}
		z := x - t.Mean
		if t.Scale != 0 {
			z /= t.Scale
		}
		for k := range p.nout {
			out[k*width+t.Feature] = t.Weights[k] * z
		}
	}
}

// pathElem is one feature on the path from the root to the current node,
// with the fractions of "all features unknown" (zero) and "this feature
// known" (one) flow that passes, and the permutation weight.
type pathElem struct {
	feature int32
	zero    float64
	one     float64
	pweight float64
}

// treeShap is Algorithm 2 of Lundberg, Erion and Lee, "Consistent
// individualized feature attribution for tree ensembles" (2018), in the
// shape of XGBoost's implementation: each level of recursion gets its own
// copy of the path, carved from scratch (quadratic in the depth).
func (p *Predictor) treeShap(row, phi []float64, i int32, parent []pathElem, depth int, zero, one float64, feature int32) {
	path := parent[depth+1:]
	copy(path[:depth+1], parent[:depth+1])
	extendPath(path, depth, zero, one, feature)
	n := &p.nodes[i]
	if n.info&leafBit != 0 {
		for j := 1; j <= depth; j++ {
			w := unwoundPathSum(path, depth, j)
			e := &path[j]
			phi[e.feature] += w * (e.one - e.zero) * p.value[i]
		}
		return
	}
	f := int32(n.info & featMask)
	hot := n.left + p.decide(n, row[f])
	cold := n.left
	if hot == n.left {
		cold = n.left + 1
	}
	c := p.cover[i]
	hotZero := p.cover[hot] / c
	coldZero := p.cover[cold] / c
	inZero, inOne := 1.0, 1.0
	// A feature split on again further down: undo its earlier split so the
	// path holds each feature once.
	k := 0
	for ; k <= depth; k++ {
		if path[k].feature == f {
			break
		}
	}
	if k <= depth {
		inZero, inOne = path[k].zero, path[k].one
		unwindPath(path, depth, k)
		depth--
	}
	p.treeShap(row, phi, hot, path, depth+1, hotZero*inZero, inOne, f)
	p.treeShap(row, phi, cold, path, depth+1, coldZero*inZero, 0, f)
}

func extendPath(path []pathElem, depth int, zero, one float64, feature int32) {
	path[depth] = pathElem{feature: feature, zero: zero, one: one}
	if depth == 0 {
		path[depth].pweight = 1
	}
	d1 := float64(depth + 1)
	for i := depth - 1; i >= 0; i-- {
		path[i+1].pweight += one * path[i].pweight * float64(i+1) / d1
		path[i].pweight = zero * path[i].pweight * float64(depth-i) / d1
	}
}

func unwindPath(path []pathElem, depth, k int) {
	one, zero := path[k].one, path[k].zero
	next := path[depth].pweight
	d1 := float64(depth + 1)
	for i := depth - 1; i >= 0; i-- {
		if one != 0 {
			tmp := path[i].pweight
			path[i].pweight = next * d1 / (float64(i+1) * one)
			next = tmp - path[i].pweight*zero*float64(depth-i)/d1
		} else {
			path[i].pweight = path[i].pweight * d1 / (zero * float64(depth-i))
		}
	}
	for i := k; i < depth; i++ {
		path[i].feature, path[i].zero, path[i].one = path[i+1].feature, path[i+1].zero, path[i+1].one
	}
}

func unwoundPathSum(path []pathElem, depth, k int) float64 {
	one, zero := path[k].one, path[k].zero
	next := path[depth].pweight
	d1 := float64(depth + 1)
	total := 0.0
	for i := depth - 1; i >= 0; i-- {
		if one != 0 {
			tmp := next * d1 / (float64(i+1) * one)
			total += tmp
			next = path[i].pweight - tmp*zero*float64(depth-i)/d1
		} else if zero != 0 {
			total += path[i].pweight / zero / (float64(depth-i) / d1)
		}
	}
	return total
}

// Importance is a global importance score per feature.
type Importance struct {
	Feature string  `json:"feature"`
	Value   float64 `json:"value"`
}

// GainImportance returns, per feature, the total loss reduction (Gain) of
// the splits on it, as XGBoost's "total_gain" and LightGBM's "gain". Linear
// models have no gains: their weights are not comparable across scales, so
// they report the mean |SHAP| instead (see MeanAbsSHAP).
func (m *Model) GainImportance() []Importance {
	imp := make([]Importance, len(m.Signature.Features))
	for i, f := range m.Signature.Features {
		imp[i].Feature = f.Name
	}
	if m.Trees == nil {
		return imp
	}
	for _, t := range m.Trees.Trees {
		for j := range t.Nodes {
			n := &t.Nodes[j]
			if !n.IsLeaf() && n.Feature >= 0 && n.Feature < len(imp) {
				imp[n.Feature].Value += n.Gain
			}
		}
	}
	return imp
}

// MeanAbsSHAP returns, per feature, the mean over the rows of x of the
// absolute attribution, summed over outputs: the usual SHAP global
// importance. Rows are explained one at a time, so memory stays small.
func (p *Predictor) MeanAbsSHAP(x Matrix) ([]Importance, error) {
	if x.Cols != p.nfeat || len(x.Data) != x.Rows*x.Cols {
		return nil, plinth.Invalid("matrix", "is %dx%d with %d values, the model reads %d features", x.Rows, x.Cols, len(x.Data), p.nfeat)
	}
	row := make([]float64, p.nfeat)
	out := make([]float64, p.nout*(p.nfeat+1))
	sum := make([]float64, p.nfeat)
	for r := range x.Rows {
		for c := range row {
			row[c] = x.at(r, c)
		}
		if err := p.Explain(row, out); err != nil {
			return nil, err
		}
		for k := range p.nout {
			for f := range p.nfeat {
				sum[f] += math.Abs(out[k*(p.nfeat+1)+f])
			}
		}
	}
	imp := make([]Importance, p.nfeat)
	for f := range imp {
		imp[f].Feature = p.model.Signature.Features[f].Name
		if x.Rows > 0 {
			imp[f].Value = sum[f] / float64(x.Rows)
		}
	}
	return imp, nil
}
