// Package s3test starts a real S3-compatible server for tests: versitygw
// with its posix backend on a temp directory, on a free loopback port, once
// per test binary. Tests of s3blob and of anything configured with an s3://
// blob store use it.
package s3test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/plinthml/plinth/internal/testproc"
)

// Fixed test credentials and bucket.
const (
	versitygwVersion = "v1.8.0" // keep in step with scripts/install-versitygw.sh
	AccessKey        = "plinth-test-access"
	SecretKey        = "plinth-test-secret-0123456789"
	Bucket           = "plinth-blobs"
	startTimeout     = 20 * time.Second
)

// gw is the versitygw server shared by the tests of one test binary.
var gw struct {
	once sync.Once
	srv  *Server
	err  error
	skip string // why the server cannot run here
}

// Gateway returns the shared server, starting it on first use. Without a
// versitygw binary it skips the test, unless CI=true, where it fails.
func Gateway(t testing.TB) *Server {
	t.Helper()
	gw.once.Do(func() {
		bin, err := findVersitygw()
		if bin == "" && err == nil {
			gw.skip = "versitygw not found: set PLINTH_VERSITYGW to its path or put it in PATH; install it with " +
				"`go install github.com/versity/versitygw/cmd/versitygw@" + versitygwVersion + "` " +
				"(or scripts/install-versitygw.sh)"
			return
		}
		if err != nil {
			gw.err = err
			return
		}
		gw.srv, gw.err = startVersitygw(bin)
	})
	if gw.skip != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s (CI=true, so this fails instead of skipping)", gw.skip)
		}
		t.Skip(gw.skip)
	}
	if gw.err != nil {
		t.Fatal(gw.err)
	}
	return gw.srv
}

// findVersitygw returns the binary named by PLINTH_VERSITYGW, which must
// exist if set, or versitygw from PATH; "" and no error if there is neither.
func findVersitygw() (string, error) {
	if p := os.Getenv("PLINTH_VERSITYGW"); p != "" {
		path, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("PLINTH_VERSITYGW=%s: %w", p, err)
		}
		return path, nil
	}
	path, err := exec.LookPath("versitygw")
	if err != nil {
		return "", nil
	}
	return path, nil
}

// Server is a running versitygw with the test bucket created.
type Server struct {
	Endpoint string        // 127.0.0.1:port
	Admin    *minio.Client // full access, for tests that go behind a store's back
	cmd      *exec.Cmd
	exited   chan struct{}
	dir      string
}

// URL is the s3:// URL of a store at prefix in the test bucket, credentials
// included, as server.Config.Blobs takes it.
func (s *Server) URL(prefix string) string {
	return fmt.Sprintf("s3://%s:%s@%s/%s?endpoint=%s&insecure=true", AccessKey, SecretKey, Bucket, prefix, s.Endpoint)
}

// Stop stops the shared server, if one was started; call it from TestMain.
func Stop() {
	if gw.srv != nil {
		gw.srv.stop()
	}
}

// startVersitygw runs versitygw's posix backend on a new temp directory and
// creates the test bucket. Metadata goes to a sidecar directory, so the temp
// directory's filesystem need not support extended attributes.
func startVersitygw(bin string) (*Server, error) {
	dir, err := os.MkdirTemp("", "plinth-versitygw-")
	if err != nil {
		return nil, err
	}
	data, meta := filepath.Join(dir, "data"), filepath.Join(dir, "meta")
	for _, d := range []string{data, meta} {
		if err := os.Mkdir(d, 0o755); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	// The free port may be taken between probing and binding: try again.
	for attempt := 1; ; attempt++ {
		srv, err := launch(bin, dir, data, meta)
		if err == nil {
			return srv, nil
		}
		if attempt == 3 {
			os.RemoveAll(dir)
			return nil, err
		}
	}
}

func launch(bin, dir, data, meta string) (*Server, error) {
	port, err := testproc.FreePort()
	if err != nil {
		return nil, err
	}
	endpoint := net.JoinHostPort("127.0.0.1", port)
	logPath := filepath.Join(dir, "versitygw.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()

	cmd := exec.Command(bin,
		"--access", AccessKey,
		"--secret", SecretKey,
		"--port", endpoint,
		"--quiet",
		"posix", "--sidecar", meta, data)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// versitygw reads its settings from VGW_* variables too; none may leak in.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VGW_") && !strings.HasPrefix(kv, "ROOT_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start versitygw: %w", err)
	}
	srv := &Server{Endpoint: endpoint, cmd: cmd, exited: make(chan struct{}), dir: dir}
	go func() {
		cmd.Wait()
		close(srv.exited)
	}()
	fail := func(err error) (*Server, error) {
		srv.kill()
		log, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("versitygw on %s: %w\nits output:\n%s", endpoint, err, log)
	}

	// Any HTTP answer will do: an anonymous request gets 403.
	httpc := &http.Client{Timeout: time.Second}
	probe := func() error {
		resp, err := httpc.Get("http://" + endpoint + "/")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := testproc.WaitReady(probe, srv.exited, startTimeout); err != nil {
		return fail(err)
	}
	srv.Admin, err = minio.New(endpoint, &minio.Options{
		Creds: credentials.NewStaticV4(AccessKey, SecretKey, ""),
	})
	if err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := srv.Admin.MakeBucket(ctx, Bucket, minio.MakeBucketOptions{}); err != nil {
		return fail(fmt.Errorf("create bucket %s: %w", Bucket, err))
	}
	return srv, nil
}

func (s *Server) kill() {
	s.cmd.Process.Kill()
	<-s.exited
}

func (s *Server) stop() {
	s.kill()
	os.RemoveAll(s.dir)
}

// PutObject overwrites key behind the store's back.
func (s *Server) PutObject(t testing.TB, key string, data []byte) {
	t.Helper()
	_, err := s.Admin.PutObject(t.Context(), Bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
	if err != nil {
		t.Fatalf("overwrite %s: %v", key, err)
	}
}
