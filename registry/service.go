package registry

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/blob"
	"github.com/plinthml/plinth/track"
)

// Runs is what the registry needs from tracking to record a version's
// lineage.
type Runs interface {
	Run(ctx context.Context, id string) (*track.Run, error)
}

// Registry is the registry service: it validates requests, fills lineage
// from the producing run, checks artifacts exist, and audits every change
// under the acting principal.
type Registry struct {
	Store Store
	Blobs blob.Store
	Runs  Runs
	// InUse checks run before a version is deleted; deployments register
	// one so a served version cannot vanish.
	InUse []InUse
}

// NewVersion is a request to register a version.
type NewVersion struct {
	Format      string             `json:"format"`
	Artifacts   []Artifact         `json:"artifacts,omitempty"`
	RunID       string             `json:"run_id,omitempty"`
	RunArtifact string             `json:"run_artifact,omitempty"` // path of a run artifact to register
	Signature   Signature          `json:"signature"`
	Metrics     map[string]float64 `json:"metrics,omitempty"` // default: the run's final metrics
	Datasets    []DatasetRef       `json:"datasets,omitempty"`
	// FeatureService and FeatureServiceVersion record the features the
	// version was trained on.
	FeatureService        string `json:"feature_service,omitempty"`
	FeatureServiceVersion int    `json:"feature_service_version,omitempty"`
	Description           string `json:"description,omitempty"`
}

func event(ctx context.Context, reason string) AuditEvent {
	return AuditEvent{Principal: plinth.PrincipalFrom(ctx), Reason: reason}
}

// CreateModel registers an empty model.
func (r *Registry) CreateModel(ctx context.Context, m *Model) error {
	if err := ValidateName("name", m.Name); err != nil {
		return err
	}
	return r.Store.CreateModel(ctx, m, event(ctx, ""))
}

// Model returns a model with its aliases.
func (r *Registry) Model(ctx context.Context, name string) (*Model, error) {
	return r.Store.Model(ctx, name)
}

// Models lists the models.
func (r *Registry) Models(ctx context.Context) ([]Model, error) { return r.Store.Models(ctx) }

// UpdateCard replaces a model's card.
func (r *Registry) UpdateCard(ctx context.Context, name string, c Card, reason string) (*Model, error) {
	return r.Store.UpdateCard(ctx, name, c, event(ctx, reason))
}

// CreateVersion registers a new version of model. With a run, the run's
// final metrics and dataset inputs become the version's lineage unless the
// request gives its own, and RunArtifact names the run file to register.
func (r *Registry) CreateVersion(ctx context.Context, model string, req NewVersion) (*Version, error) {
	v := &Version{
		Model: model, Format: req.Format, Artifacts: req.Artifacts, RunID: req.RunID, Signature: req.Signature,
		Metrics: req.Metrics, Datasets: req.Datasets, Description: req.Description, CreatedBy: plinth.PrincipalFrom(ctx),
		FeatureService: req.FeatureService, FeatureServiceVersion: req.FeatureServiceVersion,
	}
	if req.RunArtifact != "" && req.RunID == "" {
		return nil, plinth.Invalid("run_artifact", "needs run_id")
	}
	if req.RunID != "" {
		run, err := r.Runs.Run(ctx, req.RunID)
		if err != nil {
			if plinth.IsCode(err, plinth.ENOTFOUND) {
				return nil, plinth.Invalid("run_id", "run %q not found", req.RunID)
			}
			return nil, err
		}
		if req.RunArtifact != "" {
			found := false
			for _, a := range run.Artifacts {
				if a.Path == req.RunArtifact {
					v.Artifacts = append(v.Artifacts, Artifact{Path: a.Path, Digest: a.Digest, Size: a.Size})
					found = true
				}
			}
			if !found {
				return nil, plinth.Invalid("run_artifact", "run %s has no artifact %q", run.ID, req.RunArtifact)
			}
		}
		if v.Metrics == nil && len(run.Metrics) > 0 {
			v.Metrics = map[string]float64{}
			for k, m := range run.Metrics {
				v.Metrics[k] = m.Value
			}
		}
		if v.Datasets == nil {
			for _, in := range run.Inputs {
				v.Datasets = append(v.Datasets, DatasetRef{Name: in.Name, Version: in.Version, Digest: in.Digest, Role: in.Role})
			}
		}
	}
	if err := ValidateVersion(v); err != nil {
		return nil, err
	}
	for i := range v.Artifacts {
		a := &v.Artifacts[i]
		d, err := blob.ParseDigest(a.Digest)
		if err != nil {
			return nil, plinth.Invalid(fmt.Sprintf("artifacts[%d].digest", i), "%s", plinth.ErrorMessage(err))
		}
		info, err := r.Blobs.Stat(ctx, d)
		if plinth.IsCode(err, plinth.ENOTFOUND) {
			return nil, plinth.Invalid(fmt.Sprintf("artifacts[%d].digest", i), "no blob %s is stored; upload it first", d)
		}
		if err != nil {
			return nil, err
		}
		a.Size = info.Size
	}
	if err := r.Store.CreateVersion(ctx, v, event(ctx, "")); err != nil {
		return nil, err
	}
	return v, nil
}

