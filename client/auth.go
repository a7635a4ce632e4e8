package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/plinthml/plinth/api"
	"github.com/plinthml/plinth/auth"
)

// CreateToken makes an API token (admin only); the secret in the answer
// is shown this once.
func (c *Client) CreateToken(ctx context.Context, req api.CreateTokenRequest) (*api.CreatedToken, error) {
	var out api.CreatedToken
	if err := c.do(ctx, http.MethodPost, "/api/v1/tokens", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Tokens lists the API tokens in force, without their secrets, and with
// revoked the revoked ones after them (admin only).
func (c *Client) Tokens(ctx context.Context, revoked bool) ([]auth.Token, error) {
	var out struct {
		Tokens []auth.Token `json:"tokens"`
	}
	path := "/api/v1/tokens"
	if revoked {
		path += "?revoked=true"
	}
	if err := c.do(ctx, http.MethodGet, path, nil, &out); err != nil {
		return nil, err
	}
	return out.Tokens, nil
}

// RevokeToken revokes an API token (admin only); it stays on record.
func (c *Client) RevokeToken(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/tokens/"+esc(name), nil, nil)
}

// AuditTrail lists who changed what, newest first, across the platform
// (admin only).
func (c *Client) AuditTrail(ctx context.Context, q auth.AuditQuery) ([]auth.AuditEntry, error) {
	v := url.Values{}
	if q.Principal != "" {
		v.Set("principal", q.Principal)
	}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format(time.RFC3339Nano))
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	var out struct {
		Entries []auth.AuditEntry `json:"entries"`
	}
	if err := c.do(ctx, http.MethodGet, "/api/v1/audit?"+v.Encode(), nil, &out); err != nil {
		return nil, err
	}
	return out.Entries, nil
}
