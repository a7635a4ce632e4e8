// Package auth is plinth's access control: API tokens, each naming a
// principal and granting a role.
//
// A token is a random secret shown once, when it is created; the store
// keeps only its SHA-256 digest, so a copy of the metadata database holds no
// usable credential. Requests carry it as "Authorization: Bearer <token>"
// (the web UI keeps it in a cookie), and the principal it names is who the
// audit trails record: endpoint changes, registry reviews, pipeline
// approvals.
//
// Roles are ordered, each granting what the one below it does:
//
//   - viewer reads everything and calls prediction endpoints: an inference
//     client or a dashboard;
//   - editor also changes things: logs runs, registers and deploys models,
//     ingests data, runs pipelines;
//   - admin also manages tokens.
//
// A viewer token can also be limited to endpoints: it may then only call
// their prediction routes (the v1 predict route and the Open Inference
// Protocol's), which is what an application embedding a token needs, and
// nothing else, so a leaked copy cannot read models, data or the audit
// trail.
//
// A server started without access control (the single-user default) treats
// a request without a token as the anonymous admin, as before tokens
// existed; one that carries a token is still checked and attributed, and
// held to its role.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/plinthml/plinth"
)

// Role is what a token may do.
type Role string

// The roles, in order: each grants what the ones before it do.
const (
	Viewer Role = "viewer"
	Editor Role = "editor"
	Admin  Role = "admin"
)

var roleRank = map[Role]int{Viewer: 1, Editor: 2, Admin: 3}

// Valid reports whether r is one of the roles.
func (r Role) Valid() bool { return roleRank[r] > 0 }

// Grants reports whether r may do what need requires.
func (r Role) Grants(need Role) bool { return roleRank[r] >= roleRank[need] }

// Token describes an API token; its secret is not part of it.
type Token struct {
	// Name is the principal the token acts as ("ci", "alice@example.com");
	// unique among tokens.
	Name      string     `json:"name"`
	Role      Role       `json:"role"`
	CreatedBy string     `json:"created_by"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// LastUsedAt is when a server last checked the token against the store
	// (at most once per CacheFor): near enough to tell a token in use from
	// one that can go.
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	// RevokedBy and RevokedAt say who revoked the token and when; a
	// revoked token is kept for the record and works no more.
	RevokedBy string     `json:"revoked_by,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	// Endpoints, when set, are the only endpoints whose prediction routes
	// the token may call; it may call no other route.
	Endpoints []string `json:"endpoints,omitempty"`
}

// NewToken is what Create makes a token from.
type NewToken struct {
	Name string
	Role Role
	TTL  time.Duration // 0: never expires
	// Endpoints limits the token to these endpoints' prediction routes;
	// such a token must be a viewer.
	Endpoints []string
}

// maxEndpoints bounds a token's endpoint list, which every check of a
// scoped token scans.
const maxEndpoints = 100

// endpointName is how deploy names endpoints: the names a scope can hold.
var endpointName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

func (n *NewToken) validate() error {
	if !validName.MatchString(n.Name) {
		return plinth.Invalid("name", "token name %q: want 1 to 128 letters, digits and . _ @ + -, starting with a letter or digit", n.Name)
	}
	if !n.Role.Valid() {
		return plinth.Invalid("role", "role %q: want viewer, editor or admin", n.Role)
	}
	if n.TTL < 0 {
		return plinth.Invalid("ttl", "a token's lifetime must not be negative")
	}
	if len(n.Endpoints) == 0 {
		n.Endpoints = nil
		return nil
	}
	if n.Role != Viewer {
		return plinth.Invalid("role", "a token limited to endpoints can only predict: make it a viewer, not an %s", n.Role)
	}
	if len(n.Endpoints) > maxEndpoints {
		return plinth.Invalid("endpoints", "at most %d endpoints, have %d", maxEndpoints, len(n.Endpoints))
	}
	n.Endpoints = slices.Clone(n.Endpoints)
	for i, e := range n.Endpoints {
		e = strings.TrimSpace(e) // as a list typed with ", " gives it
		n.Endpoints[i] = e
		if !endpointName.MatchString(e) {
			return plinth.Invalid(fmt.Sprintf("endpoints[%d]", i), "%q is not an endpoint name: want 1 to 63 lowercase letters, digits, _ and -, starting with a letter or digit", e)
		}
	}
	slices.Sort(n.Endpoints)
	n.Endpoints = slices.Compact(n.Endpoints)
	return nil
}

