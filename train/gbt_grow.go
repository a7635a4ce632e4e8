package train

import (
	"container/heap"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/plinthml/plinth/model"
)

// histBin is one histogram slot: the sums of gradients and hessians of the
// rows whose bin it is.
type histBin struct{ g, h float64 }

// Work is cut into blocks of a fixed number of rows, never into one piece
// per thread: floating-point sums then add up in the same order whatever the
// number of threads, and the model file is the same byte for byte.
const (
	histBlock = 1 << 15 // rows per partial histogram
	partBlock = 1 << 15 // rows per partition task
	rowBlock  = 1 << 14 // rows per task of per-row passes (gradients, margins)
)

// kRtEps is the smallest gain that counts as a split (XGBoost's kRtEps).
const kRtEps = 1e-6

// Categorical splits follow LightGBM: a node's categories are ordered by
// gradient / (hessian + catSmooth), the best prefix of that order goes left,
// and the split's gain is computed with catL2 added to lambda, which keeps
// rare categories from being split off on noise.
const (
	catSmooth = 10
	catL2     = 10
)

// grower grows one regression tree on the gradients of one output.
type grower struct {
	b         *binned
	threads   int
	maxDepth  int // 0: no limit
	maxLeaves int // 0: no limit
	lossguide bool
	mcw       float64
	alpha     float64
	lambda    float64
	gamma     float64
	oneHot    int // categorical features with at most this many categories split one-vs-rest
	eta       float64

	gh    []float32 // (gradient, hessian) of row r at 2r, 2r+1
	rows  []int32   // the rows of the tree, grouped by node
	tmp   []int32   // scratch of len(rows)
	tmp2  []int32   // scratch of len(rows)
	feats []int     // features the tree may split on, ascending
	all   bool      // feats holds every feature

	nodes []gnode
	free  [][]histBin
	parts []histBin // partial histograms of buildHists, reused
}

// gnode is a node of the tree being grown.
type gnode struct {
	lo, hi      int // rows[lo:hi]
	depth       int
	g, h        float64
	hist        []histBin
	split       split
	goLeft      *[256]uint8 // split nodes: the side of every bin, 1 for left
	left, right int         // children; 0 for a leaf
	value       float64     // leaves: the output, learning rate included
}

// split is the best split found for a node; gain 0 means none.
type split struct {
	gain        float64
	feature     int
	bin         int   // numeric: bins <= bin go left
	cats        []int // categorical: the bins that go left
	defaultLeft bool
	gl, hl      float64 // sums of the left child
}

// thresholdL1 is XGBoost's soft threshold of a gradient sum by alpha.
func thresholdL1(g, alpha float64) float64 {
	switch {
	case g > alpha:
		return g - alpha
	case g < -alpha:
		return g + alpha
	}
	return 0
}

// score is the loss reduction of a node with sums (g, h) over none.
func score(g, h, alpha, lambda float64) float64 {
	t := thresholdL1(g, alpha)
	return t * t / (h + lambda)
}

func (gr *grower) getHist() []histBin {
	if n := len(gr.free); n > 0 {
		h := gr.free[n-1]
		gr.free = gr.free[:n-1]
		return h
	}
	return make([]histBin, gr.b.slots)
}

func (gr *grower) putHist(h []histBin) {
	if h != nil {
		gr.free = append(gr.free, h)
	}
}

func (gr *grower) canSplit(n *gnode) bool {
	return (gr.maxDepth == 0 || n.depth < gr.maxDepth) && n.hi-n.lo >= 2 && n.h >= 2*gr.mcw && n.depth < model.MaxDepth
}

