package ui

import (
	"strings"
	"testing"

	"github.com/plinthml/plinth/pipeline"
)

func columnsOf(g graph) map[string]int {
	out := map[string]int{}
	for c, nodes := range g.layers() {
		for _, n := range nodes {
			out[g.Nodes[n].ID] = c
		}
	}
	return out
}

func TestGraphLayers(t *testing.T) {
	// a -> b -> d, a -> c -> d, and e feeding d alone: e is drawn beside
	// d's other parents, not in the first column.
	g := graph{
		Nodes: []gnode{{ID: "d"}, {ID: "c"}, {ID: "b"}, {ID: "a"}, {ID: "e"}},
		Edges: []gedge{{"a", "b"}, {"a", "c"}, {"b", "d"}, {"c", "d"}, {"e", "d"}},
	}
	cols := columnsOf(g)
	want := map[string]int{"a": 0, "b": 1, "c": 1, "e": 1, "d": 2}
	for id, c := range want {
		if cols[id] != c {
			t.Errorf("%s in column %d, want %d (all: %v)", id, cols[id], c, cols)
		}
	}
}

func TestGraphCycleTerminates(t *testing.T) {
	g := graph{Nodes: []gnode{{ID: "a"}, {ID: "b"}}, Edges: []gedge{{"a", "b"}, {"b", "a"}, {"a", "missing"}}}
	if svg := string(g.SVG("x", "cycle")); !strings.Contains(svg, "<svg") {
		t.Fatal("no drawing")
	}
}

// TestDAG: a run's boxes take their state's class, a cache hit is dashed
// and labelled, and every dependency is an arrow.
func TestDAG(t *testing.T) {
	spec := &pipeline.Spec{Name: "p", Steps: []pipeline.Step{
		{Name: "prep", Kind: "training_set"},
		{Name: "train", Kind: "train", Inputs: map[string]string{"train": "prep.train"}},
		{Name: "eval", Kind: "evaluate", Inputs: map[string]string{"model": "train.model", "data": "prep.holdout"}},
		{Name: "notify", Kind: "command", After: []string{"eval"}},
	}}
	latest := map[string]*pipeline.Attempt{
		"prep":  {State: pipeline.Succeeded, Cached: true},
		"train": {State: pipeline.Succeeded},
		"eval":  {State: pipeline.Failed},
	}
	g := dag(spec, latest, "#step-")
	if len(g.Edges) != 4 {
		t.Errorf("%d edges, want 4: %v", len(g.Edges), g.Edges)
	}
	svg := string(g.SVG("run", "steps"))
	for _, want := range []string{`class="node state-succeeded cached"`, `class="node state-failed"`, `class="node state-pending"`, ">cached<", `href="#step-train"`, `marker-end="url(#run-arrow)"`, `aria-label="prep, training_set · succeeded, cache hit"`} {
		if !strings.Contains(svg, want) {
			t.Errorf("DAG lacks %q", want)
		}
	}
	cols := columnsOf(g)
	if cols["prep"] != 0 || cols["train"] != 1 || cols["eval"] != 2 || cols["notify"] != 3 {
		t.Errorf("columns %v", cols)
	}
}

func TestGraphEscapes(t *testing.T) {
	g := graph{Nodes: []gnode{{ID: "x", Label: `<script>alert(1)</script>`, Href: `/ui/a"b`}}}
	svg := string(g.SVG("g", `"quoted"`))
	if strings.Contains(svg, "<script>") || strings.Contains(svg, `a"b`) || strings.Contains(svg, `""quoted""`) {
		t.Fatalf("unescaped text in %s", svg)
	}
}