// Version returns one version.
func (r *Registry) Version(ctx context.Context, model string, version int) (*Version, error) {
	return r.Store.Version(ctx, model, version)
}

// Versions lists a model's versions, newest first.
func (r *Registry) Versions(ctx context.Context, model string) ([]Version, error) {
	return r.Store.Versions(ctx, model)
}

// Resolve returns the version a reference names: "model@alias",
// "model@3", or "model" for the newest version.
func (r *Registry) Resolve(ctx context.Context, ref string) (*Version, error) {
	model, alias, version, err := ParseRef(ref)
	if err != nil {
		return nil, err
	}
	switch {
	case alias != "":
		m, err := r.Store.Model(ctx, model)
		if err != nil {
			return nil, err
		}
		n, ok := m.Aliases[alias]
		if !ok {
			return nil, plinth.NotFound("alias", model+"@"+alias)
		}
		version = n
	case version == 0:
		vs, err := r.Store.Versions(ctx, model)
		if err != nil {
			return nil, err
		}
		if len(vs) == 0 {
			return nil, plinth.Errorf(plinth.ENOTFOUND, "model %q has no versions", model)
		}
		return &vs[0], nil
	}
	return r.Store.Version(ctx, model, version)
}

// DeleteVersion deletes a version that no alias and no deployment uses.
func (r *Registry) DeleteVersion(ctx context.Context, model string, version int, reason string) error {
	for _, inUse := range r.InUse {
		users, err := inUse(ctx, model, version)
		if err != nil {
			return err
		}
		if len(users) > 0 {
			return plinth.Errorf(plinth.ECONFLICT, "%s@%d is in use by %s", model, version, strings.Join(users, ", "))
		}
	}
	return r.Store.DeleteVersion(ctx, model, version, event(ctx, reason))
}

// Review records an approval or a rejection of a version.
func (r *Registry) Review(ctx context.Context, model string, version int, state ApprovalState, reason string) (*Version, error) {
	if state != Approved && state != Rejected {
		return nil, plinth.Invalid("state", "%q is not approved or rejected", state)
	}
	now := time.Now().UTC()
	a := Approval{State: state, By: plinth.PrincipalFrom(ctx), At: &now, Reason: reason}
	return r.Store.SetApproval(ctx, model, version, a, event(ctx, reason))
}

// SetAlias points alias at a version.
func (r *Registry) SetAlias(ctx context.Context, model, alias string, version int, reason string) error {
	if err := ValidateAlias(alias); err != nil {
		return err
	}
	if version <= 0 {
		return plinth.Invalid("version", "must be a positive version number")
	}
	return r.Store.SetAlias(ctx, model, alias, version, event(ctx, reason))
}

// DeleteAlias removes an alias.
func (r *Registry) DeleteAlias(ctx context.Context, model, alias, reason string) error {
	return r.Store.DeleteAlias(ctx, model, alias, event(ctx, reason))
}

// Audit returns a model's audit trail, newest first.
func (r *Registry) Audit(ctx context.Context, model string, limit int) ([]AuditEvent, error) {
	if model != "" {
		if _, err := r.Store.Model(ctx, model); err != nil {
			return nil, err
		}
	}
	return r.Store.Audit(ctx, model, limit)
}
