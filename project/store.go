package project

import (
	"context"
	"encoding/json"
	"time"
)

// Definition kinds.
const (
	KindEntity   = "entity"
	KindDataset  = "dataset"
	KindView     = "feature_view"
	KindService  = "feature_service"
	KindOnDemand = "on_demand_feature"
	KindPipeline = "pipeline"
	KindMonitor  = "monitor"
)

// Definition is a registered definition: its kind, name, spec (JSON) and a
// version that every change bumps.
type Definition struct {
	Kind      string          `json:"kind"`
	Name      string          `json:"name"`
	Spec      json.RawMessage `json:"spec"`
	Version   int             `json:"version"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// Store keeps the registered definitions.
//
// ApplyDefinitions writes set (adding or changing, bumping each changed
// definition's version; an unchanged one is left alone) and deletes remove,
// all in one transaction, recording every change in the history under
// principal. A dataset's spec is also what dataset.Store.Spec returns.
// DefinitionAt returns a past version, or ENOTFOUND.
type Store interface {
	Definitions(ctx context.Context) ([]Definition, error)
	ApplyDefinitions(ctx context.Context, set, remove []Definition, principal string) error
	DefinitionAt(ctx context.Context, kind, name string, version int) (*Definition, error)
}
