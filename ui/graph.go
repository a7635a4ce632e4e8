package ui

import (
	"html"
	"html/template"
	"sort"
	"strconv"
	"strings"
)

// A graph is drawn left to right in layers: a node sits one column right of
// the deepest node it depends on, so every arrow points right. It draws a
// pipeline's DAG and a model version's lineage with the same code.

type gnode struct {
	ID    string
	Label string
	Sub   string // second line: kind, state, version
	Href  string // the box links here when set
	Class string // CSS class: a step state, or a lineage kind
	// Cached marks a step whose result came from the cache: dashed
	// border and a "cached" badge, so a cache hit is seen at a glance.
	Cached bool
}

type gedge struct{ From, To string }

type graph struct {
	Nodes []gnode
	Edges []gedge
}

const (
	nodeW, nodeH = 160, 46
	colGap       = 44
	rowGap       = 18
	graphPad     = 8
)

// layers assigns each node its column (the longest path from a source) and
// orders each column to keep arrows short: by the mean row of a node's
// parents, ties in the given order. A cycle, which a valid spec cannot
// have, puts the nodes on it in the last column instead of looping.
func (g graph) layers() [][]int {
	idx := make(map[string]int, len(g.Nodes))
	for i, n := range g.Nodes {
		idx[n.ID] = i
	}
	parents := make([][]int, len(g.Nodes))
	children := make([][]int, len(g.Nodes))
	for _, e := range g.Edges {
		f, ok1 := idx[e.From]
		t, ok2 := idx[e.To]
		if ok1 && ok2 && f != t {
			parents[t] = append(parents[t], f)
			children[f] = append(children[f], t)
		}
	}
	col := make([]int, len(g.Nodes))
	state := make([]int, len(g.Nodes)) // 0 new, 1 visiting, 2 done
	var depth func(i int) int
	depth = func(i int) int {
		switch state[i] {
		case 1:
			return len(g.Nodes) // a cycle
		case 2:
			return col[i]
		}
		state[i] = 1
		d := 0
		for _, p := range parents[i] {
			d = max(d, depth(p)+1)
		}
		state[i] = 2
		col[i] = min(d, len(g.Nodes))
		return col[i]
	}
	maxCol := 0
	for i := range g.Nodes {
		maxCol = max(maxCol, depth(i))
	}
	// A source sits just left of its first child, not in the first column:
	// a dataset that feeds only the run is drawn beside the run.
	for i := range g.Nodes {
		if len(parents[i]) == 0 && len(children[i]) > 0 {
			c := maxCol
			for _, ch := range children[i] {
				c = min(c, col[ch]-1)
			}
			col[i] = max(c, 0)
		}
	}
	cols := make([][]int, maxCol+1)
	for i := range g.Nodes {
		cols[col[i]] = append(cols[col[i]], i)
	}
	row := make([]float64, len(g.Nodes))
	for c, nodes := range cols {
		if c > 0 {
			bary := make(map[int]float64, len(nodes))
			for _, n := range nodes {
				if len(parents[n]) == 0 {
					bary[n] = float64(n)
					continue
				}
				var sum float64
				for _, p := range parents[n] {
					sum += row[p]
				}
				bary[n] = sum / float64(len(parents[n]))
			}
			sort.SliceStable(nodes, func(a, b int) bool { return bary[nodes[a]] < bary[nodes[b]] })
		}
		for r, n := range nodes {
			row[n] = float64(r)
		}
	}
	out := cols[:0]
	for _, c := range cols {
		if len(c) > 0 {
			out = append(out, c)
		}
	}
	return out
}

// SVG draws the graph; id prefixes the SVG's ids so that several graphs can
// share a page. Boxes with a Href are links, reachable with the keyboard.
func (g graph) SVG(id, label string) template.HTML {
	if len(g.Nodes) == 0 {
		return `<p class="muted">Nothing to draw.</p>`
	}
	cols := g.layers()
	tallest := 0
	for _, c := range cols {
		tallest = max(tallest, len(c))
	}
	w := 2*graphPad + len(cols)*nodeW + (len(cols)-1)*colGap
	h := 2*graphPad + tallest*nodeH + (tallest-1)*rowGap
	type pos struct{ x, y float64 }
	at := make(map[string]pos, len(g.Nodes))
	for c, nodes := range cols {
		// Centre shorter columns against the tallest.
		off := float64((tallest-len(nodes))*(nodeH+rowGap)) / 2
		for r, n := range nodes {
			at[g.Nodes[n].ID] = pos{float64(graphPad + c*(nodeW+colGap)), float64(graphPad) + off + float64(r*(nodeH+rowGap))}
		}
	}
	var b strings.Builder
	b.WriteString(`<svg class="graph" viewBox="0 0 ` + strconv.Itoa(w) + " " + strconv.Itoa(h) + `" width="` + strconv.Itoa(w) + `" height="` + strconv.Itoa(h) + `" role="group" aria-label="` + html.EscapeString(label) + `">`)
	marker := html.EscapeString(id) + "-arrow"
	b.WriteString(`<defs><marker id="` + marker + `" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path class="arrowhead" d="M0 0L10 5L0 10z"/></marker></defs>`)
	for _, e := range g.Edges {
		f, ok1 := at[e.From]
		t, ok2 := at[e.To]
		if !ok1 || !ok2 {
			continue
		}
		x1, y1 := f.x+nodeW, f.y+nodeH/2
		x2, y2 := t.x-2, t.y+nodeH/2
		mx := (x1 + x2) / 2
		b.WriteString(`<path class="edge" marker-end="url(#` + marker + `)" d="M` + fmtf(x1) + " " + fmtf(y1) + "C" + fmtf(mx) + " " + fmtf(y1) + " " + fmtf(mx) + " " + fmtf(y2) + " " + fmtf(x2) + " " + fmtf(y2) + `"/>`)
	}
	for _, n := range g.Nodes {
		p := at[n.ID]
		desc := n.Label
		if n.Sub != "" {
			desc += ", " + n.Sub
		}
		if n.Cached {
			desc += ", cache hit"
		}
		if n.Href != "" {
			b.WriteString(`<a href="` + html.EscapeString(n.Href) + `" aria-label="` + html.EscapeString(desc) + `">`)
		} else {
			b.WriteString(`<g role="img" aria-label="` + html.EscapeString(desc) + `">`)
		}
		cls := "node " + n.Class
		if n.Cached {
			cls += " cached"
		}
		b.WriteString(`<rect class="` + html.EscapeString(cls) + `" x="` + fmtf(p.x) + `" y="` + fmtf(p.y) + `" width="` + strconv.Itoa(nodeW) + `" height="` + strconv.Itoa(nodeH) + `" rx="6"><title>` + html.EscapeString(desc) + `</title></rect>`)
		b.WriteString(`<text class="nodelabel" x="` + fmtf(p.x+10) + `" y="` + fmtf(p.y+19) + `">` + html.EscapeString(truncate(19, n.Label)) + `</text>`)
		if n.Sub != "" {
			b.WriteString(`<text class="nodesub" x="` + fmtf(p.x+10) + `" y="` + fmtf(p.y+36) + `">` + html.EscapeString(truncate(25, n.Sub)) + `</text>`)
		}
		if n.Cached {
			b.WriteString(`<text class="badge" x="` + fmtf(p.x+nodeW-8) + `" y="` + fmtf(p.y+14) + `" text-anchor="end">cached</text>`)
		}
		if n.Href != "" {
			b.WriteString(`</a>`)
		} else {
			b.WriteString(`</g>`)
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
