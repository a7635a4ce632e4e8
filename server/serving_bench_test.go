package server_test

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/plinthml/plinth/client"
	"github.com/plinthml/plinth/deploy"
	"github.com/plinthml/plinth/model"
	"github.com/plinthml/plinth/registry"
	"github.com/plinthml/plinth/server"
	"github.com/plinthml/plinth/train"
)

const servingFeatures = 30

// BenchmarkServing is issue 6's serving benchmark: by-entity prediction
// (the online fetch of 30 features plus a 300-tree GBDT, HTTP JSON both
// ways) against a Go net/http hello-world handler, with the same load
// generator on the same machine, in one run. Each phase sends b.N requests.
//
//   - hello-req/s and predict-req/s: closed loop, 16 connections, in two
//     rounds that alternate the two handlers, so that drift in the shared
//     machine's speed (large on these machines) hits both.
//   - ratio: predict-req/s over hello-req/s. Target at least 0.5.
//   - p99-ms-at-half: open loop (openLoop) at half of predict-req/s,
//     latency measured from each request's scheduled time (no coordinated
//     omission), in ten segments that take turns with the two below.
//     Target at most 2 ms.
//   - window-p99-ms-at-half: the median of those ten segments' p99s (each
//     about half a second at these rates): the same target for a typical
//     window, which a few stalls of the shared machine do not decide.
//   - handler-p99-ms-at-half: the same requests' p99 as the server's own
//     latency histogram has it (plinth_http_request_duration_seconds),
//     from the request's routing to its handler's return: the upper bound
//     of the histogram bucket it falls in. What lies between it and
//     p99-ms-at-half is outside the handler: reading and writing on the
//     connections, and waiting for a core, the server and the generator
//     alike.
//   - p99-ms-at-half-swapping: the same while the endpoint is redeployed 20
//     times and rolled back 5 times.
//   - hello-p99-ms-at-same-rate: the hello-world handler at that same
//     open-loop rate, for what the machine and the generator add.
//   - spin-p99-ms-at-same-rate: a hello-world that first spins for spin-µs,
//     the server CPU a prediction costs beyond a hello-world's (measured in
//     the closed-loop rounds), at that same rate: the tail this machine
//     gives any handler of a prediction's cost; spin-window-p99-ms is its
//     median segment p99.
//   - gc-cycles-at-half and gc-pause-ms-at-half: the garbage collections
//     this process ran during those open loops, and the time they stopped
//     the world in all.
//   - failed: requests that did not get a 200, in all phases. Target 0.
//   - with wrk on the PATH: wrk-hello-req/s, wrk-predict-req/s and
//     wrk-ratio, the same comparison driven by wrk, and
//     wrk-hello-server-µs/req and wrk-predict-server-µs/req, the CPU this
//     process spends per request in those rounds.
func BenchmarkServing(b *testing.B) {
	ctx := context.Background()
	n, c, predictURL := servingNode(b, 2)

	hello := helloServer(b, 0)

	if r := loadProc(b, b.N, 16, 0, hello.URL); r.failed > 0 {
		b.Fatalf("warm-up: %d failed", r.failed)
	}
	if r := loadProc(b, b.N, 16, 0, predictURL); r.failed > 0 {
		b.Fatalf("warm-up: %d failed", r.failed)
	}
	b.ResetTimer()
	var helloRun, predictRun loadResult
	var helloCPU, predictCPU time.Duration // of this process, per request
	serverCPU := func() time.Duration {
		n.Runtime.Log.Flush(ctx) // the log's work for the requests so far counts
		return processCPU()
	}
	for range 2 {
		cpu := serverCPU()
		helloRun = helloRun.add(loadProc(b, b.N, 16, 0, hello.URL))
		helloCPU += (serverCPU() - cpu) / time.Duration(2*b.N)
		cpu = serverCPU()
		predictRun = predictRun.add(loadProc(b, b.N, 16, 0, predictURL))
		predictCPU += (serverCPU() - cpu) / time.Duration(2*b.N)
	}
	// The log's writer first catches up with the closed-loop rounds, so
	// that the open loop measures its own rate, not their backlog.
	n.Runtime.Log.Flush(ctx)
	// A hello-world that spins for the CPU a prediction costs the server
	// beyond a hello-world's, at the same rate: the tail this machine gives
	// any handler of that cost, without prediction's garbage, log writes
	// and lookups.
	spin := max(predictCPU-helloCPU, 0)
	spinner := helloServer(b, spin)
	// The three open loops take turns in short segments, so that a stall
	// of the shared machine (tens of milliseconds, now and then) is as
	// likely to fall on any of them, and their p99s compare.
	var steady, helloSteady, spinSteady windows
	segment := max(b.N/openSegments, 1)
	handlerBefore := predictHandlerHistogram(b, n)
	gcBefore := gcActivity()
	for range openSegments {
		steady.add(loadProc(b, segment, 64, predictRun.rate/2, predictURL))
		helloSteady.add(loadProc(b, segment, 64, predictRun.rate/2, hello.URL))
		spinSteady.add(loadProc(b, segment, 64, predictRun.rate/2, spinner.URL))
	}
	handlerP99 := histogramQuantileBound(handlerBefore, predictHandlerHistogram(b, n), 0.99)
	gcDuring := gcActivity().since(gcBefore)
	b.Logf("p99 of each window, prediction: %v", steady.p99s)
	b.Logf("p99 of each window, hello-world: %v", helloSteady.p99s)
	b.Logf("p99 of each window, same-cost spin: %v", spinSteady.p99s)

	// Redeploy and roll back under the open-loop load.
	swapsDone := make(chan error, 1)
	go func() {
		for i := 0; i < 25; i++ {
			var err error
			if i%5 == 4 {
				_, err = c.Rollback(ctx, "score", "benchmark")
			} else {
				_, err = c.Deploy(ctx, "score", deploy.Spec{Model: fmt.Sprintf("score@%d", 1+i%2)})
			}
			if err != nil {
				swapsDone <- err
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		swapsDone <- nil
	}()
	paced := loadProc(b, b.N, 64, predictRun.rate/2, predictURL)
	if err := <-swapsDone; err != nil {
		b.Fatal(err)
	}
	if path, err := exec.LookPath("wrk"); err == nil {
		// The same comparison with wrk, a load generator in C that costs
		// less per request than Go's client, so the servers' own costs
		// weigh more in the ratio.
		// Also the CPU this process (the servers, the log's writer, the
		// collector) and the log's converter spend per request: unlike rates, it hardly moves
		// with the shared machine's speed, and it tells the server's
		// share of the ratio from the generator's.
		var wrkHello, wrkPredict, wrkHelloCPU, wrkPredictCPU float64
		for range 2 {
			rate, cpu := runWrk(b, path, hello.URL, serverCPU)
			wrkHello, wrkHelloCPU = wrkHello+rate/2, wrkHelloCPU+cpu/2
			rate, cpu = runWrk(b, path, predictURL, serverCPU)
			wrkPredict, wrkPredictCPU = wrkPredict+rate/2, wrkPredictCPU+cpu/2
		}
		b.ReportMetric(wrkHello, "wrk-hello-req/s")
		b.ReportMetric(wrkPredict, "wrk-predict-req/s")
		b.ReportMetric(wrkPredict/wrkHello, "wrk-ratio")
		b.ReportMetric(wrkHelloCPU, "wrk-hello-server-µs/req")
		b.ReportMetric(wrkPredictCPU, "wrk-predict-server-µs/req")
	}
	b.StopTimer()
	b.ReportMetric(helloRun.rate, "hello-req/s")
	b.ReportMetric(predictRun.rate, "predict-req/s")
	b.ReportMetric(predictRun.rate/helloRun.rate, "ratio")
	b.ReportMetric(predictRun.p(0.99).Seconds()*1e3, "p99-ms-at-max")
	b.ReportMetric(steady.all.p(0.99).Seconds()*1e3, "p99-ms-at-half")
	b.ReportMetric(steady.medianP99().Seconds()*1e3, "window-p99-ms-at-half")
	b.ReportMetric(handlerP99*1e3, "handler-p99-ms-at-half")
	b.ReportMetric(paced.p(0.99).Seconds()*1e3, "p99-ms-at-half-swapping")
	b.ReportMetric(helloSteady.all.p(0.99).Seconds()*1e3, "hello-p99-ms-at-same-rate")
	b.ReportMetric(spinSteady.all.p(0.99).Seconds()*1e3, "spin-p99-ms-at-same-rate")
	b.ReportMetric(spinSteady.medianP99().Seconds()*1e3, "spin-window-p99-ms")
	b.ReportMetric(float64(spin.Microseconds()), "spin-µs")
	b.ReportMetric(float64(gcDuring.cycles), "gc-cycles-at-half")
	b.ReportMetric(gcDuring.pauses.Seconds()*1e3, "gc-pause-ms-at-half")
	b.ReportMetric(float64(helloRun.failed+predictRun.failed+steady.all.failed+paced.failed), "failed")
}

// gcStats are this process's garbage collections so far: how many, and
// how long they stopped the world in all.
type gcStats struct {
	cycles uint64
	pauses time.Duration
}

func gcActivity() gcStats {
	samples := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}, {Name: "/sched/pauses/total/gc:seconds"}}
	metrics.Read(samples)
	var pauses float64
	h := samples[1].Value.Float64Histogram()
	for i, n := range h.Counts {
		// A bucket's lower bound stands for its pauses: the runtime's
		// buckets are within an eighth of their bounds, the first one's
		// lower bound may be -Inf and the last one's upper bound is +Inf.
		pauses += float64(n) * max(h.Buckets[i], 0)
	}
	return gcStats{cycles: samples[0].Value.Uint64(), pauses: time.Duration(pauses * float64(time.Second))}
}

