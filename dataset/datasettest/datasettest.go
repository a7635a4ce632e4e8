// Package datasettest is the contract every dataset.Store passes.
package datasettest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/dataset"
)

// Run runs the suite; open returns a fresh, empty store for each subtest.
func Run(t *testing.T, open func(t *testing.T) dataset.Store) {
	ctx := context.Background()
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	ev := at.Add(-time.Hour)
	version := func(name string) *dataset.Version {
		return &dataset.Version{Dataset: name, Digest: "sha256:aa", Rows: 10, Bytes: 100, Source: "batch.csv", IngestedAt: at, IngestedBy: "erin",
			Schema: []dataset.Field{{Name: "x", Type: "BIGINT"}}, MinEvent: &ev, MaxEvent: &ev, Quarantined: 2}
	}
	quarantine := func(id, name string) *dataset.Quarantine {
		return &dataset.Quarantine{ID: id, Dataset: name, Digest: "sha256:bb", Rows: 2, Reasons: map[string]int64{"x: null": 2}, Source: "batch.csv", CreatedAt: at, CreatedBy: "erin"}
	}
	wantCode := func(t *testing.T, err error, code string) {
		t.Helper()
		if plinth.ErrorCode(err) != code {
			t.Fatalf("error = %v, want %s", err, code)
		}
	}

	t.Run("VersionsAndQuarantines", func(t *testing.T) {
		s := open(t)
		v1, q1 := version("flights"), quarantine("q1", "flights")
		if err := s.RecordIngest(ctx, v1, q1); err != nil {
			t.Fatal(err)
		}
		v2 := version("flights")
		if err := s.RecordIngest(ctx, v2, nil); err != nil {
			t.Fatal(err)
		}
		if v1.Version != 1 || v2.Version != 2 {
			t.Fatalf("versions %d, %d; want 1, 2", v1.Version, v2.Version)
		}
		if err := s.RecordIngest(ctx, nil, quarantine("q2", "weather")); err != nil {
			t.Fatal(err)
		}
		names, err := s.Datasets(ctx)
		if err != nil || len(names) != 2 || names[0] != "flights" || names[1] != "weather" {
			t.Fatalf("Datasets = %v, %v", names, err)
		}
		vs, err := s.DatasetVersions(ctx, "flights")
		if err != nil || len(vs) != 2 || vs[0].Version != 2 {
			t.Fatalf("DatasetVersions = %+v, %v", vs, err)
		}
		got, err := s.DatasetVersion(ctx, "flights", 1)
		if err != nil || got.Rows != 10 || got.Quarantined != 2 || !got.MaxEvent.Equal(ev) || !got.IngestedAt.Equal(at) || got.Schema[0].Type != "BIGINT" || got.IngestedBy != "erin" {
			t.Fatalf("DatasetVersion = %+v, %v", got, err)
		}
		if vs, err := s.DatasetVersions(ctx, "weather"); err != nil || len(vs) != 0 {
			t.Fatalf("a dataset with only a quarantine: %+v, %v", vs, err)
		}
		_, err = s.DatasetVersions(ctx, "nope")
		wantCode(t, err, plinth.ENOTFOUND)
		_, err = s.DatasetVersion(ctx, "flights", 9)
		wantCode(t, err, plinth.ENOTFOUND)
		qs, err := s.Quarantines(ctx, "flights")
		if err != nil || len(qs) != 1 || qs[0].Reasons["x: null"] != 2 || qs[0].ReplayedAs != 0 || qs[0].CreatedBy != "erin" {
			t.Fatalf("Quarantines = %+v, %v", qs, err)
		}
		_, err = s.Quarantine(ctx, "nope")
		wantCode(t, err, plinth.ENOTFOUND)
	})

	t.Run("Spec", func(t *testing.T) {
		s := open(t)
		_, err := s.Spec(ctx, "flights")
		wantCode(t, err, plinth.ENOTFOUND)
		lo := -60.0
		spec := dataset.Spec{Name: "flights", EventTime: "dep_time", MaxAge: plinth.Duration(time.Hour),
			Columns: []dataset.Column{{Name: "dep_delay", Type: "float", Min: &lo}, {Name: "carrier", In: []string{"AA", "DL"}}}}
		if err := s.SetSpec(ctx, spec); err != nil {
			t.Fatal(err)
		}
		spec.MaxRows = 10
		if err := s.SetSpec(ctx, spec); err != nil {
			t.Fatal(err)
		}
		got, err := s.Spec(ctx, "flights")
		if err != nil || got.MaxRows != 10 || got.MaxAge.Std() != time.Hour || *got.Columns[0].Min != -60 || got.Columns[1].In[1] != "DL" {
			t.Fatalf("Spec = %+v, %v", got, err)
		}
		if names, _ := s.Datasets(ctx); len(names) != 1 {
			t.Fatalf("a dataset with a spec is not listed: %v", names)
		}
		if vs, err := s.DatasetVersions(ctx, "flights"); err != nil || len(vs) != 0 {
			t.Fatalf("versions of a new dataset = %v, %v", vs, err)
		}
	})

	t.Run("ReplayOnce", func(t *testing.T) {
		s := open(t)
		if err := s.RecordIngest(ctx, version("flights"), quarantine("q1", "flights")); err != nil {
			t.Fatal(err)
		}
		replay := version("flights")
		replay.ReplayOf = "q1"
		if err := s.RecordIngest(ctx, replay, nil); err != nil {
			t.Fatal(err)
		}
		q, _ := s.Quarantine(ctx, "q1")
		if q.ReplayedAs != replay.Version || replay.Version != 2 {
			t.Fatalf("quarantine after replay = %+v (version %d)", q, replay.Version)
		}
		again := version("flights")
		again.ReplayOf = "q1"
		wantCode(t, s.RecordIngest(ctx, again, nil), plinth.ECONFLICT)
		if vs, _ := s.DatasetVersions(ctx, "flights"); len(vs) != 2 {
			t.Fatalf("a refused replay left a version behind: %d versions", len(vs))
		}
	})

	t.Run("ConcurrentIngests", func(t *testing.T) {
		s := open(t)
		var wg sync.WaitGroup
		errs := make([]error, 6)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.RecordIngest(ctx, version("flights"), nil)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		vs, _ := s.DatasetVersions(ctx, "flights")
		seen := map[int]bool{}
		for _, v := range vs {
			seen[v.Version] = true
		}
		if len(vs) != 6 || len(seen) != 6 {
			t.Fatalf("%d versions, %d distinct numbers; want 6 and 6", len(vs), len(seen))
		}
	})
}
