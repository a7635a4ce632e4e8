package serve

import (
	"slices"
	"testing"

	"github.com/plinthml/plinth/model"
)

func TestPositions(t *testing.T) {
	sig := func(names ...string) model.Signature {
		var s model.Signature
		for _, n := range names {
			s.Features = append(s.Features, model.Feature{Name: n, Type: model.Float})
		}
		return s
	}
	for _, tc := range []struct {
		name  string
		sig   model.Signature
		names []string
		want  []int
		same  bool // the served rows are the signature's as they are
	}{
		{"same order", sig("a", "b", "c"), []string{"a", "b", "c"}, []int{0, 1, 2}, true},
		{"service serves more", sig("b", "d"), []string{"a", "b", "c", "d"}, []int{1, 3}, false},
		{"service serves more after", sig("a", "b"), []string{"a", "b", "c"}, []int{0, 1}, false},
		{"other order", sig("c", "a", "b"), []string{"a", "b", "c"}, []int{2, 0, 1}, false},
		{"request data", sig("a", "req", "b"), []string{"a", "b"}, []int{0, -1, 1}, false},
		{"nothing served", sig("x"), nil, []int{-1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := positions(tc.sig, tc.names); !slices.Equal(got, tc.want) {
				t.Fatalf("positions = %v, want %v", got, tc.want)
			}
			var l Loaded
			o := l.orderOf(tc.sig, tc.names)
			if !slices.Equal(o.pos, tc.want) || o.same != tc.same {
				t.Fatalf("orderOf = %v same %v, want %v same %v", o.pos, o.same, tc.want, tc.same)
			}
			if l.orderOf(tc.sig, tc.names) != o {
				t.Error("the same names were mapped again")
			}
		})
	}
}

// A service that changes serves new names: they are mapped afresh, even
// when equal to the last.
func TestOrderOfNewNames(t *testing.T) {
	sig := model.Signature{Features: []model.Feature{{Name: "a", Type: model.Float}, {Name: "b", Type: model.Float}}}
	var l Loaded
	first := l.orderOf(sig, []string{"a", "b"})
	if second := l.orderOf(sig, []string{"b", "a"}); second == first || !slices.Equal(second.pos, []int{1, 0}) || second.same {
		t.Fatalf("after the service changed: %+v", second)
	}
}