// grow grows a tree over gr.rows with gradients gr.gh. The result is in
// gr.nodes, node 0 the root; leaves hold their values.
func (gr *grower) grow() {
	gr.nodes = append(gr.nodes[:0], gnode{lo: 0, hi: len(gr.rows)})
	gr.nodes[0].hist = gr.getHist()
	gr.buildHists([]int{0})
	root := &gr.nodes[0]
	f0 := gr.feats[0]
	for _, s := range root.hist[gr.b.off[f0] : int(gr.b.off[f0])+gr.b.slotsOf(f0)] {
		root.g += s.g
		root.h += s.h
	}
	if gr.canSplit(root) {
		gr.findSplits([]int{0})
	} else {
		gr.putHist(root.hist)
		root.hist = nil
	}
	leaves := 1
	if !gr.lossguide {
		level := []int{0}
		for len(level) > 0 {
			var next []int
			for _, id := range level {
				if gr.nodes[id].split.gain > 0 {
					next = append(next, id)
				} else {
					gr.putHist(gr.nodes[id].hist)
					gr.nodes[id].hist = nil
				}
			}
			if gr.maxLeaves > 0 && leaves+len(next) > gr.maxLeaves {
				// Keep the best splits of the level.
				slices.SortStableFunc(next, func(a, b int) int {
					ga, gb := gr.nodes[a].split.gain, gr.nodes[b].split.gain
					switch {
					case ga > gb:
						return -1
					case ga < gb:
						return 1
					}
					return 0
				})
				for _, id := range next[gr.maxLeaves-leaves:] {
					gr.nodes[id].split = split{}
					gr.putHist(gr.nodes[id].hist)
					gr.nodes[id].hist = nil
				}
				next = next[:gr.maxLeaves-leaves]
				slices.Sort(next)
			}
			leaves += len(next)
			level = gr.expand(next)
		}
	} else {
		q := &gainQueue{nodes: gr.nodes}
		if gr.nodes[0].split.gain > 0 {
			q.ids = append(q.ids, 0)
		}
		for len(q.ids) > 0 && (gr.maxLeaves == 0 || leaves < gr.maxLeaves) {
			id := heap.Pop(q).(int)
			leaves++
			children := gr.expand([]int{id})
			q.nodes = gr.nodes
			for _, c := range children {
				if gr.nodes[c].split.gain > 0 {
					heap.Push(q, c)
				}
			}
		}
		for _, id := range q.ids {
			gr.nodes[id].split = split{}
			gr.putHist(gr.nodes[id].hist)
			gr.nodes[id].hist = nil
		}
	}
	for i := range gr.nodes {
		n := &gr.nodes[i]
		if n.left == 0 {
			n.value = -thresholdL1(n.g, gr.alpha) / (n.h + gr.lambda) * gr.eta
		}
	}
}

// gainQueue orders candidate leaves by gain, then by node index.
type gainQueue struct {
	ids   []int
	nodes []gnode
}

func (q *gainQueue) Len() int { return len(q.ids) }
func (q *gainQueue) Less(i, j int) bool {
	a, b := &q.nodes[q.ids[i]], &q.nodes[q.ids[j]]
	if a.split.gain != b.split.gain {
		return a.split.gain > b.split.gain
	}
	return q.ids[i] < q.ids[j]
}
func (q *gainQueue) Swap(i, j int) { q.ids[i], q.ids[j] = q.ids[j], q.ids[i] }
func (q *gainQueue) Push(x any)    { q.ids = append(q.ids, x.(int)) }
func (q *gainQueue) Pop() any {
	x := q.ids[len(q.ids)-1]
	q.ids = q.ids[:len(q.ids)-1]
	return x
}

