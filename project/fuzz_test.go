package project_test

import (
	"testing"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/project"
)

// FuzzParse feeds arbitrary bytes to the project parser and validation: a
// hostile or broken file is an invalid error, never a panic. Seeds are in
// testdata/fuzz/FuzzParse and below.
func FuzzParse(f *testing.F) {
	f.Add([]byte(projectYAML))
	f.Add([]byte("entities:\n  - {name: e, join_keys: [k]}\n"))
	f.Add([]byte("feature_views:\n  - {name: v, entities: [e], source: x.csv, timestamp: t, features: [f], ttl: 1h, aggregations: [{function: sum, column: c, window: 1h}]}\n"))
	f.Add([]byte("on_demand_features:\n  - {name: o, expression: \"request.a > 1.0\", type: bool}\n"))
	f.Add([]byte("&a [*a, *a]"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, raw []byte) {
		file, err := project.Parse(raw)
		if err != nil {
			if !plinth.IsCode(err, plinth.EINVALID) {
				t.Fatalf("Parse error %v is not invalid", err)
			}
			return
		}
		if err := file.Validate(); err != nil && !plinth.IsCode(err, plinth.EINVALID) {
			t.Fatalf("Validate error %v is not invalid", err)
		}
		_ = project.Render(project.Plan(file, nil, true))
	})
}
