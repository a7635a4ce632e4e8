// Package deploy is endpoints and their changes: which model versions each
// endpoint serves and how traffic is split between them (single, canary,
// A/B, shadow), every change recorded with who and why, and rollback to the
// previous configuration in one step.
//
// The gates that promote or roll back a canary automatically are not here
// yet.
package deploy

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/registry"
	"github.com/plinthml/plinth/serve"
)

// Strategies, as the runtime carries them out.
const (
	Single = serve.Single
	Canary = serve.Canary
	AB     = serve.AB
	Shadow = serve.Shadow
	// BlueGreen: the candidate is loaded and reachable only on request
	// until promote switches every request to it.
	BlueGreen = serve.BlueGreen
)

// Target is one model version an endpoint serves.
type Target struct {
	Model   string `json:"model"`
	Ref     string `json:"ref"`     // what was asked for: an alias, a version number or "latest"
	Version int    `json:"version"` // what it resolved to
}

// Endpoint is the configuration of one endpoint. Each change makes a new
// revision; versions are resolved when the change is made.
type Endpoint struct {
	Name      string  `json:"name"`
	Strategy  string  `json:"strategy"`
	Stable    Target  `json:"stable"`
	Candidate *Target `json:"candidate,omitempty"`
	// Weight is the candidate's share of traffic (canary, A/B), 0 to 1.
	Weight float64 `json:"weight,omitempty"`
	// StickyKey is the request field whose value decides an A/B
	// assignment.
	StickyKey string `json:"sticky_key,omitempty"`
	// Gate, on a canary or A/B route, promotes the candidate after a clean
	// window or rolls it back at the first sign of trouble.
	Gate      *Gate     `json:"gate,omitempty"`
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

// Runtime is what serves endpoints. Load reads and checks the versions of
// a route and returns the function that swaps them into the endpoint: a
// bad version fails before anything changes, and the swap itself cannot
// fail.
type Runtime interface {
	Load(ctx context.Context, endpoint string, route serve.Route) (activate func(), err error)
	Stats(endpoint string) (*serve.RouteStats, error)
}

// Route is what the runtime needs of an endpoint's configuration.
func (e *Endpoint) Route() serve.Route {
	r := serve.Route{Strategy: e.Strategy, Stable: serve.Target{Model: e.Stable.Model, Version: e.Stable.Version}, Weight: e.Weight, StickyKey: e.StickyKey}
	if e.Candidate != nil {
		r.Candidate = &serve.Target{Model: e.Candidate.Model, Version: e.Candidate.Version}
	}
	return r
}

// Deployer changes endpoints: resolve, load, record, swap.
type Deployer struct {
	Store    Store
	Registry *registry.Registry
	// Alerts, when set, lists the monitor alerts firing on an endpoint
	// that started after since: a gate rolls a canary back when one
	// fires during its window.
	Alerts  func(ctx context.Context, endpoint string, since time.Time) ([]string, error)
	Runtime Runtime
}

// Spec asks for an endpoint configuration: Model (and, for a strategy
// other than single, Candidate) are references such as "model@alias",
// "model@3" or "model" for the newest version.
type Spec struct {
	Model     string  `json:"model"`
	Strategy  string  `json:"strategy,omitempty"` // default single
	Candidate string  `json:"candidate,omitempty"`
	Weight    float64 `json:"weight,omitempty"`
	StickyKey string  `json:"sticky_key,omitempty"`
	Gate      *Gate   `json:"gate,omitempty"`
	Reason    string  `json:"reason,omitempty"`
}

var endpointName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Deploy configures an endpoint. The versions are loaded and checked before
// any request sees them; the change is recorded with the principal and the
// reason.
func (d *Deployer) Deploy(ctx context.Context, endpoint string, s Spec) (*Endpoint, error) {
	if !endpointName.MatchString(endpoint) {
		return nil, plinth.Invalid("endpoint", "%q must be 1-63 lowercase letters, digits, '-' or '_'", endpoint)
	}
	if s.Strategy == "" {
		s.Strategy = Single
	}
	e := &Endpoint{Name: endpoint, Strategy: s.Strategy, Weight: s.Weight, StickyKey: s.StickyKey, Reason: s.Reason, Action: "deploy"}
	if s.Gate != nil {
		if s.Strategy != Canary && s.Strategy != AB {
			return nil, plinth.Invalid("gate", "gates judge a canary or an A/B candidate, not a %s route", s.Strategy)
		}
		g := s.Gate.withDefaults()
		if err := g.validate(); err != nil {
			return nil, err
		}
		e.Gate = &g
	}
	switch s.Strategy {
	case Single:
		if s.Candidate != "" || s.Weight != 0 || s.StickyKey != "" {
			return nil, plinth.Invalid("strategy", "single serves one version: candidate, weight and sticky_key do not apply")
		}
	case Canary, AB, Shadow, BlueGreen:
		if s.Candidate == "" {
			return nil, plinth.Invalid("candidate", "strategy %s needs a candidate version", s.Strategy)
		}
		if (s.Strategy == Canary || s.Strategy == AB) && (s.Weight <= 0 || s.Weight >= 1) {
			return nil, plinth.Invalid("weight", "the candidate's share must be between 0 and 1 (exclusive), have %v", s.Weight)
		}
		if (s.Strategy == Shadow || s.Strategy == BlueGreen) && s.Weight != 0 {
			return nil, plinth.Invalid("weight", "a %s candidate answers no share of traffic; weight does not apply", s.Strategy)
		}
		if s.Strategy == AB && s.StickyKey == "" {
			return nil, plinth.Invalid("sticky_key", "A/B needs the request field that keeps assignments stable")
		}
	default:
		return nil, plinth.Invalid("strategy", "%q is not one of single, canary, ab, shadow, bluegreen", s.Strategy)
	}
	stable, err := d.resolve(ctx, "model", s.Model)
	if err != nil {
		return nil, err
	}
	e.Stable = *stable
	if s.Candidate != "" {
		if e.Candidate, err = d.resolve(ctx, "candidate", s.Candidate); err != nil {
			return nil, err
		}
	}
	return d.apply(ctx, e)
}

func (d *Deployer) resolve(ctx context.Context, field, ref string) (*Target, error) {
	if ref == "" {
		return nil, plinth.Invalid(field, "must name a model version, e.g. delays@champion")
	}
	model, alias, version, err := registry.ParseRef(ref)
	if err != nil {
		return nil, plinth.Invalid(field, "%s", plinth.ErrorMessage(err))
	}
	v, err := d.Registry.Resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	asked := alias
	if alias == "" {
		asked = strconv.Itoa(version)
		if version == 0 {
			asked = "latest"
		}
	}
	return &Target{Model: model, Ref: asked, Version: v.Version}, nil
}

// Promote makes an endpoint's candidate its stable version, alone.
func (d *Deployer) Promote(ctx context.Context, endpoint, reason string) (*Endpoint, error) {
	cur, err := d.Store.Endpoint(ctx, endpoint)
	if err != nil {
		return nil, err
	}
	if cur.Candidate == nil {
		return nil, plinth.Errorf(plinth.ECONFLICT, "endpoint %s has no candidate to promote", endpoint)
	}
	if reason == "" {
		reason = fmt.Sprintf("promote %s@%d", cur.Candidate.Model, cur.Candidate.Version)
	}
	stable := *cur.Candidate
	// When the stable version was asked for by an alias ("production")
	// of the same model, promotion moves the alias: it keeps naming what
	// the endpoint serves, and the endpoint keeps following it.
	if s := cur.Stable; s.Model == stable.Model && s.Ref != "latest" {
		if _, err := strconv.Atoi(s.Ref); err != nil {
			if err := d.Registry.SetAlias(ctx, s.Model, s.Ref, stable.Version, "endpoint "+endpoint+": "+reason); err != nil {
				return nil, fmt.Errorf("promote %s: move alias %s: %w", endpoint, s.Ref, err)
			}
			stable.Ref = s.Ref
		}
	}
	return d.apply(ctx, &Endpoint{Name: endpoint, Strategy: Single, Stable: stable, Reason: reason, Action: "promote"})
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
	// An alias the rolled-back change moved goes back too; otherwise
	// following it would undo the rollback.
	if s := prev.Stable; s.Ref != "latest" {
		if _, err := strconv.Atoi(s.Ref); err != nil {
			if v, err := d.Registry.Resolve(ctx, s.Model+"@"+s.Ref); err == nil && v.Version != s.Version {
				if err := d.Registry.SetAlias(ctx, s.Model, s.Ref, s.Version, "endpoint "+endpoint+": "+reason); err != nil {
					return nil, fmt.Errorf("rollback %s: move alias %s back: %w", endpoint, s.Ref, err)
				}
			}
		}
	}
	return d.apply(ctx, &Endpoint{Name: endpoint, Strategy: prev.Strategy, Stable: prev.Stable, Candidate: prev.Candidate,
		Weight: prev.Weight, StickyKey: prev.StickyKey, Gate: prev.Gate, Reason: reason, Action: "rollback"})
}

// apply loads the versions, records the change, then swaps: requests see
// either the old configuration or the new one, and what is served is always
// what the store says.
func (d *Deployer) apply(ctx context.Context, e *Endpoint) (*Endpoint, error) {
	activate, err := d.Runtime.Load(ctx, e.Name, e.Route())
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
		if e.Stable.Model == model && e.Stable.Version == version || e.Candidate != nil && e.Candidate.Model == model && e.Candidate.Version == version {
			users = append(users, "endpoint "+e.Name)
		}
	}
	return users, nil
}

