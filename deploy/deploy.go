// Package deploy is endpoints and their changes: which model version each
// endpoint serves, every change recorded with who and why, and rollback to
// the previous configuration in one step.
//
// Strategies beyond a single version (canary, A/B, shadow, blue-green) and
// the gates that promote or roll back a canary are not here yet.
package deploy

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/registry"
)

// Endpoint is the configuration of one endpoint. Each change makes a new
// revision; the served version is resolved when the change is made.
type Endpoint struct {
	Name      string    `json:"name"`
	Model     string    `json:"model"`
	Ref       string    `json:"ref"`     // what was asked for: an alias or a version number
	Version   int       `json:"version"` // what it resolved to
	Revision  int       `json:"revision"`
	UpdatedAt time.Time `json:"updated_at"`
	UpdatedBy string    `json:"updated_by"`
	Reason    string    `json:"reason,omitempty"`
	Action    string    `json:"action"` // deploy or rollback
}

// Store keeps endpoint configurations and their history.
//
// Save writes e as the endpoint's next revision (assigning Revision) and
// keeps the old one in the history; History lists revisions newest first.
// Endpoint and History return ENOTFOUND for an unknown endpoint.
type Store interface {
	Endpoints(ctx context.Context) ([]Endpoint, error)
	Endpoint(ctx context.Context, name string) (*Endpoint, error)
	History(ctx context.Context, name string) ([]Endpoint, error)
	Save(ctx context.Context, e *Endpoint) error
}

// Runtime is what serves endpoints. Load reads and checks a version and
// returns the function that swaps it into the endpoint: a bad version fails
// before anything changes, and the swap itself cannot fail.
type Runtime interface {
	Load(ctx context.Context, endpoint, model string, version int) (activate func(), err error)
}

// Deployer changes endpoints: resolve, load, swap, record.
type Deployer struct {
	Store    Store
	Registry *registry.Registry
	Runtime  Runtime
}

var endpointName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Deploy points endpoint at ref ("model@alias", "model@3" or "model" for
// the newest version). The version is loaded and checked before any
// request sees it; the change is recorded with the principal and reason.
func (d *Deployer) Deploy(ctx context.Context, endpoint, ref, reason string) (*Endpoint, error) {
	if !endpointName.MatchString(endpoint) {
		return nil, plinth.Invalid("endpoint", "%q must be 1-63 lowercase letters, digits, '-' or '_'", endpoint)
	}
	v, err := d.Registry.Resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	model, alias, version, _ := registry.ParseRef(ref)
	asked := alias
	if alias == "" {
		asked = strconv.Itoa(version)
		if version == 0 {
			asked = "latest"
		}
	}
	return d.apply(ctx, &Endpoint{Name: endpoint, Model: model, Ref: asked, Version: v.Version, Reason: reason, Action: "deploy"})
}

// Rollback restores the endpoint's previous configuration.
func (d *Deployer) Rollback(ctx context.Context, endpoint, reason string) (*Endpoint, error) {
	hist, err := d.Store.History(ctx, endpoint)
	if err != nil {
		return nil, err
	}
	if len(hist) < 2 {
		return nil, plinth.Errorf(plinth.ECONFLICT, "endpoint %s has no previous configuration to roll back to", endpoint)
	}
	prev := hist[1]
	if reason == "" {
		reason = fmt.Sprintf("rollback from revision %d to revision %d", hist[0].Revision, prev.Revision)
	}
	return d.apply(ctx, &Endpoint{Name: endpoint, Model: prev.Model, Ref: prev.Ref, Version: prev.Version, Reason: reason, Action: "rollback"})
}

// apply loads the version, records the change, then swaps: requests see
// either the old version or the new one, and what is served is always what
// the store says.
func (d *Deployer) apply(ctx context.Context, e *Endpoint) (*Endpoint, error) {
	activate, err := d.Runtime.Load(ctx, e.Name, e.Model, e.Version)
	if err != nil {
		return nil, err
	}
	e.UpdatedBy = plinth.PrincipalFrom(ctx)
	if err := d.Store.Save(ctx, e); err != nil {
		return nil, err
	}
	activate()
	return e, nil
}

// InUse is the registry hook that keeps a served version from deletion.
func (d *Deployer) InUse(ctx context.Context, model string, version int) ([]string, error) {
	eps, err := d.Store.Endpoints(ctx)
	if err != nil {
		return nil, err
	}
	var users []string
	for _, e := range eps {
		if e.Model == model && e.Version == version {
			users = append(users, "endpoint "+e.Name)
		}
	}
	return users, nil
}
