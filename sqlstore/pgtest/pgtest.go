// Package pgtest gives tests a PostgreSQL database of their own: a fresh
// schema on the server named by PLINTH_TEST_POSTGRES (scripts/postgres.sh
// starts one), dropped when the test ends.
package pgtest

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// EnvVar names the server URL variable.
const EnvVar = "PLINTH_TEST_POSTGRES"

// Available reports whether a server is configured. When none is and CI is
// set, it fails the test: in CI the PostgreSQL run is mandatory.
func Available(t testing.TB) bool {
	if os.Getenv(EnvVar) != "" {
		return true
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("CI is set but %s is not: the PostgreSQL run is mandatory in CI", EnvVar)
	}
	return false
}

// SkipMessage says how to enable the PostgreSQL runs.
const SkipMessage = EnvVar + " is not set: skipping PostgreSQL (start a server with scripts/postgres.sh and export the URL it prints)"

// URL returns a connection URL whose search_path is a new, empty schema.
// It skips the test when no server is configured (and fails in CI).
func URL(t testing.TB) string {
	t.Helper()
	if !Available(t) {
		t.Skip(SkipMessage)
	}
	base := os.Getenv(EnvVar)
	var b [6]byte
	rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatalf("create schema on %s: %v", EnvVar, err)
	}
	t.Cleanup(func() {
		if db, err := sql.Open("pgx", base); err == nil {
			db.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
			db.Close()
		}
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}
