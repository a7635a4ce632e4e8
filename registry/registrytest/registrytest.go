// Package registrytest is the contract every registry.Store passes. It
// drives the store through registry.Registry, as the server does.
package registrytest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/blob"
	"github.com/plinthml/plinth/blob/fsblob"
	"github.com/plinthml/plinth/registry"
	"github.com/plinthml/plinth/track"
)

// Store is what the suite needs: a registry store whose runs come from the
// same database.
type Store interface {
	registry.Store
	track.Store
}

// Run runs the suite; open returns a fresh, empty store for each subtest.
func Run(t *testing.T, open func(t *testing.T) Store) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, f *fixture)
	}{
		{"VersionsAreNumberedAndImmutable", testVersions},
		{"LineageFromRun", testLineage},
		{"Validation", testValidation},
		{"Aliases", testAliases},
		{"DeleteRefusedWhileInUse", testDeleteInUse},
		{"ReviewAndCard", testReviewAndCard},
		{"ConcurrentRegistrations", testConcurrent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			blobs, err := fsblob.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			tr := &track.Tracker{Store: s, Blobs: blobs}
			tc.fn(t, &fixture{reg: &registry.Registry{Store: s, Blobs: blobs, Runs: tr}, tr: tr, blobs: blobs})
		})
	}
}

type fixture struct {
	reg   *registry.Registry
	tr    *track.Tracker
	blobs blob.Store
}

var signature = registry.Signature{
	Inputs:  []registry.Field{{Name: "distance", Type: "float"}, {Name: "carrier", Type: "categorical", Nullable: true}},
	Outputs: []registry.Field{{Name: "p_delayed", Type: "float"}},
}

