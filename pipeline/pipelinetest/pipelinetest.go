// Package pipelinetest is the contract every pipeline.Store keeps, run
// against each implementation.
package pipelinetest

import (
	"context"
	"testing"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/pipeline"
)

// Run runs the contract against stores made by open (a fresh store each).
func Run(t *testing.T, open func(t *testing.T) pipeline.Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	spec := pipeline.Spec{Name: "nightly", Params: map[string]any{"depth": 6.0}, Steps: []pipeline.Step{{Name: "a", Kind: "noop"}}}
	newRun := func(t *testing.T, s pipeline.Store, fire string) *pipeline.Run {
		r := &pipeline.Run{Pipeline: "nightly", PipelineVersion: 2, Spec: spec, Params: spec.Params, State: pipeline.Pending,
			Trigger: "manual", Fire: fire, CreatedBy: "ann", CreatedAt: now}
		if err := s.CreatePipelineRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		return r
	}

	t.Run("runs round-trip", func(t *testing.T) {
		s := open(t)
		r := newRun(t, s, "")
		got, err := s.PipelineRun(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Pipeline != "nightly" || got.PipelineVersion != 2 || got.State != pipeline.Pending || got.Spec.Steps[0].Name != "a" ||
			got.Params["depth"] != 6.0 || !got.CreatedAt.Equal(now) || got.CreatedBy != "ann" {
			t.Fatalf("round-trip: %+v", got)
		}
		if _, err := s.PipelineRun(ctx, "nope"); plinth.ErrorCode(err) != plinth.ENOTFOUND {
			t.Fatalf("missing run: %v", err)
		}
		list, err := s.PipelineRuns(ctx, "nightly", 10)
		if err != nil || len(list) != 1 || list[0].ID != r.ID {
			t.Fatalf("list: %v %+v", err, list)
		}
		if err := s.FinishPipelineRun(ctx, r.ID, pipeline.Succeeded, "", now); err != nil {
			t.Fatal(err)
		}
		if err := s.FinishPipelineRun(ctx, r.ID, pipeline.Failed, "again", now); plinth.ErrorCode(err) != plinth.ECONFLICT {
			t.Fatalf("finishing twice: %v", err)
		}
	})

	t.Run("fires are de-duplicated", func(t *testing.T) {
		s := open(t)
		newRun(t, s, "schedule 2026-11-22T03:00:00Z")
		r := &pipeline.Run{Pipeline: "nightly", Spec: spec, State: pipeline.Pending, Trigger: "x", Fire: "schedule 2026-11-22T03:00:00Z", CreatedAt: now}
		if err := s.CreatePipelineRun(ctx, r); plinth.ErrorCode(err) != plinth.ECONFLICT {
			t.Fatalf("second run for one fire: %v", err)
		}
		newRun(t, s, "schedule 2026-11-23T03:00:00Z")
		newRun(t, s, "") // manual runs have no fire and never conflict
		newRun(t, s, "")
		if ok, err := s.Fired(ctx, "nightly", "schedule 2026-11-22T03:00:00Z"); err != nil || !ok {
			t.Fatalf("fired: %v %v", ok, err)
		}
		if ok, _ := s.Fired(ctx, "nightly", "schedule 2026-11-24T03:00:00Z"); ok {
			t.Fatal("a fire that never happened")
		}
		last, err := s.LastFire(ctx, "nightly", "schedule ")
		if err != nil || last != "schedule 2026-11-23T03:00:00Z" {
			t.Fatalf("last fire: %q %v", last, err)
		}
		if last, _ := s.LastFire(ctx, "nightly", "dataset "); last != "" {
			t.Fatalf("no dataset fires, got %q", last)
		}
	})

	t.Run("leases", func(t *testing.T) {
		s := open(t)
		r := newRun(t, s, "")
		if ok, err := s.TakeLease(ctx, r.ID, "e1", now.Add(time.Hour)); err != nil || !ok {
			t.Fatalf("first lease: %v %v", ok, err)
		}
		if ok, _ := s.TakeLease(ctx, r.ID, "e2", now.Add(time.Hour)); ok {
			t.Fatal("a held lease was taken")
		}
		if ok, _ := s.TakeLease(ctx, r.ID, "e1", now.Add(2*time.Hour)); !ok {
			t.Fatal("the owner could not renew")
		}
		got, _ := s.PipelineRun(ctx, r.ID)
		if got.State != pipeline.Running {
			t.Fatalf("leased run is %s", got.State)
		}
		if ids, _ := s.Orphans(ctx, now); len(ids) != 0 {
			t.Fatalf("orphans while leased: %v", ids)
		}
		if ids, _ := s.Orphans(ctx, now.Add(3*time.Hour)); len(ids) != 1 || ids[0] != r.ID {
			t.Fatalf("orphans after expiry: %v", ids)
		}
		expired := newRun(t, s, "")
		if ok, _ := s.TakeLease(ctx, expired.ID, "e1", time.Now().Add(-time.Minute)); !ok {
			t.Fatal("lease")
		}
		if ok, _ := s.TakeLease(ctx, expired.ID, "e2", time.Now().Add(time.Hour)); !ok {
			t.Fatal("an expired lease could not be taken")
		}
		s.FinishPipelineRun(ctx, r.ID, pipeline.Succeeded, "", now)
		if ok, _ := s.TakeLease(ctx, r.ID, "e1", now.Add(time.Hour)); ok {
			t.Fatal("a finished run was leased")
		}
	})

	t.Run("attempts and the cache", func(t *testing.T) {
		s := open(t)
		r := newRun(t, s, "")
		a := &pipeline.Attempt{Run: r.ID, Step: "a", State: pipeline.Running, Key: "k1", StartedAt: now,
			Inputs: map[string]pipeline.Value{"x": {Type: pipeline.Table, Digest: "sha256:00"}}, With: map[string]any{"n": 1.0}, Code: "v1"}
		if err := s.StartAttempt(ctx, a); err != nil || a.Number != 1 {
			t.Fatalf("start: %v number %d", err, a.Number)
		}
		if _, err := s.Cached(ctx, "k1"); plinth.ErrorCode(err) != plinth.ENOTFOUND {
			t.Fatalf("cached before success: %v", err)
		}
		// A failed attempt writes no cache entry.
		a.State, a.Error = pipeline.Failed, "boom"
		if err := s.FinishAttempt(ctx, a); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Cached(ctx, "k1"); plinth.ErrorCode(err) != plinth.ENOTFOUND {
			t.Fatalf("failed attempt cached: %v", err)
		}
		b := &pipeline.Attempt{Run: r.ID, Step: "a", State: pipeline.Running, Key: "k1", StartedAt: now.Add(time.Second)}
		if err := s.StartAttempt(ctx, b); err != nil || b.Number != 2 {
			t.Fatalf("second attempt: %v number %d", err, b.Number)
		}
		done := now.Add(2 * time.Second)
		b.State, b.FinishedAt, b.Log = pipeline.Succeeded, &done, "hello\n"
		b.Outputs = map[string]pipeline.Value{"m": {Type: pipeline.Metrics, Metrics: map[string]float64{"auc": 0.8}}}
		b.Cost = pipeline.Cost{CPUSeconds: 1.5, PeakRSS: 1 << 20, WallSeconds: 2}
		if err := s.FinishAttempt(ctx, b); err != nil {
			t.Fatal(err)
		}
		// Finishing again — a redelivered task, a second executor — conflicts.
		if err := s.FinishAttempt(ctx, b); plinth.ErrorCode(err) != plinth.ECONFLICT {
			t.Fatalf("finishing twice: %v", err)
		}
		hit, err := s.Cached(ctx, "k1")
		if err != nil || hit.Run != r.ID || hit.Number != 2 || hit.Outputs["m"].Metrics["auc"] != 0.8 {
			t.Fatalf("cache: %v %+v", err, hit)
		}
		got, _ := s.PipelineRun(ctx, r.ID)
		if len(got.Attempts) != 2 {
			t.Fatalf("attempts: %+v", got.Attempts)
		}
		g := got.Latest()["a"]
		if g.Number != 2 || g.Log != "hello\n" || g.Cost.CPUSeconds != 1.5 || g.Cost.PeakRSS != 1<<20 || g.FinishedAt == nil {
			t.Fatalf("latest: %+v", g)
		}
		if got.Attempts[0].Inputs["x"].Digest != "sha256:00" || got.Attempts[0].With["n"] != 1.0 || got.Attempts[0].Code != "v1" {
			t.Fatalf("first attempt's record: %+v", got.Attempts[0])
		}
		last, err := s.LastSucceeded(ctx, "nightly", "a")
		if err != nil || last.Number != 2 {
			t.Fatalf("last succeeded: %v %+v", err, last)
		}
		if _, err := s.LastSucceeded(ctx, "nightly", "b"); plinth.ErrorCode(err) != plinth.ENOTFOUND {
			t.Fatalf("no such step: %v", err)
		}
	})

	t.Run("approvals", func(t *testing.T) {
		s := open(t)
		r := newRun(t, s, "")
		a := &pipeline.Attempt{Run: r.ID, Step: "gate", State: pipeline.Running, StartedAt: now}
		if err := s.StartAttempt(ctx, a); err != nil {
			t.Fatal(err)
		}
		if err := s.WaitAttempt(ctx, r.ID, "gate", a.Number); err != nil {
			t.Fatal(err)
		}
		got, _ := s.PipelineRun(ctx, r.ID)
		if got.Attempts[0].State != pipeline.Waiting {
			t.Fatalf("state %s, want waiting", got.Attempts[0].State)
		}
		if _, err := s.Decision(ctx, r.ID, "gate"); plinth.ErrorCode(err) != plinth.ENOTFOUND {
			t.Fatalf("no decision yet: %v", err)
		}
		d := pipeline.Decision{Approve: true, By: "ann", Reason: "looks right", At: now}
		if err := s.Decide(ctx, r.ID, "gate", d); err != nil {
			t.Fatal(err)
		}
		if err := s.Decide(ctx, r.ID, "gate", pipeline.Decision{Approve: false, By: "bob", At: now}); plinth.ErrorCode(err) != plinth.ECONFLICT {
			t.Fatalf("deciding twice: %v", err)
		}
		got2, err := s.Decision(ctx, r.ID, "gate")
		if err != nil || *got2 != d {
			t.Fatalf("decision: %+v %v", got2, err)
		}
		// A waiting attempt finishes like a running one.
		a.State = pipeline.Succeeded
		if err := s.FinishAttempt(ctx, a); err != nil {
			t.Fatal(err)
		}
		if err := s.WaitAttempt(ctx, r.ID, "gate", a.Number); plinth.ErrorCode(err) != plinth.ECONFLICT {
			t.Fatalf("waiting on a finished attempt: %v", err)
		}
	})

	t.Run("abandoned attempts cannot finish", func(t *testing.T) {
		s := open(t)
		r := newRun(t, s, "")
		a := &pipeline.Attempt{Run: r.ID, Step: "a", State: pipeline.Running, Key: "k2", StartedAt: now}
		if err := s.StartAttempt(ctx, a); err != nil {
			t.Fatal(err)
		}
		if err := s.ClaimAttempt(ctx, r.ID, "a", a.Number, "host/42"); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.PipelineRun(ctx, r.ID); got.Attempts[0].Worker != "host/42" {
			t.Fatalf("claimed by %q", got.Attempts[0].Worker)
		}
		if err := s.AbandonAttempts(ctx, r.ID, now); err != nil {
			t.Fatal(err)
		}
		if err := s.ClaimAttempt(ctx, r.ID, "a", a.Number, "host/43"); plinth.ErrorCode(err) != plinth.ECONFLICT {
			t.Fatalf("claiming an abandoned attempt: %v", err)
		}
		a.State = pipeline.Succeeded
		if err := s.FinishAttempt(ctx, a); plinth.ErrorCode(err) != plinth.ECONFLICT {
			t.Fatalf("finishing an abandoned attempt: %v", err)
		}
		if _, err := s.Cached(ctx, "k2"); plinth.ErrorCode(err) != plinth.ENOTFOUND {
			t.Fatal("an abandoned attempt reached the cache")
		}
		got, _ := s.PipelineRun(ctx, r.ID)
		if got.Attempts[0].State != pipeline.Abandoned || !got.Attempts[0].State.Final() {
			t.Fatalf("state %s", got.Attempts[0].State)
		}
	})
}