func (s gcStats) since(before gcStats) gcStats {
	return gcStats{cycles: s.cycles - before.cycles, pauses: s.pauses - before.pauses}
}

// predictHandlerHistogram reads the server's latency histogram of the
// predict route.
func predictHandlerHistogram(b *testing.B, n *server.Node) *dto.Histogram {
	families, err := n.API.Metrics.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "plinth_http_request_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "route" && strings.HasSuffix(l.GetValue(), "/predict") {
					return m.GetHistogram()
				}
			}
		}
	}
	b.Fatal("no latency histogram of the predict route")
	return nil
}

// histogramQuantileBound is the upper bound of the bucket that holds the
// q quantile of the observations made between two readings of a
// histogram; +Inf past the last bucket.
func histogramQuantileBound(before, after *dto.Histogram, q float64) float64 {
	total := after.GetSampleCount() - before.GetSampleCount()
	for i, bucket := range after.GetBucket() {
		if n := bucket.GetCumulativeCount() - before.GetBucket()[i].GetCumulativeCount(); float64(n) >= q*float64(total) {
			return bucket.GetUpperBound()
		}
	}
	return math.Inf(1)
}

// helloServer serves the hello-world handler BenchmarkServing compares
// against, which first spins for spin, until the benchmark ends.
func helloServer(b *testing.B, spin time.Duration) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if spin > 0 { // the plain hello-world reads no clock
			for start := time.Now(); time.Since(start) < spin; {
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"hello":"world"}`))
	}))
	b.Cleanup(srv.Close)
	return srv
}

// openSegments is how many turns BenchmarkServing's open loops take.
const openSegments = 10

// windows are the segments of one open loop: all their requests, and the
// p99 of each. A stall of the shared machine (now and then tens of
// milliseconds, which the hello-world's p99 shows too) decides the p99 of
// all requests of a run; the median of the segments' p99s is the tail of a
// typical half-second window, as a latency objective evaluated per window
// sees it, and a few stalls do not move it.
type windows struct {
	all  loadResult
	p99s []time.Duration
}

func (w *windows) add(r loadResult) {
	w.all = w.all.add(r)
	w.p99s = append(w.p99s, r.p(0.99))
}

func (w *windows) medianP99() time.Duration {
	if len(w.p99s) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(w.p99s))
	return (s[(len(s)-1)/2] + s[len(s)/2]) / 2
}

// wrkScript makes wrk POST by-entity bodies like servingBody's.
var wrkScript = `counter = 0
request = function()
  counter = counter + 1
  local body = string.format('{"instances":[{"entity_id":"e%d"}]}', (counter * 7919) % ` + strconv.Itoa(benchEntities) + `)
  return wrk.format("POST", nil, {["Content-Type"]="application/json"}, body)
end
`

// runWrk drives url with wrk (one thread, 16 connections, 8 seconds) and
// returns its requests per second and the server's CPU time per request in
// microseconds, as serverCPU reads it.
func runWrk(b *testing.B, wrk, url string, serverCPU func() time.Duration) (rate, cpuPerRequest float64) {
	script := filepath.Join(b.TempDir(), "post.lua")
	if err := os.WriteFile(script, []byte(wrkScript), 0o644); err != nil {
		b.Fatal(err)
	}
	cpu0 := serverCPU()
	out, err := exec.Command(wrk, "-t1", "-c16", "-d8s", "-s", script, url).CombinedOutput()
	cpu := serverCPU() - cpu0
	if err != nil {
		b.Fatalf("wrk: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "Non-2xx") {
		b.Fatalf("wrk saw failed requests:\n%s", out)
	}
	var requests float64
	for _, line := range strings.Split(string(out), "\n") {
		// "  123456 requests in 8.00s, 20.1MB read", then "Requests/sec: ..."
		if f := strings.Fields(line); len(f) >= 3 && f[1] == "requests" && f[2] == "in" {
			if requests, err = strconv.ParseFloat(f[0], 64); err != nil {
				b.Fatalf("wrk: %q: %v", line, err)
			}
		}
		if rest, ok := strings.CutPrefix(line, "Requests/sec:"); ok && requests > 0 {
			if rate, err = strconv.ParseFloat(strings.TrimSpace(rest), 64); err != nil {
				b.Fatal(err)
			}
			return rate, float64(cpu.Microseconds()) / requests
		}
	}
	b.Fatalf("wrk printed no rate:\n%s", out)
	return 0, 0
}

// processCPU is the CPU time this process has used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano()+ru.Stime.Nano()) + convertersCPU()
}

// convertersCPU is the CPU time used by this process's prediction log
// converters, which do part of the server's work in a process of their
// own (read from /proc, in clock ticks of 10 ms).
func convertersCPU() time.Duration {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var ticks int64
	for _, path := range procs {
		cmdline, err := os.ReadFile(path)
		if err != nil || !bytes.Contains(cmdline, []byte("prediction-log-converter")) {
			continue
		}
		stat, err := os.ReadFile(filepath.Join(filepath.Dir(path), "stat"))
		if err != nil {
			continue
		}
		// After the command's name in parentheses: state, ppid, ..., and
		// utime and stime as the 12th and 13th fields.
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) < 13 || f[1] != strconv.Itoa(os.Getpid()) {
			continue
		}
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += utime + stime
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// servingNode starts a node on the embedded defaults, with the garbage
// collector set as plinth server sets it and the feature service of 30
// features materialized, registers versions of "score" and deploys the
// first; it returns the node, a client and the endpoint's predict URL.
func servingNode(b *testing.B, versions int) (*server.Node, *client.Client, string) {
	ctx := context.Background()
	server.TuneGC(os.Getenv) // as plinth server does
	n, base := servedFeatureNode(b, servingFeatures)
	c, _ := client.New(base)
	for version := 1; version <= versions; version++ {
		registerServingModel(b, c, uint64(version))
	}
	if _, err := c.Deploy(ctx, "score", deploy.Spec{Model: "score@1"}); err != nil {
		b.Fatal(err)
	}
	return n, c, base + "/api/v1/endpoints/score/predict"
}

// registerServingModel trains a 300-tree GBDT on the service's 30 features
// (random values, a label drawn from a few of them) and registers it as a
// version of "score" bound to feature service svc@1.
func registerServingModel(b *testing.B, c *client.Client, seed uint64) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 1))
	const rows = 20_000
	t := &train.Table{Label: make([]float64, rows)}
	for f := 0; f < servingFeatures; f++ {
		col := train.Column{Name: fmt.Sprintf("stats__f%02d", f), Type: model.Float, Num: make([]float64, rows)}
		for i := range col.Num {
			col.Num[i] = rng.Float64()
		}
		t.Columns = append(t.Columns, col)
	}
	for i := range t.Label {
		if t.Columns[0].Num[i]+t.Columns[1].Num[i]*t.Columns[2].Num[i]+0.3*rng.NormFloat64() > 0.8 {
			t.Label[i] = 1
		}
	}
	p := train.DefaultGBTParams()
	p.Rounds, p.Seed = 300, seed
	m, err := train.GBT(t, nil, p, nil)
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	if err := m.Encode(&buf); err != nil {
		b.Fatal(err)
	}
	info, err := c.PutBlob(ctx, &buf)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.CreateVersion(ctx, "score", registry.NewVersion{Format: "plinth", FeatureService: "svc", FeatureServiceVersion: 1,
		Artifacts: []registry.Artifact{{Path: "model.json", Digest: info.Digest.String()}}}); err != nil {
		b.Fatal(err)
	}
}

// loadProc runs load in a child process (this test binary, re-executed
// into TestLoadGenerator): the generator's goroutines, allocations and
// garbage collection stay out of the server's process, as with any real
// client.
func loadProc(b *testing.B, total, conns int, rate float64, url string) loadResult {
	args, _ := json.Marshal(loadArgs{Total: total, Conns: conns, Rate: rate, URL: url})
	cmd := exec.Command(os.Args[0], "-test.run", "^TestLoadGenerator$", "-test.count", "1")
	cmd.Env = append(os.Environ(), "PLINTH_LOAD_GENERATOR="+string(args))
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("load generator: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "LOADRESULT "); ok {
			var r loadReport
			if err := json.Unmarshal([]byte(rest), &r); err != nil {
				b.Fatal(err)
			}
			return loadResult{rate: r.Rate, failed: r.Failed, lat: r.Lat}
		}
	}
	b.Fatalf("load generator printed no result:\n%s", out)
	return loadResult{}
}

type loadArgs struct {
	Total, Conns int
	Rate         float64
	URL          string
}

type loadReport struct {
	Rate   float64
	Failed int
	Lat    []time.Duration
}

// TestLoadGenerator is loadProc's child; it does nothing in a test run.
func TestLoadGenerator(t *testing.T) {
	spec := os.Getenv("PLINTH_LOAD_GENERATOR")
	if spec == "" {
		t.Skip("the serving benchmark's load generator process")
	}
	var a loadArgs
	if err := json.Unmarshal([]byte(spec), &a); err != nil {
		t.Fatal(err)
	}
	if a.Rate > 0 {
		// The open loop measures latency, and a pause of this process for
		// its own garbage collection would count as the server's: with
		// both processes on two shared cores, the generator's collections
		// added milliseconds to the prediction p99. It collects only near
		// the memory limit (a run allocates about 100 MB).
		debug.SetGCPercent(-1)
		debug.SetMemoryLimit(1 << 30)
	} else {
		// The closed loop is a Go caller as it comes, whatever GOGC the
		// benchmark's process was given: a generator that collects less
		// costs less per request, which moves the ratio.
		debug.SetGCPercent(100)
	}
	r := load(a.Total, a.Conns, a.Rate, a.URL)
	out, _ := json.Marshal(loadReport{Rate: r.rate, Failed: r.failed, Lat: r.lat})
	fmt.Printf("LOADRESULT %s\n", out)
}

// The open-loop generator counts what it sends and what fails: a 500, and
// a connection the server closes, after which it dials again.
func TestOpenLoop(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		switch served.Add(1) {
		case 10:
			w.WriteHeader(http.StatusInternalServerError)
		case 20:
			w.Header().Set("Connection", "close")
		}
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	r := openLoop(200, 4, 2000, srv.URL+"/predict")
	if served.Load() != 200 || r.failed != 1 {
		t.Fatalf("served %d, failed %d; want 200 and 1", served.Load(), r.failed)
	}
	if r.rate > 2200 || r.lat[len(r.lat)-1] > time.Second {
		t.Errorf("rate %.0f req/s (paced at 2000), slowest %v", r.rate, r.lat[len(r.lat)-1])
	}
}

func servingBody(i int) []byte {
	return fmt.Appendf(nil, `{"instances":[{"entity_id":"e%d"}]}`, (i*7919)%benchEntities)
}

type loadResult struct {
	rate   float64 // completed requests per second
	failed int
	lat    []time.Duration // sorted
	took   time.Duration   // rounds merged by add: their time
}

// add merges rounds of equal size: the rate is over their total time, the
// latencies are those of all.
func (r loadResult) add(o loadResult) loadResult {
	n := len(r.lat) + len(o.lat)
	took := r.took + time.Duration(float64(len(o.lat))/o.rate*float64(time.Second))
	lat := append(slices.Clone(r.lat), o.lat...)
	slices.Sort(lat)
	return loadResult{rate: float64(n) / took.Seconds(), failed: r.failed + o.failed, lat: lat, took: took}
}

func (r loadResult) p(q float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	return r.lat[min(len(r.lat)-1, int(q*float64(len(r.lat))))]
}

// load POSTs total by-entity requests (servingBody) to url from conns
// workers. With rate 0 it is a closed loop through net/http's client (each
// worker sends its next request when the last answered); otherwise it is
// openLoop at that rate.
func load(total, conns int, rate float64, url string) loadResult {
	if rate > 0 {
		return openLoop(total, conns, rate, url)
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}, Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	return drive(total, conns, func() (func(int, time.Time) (time.Time, bool), func()) {
		return func(i int, _ time.Time) (time.Time, bool) {
			sent := time.Now()
			resp, err := hc.Post(url, "application/json", bytes.NewReader(servingBody(i)))
			if err != nil {
				return sent, false
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return sent, resp.StatusCode == http.StatusOK
		}, func() {}
	})
}

// openLoop schedules request i at start + i/rate and sends it on the first
// of conns keep-alive connections that is free. A request sent late because
// every connection was busy counts its latency from its scheduled time, so
// a stall shows in the tail as users would see it (no coordinated
// omission). A request sent late by the worker's own timer counts from the
// send: Go's poller sleeps in whole milliseconds, which is the
// generator's lateness, not the server's.
//
// The requests are written and their responses read (http.ReadResponse) on
// plain connections: net/http's client hands each request between three
// goroutines, and on these two shared cores that alone put the hello-world
// handler's p99 near 2 ms, the target being measured.
func openLoop(total, conns int, rate float64, target string) loadResult {
	u, err := url.Parse(target)
	if err != nil {
		panic(err)
	}
	path := cmp.Or(u.Path, "/")
	return drive(total, conns, func() (func(int, time.Time) (time.Time, bool), func()) {
		var conn net.Conn
		var br *bufio.Reader
		var req []byte
		if c, err := net.Dial("tcp", u.Host); err == nil {
			conn, br = c, bufio.NewReader(c)
		}
		send := func(i int, start time.Time) (time.Time, bool) {
			sent := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
			if d := time.Until(sent); d > 0 {
				time.Sleep(d)
				sent = time.Now()
			}
			if conn == nil {
				c, err := net.Dial("tcp", u.Host)
				if err != nil {
					return sent, false
				}
				conn, br = c, bufio.NewReader(c)
			}
			body := servingBody(i)
			req = fmt.Appendf(req[:0], "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", path, u.Host, len(body), body)
			resp, err := roundTrip(conn, br, req)
			if err != nil || resp.Close {
				conn.Close()
				conn = nil
			}
			return sent, err == nil && resp.StatusCode == http.StatusOK
		}
		stop := func() {
			if conn != nil {
				conn.Close()
			}
		}
		return send, stop
	})
}

// drive hands requests 0 to total-1 to conns workers. Each worker sends
// with the function newWorker makes for it (with its own connection, say),
// which returns the time the request's latency counts from and whether it
// got a 200; stop ends the worker. The workers are made before the clock
// starts: the load measures requests, as wrk does, not the set-up of
// connections, which a client of a service keeps open.
func drive(total, conns int, newWorker func() (send func(i int, start time.Time) (from time.Time, ok bool), stop func())) loadResult {
	var next, failed atomic.Int64
	lats := make([]time.Duration, total)
	sends := make([]func(int, time.Time) (time.Time, bool), conns)
	stops := make([]func(), conns)
	for w := range conns {
		sends[w], stops[w] = newWorker()
	}
	start := time.Now()
	var wg sync.WaitGroup
	for w := range conns {
		wg.Go(func() {
			send, stop := sends[w], stops[w]
			defer stop()
			for i := int(next.Add(1)) - 1; i < total; i = int(next.Add(1)) - 1 {
				from, ok := send(i, start)
				if !ok {
					failed.Add(1)
					continue
				}
				lats[i] = time.Since(from)
			}
		})
	}
	wg.Wait()
	slices.Sort(lats)
	return loadResult{rate: float64(total) / time.Since(start).Seconds(), failed: int(failed.Load()), lat: lats}
}

func roundTrip(conn net.Conn, br *bufio.Reader, req []byte) (*http.Response, error) {
	if _, err := conn.Write(req); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, err
}

// BenchmarkMonitoringCost is issue 7's overhead measurement: the same
// closed-loop by-entity prediction load (16 connections, every request
// logged) with monitoring profiling the prediction log and with it paused,
// alternated twice in one run so drift in the machine's speed hits both.
// monitored/unmonitored is the throughput ratio; target at least 0.95.
func BenchmarkMonitoringCost(b *testing.B) {
	ctx := context.Background()
	n, _, predictURL := servingNode(b, 1)
	if r := load(b.N, 16, 0, predictURL); r.failed > 0 {
		b.Fatalf("warm-up: %d failed", r.failed)
	}
	b.ResetTimer()
	var on, off []float64
	for round := 0; round < 2; round++ {
		n.Monitor.Paused.Store(true)
		off = append(off, load(b.N, 16, 0, predictURL).rate)
		n.Runtime.Log.Flush(ctx)
		n.Monitor.Paused.Store(false)
		on = append(on, load(b.N, 16, 0, predictURL).rate)
		n.Runtime.Log.Flush(ctx)
	}
	b.StopTimer()
	mean := func(xs []float64) float64 { return (xs[0] + xs[1]) / 2 }
	b.ReportMetric(mean(off), "unmonitored-req/s")
	b.ReportMetric(mean(on), "monitored-req/s")
	b.ReportMetric(mean(on)/mean(off), "ratio")
}

// BenchmarkLogTail is what the prediction log adds to the latency tail:
// by-entity prediction in an open loop at half the closed-loop maximum
// rate (as BenchmarkServing's p99-ms-at-half), in segments that alternate
// every request logged with none logged. Each segment is b.N/10 requests;
// logged-window-p99-ms and unlogged-window-p99-ms are the median segment
// p99s, logged-p99-ms and unlogged-p99-ms those of all their requests.
func BenchmarkLogTail(b *testing.B) {
	ctx := context.Background()
	n, _, predictURL := servingNode(b, 1)
	closed := loadProc(b, b.N, 16, 0, predictURL)
	n.Runtime.Log.Flush(ctx)
	b.ResetTimer()
	var logged, unlogged windows
	for range openSegments {
		// Set between segments, while no request is in flight; a rate
		// below one request in a billion logs none of these.
		for _, arm := range []struct {
			rate float64
			w    *windows
		}{{0, &logged}, {1e-9, &unlogged}} {
			n.Runtime.Log.SampleRate = arm.rate
			arm.w.add(loadProc(b, max(b.N/openSegments, 1), 64, closed.rate/2, predictURL))
			n.Runtime.Log.Flush(ctx)
		}
	}
	b.StopTimer()
	n.Runtime.Log.SampleRate = 0
	b.Logf("p99 of each window, logged: %v", logged.p99s)
	b.Logf("p99 of each window, unlogged: %v", unlogged.p99s)
	b.ReportMetric(closed.rate/2, "req/s")
	b.ReportMetric(logged.medianP99().Seconds()*1e3, "logged-window-p99-ms")
	b.ReportMetric(unlogged.medianP99().Seconds()*1e3, "unlogged-window-p99-ms")
	b.ReportMetric(logged.all.p(0.99).Seconds()*1e3, "logged-p99-ms")
	b.ReportMetric(unlogged.all.p(0.99).Seconds()*1e3, "unlogged-p99-ms")
	b.ReportMetric(float64(logged.all.failed+unlogged.all.failed), "failed")
}

// BenchmarkPredictHandler is the server's own work for one by-entity
// request of BenchmarkServing (30 online features, a 300-tree GBDT, the
// request logged and profiled), without the network or a load generator:
// the handler called in process, then the log's writer catching up. It is
// the steady measure to compare changes to the serving path by; ns/op and
// allocs/op are per request.
func BenchmarkPredictHandler(b *testing.B) {
	ctx := context.Background()
	n, _, predictURL := servingNode(b, 1)
	path := predictURL[strings.Index(predictURL, "/api/"):]
	h := n.Handler()
	serveOne := func(i int) {
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(servingBody(i)))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	for i := range 10_000 {
		serveOne(i)
	}
	n.Runtime.Log.Flush(ctx)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		serveOne(i)
		if i%1000 == 999 {
			n.Runtime.Log.Flush(ctx) // the writer's share counts too
		}
	}
	n.Runtime.Log.Flush(ctx)
}