func (f *fixture) artifact(t *testing.T, content string) registry.Artifact {
	t.Helper()
	info, err := f.blobs.Put(context.Background(), strings.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	return registry.Artifact{Path: "model.json", Digest: info.Digest.String()}
}

func (f *fixture) register(t *testing.T, model, content string) *registry.Version {
	t.Helper()
	v, err := f.reg.CreateVersion(context.Background(), model, registry.NewVersion{
		Format: "plinth", Artifacts: []registry.Artifact{f.artifact(t, content)}, Signature: signature,
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := plinth.ErrorCode(err); got != code {
		t.Fatalf("error = %v (code %q), want code %q", err, got, code)
	}
}

func testVersions(t *testing.T, f *fixture) {
	ctx := context.Background()
	v1 := f.register(t, "delays", "model one")
	v2 := f.register(t, "delays", "model two")
	if v1.Version != 1 || v2.Version != 2 {
		t.Fatalf("versions numbered %d, %d; want 1, 2", v1.Version, v2.Version)
	}
	if v1.Artifacts[0].Size != int64(len("model one")) || v1.Approval.State != registry.Pending || v1.CreatedBy != plinth.Anonymous {
		t.Fatalf("v1 = %+v", v1)
	}
	got, err := f.reg.Version(ctx, "delays", 1)
	if err != nil {
		t.Fatal(err)
	}
	if got.Format != "plinth" || len(got.Signature.Inputs) != 2 || !got.Signature.Inputs[1].Nullable || got.Artifacts[0].Digest != v1.Artifacts[0].Digest {
		t.Fatalf("Version(1) = %+v", got)
	}
	vs, err := f.reg.Versions(ctx, "delays")
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 || vs[0].Version != 2 {
		t.Fatalf("Versions = %+v, want 2 then 1", vs)
	}
	// Deleted numbers are never reused.
	if err := f.reg.DeleteVersion(ctx, "delays", 2, "superseded"); err != nil {
		t.Fatal(err)
	}
	if v3 := f.register(t, "delays", "model three"); v3.Version != 3 {
		t.Fatalf("after deleting 2, next version is %d, want 3", v3.Version)
	}
	_, err = f.reg.Version(ctx, "delays", 2)
	wantCode(t, err, plinth.ENOTFOUND)
	_, err = f.reg.Version(ctx, "nope", 1)
	wantCode(t, err, plinth.ENOTFOUND)
	m, err := f.reg.Model(ctx, "delays")
	if err != nil {
		t.Fatal(err)
	}
	if m.LatestVersion != 3 {
		t.Fatalf("model = %+v", m)
	}
	latest, err := f.reg.Resolve(ctx, "delays")
	if err != nil || latest.Version != 3 {
		t.Fatalf("Resolve(delays) = %+v, %v", latest, err)
	}
	models, err := f.reg.Models(ctx)
	if err != nil || len(models) != 1 {
		t.Fatalf("Models = %+v, %v", models, err)
	}
	wantCode(t, f.reg.CreateModel(ctx, &registry.Model{Name: "delays"}), plinth.ECONFLICT)
}

func testLineage(t *testing.T, f *fixture) {
	ctx := context.Background()
	if err := f.tr.CreateExperiment(ctx, &track.Experiment{Name: "exp"}); err != nil {
		t.Fatal(err)
	}
	run := &track.Run{ExperimentID: "exp", Inputs: []track.DatasetInput{{Name: "flights", Version: "3", Digest: "sha256:ab", Role: "train"}}}
	if err := f.tr.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	if err := f.tr.LogBatch(ctx, run.ID, track.Batch{Metrics: []track.Metric{{Key: "auc", Value: 0.7, Step: 0}, {Key: "auc", Value: 0.8, Step: 1}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.tr.PutArtifact(ctx, run.ID, "model.json", strings.NewReader("trained")); err != nil {
		t.Fatal(err)
	}
	v, err := f.reg.CreateVersion(ctx, "delays", registry.NewVersion{Format: "plinth", RunID: run.ID, RunArtifact: "model.json", Signature: signature,
		FeatureService: "delay_features", FeatureServiceVersion: 3})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := f.reg.Version(ctx, "delays", v.Version)
	if got.FeatureService != "delay_features" || got.FeatureServiceVersion != 3 {
		t.Fatalf("feature service lineage = %q v%d", got.FeatureService, got.FeatureServiceVersion)
	}
	if got.RunID != run.ID || got.Metrics["auc"] != 0.8 || len(got.Datasets) != 1 || got.Datasets[0].Name != "flights" ||
		len(got.Artifacts) != 1 || got.Artifacts[0].Size != int64(len("trained")) {
		t.Fatalf("lineage = %+v", got)
	}
	_, err = f.reg.CreateVersion(ctx, "delays", registry.NewVersion{Format: "plinth", RunID: run.ID, RunArtifact: "missing.json"})
	wantCode(t, err, plinth.EINVALID)
	_, err = f.reg.CreateVersion(ctx, "delays", registry.NewVersion{Format: "plinth", RunID: "0000000000000000", RunArtifact: "model.json"})
	wantCode(t, err, plinth.EINVALID)
}

func testValidation(t *testing.T, f *fixture) {
	ctx := context.Background()
	good := f.artifact(t, "x")
	for _, tc := range []struct {
		model string
		req   registry.NewVersion
		field string
	}{
		{"bad name!", registry.NewVersion{Format: "plinth", Artifacts: []registry.Artifact{good}}, "model"},
		{"m", registry.NewVersion{Format: "pickle", Artifacts: []registry.Artifact{good}}, "format"},
		{"m", registry.NewVersion{Format: "plinth"}, "artifacts"},
		{"m", registry.NewVersion{Format: "plinth", Artifacts: []registry.Artifact{{Path: "a", Digest: "md5:1"}}}, "artifacts[0].digest"},
		{"m", registry.NewVersion{Format: "plinth", Artifacts: []registry.Artifact{{Path: "a", Digest: "sha256:" + strings.Repeat("0", 64)}}}, "artifacts[0].digest"},
		{"m", registry.NewVersion{Format: "plinth", Artifacts: []registry.Artifact{good},
			Signature: registry.Signature{Inputs: []registry.Field{{Name: "x", Type: "tensor"}}}}, "signature.inputs[0].type"},
		{"m", registry.NewVersion{Format: "plinth", Artifacts: []registry.Artifact{good},
			Signature: registry.Signature{Inputs: []registry.Field{{Name: "x", Type: "float"}, {Name: "x", Type: "int"}}}}, "signature.inputs[1].name"},
	} {
		_, err := f.reg.CreateVersion(ctx, tc.model, tc.req)
		var pe *plinth.Error
		if e, ok := err.(*plinth.Error); ok {
			pe = e
		}
		if pe == nil || pe.Code != plinth.EINVALID || pe.Field != tc.field {
			t.Errorf("CreateVersion(%s, %+v) = %v, want invalid %s", tc.model, tc.req, err, tc.field)
		}
	}
	if _, err := f.reg.Models(ctx); err != nil {
		t.Fatal(err)
	}
	if ms, _ := f.reg.Models(ctx); len(ms) != 0 {
		t.Fatalf("invalid registrations created models: %+v", ms)
	}
}

func testAliases(t *testing.T, f *fixture) {
	ctx := context.Background()
	f.register(t, "delays", "one")
	f.register(t, "delays", "two")
	if err := f.reg.SetAlias(ctx, "delays", "champion", 1, "first good model"); err != nil {
		t.Fatal(err)
	}
	if err := f.reg.SetAlias(ctx, "delays", "champion", 2, "beat v1 on the holdout"); err != nil {
		t.Fatal(err)
	}
	v, err := f.reg.Resolve(ctx, "delays@champion")
	if err != nil || v.Version != 2 {
		t.Fatalf("Resolve(delays@champion) = %+v, %v", v, err)
	}
	wantCode(t, f.reg.SetAlias(ctx, "delays", "champion", 9, ""), plinth.ENOTFOUND)
	wantCode(t, f.reg.SetAlias(ctx, "delays", "3rd", 1, ""), plinth.EINVALID)
	wantCode(t, f.reg.SetAlias(ctx, "delays", "latest", 1, ""), plinth.EINVALID)
	wantCode(t, f.reg.SetAlias(ctx, "nope", "champion", 1, ""), plinth.ENOTFOUND)
	_, err = f.reg.Resolve(ctx, "delays@production")
	wantCode(t, err, plinth.ENOTFOUND)

	events, err := f.reg.Audit(ctx, "delays", 0)
	if err != nil {
		t.Fatal(err)
	}
	var moves []string
	for _, ev := range events {
		if ev.Action == registry.ActionAliasSet {
			moves = append(moves, fmt.Sprintf("%s->%d (%s; %s) by %s", ev.Alias, ev.Version, ev.Reason, ev.Detail, ev.Principal))
		}
	}
	want := "champion->2 (beat v1 on the holdout; previous version 1) by anonymous|champion->1 (first good model; ) by anonymous"
	if got := strings.Join(moves, "|"); got != want {
		t.Fatalf("alias audit:\n got %s\nwant %s", got, want)
	}
	if err := f.reg.DeleteAlias(ctx, "delays", "champion", "retired"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, f.reg.DeleteAlias(ctx, "delays", "champion", ""), plinth.ENOTFOUND)
	m, _ := f.reg.Model(ctx, "delays")
	if len(m.Aliases) != 0 {
		t.Fatalf("aliases after delete = %v", m.Aliases)
	}
	events, _ = f.reg.Audit(ctx, "delays", 1)
	if len(events) != 1 || events[0].Action != registry.ActionAliasDelete || events[0].Version != 2 || events[0].Reason != "retired" {
		t.Fatalf("last event = %+v", events)
	}
}

func testDeleteInUse(t *testing.T, f *fixture) {
	ctx := plinth.WithPrincipal(context.Background(), "ops@example.com")
	f.register(t, "delays", "one")
	f.register(t, "delays", "two")
	if err := f.reg.SetAlias(ctx, "delays", "production", 1, ""); err != nil {
		t.Fatal(err)
	}
	err := f.reg.DeleteVersion(ctx, "delays", 1, "")
	wantCode(t, err, plinth.ECONFLICT)
	if !strings.Contains(err.Error(), "production") {
		t.Fatalf("conflict does not name the alias: %v", err)
	}
	f.reg.InUse = append(f.reg.InUse, func(ctx context.Context, model string, version int) ([]string, error) {
		if version == 2 {
			return []string{"endpoint delays-api"}, nil
		}
		return nil, nil
	})
	err = f.reg.DeleteVersion(ctx, "delays", 2, "")
	wantCode(t, err, plinth.ECONFLICT)
	if !strings.Contains(err.Error(), "delays-api") {
		t.Fatalf("conflict does not name the deployment: %v", err)
	}
	if _, err := f.reg.Version(ctx, "delays", 1); err != nil {
		t.Fatalf("refused delete removed the version: %v", err)
	}
	wantCode(t, f.reg.DeleteVersion(ctx, "delays", 7, ""), plinth.ENOTFOUND)
	if err := f.reg.DeleteAlias(ctx, "delays", "production", "moving off v1"); err != nil {
		t.Fatal(err)
	}
	if err := f.reg.DeleteVersion(ctx, "delays", 1, "bad calibration"); err != nil {
		t.Fatal(err)
	}
	events, _ := f.reg.Audit(ctx, "delays", 1)
	if events[0].Action != registry.ActionVersionDelete || events[0].Principal != "ops@example.com" || events[0].Reason != "bad calibration" {
		t.Fatalf("delete audit = %+v", events[0])
	}
}

func testReviewAndCard(t *testing.T, f *fixture) {
	ctx := plinth.WithPrincipal(context.Background(), "reviewer")
	f.register(t, "delays", "one")
	v, err := f.reg.Review(ctx, "delays", 1, registry.Approved, "passed the fairness review")
	if err != nil {
		t.Fatal(err)
	}
	if v.Approval.State != registry.Approved || v.Approval.By != "reviewer" || v.Approval.At == nil || v.Approval.Reason != "passed the fairness review" {
		t.Fatalf("approval = %+v", v.Approval)
	}
	_, err = f.reg.Review(ctx, "delays", 1, "maybe", "")
	wantCode(t, err, plinth.EINVALID)
	card := registry.Card{Description: "Predicts arrival delays over 15 minutes", IntendedUse: "Ops planning", Limitations: "NYC airports, 2013 only"}
	m, err := f.reg.UpdateCard(ctx, "delays", card, "first card")
	if err != nil {
		t.Fatal(err)
	}
	if m.Card != card {
		t.Fatalf("card = %+v", m.Card)
	}
	_, err = f.reg.UpdateCard(ctx, "nope", card, "")
	wantCode(t, err, plinth.ENOTFOUND)
	events, _ := f.reg.Audit(ctx, "delays", 0)
	var actions []string
	for _, ev := range events {
		actions = append(actions, ev.Action)
	}
	want := "model.card_update version.approve version.create model.create"
	if got := strings.Join(actions, " "); got != want {
		t.Fatalf("audit actions = %s, want %s", got, want)
	}
}

func testConcurrent(t *testing.T, f *fixture) {
	ctx := context.Background()
	a := f.artifact(t, "same")
	const n = 8
	var wg sync.WaitGroup
	nums := make([]int, n)
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := f.reg.CreateVersion(ctx, "delays", registry.NewVersion{Format: "plinth", Artifacts: []registry.Artifact{a}})
			if err == nil {
				nums[i] = v.Version
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	seen := map[int]bool{}
	for i, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
		if seen[nums[i]] {
			t.Fatalf("version %d handed out twice", nums[i])
		}
		seen[nums[i]] = true
	}
	for i := 1; i <= n; i++ {
		if !seen[i] {
			t.Fatalf("versions %v, want 1..%d", nums, n)
		}
	}
}
