package queue_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/internal/testproc"
	"github.com/plinthml/plinth/queue"
	"github.com/plinthml/plinth/queue/natstest"
	"github.com/plinthml/plinth/queue/queuetest"
)

func TestMain(m *testing.M) {
	queuetest.WorkerMain() // when started as the helper worker of KilledWorker
	serverMain()           // when started as the plinth process of TestEmbeddedCrash
	os.Exit(m.Run())
}

const envServerDir = "PLINTH_QUEUE_TEST_SERVER_DIR"

// serverMain makes the test binary a process with an embedded server on
// the directory named by envServerDir, as `plinth server` runs one: it
// prints the server's URL and serves until killed.
func serverMain() {
	dir := os.Getenv(envServerDir)
	if dir == "" {
		return
	}
	srv, err := queue.StartServer(context.Background(), queue.ServerConfig{Dir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println(srv.URL())
	select {}
}

// startServerProcess runs serverMain in a new process and returns it with
// the URL of its server.
func startServerProcess(t *testing.T, dir string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envServerDir+"="+dir)
	cmd.Stderr = os.Stderr
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
	line, _ := bufio.NewReader(out).ReadString('\n')
	if !strings.HasPrefix(line, "nats://") {
		t.Fatalf("server process printed %q, want its URL", line)
	}
	return cmd, strings.TrimSpace(line)
}

func startServer(t testing.TB, cfg queue.ServerConfig) *queue.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := queue.StartServer(ctx, cfg)
	if err != nil {
		t.Fatalf("StartServer: %v", err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

// The embedded server as `plinth server` runs it for workers elsewhere:
// listening on a port, reached over TCP.
func TestEmbedded(t *testing.T) {
	srv := startServer(t, queue.ServerConfig{Dir: t.TempDir(), Listen: "127.0.0.1:0"})
	t.Logf("embedded server at %s", srv.URL())
	queuetest.Run(t, func(t testing.TB) queue.Config {
		return queue.Config{URL: srv.URL(), Name: queuetest.UniqueName("emb")}
	})
}

// The embedded server on one machine, with no socket at all.
func TestEmbeddedInProcess(t *testing.T) {
	srv := startServer(t, queue.ServerConfig{Dir: t.TempDir()})
	if srv.URL() != "" {
		t.Fatalf("URL of an in-process server: %q, want none", srv.URL())
	}
	queuetest.Run(t, func(t testing.TB) queue.Config {
		return queue.Config{Server: srv, Name: queuetest.UniqueName("inproc")}
	})
}

// A real nats-server, as a team runs one (or a cluster) at scale.
func TestExternal(t *testing.T) {
	srv := natstest.Start(t, "")
	t.Logf("%s at %s", srv.Version, srv.URL)
	queuetest.Run(t, func(t testing.TB) queue.Config {
		return queue.Config{URL: srv.URL, Name: queuetest.UniqueName("ext")}
	})
}

// holdTasks publishes three tasks, fetches and acks one, fetches a second
// and leaves it unsettled, as a server stopping in the middle of a run
// does.
func holdTasks(t *testing.T, cfg queue.Config) {
	q := queuetest.Open(t, cfg)
	for _, id := range []string{"done", "running", "waiting"} {
		queuetest.Publish(t, q, id, []byte(id))
	}
	done := queuetest.Fetch(t, q, 5*time.Second)
	if err := done.Ack(context.Background()); err != nil {
		t.Fatal(err)
	}
	queuetest.Fetch(t, q, 5*time.Second) // "running": never settled
	q.Close()
}

// checkHeld checks that the unsettled and the waiting task, and only they,
// are delivered after a restart, and that the de-duplication of a task still
// queued survived it too.
func checkHeld(t *testing.T, q *queue.Queue) {
	queuetest.Publish(t, q, "waiting", []byte("again")) // a duplicate still
	got := map[string]int{}
	for range 2 {
		task := queuetest.Fetch(t, q, 10*time.Second)
		got[task.ID] = task.Attempt
		if err := task.Ack(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if got["running"] != 2 || got["waiting"] != 1 {
		t.Errorf("after the restart got %v (id: attempt), want running: 2 and waiting: 1", got)
	}
	queuetest.Empty(t, q, 2*time.Second)
}

func TestEmbeddedRestartKeepsTasks(t *testing.T) {
	dir := t.TempDir()
	cfg := queue.Config{Name: "restart", Lease: time.Second}
	ctx := context.Background()
	srv, err := queue.StartServer(ctx, queue.ServerConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Server = srv
	holdTasks(t, cfg)
	srv.Shutdown()

	srv = startServer(t, queue.ServerConfig{Dir: dir})
	cfg.Server = srv
	checkHeld(t, queuetest.Open(t, cfg))
}

// A nats-server killed with SIGKILL loses nothing it acknowledged, and a
// worker connected through the crash carries on once it is back.
func TestExternalKilledKeepsTasks(t *testing.T) {
	srv := natstest.Start(t, "")
	cfg := queue.Config{URL: srv.URL, Name: "restart", Lease: time.Second}
	holdTasks(t, cfg)
	worker := queuetest.Open(t, cfg)

	srv.Restart(t)
	// The connection reconnects by itself; a Fetch in the meantime may
	// report the outage as EUNAVAILABLE, and the worker tries again.
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		err := worker.Publish(ctx, "probe", nil)
		cancel()
		if err == nil {
			break
		}
		if c := plinth.ErrorCode(err); c != plinth.EUNAVAILABLE && c != plinth.ETIMEOUT {
			t.Fatalf("Publish during reconnect: %v (code %s)", err, c)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no reconnect after the restart: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Every published task is still there. Acks are another matter: the
	// server writes its consumer's state behind, so a crash may forget the
	// latest ones and deliver those tasks again — at least once, as the
	// package documents.
	got := drain(t, worker)
	t.Logf("after the kill got %v (id: attempt)", got)
	for _, id := range []string{"running", "waiting", "probe"} {
		if _, ok := got[id]; !ok {
			t.Errorf("%s was lost in the crash", id)
		}
	}
}

// The plinth process with the embedded server crashes (SIGKILL): what it
// acknowledged is there when it starts again on the same directory.
func TestEmbeddedCrashKeepsTasks(t *testing.T) {
	dir := t.TempDir()
	proc, url := startServerProcess(t, dir)
	cfg := queue.Config{URL: url, Name: "crash", Lease: time.Second}
	holdTasks(t, cfg)
	proc.Process.Signal(syscall.SIGKILL)
	proc.Wait()

	_, cfg.URL = startServerProcess(t, dir)
	q := queuetest.Open(t, cfg)
	got := drain(t, q)
	t.Logf("after the crash got %v (id: attempt)", got)
	for _, id := range []string{"running", "waiting"} {
		if _, ok := got[id]; !ok {
			t.Errorf("%s was lost in the crash", id)
		}
	}
}

// drain fetches and acks tasks until none comes for 3 s, and returns their
// ids with the attempt each was on.
func drain(t *testing.T, q *queue.Queue) map[string]int {
	t.Helper()
	got := map[string]int{}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		task, err := q.Fetch(ctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		got[task.ID] = task.Attempt
		if err := task.Ack(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenUnavailable(t *testing.T) {
	port, err := testproc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = queue.Open(ctx, queue.Config{URL: "nats://" + net.JoinHostPort("127.0.0.1", port)})
	if !plinth.IsCode(err, plinth.EUNAVAILABLE) {
		t.Fatalf("Open with no server: %v, want %s", err, plinth.EUNAVAILABLE)
	}

	if _, err := queue.Open(ctx, queue.Config{}); !plinth.IsCode(err, plinth.EINVALID) {
		t.Errorf("Open with neither URL nor server: %v, want %s", err, plinth.EINVALID)
	}
}

func TestEmbeddedServerStopped(t *testing.T) {
	srv, err := queue.StartServer(context.Background(), queue.ServerConfig{Dir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	q := queuetest.Open(t, queue.Config{URL: srv.URL(), Name: "stopped"})
	srv.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := q.Publish(ctx, "x", nil); !plinth.IsCode(err, plinth.EUNAVAILABLE) {
		t.Errorf("Publish with the server gone: %v (code %s), want %s", err, plinth.ErrorCode(err), plinth.EUNAVAILABLE)
	}
	if _, err := q.Fetch(ctx); !plinth.IsCode(err, plinth.EUNAVAILABLE) {
		t.Errorf("Fetch with the server gone: %v (code %s), want %s", err, plinth.ErrorCode(err), plinth.EUNAVAILABLE)
	}
}

func TestStartServerInvalid(t *testing.T) {
	ctx := context.Background()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, c := range []struct {
		name string
		cfg  queue.ServerConfig
		code string
	}{
		{"no dir", queue.ServerConfig{}, plinth.EINVALID},
		{"bad listen", queue.ServerConfig{Dir: t.TempDir(), Listen: "nohostport"}, plinth.EINVALID},
		{"open to all without a token", queue.ServerConfig{Dir: t.TempDir(), Listen: "0.0.0.0:0"}, plinth.EINVALID},
		{"port taken", queue.ServerConfig{Dir: t.TempDir(), Listen: taken.Addr().String()}, plinth.EINTERNAL},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			s, err := queue.StartServer(ctx, c.cfg)
			if err == nil {
				s.Shutdown()
				t.Fatal("started")
			}
			if !plinth.IsCode(err, c.code) {
				t.Errorf("%v (code %s), want %s", err, plinth.ErrorCode(err), c.code)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("took %v to fail", took)
			}
		})
	}
}

// Listening on every interface needs a token, which the URL carries and
// clients without it lack.
func TestEmbeddedToken(t *testing.T) {
	srv := startServer(t, queue.ServerConfig{Dir: t.TempDir(), Listen: "0.0.0.0:0", Token: "s3cret"})
	u := srv.URL()
	q := queuetest.Open(t, queue.Config{URL: u, Name: "token"})
	queuetest.Publish(t, q, "a", nil)

	host, port, _ := net.SplitHostPort(u[len("nats://s3cret@"):])
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := queue.Open(ctx, queue.Config{URL: "nats://" + net.JoinHostPort(host, port), Name: "token"})
	if !plinth.IsCode(err, plinth.EUNAUTHORIZED) {
		t.Errorf("Open without the token: %v (code %s), want %s", err, plinth.ErrorCode(err), plinth.EUNAUTHORIZED)
	}
}
