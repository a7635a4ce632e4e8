package model_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports keeps the model packages a leaf of the serving path: their
// non-test code may import the standard library, the root plinth package
// (shared error type) and each other, and nothing else: no training, no
// pipelines, no third-party modules.
func TestImports(t *testing.T) {
	const module = "github.com/plinthml/plinth"
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "testdata" {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			first, _, _ := strings.Cut(p, "/")
			switch {
			case !strings.Contains(first, "."): // standard library
			case p == module, strings.HasPrefix(p, module+"/model/"), p == module+"/model":
			default:
				t.Errorf("%s imports %s: the model packages may only use the standard library, %s and themselves", path, p, module)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
