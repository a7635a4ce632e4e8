package sqlstore_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/auth"
	"github.com/plinthml/plinth/auth/authtest"
	"github.com/plinthml/plinth/dataset"
	"github.com/plinthml/plinth/dataset/datasettest"
	"github.com/plinthml/plinth/monitor"
	"github.com/plinthml/plinth/monitor/monitortest"
	"github.com/plinthml/plinth/pipeline"
	"github.com/plinthml/plinth/pipeline/pipelinetest"
	"github.com/plinthml/plinth/registry/registrytest"
	"github.com/plinthml/plinth/sqlstore"
	"github.com/plinthml/plinth/sqlstore/pgtest"
	"github.com/plinthml/plinth/track"
	"github.com/plinthml/plinth/track/tracktest"
)

// engines returns an opener per engine under test. SQLite always runs;
// PostgreSQL when PLINTH_TEST_POSTGRES names a server (mandatory in CI).
func engines(t testing.TB) map[string]func(t testing.TB) *sqlstore.Store {
	m := map[string]func(t testing.TB) *sqlstore.Store{"sqlite": openSQLite}
	if pgtest.Available(t) {
		m["postgres"] = openPostgres
	} else {
		t.Log(pgtest.SkipMessage)
	}
	return m
}

func openSQLite(t testing.TB) *sqlstore.Store {
	return open(t, filepath.Join(t.TempDir(), "plinth.db"))
}

func openPostgres(t testing.TB) *sqlstore.Store { return open(t, pgtest.URL(t)) }

func open(t testing.TB, dsn string) *sqlstore.Store {
	s, err := sqlstore.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
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

func TestDatasetContract(t *testing.T) {
	for name, open := range engines(t) {
		t.Run(name, func(t *testing.T) {
			datasettest.Run(t, func(t *testing.T) dataset.Store { return open(t) })
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

func TestPipelineContract(t *testing.T) {
	for name, open := range engines(t) {
		t.Run(name, func(t *testing.T) {
			pipelinetest.Run(t, func(t *testing.T) pipeline.Store { return open(t) })
		})
	}
}

func TestAuthContract(t *testing.T) {
	for name, open := range engines(t) {
		t.Run(name, func(t *testing.T) {
			authtest.Run(t, func(t *testing.T) auth.Store { return open(t) })
		})
	}
}

func TestMonitorContract(t *testing.T) {
	for name, open := range engines(t) {
		t.Run(name, func(t *testing.T) {
			monitortest.Run(t, func(t *testing.T) monitor.Store { return open(t) })
		})
	}
}

// An alert the duplicates migration (0010) closed has a resolved state
// column and the body it had while open: it lists as resolved, and is no
// rule's open alert.
func TestAlertStateFromColumn(t *testing.T) {
	ctx := context.Background()
	for name, open := range engines(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			a := &monitor.Alert{Endpoint: "e", Rule: "drift", State: monitor.Pending, StartedAt: time.Now().UTC()}
			if err := s.SaveAlert(ctx, a); err != nil {
				t.Fatal(err)
			}
			if err := s.Exec(ctx, `UPDATE monitor_alerts SET state = 'resolved' WHERE id = ?`, a.ID); err != nil {
				t.Fatal(err)
			}
			all, err := s.Alerts(ctx, "e", 10)
			if err != nil || len(all) != 1 || all[0].State != monitor.Resolved {
				t.Fatalf("Alerts = %+v, %v", all, err)
			}
			if _, err := s.OpenAlert(ctx, "e", "drift"); plinth.ErrorCode(err) != plinth.ENOTFOUND {
				t.Fatalf("OpenAlert: %v", err)
			}
		})
	}
}
