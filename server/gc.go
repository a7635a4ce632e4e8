package server

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// HeapFloor is the least heap TuneGC lets grow between collections. With
// GCPercent alone a serving node's small live heap (about 22 MB) was
// collected every 1-2 seconds under full load, and on a busy two-core
// machine each collection stopped the world for up to 3.5 ms (its threads
// waiting for a core to reach the stop) besides taking a core for its
// mark phase: every request in flight waits that out. A floor of 768 MB
// (what GOGC=3200 gives that live heap) makes such collections rarer: 1
// instead of 4 in the serving benchmark's open loops. Their effect on the
// p99 is within this machine's noise (BENCHMARKS.md, session 11). A node
// whose live heap passes 85 MB collects at GCPercent as before, and the
// memory limit bounds both.
const HeapFloor = 768 << 20

// TuneGC sets the collector's target to GCPercent unless the environment
// (getenv) sets GOGC, and a soft memory limit of half the memory the
// process may use (its cgroup's limit, else the machine's) unless it sets
// GOMEMLIMIT. GCPercent lets a heap grow to nine times what is live, which
// for a node holding large models would be more memory than the machine
// has; near the limit the collector runs as often as it must instead. Half
// leaves the rest to what the Go heap does not count: DuckDB, Pebble's
// cache, the page cache.
//
// Without GOGC it also keeps the heap goal at HeapFloor or more: after
// each collection it raises the target for a live heap too small to reach
// the floor at GCPercent.
func TuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(GCPercent)
		heapFloor.Store(HeapFloor)
		floorOnce.Do(armHeapFloor)
	} else {
		heapFloor.Store(0)
	}
	if getenv("GOMEMLIMIT") == "" {
		if total := memoryLimit(os.ReadFile); total > 0 {
			debug.SetMemoryLimit(total / 2)
		}
	}
}

var (
	heapFloor atomic.Int64 // bytes; 0 when TuneGC left the collector to GOGC
	floorOnce sync.Once
)

// gcCycle is garbage on purpose: its finalizer runs after the collection
// that found it unreachable, keeps the heap floor if there is one, and
// makes the next gcCycle. One small object a collection is all the cycle
// costs while there is none.
type gcCycle struct{ _ *int }

func armHeapFloor() {
	runtime.SetFinalizer(&gcCycle{}, func(*gcCycle) {
		if floor := heapFloor.Load(); floor > 0 {
			sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
			metrics.Read(sample)
			debug.SetGCPercent(percentFor(int64(sample[0].Value.Uint64()), floor))
		}
		armHeapFloor()
	})
}

// percentFor is the collector's target that lets a heap with live bytes
// live grow to floor before the next collection: never less than
// GCPercent, nor more than maxPercent.
func percentFor(live, floor int64) int {
	if live <= 0 || live+live/100*GCPercent >= floor {
		return GCPercent
	}
	return int(min((floor-live)*100/live, maxPercent))
}

// maxPercent bounds percentFor: the runtime keeps the target in 32 bits,
// and a live heap under half a megabyte is a process that has not
// started.
const maxPercent = 100_000

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