// expand splits the nodes ids (each with a split and a histogram), creates
// their children, gives the children that may split further a histogram
// (building the smaller child's, subtracting it from the parent's for the
// larger) and finds their splits. It returns the children's indices.
func (gr *grower) expand(ids []int) []int {
	if len(ids) == 0 {
		return nil
	}
	for _, id := range ids {
		gr.nodes[id].goLeft = gr.sideTable(&gr.nodes[id].split)
	}
	nleft := gr.partition(ids)
	var children, build []int
	for k, id := range ids {
		p := gr.nodes[id]
		mid := p.lo + nleft[k]
		l := gnode{lo: p.lo, hi: mid, depth: p.depth + 1, g: p.split.gl, h: p.split.hl}
		r := gnode{lo: mid, hi: p.hi, depth: p.depth + 1, g: p.g - p.split.gl, h: p.h - p.split.hl}
		li, ri := len(gr.nodes), len(gr.nodes)+1
		gr.nodes[id].left, gr.nodes[id].right = li, ri
		gr.nodes = append(gr.nodes, l, r)
		children = append(children, li, ri)
		needL, needR := gr.canSplit(&gr.nodes[li]), gr.canSplit(&gr.nodes[ri])
		if !needL && !needR {
			gr.putHist(gr.nodes[id].hist)
			gr.nodes[id].hist = nil
			continue
		}
		small := li
		if r.hi-r.lo < l.hi-l.lo {
			small = ri
		}
		gr.nodes[small].hist = gr.getHist()
		build = append(build, small)
	}
	gr.buildHists(build)
	var search []int
	for _, id := range ids {
		p := &gr.nodes[id]
		if p.hist == nil {
			continue
		}
		li, ri := p.left, p.right
		small, large := li, ri
		if gr.nodes[small].hist == nil {
			small, large = ri, li
		}
		// parent - small = large, in the parent's buffer.
		ph, sh := p.hist, gr.nodes[small].hist
		for _, f := range gr.feats {
			lo, hi := int(gr.b.off[f]), int(gr.b.off[f])+gr.b.slotsOf(f)
			for i := lo; i < hi; i++ {
				ph[i].g -= sh[i].g
				ph[i].h -= sh[i].h
			}
		}
		gr.nodes[large].hist = ph
		p.hist = nil
		for _, c := range []int{li, ri} {
			if gr.canSplit(&gr.nodes[c]) {
				search = append(search, c)
			} else {
				gr.putHist(gr.nodes[c].hist)
				gr.nodes[c].hist = nil
			}
		}
	}
	gr.findSplits(search)
	return children
}

// sideTable returns the side of every bin of the split's feature: true for
// left. Missing values take the default direction.
func (gr *grower) sideTable(s *split) *[256]uint8 {
	t := new([256]uint8)
	f := s.feature
	if s.cats != nil {
		for _, c := range s.cats {
			t[c] = 1
		}
	} else {
		for b := 0; b <= s.bin; b++ {
			t[b] = 1
		}
	}
	if m := gr.b.missingBin(f); m >= 0 {
		t[m] = 0
		if s.defaultLeft {
			t[m] = 1
		}
	}
	return t
}

// partition reorders the rows of every node in ids, left child first, both
// sides in their old order, and returns the number of rows going left per
// node.
func (gr *grower) partition(ids []int) []int {
	type task struct{ node, lo, hi, nl int }
	var tasks []task
	for _, id := range ids {
		n := &gr.nodes[id]
		for lo := n.lo; lo < n.hi; lo += partBlock {
			tasks = append(tasks, task{node: id, lo: lo, hi: min(n.hi, lo+partBlock)})
		}
	}
	rows, tmp, tmp2 := gr.rows, gr.tmp, gr.tmp2
	// Pass 1: each block writes its lefts to tmp and its rights to tmp2,
	// from the block's start.
	parallelFor(gr.threads, len(tasks), func(i int) {
		t := &tasks[i]
		n := &gr.nodes[t.node]
		f, side := n.split.feature, n.goLeft
		col := gr.b.cols[f*gr.b.n : (f+1)*gr.b.n]
		// Branch-free: every row is written to both sides' next place,
		// and only its own side's count moves on.
		left, right := tmp[t.lo:t.hi], tmp2[t.lo:t.hi]
		l, r := 0, 0
		for _, row := range rows[t.lo:t.hi] {
			d := int(side[col[row]])
			left[l] = row
			right[r] = row
			l += d
			r += 1 - d
		}
		t.nl = l
	})
	// Pass 2: blocks copy their sides to their place in the node.
	nleft := make([]int, len(ids))
	type place struct{ left, right int }
	places := make([]place, len(tasks))
	k := -1
	for i := range tasks {
		if i == 0 || tasks[i].node != tasks[i-1].node {
			k++
		}
		nleft[k] += tasks[i].nl
	}
	k = -1
	var lpos, rpos int
	for i, t := range tasks {
		if i == 0 || t.node != tasks[i-1].node {
			k++
			lpos = gr.nodes[t.node].lo
			rpos = lpos + nleft[k]
		}
		places[i] = place{lpos, rpos}
		lpos += t.nl
		rpos += t.hi - t.lo - t.nl
	}
	parallelFor(gr.threads, len(tasks), func(i int) {
		t, pl := tasks[i], places[i]
		copy(rows[pl.left:], tmp[t.lo:t.lo+t.nl])
		copy(rows[pl.right:], tmp2[t.lo:t.hi-t.nl])
	})
	return nleft
}

