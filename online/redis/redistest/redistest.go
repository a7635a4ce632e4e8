// Package redistest starts a real Redis server for tests: Debian's
// redis-server on a free loopback port, with a temp directory and
// persistence off, once per test binary. Tests of online/redis and of
// anything configured with a redis:// online store use it.
package redistest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/plinthml/plinth/internal/testproc"
)

const startTimeout = 20 * time.Second

// srv is the server shared by the tests of one test binary.
var srv struct {
	once sync.Once
	s    *Server
	err  error
	skip string // why the server cannot run here
}

// Start returns the shared server, starting it on first use. Without a
// redis-server binary it skips the test, unless the environment variable CI
// is set (to anything but "false" or "0"), where it fails.
func Start(t testing.TB) *Server {
	t.Helper()
	srv.once.Do(func() {
		bin, err := findRedisServer()
		if bin == "" && err == nil {
			srv.skip = "redis-server not found: set PLINTH_REDIS_SERVER to its path or put it in PATH; " +
				"install it with scripts/redis.sh (Debian's redis-server package)"
			return
		}
		if err != nil {
			srv.err = err
			return
		}
		srv.s, srv.err = start(bin)
	})
	if srv.skip != "" {
		if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
			t.Fatalf("%s (CI=%s, so this fails instead of skipping)", srv.skip, ci)
		}
		t.Skip(srv.skip)
	}
	if srv.err != nil {
		t.Fatal(srv.err)
	}
	return srv.s
}

// Stop stops the shared server, if one was started; call it from TestMain.
func Stop() {
	if srv.s != nil {
		srv.s.stop()
	}
}

// findRedisServer returns the binary named by PLINTH_REDIS_SERVER, which
// must exist if set, or redis-server from PATH; "" and no error if there is
// neither.
func findRedisServer() (string, error) {
	if p := os.Getenv("PLINTH_REDIS_SERVER"); p != "" {
		path, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("PLINTH_REDIS_SERVER=%s: %w", p, err)
		}
		return path, nil
	}
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil
	}
	return path, nil
}

// Server is a running redis-server.
type Server struct {
	Addr    string          // 127.0.0.1:port
	Version string          // the server's redis_version
	Admin   *goredis.Client // for tests that go behind a store's back
	cmd     *exec.Cmd
	exited  chan struct{}
	dir     string
}

// URL is the redis:// URL of a store with the given key prefix on the
// server's database 0.
func (s *Server) URL(prefix string) string {
	return "redis://" + s.Addr + "/0?prefix=" + prefix
}

func start(bin string) (*Server, error) {
	dir, err := os.MkdirTemp("", "plinth-redis-")
	if err != nil {
		return nil, err
	}
	// The free port may be taken between probing and binding: try again.
	for attempt := 1; ; attempt++ {
		s, err := launch(bin, dir)
		if err == nil {
			return s, nil
		}
		if attempt == 3 {
			os.RemoveAll(dir)
			return nil, err
		}
	}
}

func launch(bin, dir string) (*Server, error) {
	port, err := testproc.FreePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", port)
	logPath := filepath.Join(dir, "redis.log")
	// No config file: everything is on the command line, so nothing of the
	// machine's /etc/redis applies. Persistence is off (no RDB snapshots,
	// no AOF), and the working directory is the temp directory in case
	// anything is written anyway.
	cmd := exec.Command(bin,
		"--port", port,
		"--bind", "127.0.0.1",
		"--dir", dir,
		"--logfile", logPath,
		"--save", "",
		"--appendonly", "no",
		"--daemonize", "no",
		"--protected-mode", "yes",
		"--databases", "16",
	)
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	s := &Server{Addr: addr, cmd: cmd, exited: make(chan struct{}), dir: dir}
	go func() {
		cmd.Wait()
		close(s.exited)
	}()
	fail := func(err error) (*Server, error) {
		s.kill()
		log, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("redis-server on %s: %w\nits log:\n%s", addr, err, log)
	}
	s.Admin = goredis.NewClient(&goredis.Options{
		Addr:                     addr,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	ping := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return s.Admin.Ping(ctx).Err()
	}
	if err := testproc.WaitReady(ping, s.exited, startTimeout); err != nil {
		s.Admin.Close()
		return fail(err)
	}
	info, err := s.Admin.Info(context.Background(), "server").Result()
	if err != nil {
		s.Admin.Close()
		return fail(err)
	}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "redis_version:"); ok {
			s.Version = strings.TrimSpace(v)
		}
	}
	return s, nil
}

func (s *Server) kill() {
	s.cmd.Process.Kill()
	<-s.exited
}

func (s *Server) stop() {
	s.Admin.Close()
	s.kill()
	os.RemoveAll(s.dir)
}