// Follow re-resolves every endpoint whose versions were asked for by alias
// (or "latest") and redeploys the endpoints whose alias has moved, recording
// the change under principal "plinth". A node calls it on a timer, so moving
// an alias in the registry reaches serving without a restart.
func (d *Deployer) Follow(ctx context.Context) ([]Endpoint, error) {
	eps, err := d.Store.Endpoints(ctx)
	if err != nil {
		return nil, err
	}
	var changed []Endpoint
	for _, e := range eps {
		next := e
		moved := false
		for _, t := range []*Target{&next.Stable, next.Candidate} {
			if t == nil {
				continue
			}
			if _, err := strconv.Atoi(t.Ref); err == nil {
				continue // a pinned version never moves
			}
			ref := t.Model + "@" + t.Ref
			if t.Ref == "latest" {
				ref = t.Model
			}
			v, err := d.Registry.Resolve(ctx, ref)
			if err != nil {
				continue // the alias is gone: keep serving what we have
			}
			if v.Version != t.Version {
				moved = true
				t.Version = v.Version
			}
		}
		if !moved {
			continue
		}
		if next.Candidate != nil {
			c := *next.Candidate
			next.Candidate = &c
		}
		next.Action, next.Reason = "follow", "alias moved"
		updated, err := d.apply(plinth.WithPrincipal(ctx, plinth.System), &next)
		if err != nil {
			return changed, fmt.Errorf("follow %s: %w", e.Name, err)
		}
		changed = append(changed, *updated)
	}
	return changed, nil
}