// buildHists fills the (allocated) histograms of the nodes ids from their
// rows: blocks of histBlock rows in parallel, each into its own partial
// histogram, then the partials added in block order.
func (gr *grower) buildHists(ids []int) {
	if len(ids) == 0 {
		return
	}
	type task struct {
		lo, hi int
		buf    []histBin
	}
	var tasks []task
	type reduce struct {
		dst   []histBin
		parts []histBin // the partials after the first, back to back
		n     int
	}
	var reduces []reduce
	extra := 0
	for _, id := range ids {
		n := &gr.nodes[id]
		extra += max(0, (n.hi-n.lo+histBlock-1)/histBlock-1)
	}
	if need := extra * gr.b.slots; cap(gr.parts) < need {
		gr.parts = make([]histBin, need)
	}
	pool := gr.parts[:extra*gr.b.slots]
	for _, id := range ids {
		n := &gr.nodes[id]
		nblocks := max(1, (n.hi-n.lo+histBlock-1)/histBlock)
		var parts []histBin
		if nblocks > 1 {
			parts, pool = pool[:(nblocks-1)*gr.b.slots], pool[(nblocks-1)*gr.b.slots:]
			reduces = append(reduces, reduce{dst: n.hist, parts: parts, n: nblocks - 1})
		}
		for k := range nblocks {
			t := task{lo: n.lo + k*histBlock, hi: min(n.hi, n.lo+(k+1)*histBlock), buf: n.hist}
			if k > 0 {
				t.buf = parts[(k-1)*gr.b.slots : k*gr.b.slots]
			}
			tasks = append(tasks, t)
		}
	}
	parallelFor(gr.threads, len(tasks), func(i int) {
		t := tasks[i]
		clear(t.buf)
		gr.histRows(t.buf, gr.rows[t.lo:t.hi])
	})
	if len(reduces) == 0 {
		return
	}
	// Add the partials slot range by slot range, in block order.
	const span = 1024
	type rtask struct{ r, lo, hi int }
	var rtasks []rtask
	for i := range reduces {
		for lo := 0; lo < gr.b.slots; lo += span {
			rtasks = append(rtasks, rtask{i, lo, min(gr.b.slots, lo+span)})
		}
	}
	parallelFor(gr.threads, len(rtasks), func(i int) {
		t := rtasks[i]
		r := reduces[t.r]
		dst := r.dst[t.lo:t.hi]
		for k := range r.n {
			src := r.parts[k*gr.b.slots+t.lo : k*gr.b.slots+t.hi]
			for j := range dst {
				dst[j].g += src[j].g
				dst[j].h += src[j].h
			}
		}
	})
}

