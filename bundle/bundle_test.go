package bundle_test

import (
	"bytes"
	"math"
	"testing"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/bundle"
	"github.com/plinthml/plinth/feature"
	"github.com/plinthml/plinth/model"
)

// tiny is a one-split stump over x and an on-demand feature "big".
func tiny() *model.Model {
	return &model.Model{
		FormatVersion: 1,
		Signature:     model.Signature{Features: []model.Feature{{Name: "x", Type: model.Float, Nullable: true}, {Name: "big", Type: model.Bool, Nullable: true}}},
		Objective:     model.Objective{Name: model.BinaryLogistic},
		BaseScore:     []float64{0},
		Trees: &model.Trees{Trees: []model.Tree{{Nodes: []model.Node{
			{Feature: 1, Threshold: 0.5, Left: 1, Right: 2}, {Value: -1}, {Value: 1},
		}}}},
	}
}

func write(t testing.TB) []byte {
	var buf bytes.Buffer
	man := bundle.Manifest{Model: "m", Version: 3, ExportedAt: time.Unix(0, 0).UTC(),
		OnDemand: []feature.OnDemand{{Name: "big", Type: "bool", Expression: "x > 10.0"}}}
	if err := bundle.Write(&buf, man, tiny()); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	b, err := bundle.Read(bytes.NewReader(write(t)))
	if err != nil {
		t.Fatal(err)
	}
	if b.Manifest.Model != "m" || b.Manifest.Version != 3 {
		t.Fatalf("manifest %+v", b.Manifest)
	}
	sigmoid := func(m float64) float64 { return 1 / (1 + math.Exp(-m)) }
	for _, c := range []struct {
		x    float64
		want float64
	}{{20, sigmoid(1)}, {5, sigmoid(-1)}} {
		out, err := b.Predict(map[string]any{"x": c.x})
		if err != nil || math.Abs(out[0]-c.want) > 1e-12 {
			t.Errorf("x=%v: %v %v, want %v (the on-demand feature computed first)", c.x, out, err, c.want)
		}
	}
	if _, err := b.Predict(map[string]any{"x": "tall"}); plinth.ErrorCode(err) != plinth.EINVALID {
		t.Errorf("a string for a number: %v", err)
	}
}

func TestRejects(t *testing.T) {
	good := write(t)
	for name, raw := range map[string][]byte{
		"empty":     nil,
		"not gzip":  []byte("hello"),
		"truncated": good[:len(good)/2],
	} {
		if _, err := bundle.Read(bytes.NewReader(raw)); err == nil {
			t.Errorf("%s: read without error", name)
		}
	}
}

func FuzzRead(f *testing.F) {
	f.Add(write(f))
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, raw []byte) {
		b, err := bundle.Read(bytes.NewReader(raw))
		if err != nil {
			return
		}
		b.Predict(map[string]any{"x": 1.0})
	})
}
