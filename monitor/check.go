package monitor

import (
	"cmp"
	"context"
	"time"

	"github.com/plinthml/plinth"
)

// Checker checks the monitors of a project: for each endpoint, it builds
// the report of the latest period, joins the labels that came in, and
// evaluates the alert rules; fired alerts go to OnFire, which the platform
// wires to the retraining pipelines.
type Checker struct {
	Monitor *Monitor
	Specs   func(ctx context.Context) ([]Spec, error)
	Joiner  *Joiner
	// Flush makes the prediction log write what it holds, so the check
	// sees the latest traffic.
	Flush func(ctx context.Context) error
	// Predictions names an endpoint's prediction log dataset.
	Predictions func(endpoint string) string
	OnFire      func(ctx context.Context, spec Spec, a Alert)
	// Observe, when set, sees every check's report and the rules firing
	// after it (for metrics).
	Observe func(spec Spec, rep *Report, firing []string)
	// Skew runs the training–serving skew check on an endpoint's newest
	// sample requests by entity (see CheckSkew).
	Skew func(ctx context.Context, endpoint string, sample int) (*Skew, error)
}

// Spec returns the monitor of an endpoint, or ENOTFOUND.
func (c *Checker) Spec(ctx context.Context, endpoint string) (*Spec, error) {
	specs, err := c.Specs(ctx)
	if err != nil {
		return nil, err
	}
	for i := range specs {
		if specs[i].Endpoint == endpoint {
			return &specs[i], nil
		}
	}
	return nil, plinth.NotFound("monitor", endpoint)
}

// Report builds an endpoint's report over [from, to); zero times mean the
// spec's lookback before the newest window.
func (c *Checker) Report(ctx context.Context, endpoint string, from, to time.Time) (*Report, error) {
	if c.Flush != nil {
		if err := c.Flush(ctx); err != nil {
			return nil, err
		}
	}
	if err := c.Monitor.Flush(ctx); err != nil {
		return nil, err
	}
	spec, err := c.Spec(ctx, endpoint)
	if plinth.ErrorCode(err) == plinth.ENOTFOUND {
		spec, err = &Spec{Endpoint: endpoint}, nil
	}
	if err != nil {
		return nil, err
	}
	if to.IsZero() {
		all, err := c.Monitor.Store.Windows(ctx, endpoint, time.Time{}, farFuture)
		if err != nil {
			return nil, err
		}
		for _, w := range all {
			if w.Profile.End.After(to) {
				to = w.Profile.End
			}
		}
		if to.IsZero() {
			to = c.Monitor.now()
		}
	}
	if from.IsZero() {
		lookback := time.Duration(spec.Lookback)
		if lookback <= 0 {
			lookback = 24 * time.Hour
		}
		from = to.Add(-lookback)
	}
	rep, err := c.Monitor.Report(ctx, endpoint, from, to, ReportOptions{LearnedThresholds: spec.Thresholds == "learned"})
	if err != nil {
		return nil, err
	}
	if spec.Labels != nil && c.Joiner != nil {
		if rep.Performance, err = c.Joiner.Performance(ctx, c.Predictions(endpoint), *spec.Labels, from, to); err != nil {
			rep.Missing = append(rep.Missing, "performance: "+err.Error())
		}
	}
	if spec.Skew != nil {
		rep.Skew, err = c.CheckSkew(ctx, endpoint, cmp.Or(spec.Skew.Sample, DefaultSkewSample))
		if err != nil {
			rep.Missing = append(rep.Missing, "skew: "+err.Error())
		}
	}
	return rep, nil
}

// CheckSkew runs the skew check on an endpoint's newest sample requests
// by entity: for the monitors that ask for it in every report, and on
// demand.
func (c *Checker) CheckSkew(ctx context.Context, endpoint string, sample int) (*Skew, error) {
	if c.Skew == nil {
		return nil, plinth.Errorf(plinth.EUNAVAILABLE, "this server has no skew check")
	}
	return c.Skew(ctx, endpoint, sample)
}

// Check reports on an endpoint's latest period and evaluates its alerts.
func (c *Checker) Check(ctx context.Context, endpoint string) (*Report, []Alert, error) {
	spec, err := c.Spec(ctx, endpoint)
	if err != nil {
		return nil, nil, err
	}
	rep, err := c.Report(ctx, endpoint, time.Time{}, time.Time{})
	if err != nil {
		return nil, nil, err
	}
	fired, err := c.Monitor.Evaluate(ctx, *spec, rep)
	if err != nil {
		return rep, fired, err
	}
	for _, a := range fired {
		if c.OnFire != nil && !a.Silenced {
			c.OnFire(ctx, *spec, a)
		}
	}
	if c.Observe != nil {
		var firing []string
		for _, r := range spec.Alerts {
			if a, err := c.Monitor.Store.OpenAlert(ctx, spec.Endpoint, r.Name); err == nil && a.State == Firing {
				firing = append(firing, r.Name)
			}
		}
		c.Observe(*spec, rep, firing)
	}
	return rep, fired, nil
}

// Run checks every monitor every interval until ctx ends.
func (c *Checker) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		specs, err := c.Specs(ctx)
		if err != nil {
			continue
		}
		for _, s := range specs {
			if _, _, err := c.Check(ctx, s.Endpoint); err != nil && ctx.Err() == nil {
				c.Monitor.logger().Warn("monitor check", "endpoint", s.Endpoint, "err", err)
			}
		}
	}
}
