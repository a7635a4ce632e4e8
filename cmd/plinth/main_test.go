package main_test

// End-to-end tests of the plinth binary: they build it, start real server
// processes, drive them with the CLI and the client, and kill them.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/plinthml/plinth/client"
	"github.com/plinthml/plinth/registry"
	"github.com/plinthml/plinth/track"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "plinth-bin-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "plinth")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build plinth: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type proc struct {
	cmd  *exec.Cmd
	url  string
	logs *bytes.Buffer
}

func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServer starts `plinth server` on dir and waits until it is ready.
func startServer(t testing.TB, dir string) *proc {
	t.Helper()
	addr := freeAddr(t)
	p := &proc{url: "http://" + addr, logs: &bytes.Buffer{}}
	p.cmd = exec.Command(binary, "server", "--data", dir, "--addr", addr)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	})
	c, _ := client.New(p.url)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c.Ready(context.Background()) == nil {
			return p
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("server not ready after 20s:\n%s", p.logs)
	return nil
}

// plinth runs a CLI command against url and returns its stdout.
func plinth(t *testing.T, url string, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "PLINTH_URL="+url)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("plinth %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// TestAcceptance is the script: three runs with metric series, the
// best found by a filter, registered with a signature, made champion, and
// all of it visible through the CLI.
func TestAcceptance(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, dir)
	plinth(t, srv.url, "experiments", "create", "delays", "--description", "arrival delays")
	var ids []string
	for i, lr := range []string{"0.3", "0.1", "0.03"} {
		id := strings.TrimSpace(plinth(t, srv.url, "runs", "start", "--experiment", "delays", "--name", "lr-"+lr, "--param", "lr="+lr, "--note", "trying lr "+lr))
		for step := 0; step < 5; step++ {
			auc := 0.7 + 0.02*float64(step) + 0.01*float64(i)
			plinth(t, srv.url, "runs", "log", id, "--metric", fmt.Sprintf("auc=%g@%d", auc, step), "--metric", fmt.Sprintf("loss=%g@%d", 1-auc, step))
		}
		model := filepath.Join(t.TempDir(), "model.json")
		os.WriteFile(model, []byte(fmt.Sprintf(`{"lr": %s}`, lr)), 0o644)
		plinth(t, srv.url, "runs", "upload", id, model)
		plinth(t, srv.url, "runs", "end", id)
		ids = append(ids, id)
	}

	var page track.Page
	json.Unmarshal([]byte(plinth(t, srv.url, "runs", "--experiment", "delays", "--filter", "metrics.auc > 0.78", "--order-by", "metrics.auc desc", "--output", "json")), &page)
	if len(page.Runs) != 2 || page.Runs[0].ID != ids[2] || page.Runs[0].Metrics["auc"].Count != 5 {
		t.Fatalf("filter found %+v, want the lr-0.03 run first of two", page.Runs)
	}
	best := page.Runs[0].ID

	sig := filepath.Join(t.TempDir(), "sig.json")
	os.WriteFile(sig, []byte(`{"inputs": [{"name": "distance", "type": "float"}, {"name": "carrier", "type": "categorical", "nullable": true}], "outputs": [{"name": "p_late", "type": "float"}]}`), 0o644)
	out := plinth(t, srv.url, "models", "register", "delays", "--run", best, "--artifact", "model.json", "--signature", sig)
	if !strings.Contains(out, "registered delays version 1") {
		t.Fatalf("register printed %q", out)
	}
	plinth(t, srv.url, "models", "alias", "delays", "champion", "1", "--reason", "best AUC")

	runs := plinth(t, srv.url, "runs", "--experiment", "delays")
	models := plinth(t, srv.url, "models")
	show := plinth(t, srv.url, "models", "show", "delays")
	audit := plinth(t, srv.url, "models", "audit", "delays")
	cmp := plinth(t, srv.url, "runs", "compare", ids[0], ids[1], ids[2])
	for _, check := range []struct{ where, text, want string }{
		{"runs", runs, "lr-0.03"},
		{"runs", runs, "params.lr"},
		{"models", models, "champion=1"},
		{"models show", show, "champion"},
		{"audit", audit, "best AUC"},
		{"compare", cmp, "params.lr *"},
		{"compare", cmp, "best (min)"},
	} {
		if !strings.Contains(check.text, check.want) {
			t.Errorf("%s output lacks %q:\n%s", check.where, check.want, check.text)
		}
	}
	var vs []registry.Version
	json.Unmarshal([]byte(plinth(t, srv.url, "models", "versions", "delays", "--output", "json")), &vs)
	if len(vs) != 1 || vs[0].RunID != best || len(vs[0].Signature.Inputs) != 2 || vs[0].Metrics["auc"] == 0 {
		t.Fatalf("version = %+v", vs)
	}

	// The same CLI works directly on the data directory once the server is
	// gone, and sees the same state.
	srv.cmd.Process.Signal(syscall.SIGTERM)
	srv.cmd.Wait()
	cmd := exec.Command(binary, "models", "--data", dir, "--output", "json")
	cmd.Env = append(os.Environ(), "PLINTH_URL=")
	local, err := cmd.Output()
	if err != nil || !strings.Contains(string(local), `"champion": 1`) {
		t.Fatalf("models --data: %v\n%s", err, local)
	}
}

