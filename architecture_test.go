package plinth_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/plinthml/plinth"

// layers says which packages of the module each package may not import:
// dependencies point one way, from transport over workflows and the
// inference path down to the domains and the leaves (see ARCHITECTURE.md).
// Keys and values are package paths relative to the module; a key matches
// the package and everything under it. Test helper packages (ending in
// "test") and _test.go files are exempt.
var layers = map[string][]string{
	// Leaves know nothing above them.
	"model":    {"train", "track", "registry", "feature", "dataset", "serve", "deploy", "pipeline", "monitor", "api", "cli", "client", "server", "demo", "sqlstore"},
	"blob":     {"model", "train", "track", "registry", "feature", "dataset", "serve", "deploy", "pipeline", "monitor", "api", "cli", "client", "server", "demo", "sqlstore"},
	"online":   {"train", "track", "registry", "feature", "dataset", "serve", "deploy", "pipeline", "monitor", "api", "cli", "client", "server", "demo", "sqlstore"},
	"eval":     {"model", "train", "track", "registry", "feature", "dataset", "serve", "deploy", "pipeline", "monitor", "api", "cli", "client", "server", "demo", "sqlstore"},
	"progress": {"model", "train", "track", "registry", "api", "cli", "client", "server", "demo", "sqlstore"},
	// Access control is a domain of its own: tokens and roles, stored
	// through an interface it owns.
	"auth": {"model", "train", "track", "registry", "feature", "dataset", "serve", "deploy", "pipeline", "monitor", "api", "cli", "client", "server", "demo", "sqlstore", "ui"},
	// Domains know no transport, no workflow, and no storage engine.
	"track":    {"api", "cli", "client", "server", "demo", "pipeline", "deploy", "monitor", "sqlstore", "blob/fsblob", "blob/s3blob"},
	"registry": {"api", "cli", "client", "server", "demo", "pipeline", "deploy", "monitor", "sqlstore", "blob/fsblob", "blob/s3blob"},
	"train":    {"api", "cli", "client", "server", "demo", "pipeline", "deploy", "monitor", "sqlstore", "serve"},
	"dataset":  {"api", "cli", "client", "server", "demo", "pipeline", "deploy", "monitor", "sqlstore", "duckdb", "blob/fsblob", "blob/s3blob"},
	"feature":  {"api", "cli", "client", "server", "demo", "pipeline", "deploy", "monitor", "sqlstore", "duckdb", "project", "dataset"},
	// The project file holds every kind of definition, pipelines included;
	// it reads their types but runs nothing.
	"project": {"api", "cli", "client", "server", "demo", "deploy", "sqlstore", "duckdb", "queue"},
	// The offline engine implements the domains' interfaces and serves nothing.
	"duckdb": {"api", "cli", "client", "server", "demo", "sqlstore", "project"},
	// The inference path never reaches into training or pipelines.
	"serve":  {"train", "pipeline", "api", "cli", "demo", "client", "server", "sqlstore", "duckdb", "eval", "deploy"},
	"deploy": {"train", "pipeline", "api", "cli", "demo", "client", "server", "sqlstore", "duckdb"},
	// Storage implements the domains' interfaces and serves nothing.
	"sqlstore": {"api", "cli", "client", "server", "demo"},
	"api":      {"cli", "server", "demo", "sqlstore", "blob/fsblob", "blob/s3blob"},
	// The web UI calls the domain services as the API does.
	"ui": {"cli", "server", "demo", "sqlstore", "api", "blob/fsblob", "blob/s3blob", "duckdb"},
	// Workflows use the domains; the project registry and storage reach
	// them through interfaces they own.
	"pipeline": {"api", "cli", "client", "server", "demo", "sqlstore", "project", "blob/fsblob", "blob/s3blob", "duckdb"},
	// An exported bundle scores with the model and on-demand code alone.
	"bundle": {"train", "track", "registry", "dataset", "serve", "deploy", "pipeline", "monitor", "api", "cli", "client", "server", "demo", "sqlstore", "duckdb"},
	// The work queue is a leaf: it carries bytes.
	"queue": {"model", "train", "track", "registry", "feature", "dataset", "serve", "deploy", "pipeline", "monitor", "api", "cli", "client", "server", "demo", "sqlstore"},
	// Monitoring reads models and profiles; alerts reach workflows as events.
	"monitor": {"pipeline", "deploy", "api", "cli", "client", "server", "demo", "sqlstore", "duckdb", "serve"},
}

func TestLayers(t *testing.T) {
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		pkg := filepath.ToSlash(filepath.Dir(path))
		if strings.HasSuffix(pkg, "test") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			rel, ok := strings.CutPrefix(p, module+"/")
			if !ok {
				continue
			}
			for key, forbidden := range layers {
				if pkg != key && !strings.HasPrefix(pkg, key+"/") {
					continue
				}
				for _, f := range forbidden {
					if rel == f || strings.HasPrefix(rel, f+"/") {
						t.Errorf("%s imports %s: %s may not depend on %s", path, p, key, f)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
