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
	}{
		{"same order", sig("a", "b", "c"), []string{"a", "b", "c"}, []int{0, 1, 2}},
		{"service serves more", sig("b", "d"), []string{"a", "b", "c", "d"}, []int{1, 3}},
		{"other order", sig("c", "a", "b"), []string{"a", "b", "c"}, []int{2, 0, 1}},
		{"request data", sig("a", "req", "b"), []string{"a", "b"}, []int{0, -1, 1}},
		{"nothing served", sig("x"), nil, []int{-1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := positions(tc.sig, tc.names); !slices.Equal(got, tc.want) {
				t.Fatalf("positions = %v, want %v", got, tc.want)
			}
		})
	}
}
