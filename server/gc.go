package server

import (
	"bufio"
	"bytes"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
)

// GCPercent is the garbage collector's target that `plinth server` runs
// with unless the GOGC environment variable sets one: a collection when the
// heap has grown by eight times what was live, not Go's default of once.
//
// On a serving node each collection's mark phase takes a share of the
// cores from requests for some milliseconds, and those milliseconds make
// the latency tail; the fewer collections, the fewer requests they catch.
// The serving heap is small (about 20 MB live), so collecting rarely costs
// little memory, and the memory limit TuneGC sets bounds it when the heap
// is not small. In the serving benchmark's open loop (BENCHMARKS.md) the
// p99 at half the maximum rate was 1.6-4.2 ms (median 2.3) in four runs at
// 800 against 2.1-7.6 ms (median 3.0) in six at 400, over 25 minutes of a
// noisy machine, and 400 had earlier measured 2.0 ms against 2.4-2.6 ms
// for Go's default.
const GCPercent = 800

// TuneGC sets the collector's target to GCPercent unless the environment
// (getenv) sets GOGC, and a soft memory limit of half the memory the
// process may use (its cgroup's limit, else the machine's) unless it sets
// GOMEMLIMIT. GCPercent lets a heap grow to nine times what is live, which
// for a node holding large models would be more memory than the machine
// has; near the limit the collector runs as often as it must instead. Half
// leaves the rest to what the Go heap does not count: DuckDB, Pebble's
// cache, the page cache.
func TuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(GCPercent)
	}
	if getenv("GOMEMLIMIT") == "" {
		if total := memoryLimit(os.ReadFile); total > 0 {
			debug.SetMemoryLimit(total / 2)
		}
	}
}

// GCSettings returns the collector's target (GOGC; negative when off) and
// its soft memory limit in bytes, as the runtime has them: for the server's
// start-up line, so that an operator sees what TuneGC or the environment
// chose.
func GCSettings() (gogc int, memoryLimit int64) {
	samples := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/gomemlimit:bytes"}}
	metrics.Read(samples)
	return int(samples[0].Value.Uint64()), int64(samples[1].Value.Uint64())
}

// memoryLimit returns the bytes of memory this process may use: the least
// of the machine's memory and its cgroup's limit (v2 or v1), or 0 if
// neither can be read.
func memoryLimit(readFile func(string) ([]byte, error)) int64 {
	var limit int64
	if data, err := readFile("/proc/meminfo"); err == nil {
		limit = memTotal(data)
	}
	for _, path := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		data, err := readFile(path)
		if err != nil {
			continue
		}
		// "max" (v2) or a number near 2^63 (v1) means no limit.
		if n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64); err == nil && n > 0 && (limit == 0 || n < limit) {
			limit = n
		}
	}
	return limit
}

// memTotal reads MemTotal from /proc/meminfo, in bytes; 0 if absent.
func memTotal(meminfo []byte) int64 {
	sc := bufio.NewScanner(bytes.NewReader(meminfo))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		if err != nil || kb <= 0 {
			return 0
		}
		return kb << 10
	}
	return 0
}
