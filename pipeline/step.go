package pipeline

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/blob"
)

// StepContext is what a kind's Run gets: the step, its resolved inputs and
// parameters, a scratch folder and a log.
type StepContext struct {
	context.Context
	Run     *Run
	Step    Step
	Attempt int
	With    map[string]any
	Inputs  map[string]Value
	// Dir is the attempt's scratch folder, removed afterwards.
	Dir   string
	Blobs blob.Store
	// Log is kept (its tail) with the attempt.
	Log io.Writer
	Now func() time.Time

	childCost Cost
	await     func(reason string) (*Decision, error)
}

// Await asks a person to approve the step and waits for the decision: the
// attempt shows as waiting (with reason in its log) until someone decides
// through the API, or the run is cancelled.
func (sc *StepContext) Await(reason string) (*Decision, error) {
	if sc.await == nil {
		return nil, fmt.Errorf("this step cannot wait for approval here")
	}
	sc.Logf("waiting for approval: %s", reason)
	return sc.await(reason)
}

// Logf writes a line to the step's log.
func (sc *StepContext) Logf(format string, args ...any) {
	fmt.Fprintf(sc.Log, format+"\n", args...)
}

// field names a parameter in errors.
func (sc *StepContext) field(name string) string {
	return "steps." + sc.Step.Name + ".with." + name
}

// String returns a string parameter; def when absent.
func (sc *StepContext) String(name, def string) (string, error) {
	v, ok := sc.With[name]
	if !ok || v == nil {
		return def, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", plinth.Invalid(sc.field(name), "want a string, got %T", v)
	}
	return s, nil
}

// Float returns a number parameter; def when absent.
func (sc *StepContext) Float(name string, def float64) (float64, error) {
	v, ok := sc.With[name]
	if !ok || v == nil {
		return def, nil
	}
	switch v := v.(type) {
	case float64:
		return v, nil
	case int:
		return float64(v), nil
	case int64:
		return float64(v), nil
	}
	return 0, plinth.Invalid(sc.field(name), "want a number, got %T", v)
}

// Map returns a mapping parameter; nil when absent.
func (sc *StepContext) Map(name string) (map[string]any, error) {
	v, ok := sc.With[name]
	if !ok || v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, plinth.Invalid(sc.field(name), "want a mapping, got %T", v)
	}
	return m, nil
}

// File returns a local path holding an input blob (a table or a model).
func (sc *StepContext) File(input string) (string, error) {
	v, ok := sc.Inputs[input]
	if !ok {
		return "", plinth.Invalid("steps."+sc.Step.Name+".inputs."+input, "not given")
	}
	if v.Digest == "" {
		return "", plinth.Invalid("steps."+sc.Step.Name+".inputs."+input, "a %s holds no file", v.Type)
	}
	d, err := blob.ParseDigest(v.Digest)
	if err != nil {
		return "", fmt.Errorf("input %s: %w", input, err)
	}
	if lp, ok := sc.Blobs.(interface{ Path(blob.Digest) string }); ok {
		return lp.Path(d), nil
	}
	rc, err := sc.Blobs.Open(sc, d)
	if err != nil {
		return "", fmt.Errorf("input %s: %w", input, err)
	}
	defer rc.Close()
	path := filepath.Join(sc.Dir, "in-"+input)
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		return "", fmt.Errorf("input %s: %w", input, err)
	}
	return path, f.Close()
}

// Put stores a file as a value of type t.
func (sc *StepContext) Put(path string, t Type, ref string) (Value, error) {
	f, err := os.Open(path)
	if err != nil {
		return Value{}, err
	}
	defer f.Close()
	info, err := sc.Blobs.Put(sc, f)
	if err != nil {
		return Value{}, fmt.Errorf("store %s: %w", filepath.Base(path), err)
	}
	return Value{Type: t, Digest: info.Digest.String(), Ref: ref}, nil
}

// AddChildCost adds a child process's usage to the attempt's cost.
func (sc *StepContext) AddChildCost(ps *os.ProcessState) {
	if ps == nil {
		return
	}
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return
	}
	sc.childCost.CPUSeconds += tv(ru.Utime) + tv(ru.Stime)
	sc.childCost.PeakRSS = max(sc.childCost.PeakRSS, ru.Maxrss*1024)
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// meter measures an in-process attempt: wall time and the process's CPU
// time over it. Steps running at the same time share the process, so
// their CPU figures overlap; commands are measured exactly, from their
// own resource usage.
type meter struct {
	start time.Time
	cpu   float64
}

func startMeter() meter { return meter{start: time.Now(), cpu: processCPU()} }

func (m meter) stop(child Cost) Cost {
	c := Cost{WallSeconds: time.Since(m.start).Seconds(), CPUSeconds: processCPU() - m.cpu}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		c.PeakRSS = ru.Maxrss * 1024
	}
	if child.PeakRSS > 0 { // a command: its own high-water mark, not ours
		c.CPUSeconds += child.CPUSeconds
		c.PeakRSS = child.PeakRSS
	}
	return c
}

func processCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return tv(ru.Utime) + tv(ru.Stime)
}
