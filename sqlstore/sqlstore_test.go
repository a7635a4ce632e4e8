package sqlstore_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/auth"
	"github.com/plinthml/plinth/auth/authtest"
	"github.com/plinthml/plinth/dataset"
	"github.com/plinthml/plinth/dataset/datasettest"
	"github.com/plinthml/plinth/deploy"
	"github.com/plinthml/plinth/monitor"
	"github.com/plinthml/plinth/monitor/monitortest"
	"github.com/plinthml/plinth/pipeline"
	"github.com/plinthml/plinth/pipeline/pipelinetest"
	"github.com/plinthml/plinth/project"
	"github.com/plinthml/plinth/registry"
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

// The audit trail reads who changed what from every domain's records as
// one list, newest first, filtered by principal and time.
func TestAuditTrail(t *testing.T) {
	for name, open := range engines(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			ctx := context.Background()
			clock := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
			s.Now = func() time.Time { clock = clock.Add(time.Minute); return clock }
			svc := &auth.Service{Store: s, Now: s.Now}
			if err := s.CreateModel(ctx, &registry.Model{Name: "churn"}, registry.AuditEvent{Principal: "alice", Reason: "launch"}); err != nil {
				t.Fatal(err)
			}
			if err := s.Save(ctx, &deploy.Endpoint{Name: "churn", Strategy: "single", Stable: deploy.Target{Model: "churn", Ref: "1", Version: 1},
				Action: "deploy", Reason: "first", UpdatedBy: "bob"}); err != nil {
				t.Fatal(err)
			}
			if _, _, err := svc.Create(plinth.WithPrincipal(ctx, "alice"), auth.NewToken{Name: "ci", Role: auth.Editor}); err != nil {
				t.Fatal(err)
			}
			if err := svc.Revoke(plinth.WithPrincipal(ctx, "bob"), "ci"); err != nil {
				t.Fatal(err)
			}
			if err := s.Decide(ctx, "run1", "ship", pipeline.Decision{Approve: false, By: "carol", Reason: "not yet", At: s.Now()}); err != nil {
				t.Fatal(err)
			}
			if err := s.ApplyDefinitions(ctx, []project.Definition{{Kind: "entity", Name: "customer", Spec: []byte(`{"name":"customer","join_keys":["id"]}`)}}, nil, "dave"); err != nil {
				t.Fatal(err)
			}
			// A batch someone ingested, with its quarantine, is in the
			// trail; a batch the platform wrote itself is not.
			q := &dataset.Quarantine{ID: "q1", Dataset: "flights", Digest: "sha256:bb", Rows: 2, Reasons: map[string]int64{"x: null": 2},
				Source: "upload.csv", CreatedAt: s.Now(), CreatedBy: "erin"}
			v := &dataset.Version{Dataset: "flights", Digest: "sha256:aa", Rows: 98, Source: "upload.csv", IngestedAt: s.Now(), IngestedBy: "erin", Quarantined: 2}
			if err := s.RecordIngest(ctx, v, q); err != nil {
				t.Fatal(err)
			}
			if err := s.Silence(ctx, monitor.Silence{Endpoint: "churn", Rule: "drift", Until: clock.Add(2*time.Hour + time.Minute), At: s.Now(), By: "frank", Reason: "upstream fix deploying"}); err != nil {
				t.Fatal(err)
			}
			if err := s.SetSpec(plinth.WithPrincipal(ctx, "gina"), dataset.Spec{Name: "flights", MinRows: 10}); err != nil {
				t.Fatal(err)
			}
			logged := &dataset.Version{Dataset: "predictions_churn", Digest: "sha256:cc", Rows: 500, Source: "prediction log", IngestedAt: s.Now(), IngestedBy: plinth.System}
			if err := s.RecordIngest(ctx, logged, nil); err != nil {
				t.Fatal(err)
			}
			all, err := s.AuditTrail(ctx, auth.AuditQuery{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range all {
				got = append(got, e.Principal+" "+e.Action+" "+e.Object+" "+e.Reason)
			}
			want := []string{"gina dataset.spec dataset flights ", "frank alert.silence endpoint churn alert rule drift for 120 min: upstream fix deploying",
				"erin dataset.ingest dataset flights version 1 98 rows from upload.csv", "erin dataset.quarantine dataset flights quarantine q1 2 rows from upload.csv",
				"dave entity.apply entity customer version 1 ", "carol step.reject pipeline run run1 step ship not yet", "bob token.revoke token ci (editor) ", "alice token.create token ci (editor) ", "bob endpoint.deploy endpoint churn revision 1 first", "alice model.create model churn launch"}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("trail:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			for i := 1; i < len(all); i++ {
				if all[i].Time.After(all[i-1].Time) {
					t.Errorf("entry %d is newer than entry %d", i, i-1)
				}
			}
			if alice, err := s.AuditTrail(ctx, auth.AuditQuery{Principal: "alice", Limit: 1}); err != nil || len(alice) != 1 || alice[0].Object != "token ci (editor)" {
				t.Errorf("alice's newest: %+v, %v", alice, err)
			}
			if recent, err := s.AuditTrail(ctx, auth.AuditQuery{Since: all[7].Time}); err != nil || len(recent) != 8 {
				t.Errorf("since the token was made: %+v, %v", recent, err)
			}
			if _, err := s.AuditTrail(ctx, auth.AuditQuery{Limit: -1}); !plinth.IsCode(err, plinth.EINVALID) {
				t.Errorf("limit -1: %v", err)
			}
		})
	}
}