// histRows adds rows to histogram h.
func (gr *grower) histRows(h []histBin, rows []int32) {
	bins, nf, off, gh := gr.b.bins, gr.b.nf, gr.b.off, gr.gh
	if !gr.all {
		feats := gr.feats
		for _, r := range rows {
			g, hh := float64(gh[2*r]), float64(gh[2*r+1])
			rb := bins[int(r)*nf : int(r)*nf+nf]
			for _, f := range feats {
				e := &(*[256]histBin)(h[int(off[f]):])[rb[f]]
				e.g += g
				e.h += hh
			}
		}
		return
	}
	histRowsFast(h, bins, nf, gh, rows)
}

// histRowsAll adds rows to the histogram h (256 slots per feature) over
// all nf features, four features per step. Kept small so that its
// variables live in registers.
func histRowsAll(h []histBin, bins []uint8, nf int, gh []float32, rows []int32) {
	for _, r := range rows {
		g, hh := float64(gh[2*r]), float64(gh[2*r+1])
		rb := bins[int(r)*nf : int(r)*nf+nf]
		hp := h
		for len(rb) >= 4 && len(hp) >= 4*256 {
			e0 := &(*[256]histBin)(hp[0:256])[rb[0]]
			e1 := &(*[256]histBin)(hp[256:512])[rb[1]]
			e2 := &(*[256]histBin)(hp[512:768])[rb[2]]
			e3 := &(*[256]histBin)(hp[768:1024])[rb[3]]
			e0.g += g
			e0.h += hh
			e1.g += g
			e1.h += hh
			e2.g += g
			e2.h += hh
			e3.g += g
			e3.h += hh
			rb, hp = rb[4:], hp[4*256:]
		}
		for f, b := range rb {
			e := &(*[256]histBin)(hp[f*256:])[b]
			e.g += g
			e.h += hh
		}
	}
}

// findSplits finds the best split of each node in ids, in parallel.
func (gr *grower) findSplits(ids []int) {
	parallelFor(gr.threads, len(ids), func(i int) {
		n := &gr.nodes[ids[i]]
		n.split = gr.bestSplit(n)
	})
}

