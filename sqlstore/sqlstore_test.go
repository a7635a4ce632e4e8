package sqlstore_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plinthml/plinth/registry/registrytest"
	"github.com/plinthml/plinth/sqlstore"
	"github.com/plinthml/plinth/track"
	"github.com/plinthml/plinth/track/tracktest"
)

// engines returns an opener per engine under test. SQLite always runs;
// PostgreSQL runs when PLINTH_TEST_POSTGRES holds a server URL
// (scripts/postgres.sh starts one), and is mandatory when CI is set.
func engines(t testing.TB) map[string]func(t testing.TB) *sqlstore.Store {
	m := map[string]func(t testing.TB) *sqlstore.Store{"sqlite": openSQLite}
	if url := os.Getenv("PLINTH_TEST_POSTGRES"); url != "" {
		m["postgres"] = func(t testing.TB) *sqlstore.Store { return openPostgres(t, url) }
	} else if os.Getenv("CI") != "" {
		t.Fatal("CI is set but PLINTH_TEST_POSTGRES is not: the PostgreSQL contract run is mandatory in CI")
	} else {
		t.Log("PLINTH_TEST_POSTGRES is not set: skipping the PostgreSQL run (start one with scripts/postgres.sh)")
	}
	return m
}

func openSQLite(t testing.TB) *sqlstore.Store {
	s, err := sqlstore.Open(context.Background(), filepath.Join(t.TempDir(), "plinth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// openPostgres gives each test a schema of its own on the shared server.
func openPostgres(t testing.TB, url string) *sqlstore.Store {
	var b [6]byte
	rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatal(err)
	}
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	s, err := sqlstore.Open(context.Background(), url+sep+"search_path="+schema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		if db, err := sql.Open("pgx", url); err == nil {
			db.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
			db.Close()
		}
	})
	return s
}

func TestTrackContract(t *testing.T) {
	for name, open := range engines(t) {
		t.Run(name, func(t *testing.T) {
			tracktest.Run(t, func(t *testing.T) track.Store { return open(t) })
		})
	}
}

func TestRegistryContract(t *testing.T) {
	for name, open := range engines(t) {
		t.Run(name, func(t *testing.T) {
			registrytest.Run(t, func(t *testing.T) registrytest.Store { return open(t) })
		})
	}
}

func TestMigrationsAreIdempotent(t *testing.T) {
	for name, open := range engines(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			v, err := s.SchemaVersion(context.Background())
			if err != nil || v < 1 {
				t.Fatalf("schema version = %d, %v", v, err)
			}
		})
	}
	// Reopening a migrated SQLite file applies nothing and loses nothing.
	path := filepath.Join(t.TempDir(), "plinth.db")
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateExperiment(ctx, &track.Experiment{Name: "kept"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = sqlstore.Open(ctx, "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Experiment(ctx, "kept"); err != nil {
		t.Fatal(err)
	}
}