// Gate decides a canary's fate from its traffic compared with the stable
// version's, on the same route at the same time.
type Gate struct {
	// Window is how long the candidate must answer cleanly before it is
	// promoted; default 10m.
	Window plinth.Duration `json:"window,omitempty"`
	// MinRequests is how many requests the candidate must have answered
	// before any decision; default 100.
	MinRequests int64 `json:"min_requests,omitempty"`
	// MaxErrorRate is how much higher than the stable version's the
	// candidate's error rate may be; default 0.01.
	MaxErrorRate float64 `json:"max_error_rate,omitempty"`
	// MaxMeanShift is how far the candidate's mean prediction may be from
	// the stable version's; default 0.1.
	MaxMeanShift float64 `json:"max_mean_shift,omitempty"`
	// MaxLatencyRatio is how many times slower than the stable version the
	// candidate may be on average (when it is also at least 1 ms slower);
	// default 3.
	MaxLatencyRatio float64 `json:"max_latency_ratio,omitempty"`
	// Alerts names monitor alert rules of the endpoint that roll the
	// candidate back when they fire during its window.
	Alerts []string `json:"alerts,omitempty"`
}

// minLatencyPenalty is how much slower (µs) a candidate must be, beyond
// MaxLatencyRatio, to be rejected for its latency.
const minLatencyPenalty = 1000

func (g Gate) withDefaults() Gate {
	if g.Window == 0 {
		g.Window = plinth.Duration(10 * time.Minute)
	}
	if g.MinRequests == 0 {
		g.MinRequests = 100
	}
	if g.MaxErrorRate == 0 {
		g.MaxErrorRate = 0.01
	}
	if g.MaxMeanShift == 0 {
		g.MaxMeanShift = 0.1
	}
	if g.MaxLatencyRatio == 0 {
		g.MaxLatencyRatio = 3
	}
	return g
}

