// Package natstest starts a real nats-server for tests: the Debian
// package's binary with JetStream on, on a free loopback port, storing in a
// directory of the test's. Each call starts its own server, stopped when
// the test ends; starting one takes a fraction of a second.
package natstest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/plinthml/plinth/internal/testproc"
)

const startTimeout = 20 * time.Second

// Server is a running nats-server.
type Server struct {
	URL     string // nats://127.0.0.1:port
	Dir     string // its JetStream store directory (-sd)
	Version string // as `nats-server --version` prints it
	bin     string
	port    string
	cmd     *exec.Cmd
	exited  chan struct{}
	log     string
}

// Start starts a nats-server for t that stores under dir (a new temp
// directory when dir is ""). Without the binary it skips the test, unless
// the environment variable CI is set (to anything but "false" or "0"), where
// it fails.
func Start(t testing.TB, dir string) *Server {
	t.Helper()
	bin, version := find(t)
	if dir == "" {
		dir = t.TempDir()
	}
	s := &Server{Dir: dir, bin: bin, Version: version, log: filepath.Join(t.TempDir(), "nats-server.log")}
	// The free port may be taken between probing and binding: try again.
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		if s.port, err = testproc.FreePort(); err != nil {
			t.Fatal(err)
		}
		if err = s.launch(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Kill)
	return s
}

// find returns the nats-server binary and its version, skipping or failing
// t when there is none.
var find = func() func(testing.TB) (string, string) {
	var once sync.Once
	var bin, version, skip string
	var err error
	return func(t testing.TB) (string, string) {
		t.Helper()
		once.Do(func() {
			bin, skip, err = lookPath()
			if bin != "" {
				out, verr := exec.Command(bin, "--version").CombinedOutput()
				if verr != nil {
					err = fmt.Errorf("%s --version: %v: %s", bin, verr, out)
				}
				version = strings.TrimSpace(string(out))
			}
		})
		if skip != "" {
			if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
				t.Fatalf("%s (CI=%s, so this fails instead of skipping)", skip, ci)
			}
			t.Skip(skip)
		}
		if err != nil {
			t.Fatal(err)
		}
		return bin, version
	}
}()

// lookPath finds the binary named by PLINTH_NATS_SERVER, which must exist if
// set, or nats-server in PATH or /usr/sbin (where Debian puts it, and which
// is not in every user's PATH). It returns why not as skip.
func lookPath() (bin, skip string, err error) {
	if p := os.Getenv("PLINTH_NATS_SERVER"); p != "" {
		path, err := exec.LookPath(p)
		if err != nil {
			return "", "", fmt.Errorf("PLINTH_NATS_SERVER=%s: %w", p, err)
		}
		return path, "", nil
	}
	if path, err := exec.LookPath("nats-server"); err == nil {
		return path, "", nil
	}
	if _, err := os.Stat("/usr/sbin/nats-server"); err == nil {
		return "/usr/sbin/nats-server", "", nil
	}
	return "", "nats-server not found: set PLINTH_NATS_SERVER to its path or put it in PATH; " +
		"install it with scripts/nats.sh (Debian's nats-server package)", nil
}

func (s *Server) launch() error {
	s.URL = "nats://" + net.JoinHostPort("127.0.0.1", s.port)
	// No config file: everything is on the command line, so nothing of the
	// machine's /etc/nats-server.conf applies.
	cmd := exec.Command(s.bin,
		"-js",
		"-sd", s.Dir,
		"-a", "127.0.0.1",
		"-p", s.port,
		"-n", "plinth-test",
		"-l", s.log,
	)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start nats-server: %w", err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	exited := s.exited
	go func() {
		cmd.Wait()
		close(exited)
	}()
	// Ready means JetStream answers, not only that the port is open.
	probe := func() error {
		nc, err := nats.Connect(s.URL, nats.Timeout(time.Second))
		if err != nil {
			return err
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err = js.AccountInfo(ctx)
		return err
	}
	if err := testproc.WaitReady(probe, s.exited, startTimeout); err != nil {
		s.Kill()
		log, _ := os.ReadFile(s.log)
		return fmt.Errorf("nats-server on %s: %w\nits log:\n%s", s.URL, err, log)
	}
	return nil
}

// Kill stops the server with SIGKILL, as a crash would, and waits for it.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
	s.cmd = nil
}

// Restart kills the server and starts it again on the same port and
// directory, so clients reconnect to the same URL.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Kill()
	var err error
	// The port was ours a moment ago; if another process took it in
	// between, waiting will not give it back.
	for attempt := 1; attempt <= 3; attempt++ {
		if err = s.launch(); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal(err)
}