// bestSplit scans the node's histogram for the split of largest gain, over
// the tree's features; it returns split{} when no split gains more than
// gamma (and kRtEps).
func (gr *grower) bestSplit(n *gnode) split {
	best := split{}
	floor := max(gr.gamma, kRtEps)
	bestGain := floor
	G, H := n.g, n.h
	alpha, lambda, mcw := gr.alpha, gr.lambda, gr.mcw
	parent := score(G, H, alpha, lambda)
	var order []int
	for _, f := range gr.feats {
		nb := gr.b.nb[f]
		hist := n.hist[gr.b.off[f] : int(gr.b.off[f])+gr.b.slotsOf(f)]
		var gm, hm float64
		if gr.b.missing[f] {
			gm, hm = hist[nb].g, hist[nb].h
		}
		// take records a candidate with left sums (gl, hl); missingLeft
		// says where the node's missing values went.
		take := func(gain, gl, hl float64, missingLeft bool, bin int, cats []int) {
			bestGain = gain
			dl := missingLeft
			if hm == 0 {
				// No missing values here: send future ones to the
				// heavier side.
				dl = hl >= H-hl
			}
			best = split{gain: gain, feature: f, bin: bin, defaultLeft: dl, gl: gl, hl: hl}
			if cats != nil {
				best.cats = slices.Clone(cats)
			}
		}
		if !gr.b.cat[f] {
			var gl, hl float64
			for b := 0; b < nb-1; b++ {
				gl += hist[b].g
				hl += hist[b].h
				if hl >= mcw && H-hl >= mcw {
					if gain := score(gl, hl, alpha, lambda) + score(G-gl, H-hl, alpha, lambda) - parent; gain > bestGain {
						take(gain, gl, hl, false, b, nil)
					}
				}
				if hm > 0 {
					gl2, hl2 := gl+gm, hl+hm
					if hl2 >= mcw && H-hl2 >= mcw {
						if gain := score(gl2, hl2, alpha, lambda) + score(G-gl2, H-hl2, alpha, lambda) - parent; gain > bestGain {
							take(gain, gl2, hl2, true, b, nil)
						}
					}
				}
			}
			continue
		}
		if gr.b.ncat[f] <= gr.oneHot {
			// One category against the rest, scored as the split of a
			// one-hot column would be: no categorical regularization.
			var one [1]int
			for b := range nb {
				gl, hl := hist[b].g, hist[b].h
				if hl == 0 {
					continue
				}
				one[0] = b
				if hl >= mcw && H-hl >= mcw {
					if gain := score(gl, hl, alpha, lambda) + score(G-gl, H-hl, alpha, lambda) - parent; gain > bestGain {
						take(gain, gl, hl, false, 0, one[:])
					}
				}
				if hm > 0 {
					gl2, hl2 := gl+gm, hl+hm
					if hl2 >= mcw && H-hl2 >= mcw {
						if gain := score(gl2, hl2, alpha, lambda) + score(G-gl2, H-hl2, alpha, lambda) - parent; gain > bestGain {
							take(gain, gl2, hl2, true, 0, one[:])
						}
					}
				}
			}
			continue
		}
		order = order[:0]
		for b := range nb {
			if hist[b].h > 0 {
				order = append(order, b)
			}
		}
		ratio := func(b int) float64 { return hist[b].g / (hist[b].h + catSmooth) }
		slices.SortStableFunc(order, func(a, b int) int {
			ra, rb := ratio(a), ratio(b)
			switch {
			case ra < rb:
				return -1
			case ra > rb:
				return 1
			}
			return a - b
		})
		cl := lambda + catL2
		cparent := score(G, H, alpha, cl)
		var gl, hl float64
		for i, b := range order {
			gl += hist[b].g
			hl += hist[b].h
			if (i < len(order)-1 || hm > 0) && hl >= mcw && H-hl >= mcw {
				if gain := score(gl, hl, alpha, cl) + score(G-gl, H-hl, alpha, cl) - cparent; gain > bestGain {
					take(gain, gl, hl, false, 0, order[:i+1])
				}
			}
			if hm > 0 && i < len(order)-1 {
				gl2, hl2 := gl+gm, hl+hm
				if hl2 >= mcw && H-hl2 >= mcw {
					if gain := score(gl2, hl2, alpha, cl) + score(G-gl2, H-hl2, alpha, cl) - cparent; gain > bestGain {
						take(gain, gl2, hl2, true, 0, order[:i+1])
					}
				}
			}
		}
	}
	if best.gain <= floor {
		return split{}
	}
	if best.cats != nil {
		slices.Sort(best.cats)
	}
	return best
}

// tree converts the grown tree into a model tree for output k.
func (gr *grower) tree(k int) model.Tree {
	t := model.Tree{Output: k, Nodes: make([]model.Node, len(gr.nodes))}
	for i := range gr.nodes {
		n := &gr.nodes[i]
		nd := &t.Nodes[i]
		nd.Cover = n.h
		if n.left == 0 {
			nd.Value = n.value
			continue
		}
		s := &n.split
		nd.Feature, nd.Left, nd.Right = s.feature, n.left, n.right
		nd.DefaultLeft, nd.Gain = s.defaultLeft, s.gain
		if s.cats == nil {
			nd.Threshold = gr.b.ub[s.feature][s.bin]
			continue
		}
		last := gr.b.nb[s.feature] - 1
		for _, c := range s.cats {
			if c == last && gr.b.ncat[s.feature] > gr.b.nb[s.feature] {
				// The last bin holds every remaining category.
				for code := last; code < gr.b.ncat[s.feature]; code++ {
					nd.Categories = append(nd.Categories, code)
				}
				continue
			}
			nd.Categories = append(nd.Categories, c)
		}
	}
	return t
}