// Store keeps tokens by the digest of their secret, revoked ones too.
type Store interface {
	// CreateToken stores a token; a name a token in force has is a
	// conflict.
	CreateToken(ctx context.Context, t Token, digest string) error
	// TokenByDigest returns the token in force whose secret has this
	// digest, or a not-found error.
	TokenByDigest(ctx context.Context, digest string) (*Token, error)
	// Tokens lists the tokens in force by name, and with revoked the
	// revoked ones after them, newest revocation first.
	Tokens(ctx context.Context, revoked bool) ([]Token, error)
	// RevokeToken marks the token in force named name as revoked by who
	// at a time; an unknown name is not found.
	RevokeToken(ctx context.Context, name, by string, at time.Time) error
	// TouchToken records that the token with this digest was used at a
	// time; an earlier time than the one recorded changes nothing.
	TouchToken(ctx context.Context, digest string, at time.Time) error
}

// Prefix starts every secret, so that a leaked one is recognizable (secret
// scanners, logs).
const Prefix = "plt_"

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$`)

// Service creates, checks and revokes tokens.
type Service struct {
	Store Store
	// CacheFor is how long a checked token is trusted without asking the
	// store again (default 10s): checking a prediction's token must not
	// cost a database query. A token revoked on another server stops
	// working within it; one revoked here stops at once.
	CacheFor time.Duration
	Now      func() time.Time
	// OnError, when set, hears of failures to record a token's use, which
	// never fail the request.
	OnError func(error)

	mu    sync.Mutex
	cache map[string]cached // by digest
	// revocations counts Revoke calls: a check that read the store while
	// one ran does not cache what it read, which may be from before it.
	revocations uint64

	failures failures // failed checks by client address
}

type cached struct {
	token *Token // nil: no such token
	at    time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Create makes a token and returns its secret, which is not kept and
// cannot be shown again.
func (s *Service) Create(ctx context.Context, n NewToken) (string, *Token, error) {
	if err := n.validate(); err != nil {
		return "", nil, err
	}
	var raw [20]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", nil, fmt.Errorf("create token: %w", err)
	}
	secret := Prefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw[:]))
	t := &Token{Name: n.Name, Role: n.Role, Endpoints: n.Endpoints, CreatedBy: plinth.PrincipalFrom(ctx), CreatedAt: s.now().UTC().Truncate(time.Microsecond)}
	if n.TTL > 0 {
		exp := t.CreatedAt.Add(n.TTL)
		t.ExpiresAt = &exp
	}
	if err := s.Store.CreateToken(ctx, *t, Digest(secret)); err != nil {
		return "", nil, err
	}
	return secret, t, nil
}

// Tokens lists the tokens in force, and the revoked ones too if asked.
func (s *Service) Tokens(ctx context.Context, revoked bool) ([]Token, error) {
	return s.Store.Tokens(ctx, revoked)
}

// Revoke revokes a token, recording who did it; it stops working on this
// server at once, and on others within CacheFor.
func (s *Service) Revoke(ctx context.Context, name string) error {
	if err := s.Store.RevokeToken(ctx, name, plinth.PrincipalFrom(ctx), s.now().UTC().Truncate(time.Microsecond)); err != nil {
		return err
	}
	s.mu.Lock()
	s.revocations++
	for d, c := range s.cache {
		if c.token != nil && c.token.Name == name {
			delete(s.cache, d)
		}
	}
	s.mu.Unlock()
	return nil
}

// Authenticate returns the token a secret belongs to: an unauthorized
// error if it belongs to none or has expired.
func (s *Service) Authenticate(ctx context.Context, secret string) (*Token, error) {
	return s.authenticate(ctx, secret, "")
}

// AuthenticateRequest is Authenticate for a secret a request carries,
// limited per client address (see failures): once the address's failed
// checks outran the limit, a secret this server has not checked within
// CacheFor gets a RetryLater error instead of a lookup. Every way in (the
// API's header, the UI's sign-in form and cookie) goes through it.
func (s *Service) AuthenticateRequest(r *http.Request, secret string) (*Token, error) {
	return s.authenticate(r.Context(), secret, clientAddr(r))
}

// authenticate checks a secret from addr ("" for no limit), counting the
// address's failed checks.
func (s *Service) authenticate(ctx context.Context, secret, addr string) (*Token, error) {
	now := s.now()
	t, err := s.check(ctx, secret, addr, now)
	if addr != "" && plinth.IsCode(err, plinth.EUNAUTHORIZED) {
		s.failures.fail(addr, now)
	}
	return t, err
}

func (s *Service) check(ctx context.Context, secret, addr string, now time.Time) (*Token, error) {
	if !strings.HasPrefix(secret, Prefix) {
		return nil, plinth.Errorf(plinth.EUNAUTHORIZED, "the bearer token is not a plinth token (they start with %s)", Prefix)
	}
	digest := Digest(secret)
	ttl := s.CacheFor
	if ttl <= 0 {
		ttl = 10 * time.Second
	}
	s.mu.Lock()
	c, ok := s.cache[digest]
	revocations := s.revocations
	s.mu.Unlock()
	if !ok || now.Sub(c.at) > ttl {
		if wait, blocked := s.failures.blocked(addr, now); blocked {
			return nil, &RetryLater{After: wait, err: plinth.Errorf(plinth.EOVERLOADED, "too many failed token checks from %s: retry in %s", addr, wait)}
		}
		t, err := s.Store.TokenByDigest(ctx, digest)
		if err != nil && !plinth.IsCode(err, plinth.ENOTFOUND) {
			return nil, fmt.Errorf("check token: %w", err)
		}
		c = cached{token: t, at: now}
		if t != nil {
			// Off the request's path: a write to the store can wait for a
			// lock or a sync, and this happens once per CacheFor.
			go func() {
				if err := s.Store.TouchToken(context.WithoutCancel(ctx), digest, now.UTC()); err != nil && s.OnError != nil {
					s.OnError(fmt.Errorf("record the use of token %s: %w", t.Name, err))
				}
			}()
		}
		s.mu.Lock()
		if s.cache == nil || len(s.cache) > 10_000 { // guessed secrets must not grow it without bound
			s.cache = map[string]cached{}
		}
		if s.revocations == revocations {
			s.cache[digest] = c
		}
		s.mu.Unlock()
	}
	switch {
	case c.token == nil:
		return nil, plinth.Errorf(plinth.EUNAUTHORIZED, "unknown or revoked token")
	case c.token.ExpiresAt != nil && !now.Before(*c.token.ExpiresAt):
		return nil, plinth.Errorf(plinth.EUNAUTHORIZED, "token %q expired at %s", c.token.Name, c.token.ExpiresAt.Format(time.RFC3339))
	}
	return c.token, nil
}

// Digest is what the store keeps of a secret.
func Digest(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

type grantKey struct{}

// grant is what the token of a request allows.
type grant struct {
	role      Role
	endpoints []string // nil: every route its role allows
}

// WithToken returns a context carrying the principal a token names and
// what it allows.
func WithToken(ctx context.Context, t *Token) context.Context {
	return context.WithValue(plinth.WithPrincipal(ctx, t.Name), grantKey{}, grant{role: t.Role, endpoints: t.Endpoints})
}

func grantFrom(ctx context.Context) grant {
	g, _ := ctx.Value(grantKey{}).(grant)
	return g
}

// Bootstrap makes the first admin token when there is none, so that a
// server started with access control can be administered at all: it
// returns its secret, or "" when an admin token exists already. The token
// is named admin (admin-2, ... if that name is taken by a lesser role).
func (s *Service) Bootstrap(ctx context.Context) (string, *Token, error) {
	for attempt := 1; ; attempt++ {
		list, err := s.Store.Tokens(ctx, false)
		if err != nil {
			return "", nil, fmt.Errorf("bootstrap admin token: %w", err)
		}
		taken := map[string]bool{}
		for _, t := range list {
			if t.Role == Admin && (t.ExpiresAt == nil || s.now().Before(*t.ExpiresAt)) {
				return "", nil, nil
			}
			taken[t.Name] = true
		}
		name := "admin"
		for i := 2; taken[name]; i++ {
			name = fmt.Sprintf("admin-%d", i)
		}
		secret, t, err := s.Create(plinth.WithPrincipal(ctx, plinth.System), NewToken{Name: name, Role: Admin})
		// Another server starting on the same store may have made one
		// first: look again.
		if plinth.IsCode(err, plinth.ECONFLICT) && attempt < 3 {
			continue
		}
		return secret, t, err
	}
}
