package auth

import (
	"context"
	"time"
)

// AuditEntry is one change someone made, from any part of the platform's
// records: the registry's audit log, endpoint revisions, pipeline runs and
// approvals, definitions applied, dataset specs set, batches ingested and
// quarantined, alerts silenced, tokens made and revoked.
type AuditEntry struct {
	Time      time.Time `json:"time"`
	Principal string    `json:"principal"`
	Action    string    `json:"action"`
	// Object names what changed: "model churn@3", "endpoint delays
	// revision 4", "token ci".
	Object string `json:"object"`
	Reason string `json:"reason,omitempty"`
}

// AuditQuery selects audit entries, newest first.
type AuditQuery struct {
	Principal string    // "" for everyone
	Since     time.Time // zero for all time
	Limit     int       // at most this many; 0 means 100
}

// AuditLog reads the platform's records as one audit trail.
type AuditLog interface {
	AuditTrail(ctx context.Context, q AuditQuery) ([]AuditEntry, error)
}
