// Package registry is the model registry: registered models, their immutable
// versions with artifacts, signatures and lineage, movable aliases such as
// "champion", approvals, model cards, and the audit trail of every change.
package registry

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/model"
)

// Model is a registered model: a named line of versions.
type Model struct {
	Name          string            `json:"name"`
	Card          Card              `json:"card"`
	Tags          map[string]string `json:"tags,omitempty"`
	Aliases       map[string]int    `json:"aliases"`
	LatestVersion int               `json:"latest_version"`
	CreatedAt     time.Time         `json:"created_at"`
	UpdatedAt     time.Time         `json:"updated_at"`
}

// Card is the editable, human description of a model.
type Card struct {
	Description string `json:"description,omitempty"`
	IntendedUse string `json:"intended_use,omitempty"`
	Limitations string `json:"limitations,omitempty"`
}

// Version is an immutable model version. Only its approval changes, and
// each change is audited.
type Version struct {
	Model     string             `json:"model"`
	Version   int                `json:"version"`
	Format    string             `json:"format"`
	Artifacts []Artifact         `json:"artifacts"`
	Signature Signature          `json:"signature"`
	Metrics   map[string]float64 `json:"metrics,omitempty"`
	RunID     string             `json:"run_id,omitempty"`
	Datasets  []DatasetRef       `json:"datasets,omitempty"`
	// FeatureService names the feature service (and its version) the
	// version was trained on, if any.
	FeatureService        string    `json:"feature_service,omitempty"`
	FeatureServiceVersion int       `json:"feature_service_version,omitempty"`
	Description           string    `json:"description,omitempty"`
	Approval              Approval  `json:"approval"`
	CreatedAt             time.Time `json:"created_at"`
	CreatedBy             string    `json:"created_by"`
}

// Artifact is a file of a model version, stored as a blob.
type Artifact struct {
	Path   string `json:"path"`
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
}

// DatasetRef names a dataset version a model version was trained or
// evaluated on.
type DatasetRef struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Digest  string `json:"digest,omitempty"`
	Role    string `json:"role,omitempty"`
}

// Signature describes the inputs a model version takes and the outputs it
// gives.
type Signature struct {
	Inputs  []Field `json:"inputs"`
	Outputs []Field `json:"outputs"`
}

// Field is one named, typed input or output.
type Field struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Nullable bool   `json:"nullable,omitempty"`
}

// Field types a signature may use.
var FieldTypes = map[string]bool{
	"float": true, "double": true, "int": true, "long": true, "bool": true,
	"string": true, "categorical": true, "bytes": true,
}

// Formats a version's artifacts may be in.
var Formats = map[string]bool{
	"plinth": true, "xgboost-json": true, "lightgbm-text": true, "onnx": true, "other": true,
}

// ApprovalState is where a version stands in review.
type ApprovalState string

const (
	Pending  ApprovalState = "pending"
	Approved ApprovalState = "approved"
	Rejected ApprovalState = "rejected"
)

// Approval is the review decision on a version.
type Approval struct {
	State  ApprovalState `json:"state"`
	By     string        `json:"by,omitempty"`
	At     *time.Time    `json:"at,omitempty"`
	Reason string        `json:"reason,omitempty"`
}

