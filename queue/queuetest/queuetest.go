// Package queuetest is the contract every NATS server a queue.Queue runs on
// passes: the embedded server and a real nats-server alike.
package queuetest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/queue"
)

// NewConfig returns the configuration of a fresh, empty queue on the server
// under test: Name unique, everything else but URL or Server left to the
// suite. The suite opens several handles on one queue (two workers, a
// worker and a watcher), which is why it takes a configuration rather than
// an opened Queue.
type NewConfig func(t testing.TB) queue.Config

// Run runs the contract suite, its cases in parallel, each on a queue of
// its own. The case with a worker in another process
// runs only when the configuration has a URL, and needs the test binary's
// TestMain to call WorkerMain first.
func Run(t *testing.T, newConfig NewConfig) {
	for _, c := range []struct {
		name string
		test func(*testing.T, queue.Config)
	}{
		{"PublishFetchAck", testPublishFetchAck},
		{"DuplicateID", testDuplicate},
		{"LeaseExpires", testLeaseExpires},
		{"ExtendKeepsLease", testExtend},
		{"NakWithDelay", testNak},
		{"TermStopsRedelivery", testTerm},
		{"MaxDeliver", testMaxDeliver},
		{"SettleOnce", testSettleOnce},
		{"TwoWorkersShare", testTwoWorkers},
		{"FetchCanceled", testFetchCanceled},
		{"Invalid", testInvalid},
		{"KilledWorker", testKilledWorker},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel() // the cases wait on leases and delays, not on the CPU
			c.test(t, newConfig(t))
		})
	}
}

// lease is the short lease of the cases that wait for one to run out.
const lease = time.Second

