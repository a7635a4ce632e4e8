package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/plinthml/plinth/client"
	"github.com/plinthml/plinth/internal/testproc"
	"github.com/plinthml/plinth/pipeline"
	"github.com/plinthml/plinth/queue/natstest"
)

// TestMain lets tests run the plinth command line as separate processes:
// the test binary re-executed with PLINTH_TEST_MAIN set is plinth.
func TestMain(m *testing.M) {
	if os.Getenv("PLINTH_TEST_MAIN") == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := Main(ctx, os.Args[1:], &Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv})
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// proc is a plinth process started by a test.
type proc struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startPlinth(t *testing.T, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "PLINTH_TEST_MAIN=1")
	p := &proc{cmd: cmd, out: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("plinth %s:\n%s", strings.Join(args, " "), p.out.String())
		}
	})
	return p
}

func (p *proc) kill9(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

const slowProject = `
pipelines:
  - name: slow
    steps:
      - name: first
        kind: command
        with:
          # Marks each start, then works for a while.
          run: ["sh", "-c", "echo $$ >> $MARK; sleep 3; echo plinth:metric x 1"]
          env: {MARK: "%s"}
      - name: second
        kind: command
        inputs: {x: first.metrics}
        with:
          run: ["sh", "-c", "echo plinth:metric y 2"]
`

// TestWorkersOverNATS runs one plinth server and two `plinth worker`
// processes on loopback, with the work queue on a real nats-server (the
// Debian package) — and, as a second case, on the NATS server the plinth
// server embeds. A worker is SIGKILLed in the middle of a step: the task is
// delivered again to the other worker, the pipeline completes, and the
// step's result is recorded exactly once.
func TestWorkersOverNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	t.Run("nats-server", func(t *testing.T) {
		ns := natstest.Start(t, t.TempDir())
		workersOverNATS(t, []string{"--queue", ns.URL}, ns.URL)
	})
	t.Run("embedded", func(t *testing.T) {
		natsPort, _ := testproc.FreePort()
		workersOverNATS(t, []string{"--queue-listen", "127.0.0.1:" + natsPort}, "nats://127.0.0.1:"+natsPort)
	})
}

func workersOverNATS(t *testing.T, serverQueue []string, queueURL string) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	mark := filepath.Join(dir, "mark")
	proj := filepath.Join(dir, "plinth.yaml")
	os.WriteFile(proj, []byte(fmt.Sprintf(slowProject, mark)), 0o644)
	run(t, "apply", "-f", proj, "--data", data)

	httpPort, _ := testproc.FreePort()
	args := append([]string{"server", "--data", data, "--addr", "127.0.0.1:" + httpPort, "--queue-lease", "2s", "--log-level", "warn"}, serverQueue...)
	srv := startPlinth(t, args...)
	c, _ := client.New("http://127.0.0.1:" + httpPort)
	ctx := context.Background()
	if err := testproc.WaitReady(func() error { return c.Ready(ctx) }, srv.exited, 60*time.Second); err != nil {
		t.Fatalf("server: %v\n%s", err, srv.out.String())
	}
	workers := map[int]*proc{}
	for range 2 {
		w := startPlinth(t, "worker", "--data", data, "--queue", queueURL, "--queue-lease", "2s", "--log-level", "warn")
		workers[w.cmd.Process.Pid] = w
	}
	r, err := c.StartPipeline(ctx, "slow", nil)
	if err != nil {
		t.Fatal(err)
	}
	// The first worker to take the step starts it; kill it mid-step.
	var first string
	waitFor(t, "a worker to start the step", 60*time.Second, func() bool {
		run, err := c.PipelineRun(ctx, r.ID)
		if err != nil {
			return false
		}
		if a := run.Latest()["first"]; a != nil && a.Worker != "" {
			first = a.Worker
			return true
		}
		return false
	})
	pid, _ := strconv.Atoi(first[strings.LastIndex(first, "/")+1:])
	w := workers[pid]
	if w == nil {
		t.Fatalf("attempt ran on %q, not a worker", first)
	}
	waitFor(t, "the step to start", 10*time.Second, func() bool { b, _ := os.ReadFile(mark); return len(b) > 0 })
	w.kill9(t)

	var done *pipeline.Report
	waitFor(t, "the run to finish", 90*time.Second, func() bool {
		done, err = c.PipelineRun(ctx, r.ID)
		return err == nil && done.State.Final()
	})
	if done.State != pipeline.Succeeded {
		t.Fatalf("run %s: %s", done.State, done.Error)
	}
	var attempts []pipeline.Attempt
	for _, a := range done.Attempts {
		if a.Step == "first" {
			attempts = append(attempts, a)
		}
	}
	// One attempt, run twice (at least once), recorded once — by the
	// surviving worker.
	if len(attempts) != 1 || attempts[0].State != pipeline.Succeeded || attempts[0].Worker == first || attempts[0].Outputs["metrics"].Metrics["x"] != 1 {
		t.Fatalf("attempts of the killed step: %+v", attempts)
	}
	starts, _ := os.ReadFile(mark)
	if n := strings.Count(string(starts), "\n"); n != 2 {
		t.Fatalf("the step started %d times, want 2 (once on each worker)", n)
	}
	if a := done.Latest()["second"]; a == nil || a.State != pipeline.Succeeded || a.Worker == first {
		t.Fatalf("second step: %+v", a)
	}
}

// TestServerKilledMidRunResumes SIGKILLs the server in the middle of a
// step; started again on the same data, it resumes the run once the dead
// server's lease lapses, keeping the steps that had finished.
func TestServerKilledMidRunResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	mark := filepath.Join(dir, "mark")
	proj := filepath.Join(dir, "plinth.yaml")
	os.WriteFile(proj, []byte(fmt.Sprintf(slowProject, mark)), 0o644)
	run(t, "apply", "-f", proj, "--data", data)
	port, _ := testproc.FreePort()
	args := []string{"server", "--data", data, "--addr", "127.0.0.1:" + port, "--run-lease", "2s", "--log-level", "warn"}
	srv := startPlinth(t, args...)
	c, _ := client.New("http://127.0.0.1:" + port)
	ctx := context.Background()
	if err := testproc.WaitReady(func() error { return c.Ready(ctx) }, srv.exited, 60*time.Second); err != nil {
		t.Fatalf("server: %v", err)
	}
	r, err := c.StartPipeline(ctx, "slow", nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the step to start", 30*time.Second, func() bool { b, _ := os.ReadFile(mark); return len(b) > 0 })
	srv.kill9(t)

	srv = startPlinth(t, args...)
	if err := testproc.WaitReady(func() error { return c.Ready(ctx) }, srv.exited, 60*time.Second); err != nil {
		t.Fatalf("restarted server: %v", err)
	}
	var done *pipeline.Report
	waitFor(t, "the resumed run to finish", 90*time.Second, func() bool {
		done, err = c.PipelineRun(ctx, r.ID)
		return err == nil && done.State.Final()
	})
	if done.State != pipeline.Succeeded {
		t.Fatalf("resumed run %s: %s", done.State, done.Error)
	}
	var states []string
	for _, a := range done.Attempts {
		states = append(states, a.Step+":"+string(a.State))
	}
	if got := strings.Join(states, " "); got != "first:abandoned first:succeeded second:succeeded" {
		t.Fatalf("attempts: %s", got)
	}
}