// AuditEvent records who changed what in the registry, when and why.
type AuditEvent struct {
	ID        int64     `json:"id"`
	Time      time.Time `json:"time"`
	Principal string    `json:"principal"`
	Action    string    `json:"action"`
	Model     string    `json:"model"`
	Version   int       `json:"version,omitempty"`
	Alias     string    `json:"alias,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	Detail    string    `json:"detail,omitempty"`
}

// Audit actions.
const (
	ActionModelCreate   = "model.create"
	ActionCardUpdate    = "model.card_update"
	ActionVersionCreate = "version.create"
	ActionVersionDelete = "version.delete"
	ActionApprove       = "version.approve"
	ActionReject        = "version.reject"
	ActionAliasSet      = "alias.set"
	ActionAliasDelete   = "alias.delete"
)

// Store persists the registry. Every method that changes state writes its
// audit event in the same transaction. Implementations return ENOTFOUND for
// a missing model, version or alias; ECONFLICT for a duplicate model or a
// version an alias still points at.
type Store interface {
	CreateModel(ctx context.Context, m *Model, ev AuditEvent) error
	Model(ctx context.Context, name string) (*Model, error)
	Models(ctx context.Context) ([]Model, error)
	UpdateCard(ctx context.Context, name string, c Card, ev AuditEvent) (*Model, error)

	// CreateVersion assigns v the next version number of its model, creating
	// the model if it does not exist.
	CreateVersion(ctx context.Context, v *Version, ev AuditEvent) error
	Version(ctx context.Context, model string, version int) (*Version, error)
	Versions(ctx context.Context, model string) ([]Version, error)
	// DeleteVersion refuses with ECONFLICT while an alias points at it.
	DeleteVersion(ctx context.Context, model string, version int, ev AuditEvent) error
	SetApproval(ctx context.Context, model string, version int, a Approval, ev AuditEvent) (*Version, error)

	// SetAlias points alias at version, atomically replacing what it pointed
	// at before; ev.Detail records the previous version.
	SetAlias(ctx context.Context, model, alias string, version int, ev AuditEvent) error
	DeleteAlias(ctx context.Context, model, alias string, ev AuditEvent) error

	Audit(ctx context.Context, model string, limit int) ([]AuditEvent, error)
}

// InUse is asked before a version is deleted whether anything outside the
// registry (a deployment, say) still serves it. It returns a description of
// the users, or nothing.
type InUse func(ctx context.Context, model string, version int) ([]string, error)

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// ValidateName checks a model or alias name: it appears in URLs and CLI
// arguments, so it is kept to letters, digits, '_', '.', '-'.
func ValidateName(field, name string) error {
	if !namePattern.MatchString(name) {
		return plinth.Invalid(field, "%q must be 1-128 letters, digits, '_', '.' or '-', starting with a letter or digit", name)
	}
	return nil
}

// ValidateAlias checks an alias name. Aliases that look like version numbers
// would make "model@3" ambiguous, so they are refused.
func ValidateAlias(alias string) error {
	if err := ValidateName("alias", alias); err != nil {
		return err
	}
	if alias[0] >= '0' && alias[0] <= '9' {
		return plinth.Invalid("alias", "%q must not start with a digit: it would read as a version number", alias)
	}
	if alias == "latest" {
		return plinth.Invalid("alias", `"latest" is reserved: it always means the newest version`)
	}
	return nil
}

// ValidateVersion checks a version before it is stored.
func ValidateVersion(v *Version) error {
	if err := ValidateName("model", v.Model); err != nil {
		return err
	}
	if !Formats[v.Format] {
		return plinth.Invalid("format", "%q is not one of plinth, xgboost-json, lightgbm-text, onnx, other", v.Format)
	}
	if len(v.Artifacts) == 0 {
		return plinth.Invalid("artifacts", "a version needs at least one artifact")
	}
	paths := map[string]bool{}
	for i, a := range v.Artifacts {
		field := fmt.Sprintf("artifacts[%d]", i)
		if a.Path == "" {
			return plinth.Invalid(field+".path", "must not be empty")
		}
		if paths[a.Path] {
			return plinth.Invalid(field+".path", "%q appears twice", a.Path)
		}
		paths[a.Path] = true
		if a.Digest == "" {
			return plinth.Invalid(field+".digest", "must not be empty")
		}
	}
	if err := validateFields("signature.inputs", v.Signature.Inputs); err != nil {
		return err
	}
	if err := validateFields("signature.outputs", v.Signature.Outputs); err != nil {
		return err
	}
	if v.FeatureServiceVersion < 0 || v.FeatureServiceVersion > 0 && v.FeatureService == "" {
		return plinth.Invalid("feature_service_version", "needs feature_service and must not be negative")
	}
	for i, d := range v.Datasets {
		if d.Name == "" {
			return plinth.Invalid(fmt.Sprintf("datasets[%d].name", i), "must not be empty")
		}
		if d.Version == "" && d.Digest == "" {
			return plinth.Invalid(fmt.Sprintf("datasets[%d].version", i), "a dataset reference needs a version or a digest")
		}
	}
	return nil
}

func validateFields(field string, fs []Field) error {
	seen := map[string]bool{}
	for i, f := range fs {
		path := fmt.Sprintf("%s[%d]", field, i)
		if f.Name == "" {
			return plinth.Invalid(path+".name", "must not be empty")
		}
		if seen[f.Name] {
			return plinth.Invalid(path+".name", "%q appears twice", f.Name)
		}
		seen[f.Name] = true
		if !FieldTypes[f.Type] {
			return plinth.Invalid(path+".type", "%q is not one of bool, bytes, categorical, double, float, int, long, string", f.Type)
		}
	}
	return nil
}

// ParseRef splits "model@alias", "model@3" or "model" (the latest version)
// into its parts; exactly one of alias and version is set unless the
// reference means the latest version.
func ParseRef(ref string) (model, alias string, version int, err error) {
	model, sel, hasSel := strings.Cut(ref, "@")
	if err := ValidateName("model", model); err != nil {
		return "", "", 0, err
	}
	if !hasSel || sel == "latest" {
		return model, "", 0, nil
	}
	if n, err := strconv.Atoi(sel); err == nil && n > 0 {
		return model, "", n, nil
	}
	if err := ValidateAlias(sel); err != nil {
		return "", "", 0, err
	}
	return model, sel, 0, nil
}

// SignatureOf is the signature a model file declares: its features as
// inputs, and one output per class of a multiclass model, else one.
func SignatureOf(m *model.Model) Signature {
	var sig Signature
	for _, f := range m.Signature.Features {
		sig.Inputs = append(sig.Inputs, Field{Name: f.Name, Type: string(f.Type), Nullable: f.Nullable})
	}
	if k := m.NumOutputs(); k > 1 {
		for c := range k {
			sig.Outputs = append(sig.Outputs, Field{Name: fmt.Sprintf("class_%d", c), Type: "float"})
		}
	} else {
		sig.Outputs = []Field{{Name: "prediction", Type: "float"}}
	}
	return sig
}