func (g Gate) validate() error {
	switch {
	case g.Window < 0:
		return plinth.Invalid("gate.window", "must not be negative")
	case g.MinRequests < 1:
		return plinth.Invalid("gate.min_requests", "must be at least 1")
	case g.MaxErrorRate < 0 || g.MaxMeanShift < 0 || g.MaxLatencyRatio < 1:
		return plinth.Invalid("gate", "thresholds must not be negative, and max_latency_ratio at least 1")
	}
	return nil
}

// Decisions of a gate.
const (
	Wait    = "wait"
	Promote = "promote"
	Reject  = "rollback"
)

// Judge applies a gate to a route's traffic at time now.
func (g Gate) Judge(st serve.RouteStats, now time.Time) (decision, reason string) {
	c, s := st.Candidate, st.Stable
	if c.Requests < g.MinRequests {
		return Wait, fmt.Sprintf("candidate has answered %d of the %d requests a decision needs", c.Requests, g.MinRequests)
	}
	rate := func(v serve.VariantStats) float64 {
		if v.Requests == 0 {
			return 0
		}
		return float64(v.Errors) / float64(v.Requests)
	}
	if rc, rs := rate(c), rate(s); rc-rs > g.MaxErrorRate {
		return Reject, fmt.Sprintf("candidate error rate %.3f against the stable version's %.3f", rc, rs)
	}
	if c.Outputs > 1 && c.StdOutput < 1e-9 && s.Outputs > 1 && s.StdOutput > 1e-9 {
		return Reject, fmt.Sprintf("candidate predictions are constant (%g) while the stable version's vary", c.MeanOutput)
	}
	if s.Outputs > 0 && math.Abs(c.MeanOutput-s.MeanOutput) > g.MaxMeanShift {
		return Reject, fmt.Sprintf("candidate mean prediction %.4f is %.4f from the stable version's %.4f", c.MeanOutput, math.Abs(c.MeanOutput-s.MeanOutput), s.MeanOutput)
	}
	// A ratio of microseconds is noise on a busy machine: the candidate
	// must also be slower by a millisecond that users would notice.
	if s.MeanMicros > 0 && c.MeanMicros/s.MeanMicros > g.MaxLatencyRatio && c.MeanMicros-s.MeanMicros > minLatencyPenalty {
		return Reject, fmt.Sprintf("candidate is %.1f times slower than the stable version", c.MeanMicros/s.MeanMicros)
	}
	if now.Sub(st.Since) < g.Window.Std() {
		return Wait, "clean so far; the window is not over"
	}
	return Promote, fmt.Sprintf("clean for %s over %d requests (error rate %.3f, mean prediction %.4f vs %.4f)",
		g.Window.Std(), c.Requests, rate(c), c.MeanOutput, s.MeanOutput)
}

// Judge applies every gated endpoint's gate and promotes or rolls back the
// candidates it has decided on, recording the reason under principal
// "plinth". A node calls it on a timer.
func (d *Deployer) Judge(ctx context.Context, now time.Time) ([]Endpoint, error) {
	eps, err := d.Store.Endpoints(ctx)
	if err != nil {
		return nil, err
	}
	ctx = plinth.WithPrincipal(ctx, plinth.System)
	var changed []Endpoint
	for _, e := range eps {
		if e.Gate == nil || e.Candidate == nil {
			continue
		}
		st, err := d.Runtime.Stats(e.Name)
		if err != nil {
			continue
		}
		decision, reason := e.Gate.Judge(*st, now)
		if d.Alerts != nil && len(e.Gate.Alerts) > 0 && decision != Reject {
			if firing, err := d.Alerts(ctx, e.Name, e.UpdatedAt); err == nil {
				var hit []string
				for _, f := range firing {
					if slices.Contains(e.Gate.Alerts, f) {
						hit = append(hit, f)
					}
				}
				if len(hit) > 0 {
					decision, reason = Reject, "monitor alert firing during the canary: "+strings.Join(hit, ", ")
				}
			}
		}
		var out *Endpoint
		switch decision {
		case Promote:
			out, err = d.Promote(ctx, e.Name, "gate: "+reason)
		case Reject:
			out, err = d.Rollback(ctx, e.Name, "gate: "+reason)
		default:
			continue
		}
		if err != nil {
			return changed, fmt.Errorf("gate of %s: %w", e.Name, err)
		}
		changed = append(changed, *out)
	}
	return changed, nil
}
