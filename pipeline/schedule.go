package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/dataset"
)

// ParseSchedule parses a cron expression: five fields (minute hour
// day-of-month month day-of-week) or a descriptor such as @daily or
// "@every 1h".
func ParseSchedule(expr string) (cron.Schedule, error) {
	return cron.ParseStandard(expr)
}

// Registered is a pipeline definition as the project registry holds it.
type Registered struct {
	Spec      Spec
	Version   int
	UpdatedAt time.Time
}

// Catalog lists the registered pipelines.
type Catalog interface {
	Pipelines(ctx context.Context) ([]Registered, error)
}

// Lookup returns the registered pipeline called name, or ENOTFOUND.
func Lookup(ctx context.Context, c Catalog, name string) (*Registered, error) {
	ps, err := c.Pipelines(ctx)
	if err != nil {
		return nil, err
	}
	for i := range ps {
		if ps[i].Spec.Name == name {
			return &ps[i], nil
		}
	}
	return nil, plinth.NotFound("pipeline", name)
}

// Versions lists a dataset's versions, newest first.
type Versions interface {
	DatasetVersions(ctx context.Context, dataset string) ([]dataset.Version, error)
}

// Scheduler starts runs when their time comes (cron schedules) and when a
// dataset they watch gets a new snapshot. Each fire is recorded on the run
// it creates, in the same transaction, so a restarted or a second
// scheduler never fires twice; missed schedule times after a downtime fire
// once (the latest), or every one with catch_up.
type Scheduler struct {
	Engine   *Engine
	Catalog  Catalog
	Datasets Versions
	// Every is how often it looks (default 15s).
	Every time.Duration
}

// maxCatchUp bounds the missed times one tick fires for one pipeline.
const maxCatchUp = 100

const fireLayout = "2006-01-02T15:04:05Z"

// Run ticks until ctx ends.
func (s *Scheduler) Run(ctx context.Context) {
	every := s.Every
	if every <= 0 {
		every = 15 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := s.Tick(ctx); err != nil && ctx.Err() == nil {
			s.Engine.logger().Warn("pipeline scheduler", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Tick resumes runs whose executor died, fires what is due now, and
// returns the runs it started.
func (s *Scheduler) Tick(ctx context.Context) ([]*Run, error) {
	if _, err := s.Engine.Resume(ctx); err != nil {
		return nil, fmt.Errorf("resume runs: %w", err)
	}
	pipelines, err := s.Catalog.Pipelines(ctx)
	if err != nil {
		return nil, err
	}
	now := s.Engine.now()
	var started []*Run
	for _, p := range pipelines {
		for _, f := range s.due(ctx, p, now) {
			r, err := s.Engine.CreateFired(ctx, p.Spec, p.Version, f)
			if plinth.ErrorCode(err) == plinth.ECONFLICT {
				continue // another scheduler fired it
			}
			if err != nil {
				return started, fmt.Errorf("pipeline %s: %w", p.Spec.Name, err)
			}
			s.Engine.Go(r.ID)
			started = append(started, r)
		}
	}
	return started, nil
}

// due lists the fires of p that are due and not yet recorded.
func (s *Scheduler) due(ctx context.Context, p Registered, now time.Time) []string {
	var fires []string
	log := s.Engine.logger()
	if p.Spec.Schedule != "" {
		sched, err := ParseSchedule(p.Spec.Schedule)
		if err != nil {
			log.Warn("pipeline schedule", "pipeline", p.Spec.Name, "err", err)
		} else {
			// Times are counted from the last fire, or from when the
			// definition was applied: a new schedule never fires for the
			// past.
			from := p.UpdatedAt
			last, err := s.Engine.Store.LastFire(ctx, p.Spec.Name, "schedule ")
			if err == nil && last != "" {
				if t, err := time.Parse(fireLayout, last[len("schedule "):]); err == nil {
					from = t
				}
			}
			var times []time.Time
			for t := sched.Next(from); !t.After(now) && len(times) < maxCatchUp; t = sched.Next(t) {
				times = append(times, t)
			}
			if !p.Spec.CatchUp && len(times) > 1 {
				times = times[len(times)-1:]
			}
			for _, t := range times {
				fires = append(fires, "schedule "+t.UTC().Format(fireLayout))
			}
		}
	}
	for _, d := range p.Spec.OnDataset {
		if s.Datasets == nil {
			break
		}
		versions, err := s.Datasets.DatasetVersions(ctx, d)
		if err != nil || len(versions) == 0 {
			continue
		}
		v := versions[0]
		if !v.IngestedAt.After(p.UpdatedAt) {
			continue // there before the pipeline watched it
		}
		f := fmt.Sprintf("dataset %s@%d", d, v.Version)
		if ok, err := s.Engine.Store.Fired(ctx, p.Spec.Name, f); err == nil && !ok {
			fires = append(fires, f)
		}
	}
	return fires
}