// TestGracefulShutdown: SIGTERM lets the server finish and exit 0.
func TestGracefulShutdown(t *testing.T) {
	srv := startServer(t, t.TempDir())
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("server exited with %v:\n%s", err, srv.logs)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("server still running 15s after SIGTERM")
	}
	if !strings.Contains(srv.logs.String(), "shutting down") {
		t.Fatalf("no shutdown log:\n%s", srv.logs)
	}
}

// TestKillDuringWrites kills the server with SIGKILL while clients write
// batches, artifacts and versions, restarts it, and checks that everything
// acknowledged is there and nothing partial is visible.
func TestKillDuringWrites(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, dir)
	ctx := context.Background()
	c, _ := client.New(srv.url)
	if _, err := c.CreateExperiment(ctx, "crash", ""); err != nil {
		t.Fatal(err)
	}
	run, err := c.CreateRun(ctx, client.NewRun{Experiment: "crash"})
	if err != nil {
		t.Fatal(err)
	}

	const pointsPerBatch = 500
	var mu sync.Mutex
	ackedBatches := map[string]bool{}
	ackedVersions := map[int]string{} // version -> digest
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("w%d-b%d", w, i)
				b := track.Batch{Params: []track.KV{{Key: "p-" + key, Value: "x"}}}
				for s := 0; s < pointsPerBatch; s++ {
					b.Metrics = append(b.Metrics, track.Metric{Key: key, Value: float64(s), Step: int64(s)})
				}
				if c.LogBatch(ctx, run.ID, b) != nil {
					return
				}
				mu.Lock()
				ackedBatches[key] = true
				mu.Unlock()
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			payload := bytes.Repeat([]byte(fmt.Sprintf("model %d ", i)), 20000)
			info, err := c.PutBlob(ctx, bytes.NewReader(payload))
			if err != nil {
				return
			}
			v, err := c.CreateVersion(ctx, "crashy", registry.NewVersion{Format: "other", Artifacts: []registry.Artifact{{Path: "m.bin", Digest: info.Digest.String()}}})
			if err != nil {
				return
			}
			mu.Lock()
			ackedVersions[v.Version] = info.Digest.String()
			mu.Unlock()
		}
	}()

	time.Sleep(1500 * time.Millisecond)
	srv.cmd.Process.Signal(syscall.SIGKILL)
	srv.cmd.Wait()
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(ackedBatches) < 4 || len(ackedVersions) < 2 {
		t.Fatalf("too little was written before the kill to test anything: %d batches, %d versions", len(ackedBatches), len(ackedVersions))
	}

	srv = startServer(t, dir)
	c, _ = client.New(srv.url)
	got, err := c.Run(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	for key := range ackedBatches {
		if got.Metrics[key].Count != pointsPerBatch || got.Params["p-"+key] != "x" {
			t.Errorf("acknowledged batch %s: %d points, param %q after restart", key, got.Metrics[key].Count, got.Params["p-"+key])
		}
	}
	for key, m := range got.Metrics {
		if m.Count != pointsPerBatch {
			t.Errorf("batch %s is partial: %d of %d points", key, m.Count, pointsPerBatch)
		}
		if _, ok := got.Params["p-"+key]; !ok {
			t.Errorf("batch %s has metrics but not its param: a batch was split", key)
		}
	}
	vs, err := c.Versions(ctx, "crashy")
	if err != nil {
		t.Fatal(err)
	}
	present := map[int]bool{}
	for _, v := range vs {
		present[v.Version] = true
		// Every visible version's blob is whole and verifies.
		rc, err := c.OpenBlob(ctx, v.Artifacts[0].Digest)
		if err != nil {
			t.Fatalf("version %d: blob: %v", v.Version, err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			t.Fatalf("version %d: blob does not verify: %v", v.Version, err)
		}
		rc.Close()
	}
	for v, d := range ackedVersions {
		if !present[v] {
			t.Errorf("acknowledged version %d (%s) is gone after restart", v, d)
		}
	}
	t.Logf("after SIGKILL: %d acknowledged batches and %d acknowledged versions all intact; %d series, %d versions visible",
		len(ackedBatches), len(ackedVersions), len(got.Metrics), len(vs))
}

// TestKillDuringMaterialization kills `plinth features materialize` with
// SIGKILL while it writes to the online store, runs it again, and checks
// every entity's online values are the newest in the offline data.
func TestKillDuringMaterialization(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cli := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(binary, append(args, "--data", data)...)
		cmd.Env = append(os.Environ(), "PLINTH_URL=")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("plinth %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	const entities = 300_000
	var csv strings.Builder
	csv.WriteString("id,ts,a,b,c\n")
	for i := 0; i < entities; i++ {
		// Two rows per entity in the file: the later event must win.
		fmt.Fprintf(&csv, "e%d,2026-11-01T00:00:00Z,%d,0,0\n", i, i)
		fmt.Fprintf(&csv, "e%d,2026-11-01T01:00:00Z,%d,%d,%d\n", i, i, i*2, i*3)
	}
	batch := filepath.Join(dir, "batch.csv")
	os.WriteFile(batch, []byte(csv.String()), 0o644)
	proj := filepath.Join(dir, "plinth.yaml")
	os.WriteFile(proj, []byte(`
datasets:
  - {name: stats, event_time: ts}
entities:
  - {name: thing, join_keys: [id]}
feature_views:
  - {name: stats, entities: [thing], source: stats, timestamp: ts, features: [a, b, c]}
feature_services:
  - {name: svc, features: [stats]}
`), 0o644)
	cli("apply", "-f", proj)
	cli("datasets", "ingest", "stats", batch)

	cmd := exec.Command(binary, "features", "materialize", "--data", data)
	cmd.Env = append(os.Environ(), "PLINTH_URL=")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGKILL)
	err := cmd.Wait()
	t.Logf("first run: %v (killed: %v)", err, err != nil)

	out := cli("features", "materialize")
	if !strings.Contains(out, "stats  300000") {
		t.Fatalf("resumed materialization:\n%s", out)
	}
	var got struct {
		Rows []map[string]struct {
			Value  any    `json:"value"`
			Status string `json:"status"`
		} `json:"rows"`
	}
	res := cli("features", "get", "svc", "--entity", "id=e0;id=e123456;id=e299999", "--output", "json")
	if err := json.Unmarshal([]byte(res), &got); err != nil {
		t.Fatalf("get: %v\n%s", err, res)
	}
	for i, n := range []float64{0, 123456, 299999} {
		r := got.Rows[i]
		if r["stats__a"].Value != n || r["stats__b"].Value != 2*n || r["stats__c"].Value != 3*n {
			t.Errorf("entity e%v after kill and resume: %v", n, r)
		}
	}
}