// leaves returns the indices of the grown tree's leaves.
func (gr *grower) leaves() []int {
	var out []int
	for i := range gr.nodes {
		if gr.nodes[i].left == 0 {
			out = append(out, i)
		}
	}
	return out
}

// addLeaves adds the leaf values of the grown tree to margin[r*stride+k]
// for the tree's rows.
func (gr *grower) addLeaves(margin []float64, stride, k int) {
	leaves := gr.leaves()
	parallelFor(gr.threads, len(leaves), func(i int) {
		n := &gr.nodes[leaves[i]]
		for _, r := range gr.rows[n.lo:n.hi] {
			margin[int(r)*stride+k] += n.value
		}
	})
}

// refitQuantile sets each leaf to the alpha quantile of its rows'
// residuals (times the learning rate), as XGBoost and LightGBM do for the
// quantile objective: the pinball loss's gradient says only which side a
// row is on, so gradient steps alone would crawl to a far quantile.
func (gr *grower) refitQuantile(margin, y []float64, alpha float64, stride, k int) {
	leaves := gr.leaves()
	parallelFor(gr.threads, len(leaves), func(i int) {
		n := &gr.nodes[leaves[i]]
		rows := gr.rows[n.lo:n.hi]
		if len(rows) == 0 {
			return
		}
		res := make([]float64, len(rows))
		for j, r := range rows {
			res[j] = y[r] - margin[int(r)*stride+k]
		}
		slices.Sort(res)
		n.value = res[min(len(res)-1, int(alpha*float64(len(res))))] * gr.eta
	})
}

// addAll walks every training row down the grown tree on its bins and adds
// the leaf value to margin[r*stride+k]: for rows left out by subsampling.
func (gr *grower) addAll(margin []float64, stride, k int) {
	b := gr.b
	parallelFor(gr.threads, (b.n+rowBlock-1)/rowBlock, func(blk int) {
		for r := blk * rowBlock; r < min(b.n, (blk+1)*rowBlock); r++ {
			i := 0
			for gr.nodes[i].left != 0 {
				n := &gr.nodes[i]
				if n.goLeft[b.cols[n.split.feature*b.n+r]] == 1 {
					i = n.left
				} else {
					i = n.right
				}
			}
			margin[r*stride+k] += gr.nodes[i].value
		}
	})
}

// parallelFor calls fn(0..n-1) on up to threads goroutines.
func parallelFor(threads, n int, fn func(i int)) {
	if threads <= 1 || n <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(threads, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				fn(i)
			}
		})
	}
	wg.Wait()
}

// rawTree walks a model tree on raw feature values exactly as the model's
// predictor does: for the validation margins.
type rawTree struct {
	nodes []model.Node
	sets  [][]uint64 // category bitsets per node (nil for numeric)
}

func newRawTree(t *model.Tree) rawTree {
	rt := rawTree{nodes: t.Nodes, sets: make([][]uint64, len(t.Nodes))}
	for i, n := range t.Nodes {
		if len(n.Categories) == 0 {
			continue
		}
		set := make([]uint64, slices.Max(n.Categories)/64+1)
		for _, c := range n.Categories {
			set[c/64] |= 1 << (c % 64)
		}
		rt.sets[i] = set
	}
	return rt
}

func (rt *rawTree) leafValue(cols [][]float64, r int) float64 {
	i := 0
	for {
		n := &rt.nodes[i]
		if n.Left == 0 && n.Right == 0 {
			return n.Value
		}
		x := cols[n.Feature][r]
		var left bool
		switch {
		case math.IsNaN(x):
			left = n.DefaultLeft
		case rt.sets[i] != nil:
			if x > -1 && x < model.MaxCategory {
				c := int(x)
				set := rt.sets[i]
				left = c/64 < len(set) && set[c/64]&(1<<(c%64)) != 0
			}
		default:
			left = x < n.Threshold
		}
		if left {
			i = n.Left
		} else {
			i = n.Right
		}
	}
}