// Open opens a handle on cfg's queue, closed when the test ends.
func Open(t testing.TB, cfg queue.Config) *queue.Queue {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	q, err := queue.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// UniqueName returns a queue name no other test uses.
func UniqueName(prefix string) string { return prefix + "_" + strings.ToLower(rand.Text()[:12]) }

// Publish publishes a task or fails t.
func Publish(t testing.TB, q *queue.Queue, id string, payload []byte) {
	t.Helper()
	if err := q.Publish(context.Background(), id, payload); err != nil {
		t.Fatalf("Publish %s: %v", id, err)
	}
}

// Fetch fetches a task within wait or fails t.
func Fetch(t testing.TB, q *queue.Queue, wait time.Duration) *queue.Task {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	task, err := q.Fetch(ctx)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	return task
}

// Empty fails t if q delivers a task within wait.
func Empty(t testing.TB, q *queue.Queue, wait time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	task, err := q.Fetch(ctx)
	if err == nil {
		t.Fatalf("Fetch: got task %s (attempt %d), want none within %v", task.ID, task.Attempt, wait)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Fetch: %v, want the deadline to pass", err)
	}
}

func settle(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func check(t testing.TB, task *queue.Task, id, payload string, attempt int) {
	t.Helper()
	if task.ID != id || string(task.Payload) != payload || task.Attempt != attempt {
		t.Fatalf("got task %q payload %q attempt %d, want %q payload %q attempt %d",
			task.ID, task.Payload, task.Attempt, id, payload, attempt)
	}
}

func testPublishFetchAck(t *testing.T, cfg queue.Config) {
	q := Open(t, cfg)
	ctx := context.Background()
	Publish(t, q, "run1/train/1", []byte(`{"step":"train"}`))
	Publish(t, q, "run1/eval/1", nil) // an empty payload is a task too
	Publish(t, q, "run1/register/1", []byte{0, 1, 2, 255})

	// In publication order, each on its first attempt.
	task := Fetch(t, q, 5*time.Second)
	check(t, task, "run1/train/1", `{"step":"train"}`, 1)
	settle(t, "Ack", task.Ack(ctx))
	task = Fetch(t, q, 5*time.Second)
	check(t, task, "run1/eval/1", "", 1)
	settle(t, "Ack", task.Ack(ctx))
	task = Fetch(t, q, 5*time.Second)
	check(t, task, "run1/register/1", "\x00\x01\x02\xff", 1)
	settle(t, "Ack", task.Ack(ctx))

	// Acked tasks are gone, also for a handle opened afterwards.
	Empty(t, q, 300*time.Millisecond)
	Empty(t, Open(t, cfg), 300*time.Millisecond)
}

func testDuplicate(t *testing.T, cfg queue.Config) {
	q := Open(t, cfg)
	Publish(t, q, "task-a", []byte("first"))
	Publish(t, q, "task-a", []byte("second")) // accepted, dropped
	Publish(t, q, "task-b", []byte("other"))

	a := Fetch(t, q, 5*time.Second)
	check(t, a, "task-a", "first", 1)
	settle(t, "Ack", a.Ack(context.Background()))
	// Within the window an id is remembered after its task is done, so a
	// producer retrying a publish cannot run a finished task again.
	Publish(t, q, "task-a", []byte("third"))
	b := Fetch(t, q, 5*time.Second)
	check(t, b, "task-b", "other", 1)
	settle(t, "Ack", b.Ack(context.Background()))
	Empty(t, q, 300*time.Millisecond)
}

func testLeaseExpires(t *testing.T, cfg queue.Config) {
	cfg.Lease = lease
	worker, other := Open(t, cfg), Open(t, cfg)
	Publish(t, worker, "t1", []byte("p"))
	task := Fetch(t, worker, 5*time.Second)
	check(t, task, "t1", "p", 1)
	fetched := time.Now()
	// The worker goes silent: no Ack, no Extend. Another worker gets the
	// task once the lease has run out, not before.
	again := Fetch(t, other, 10*time.Second)
	if waited := time.Since(fetched); waited < lease*9/10 {
		t.Errorf("redelivered after %v, before the lease of %v ran out", waited, lease)
	}
	check(t, again, "t1", "p", 2)
	settle(t, "Ack", again.Ack(context.Background()))
	Empty(t, other, 2*lease)
}

func testExtend(t *testing.T, cfg queue.Config) {
	cfg.Lease = lease
	worker, other := Open(t, cfg), Open(t, cfg)
	ctx := context.Background()
	Publish(t, worker, "long", []byte("step"))
	task := Fetch(t, worker, 5*time.Second)

	// A step three leases long, renewing the lease every third of one.
	done := make(chan struct{})
	extended := make(chan error, 1)
	go func() {
		tick := time.NewTicker(lease / 3)
		defer tick.Stop()
		for {
			select {
			case <-done:
				extended <- nil
				return
			case <-tick.C:
				if err := task.Extend(ctx); err != nil {
					extended <- err
					return
				}
			}
		}
	}()
	Empty(t, other, 3*lease)
	close(done)
	settle(t, "Extend", <-extended)
	settle(t, "Ack", task.Ack(ctx))
	Empty(t, other, 2*lease)
}

func testNak(t *testing.T, cfg queue.Config) {
	q := Open(t, cfg)
	ctx := context.Background()
	Publish(t, q, "flaky", []byte("p"))
	task := Fetch(t, q, 5*time.Second)
	const delay = 700 * time.Millisecond
	nakked := time.Now()
	settle(t, "Nak", task.Nak(ctx, delay))

	again := Fetch(t, q, 10*time.Second)
	if waited := time.Since(nakked); waited < delay*9/10 {
		t.Errorf("redelivered %v after Nak, before its delay of %v", waited, delay)
	}
	check(t, again, "flaky", "p", 2)

	// Without a delay it comes back at once, far inside the 30 s lease.
	settle(t, "Nak", again.Nak(ctx, 0))
	third := Fetch(t, q, 5*time.Second)
	check(t, third, "flaky", "p", 3)
	settle(t, "Ack", third.Ack(ctx))
	Empty(t, q, 300*time.Millisecond)
}

func testTerm(t *testing.T, cfg queue.Config) {
	cfg.Lease = lease
	q := Open(t, cfg)
	ctx := context.Background()
	Publish(t, q, "bad-input", []byte("p"))
	Publish(t, q, "good", []byte("p"))
	task := Fetch(t, q, 5*time.Second)
	check(t, task, "bad-input", "p", 1)
	settle(t, "Term", task.Term(ctx))
	next := Fetch(t, q, 5*time.Second)
	check(t, next, "good", "p", 1)
	settle(t, "Ack", next.Ack(ctx))
	// Neither a Nak's nor a lease's redelivery brings it back.
	Empty(t, q, 2*lease)
}

func testMaxDeliver(t *testing.T, cfg queue.Config) {
	cfg.Lease = lease
	cfg.MaxDeliver = 2
	q := Open(t, cfg)
	ctx := context.Background()
	Publish(t, q, "poison", []byte("p"))
	for attempt := 1; attempt <= 2; attempt++ {
		task := Fetch(t, q, 5*time.Second)
		check(t, task, "poison", "p", attempt)
		settle(t, "Nak", task.Nak(ctx, 0))
	}
	Empty(t, q, 2*lease)
}

func testSettleOnce(t *testing.T, cfg queue.Config) {
	q := Open(t, cfg)
	ctx := context.Background()
	Publish(t, q, "t", nil)
	task := Fetch(t, q, 5*time.Second)
	settle(t, "Extend", task.Extend(ctx))
	settle(t, "Ack", task.Ack(ctx))
	for name, err := range map[string]error{
		"Ack":    task.Ack(ctx),
		"Nak":    task.Nak(ctx, 0),
		"Term":   task.Term(ctx),
		"Extend": task.Extend(ctx),
	} {
		if !plinth.IsCode(err, plinth.ECONFLICT) {
			t.Errorf("%s after Ack: %v, want %s", name, err, plinth.ECONFLICT)
		}
	}
	Empty(t, q, 300*time.Millisecond)
}

func testTwoWorkers(t *testing.T, cfg queue.Config) {
	const n = 40
	producer := Open(t, cfg)
	for i := range n {
		Publish(t, producer, "task-"+strconv.Itoa(i), []byte(strconv.Itoa(i)))
	}
	var mu sync.Mutex
	seen := map[string]string{} // task -> worker
	var dups []string
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, name := range []string{"w1", "w2"} {
		q := Open(t, cfg)
		wg.Go(func() {
			for {
				mu.Lock()
				finished := len(seen) == n
				mu.Unlock()
				if finished {
					return
				}
				fctx, fcancel := context.WithTimeout(ctx, time.Second)
				task, err := q.Fetch(fctx)
				fcancel()
				if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
					continue
				}
				if err != nil {
					t.Errorf("%s: Fetch: %v", name, err)
					return
				}
				mu.Lock()
				if prev, ok := seen[task.ID]; ok {
					dups = append(dups, fmt.Sprintf("%s to %s and %s", task.ID, prev, name))
				}
				seen[task.ID] = name
				mu.Unlock()
				time.Sleep(5 * time.Millisecond) // the step's work
				if err := task.Ack(ctx); err != nil {
					t.Errorf("%s: Ack: %v", name, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if len(dups) > 0 {
		t.Errorf("delivered twice: %v", dups)
	}
	if len(seen) != n {
		t.Fatalf("%d of %d tasks delivered", len(seen), n)
	}
	count := map[string]int{}
	for _, w := range seen {
		count[w]++
	}
	t.Logf("tasks per worker: %v", count)
	if count["w1"] == 0 || count["w2"] == 0 {
		t.Errorf("one worker did all the work: %v", count)
	}
	Empty(t, producer, 300*time.Millisecond)
}

func testFetchCanceled(t *testing.T, cfg queue.Config) {
	q := Open(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err := q.Fetch(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Fetch on an empty queue: %v, want context.Canceled", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Fetch returned %v after its context was canceled", took)
	}

	// A deadline that passes is ETIMEOUT.
	dctx, dcancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer dcancel()
	_, err = q.Fetch(dctx)
	if !errors.Is(err, context.DeadlineExceeded) || !plinth.IsCode(err, plinth.ETIMEOUT) {
		t.Fatalf("Fetch past its deadline: %v (code %s), want %s", err, plinth.ErrorCode(err), plinth.ETIMEOUT)
	}

	// The abandoned fetches hold no task: one published now is delivered
	// at once, not after a 30 s lease.
	Publish(t, q, "after", []byte("p"))
	task := Fetch(t, Open(t, cfg), 5*time.Second)
	settle(t, "Ack", task.Ack(context.Background()))
}

func testInvalid(t *testing.T, cfg queue.Config) {
	q := Open(t, cfg)
	ctx := context.Background()
	for _, id := range []string{"", "a\nb"} {
		if err := q.Publish(ctx, id, nil); !plinth.IsCode(err, plinth.EINVALID) {
			t.Errorf("Publish(%q): %v, want %s", id, err, plinth.EINVALID)
		}
	}
	bad := cfg
	bad.Name = "has.dots"
	if _, err := queue.Open(ctx, bad); !plinth.IsCode(err, plinth.EINVALID) {
		t.Errorf("Open with name %q: %v, want %s", bad.Name, err, plinth.EINVALID)
	}
	bad = cfg
	bad.Lease = -time.Second
	if _, err := queue.Open(ctx, bad); !plinth.IsCode(err, plinth.EINVALID) {
		t.Errorf("Open with lease %v: %v, want %s", bad.Lease, err, plinth.EINVALID)
	}
}

// The worker in another process: the test binary started again with these
// variables set, run by WorkerMain.
const (
	envWorker = "PLINTH_QUEUETEST_WORKER" // "hold" or "ack"
	envConfig = "PLINTH_QUEUETEST_CONFIG" // workerConfig as JSON
)

type workerConfig struct {
	URL   string
	Name  string
	Lease time.Duration
}

// WorkerMain makes the test binary a queue worker when the KilledWorker
// case started it as one, and returns at once otherwise. Call it first in
// TestMain. The worker fetches one task, prints "fetched ID ATTEMPT", and
// then holds it until killed ("hold") or acks it and prints "acked" ("ack").
func WorkerMain() {
	mode := os.Getenv(envWorker)
	if mode == "" {
		return
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(2)
	}
	var wc workerConfig
	if err := json.Unmarshal([]byte(os.Getenv(envConfig)), &wc); err != nil {
		fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	q, err := queue.Open(ctx, queue.Config{URL: wc.URL, Name: wc.Name, Lease: wc.Lease})
	if err != nil {
		fail(err)
	}
	task, err := q.Fetch(ctx)
	if err != nil {
		fail(err)
	}
	fmt.Printf("fetched %s %d\n", task.ID, task.Attempt)
	if mode == "ack" {
		if err := task.Ack(ctx); err != nil {
			fail(err)
		}
		fmt.Println("acked")
		os.Exit(0)
	}
	<-ctx.Done() // in the middle of a step, until SIGKILL
	os.Exit(3)
}

// startWorker runs the test binary as a worker and returns it with the
// first line it prints.
func startWorker(t *testing.T, cfg queue.Config, mode string) (*exec.Cmd, *bufio.Reader, string) {
	t.Helper()
	wc, _ := json.Marshal(workerConfig{URL: cfg.URL, Name: cfg.Name, Lease: cfg.Lease})
	// -test.run=^$: should TestMain not call WorkerMain, the child runs no
	// test and exits, rather than running the suite again.
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envWorker+"="+mode, envConfig+"="+string(wc))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	r := bufio.NewReader(out)
	line := make(chan string, 1)
	go func() {
		s, _ := r.ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	select {
	case s := <-line:
		if !strings.HasPrefix(s, "fetched ") {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("worker printed %q, want a fetched task (does TestMain call queuetest.WorkerMain?); stderr:\n%s", s, stderr.String())
		}
		return cmd, r, s
	case <-time.After(30 * time.Second):
		t.Fatalf("worker fetched nothing in 30 s; stderr:\n%s", stderr.String())
	}
	return nil, nil, ""
}

func testKilledWorker(t *testing.T, cfg queue.Config) {
	if cfg.URL == "" || cfg.Server != nil {
		t.Skip("the server is in-process only: another process cannot reach it")
	}
	cfg.Lease = lease
	q := Open(t, cfg) // creates the queue before the workers bind to it
	Publish(t, q, "run7/train/1", []byte("train"))

	first, _, got := startWorker(t, cfg, "hold")
	if got != "fetched run7/train/1 1" {
		t.Fatalf("first worker: %q", got)
	}
	// Killed in the middle of the step: no Ack, no Nak, no goodbye.
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.Wait()
	killed := time.Now()

	second, out, got := startWorker(t, cfg, "ack")
	if got != "fetched run7/train/1 2" {
		t.Fatalf("second worker: %q, want the task on its second attempt", got)
	}
	t.Logf("redelivered %v after the kill", time.Since(killed).Round(time.Millisecond))
	rest, _ := io.ReadAll(out)
	if err := second.Wait(); err != nil || strings.TrimSpace(string(rest)) != "acked" {
		t.Fatalf("second worker: %v, printed %q", err, rest)
	}
	Empty(t, q, 2*lease)
}
