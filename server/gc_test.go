package server

import (
	"io/fs"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestTuneGC(t *testing.T) {
	prevPercent := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prevPercent)
	prevLimit := debug.SetMemoryLimit(math.MaxInt64)
	defer debug.SetMemoryLimit(prevLimit)

	// GOGC and GOMEMLIMIT set: the runtime already applied them.
	TuneGC(func(string) string { return "50" })
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC set, the target became %d", got)
	}
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("with GOMEMLIMIT set, the limit became %d", got)
	}

	if heapFloor.Load() != 0 {
		t.Errorf("with GOGC set, the heap floor is %d", heapFloor.Load())
	}

	// Without them: GCPercent, raised after each collection while this
	// test's small heap is far from HeapFloor.
	TuneGC(func(string) string { return "" })
	defer func() {
		TuneGC(func(string) string { return "100" }) // the floor off for the tests after this one
	}()
	if want := memoryLimit(os.ReadFile) / 2; want > 0 {
		if got := debug.SetMemoryLimit(-1); got != want {
			t.Errorf("without GOMEMLIMIT, the limit is %d, want half the memory, %d", got, want)
		}
	}
	if gogc, limit := GCSettings(); gogc < GCPercent || limit != debug.SetMemoryLimit(-1) {
		t.Errorf("GCSettings() = %d, %d; want at least %d and the runtime's limit, %d", gogc, limit, GCPercent, debug.SetMemoryLimit(-1))
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		runtime.GC() // the floor's finalizer runs after it, on its own goroutine
		time.Sleep(10 * time.Millisecond)
		gogc, _ := GCSettings()
		if gogc > GCPercent {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after collections the target is %d; want it raised above %d to keep a heap of %d bytes", gogc, GCPercent, HeapFloor)
		}
	}
}

func TestPercentFor(t *testing.T) {
	const floor = 512 << 20
	for _, tc := range []struct {
		live int64
		want int
	}{
		{0, GCPercent},   // no collection yet
		{20 << 20, 2460}, // 20 MB grows by 24.6 times to 512 MB
		{floor / 9, (floor - floor/9) * 100 / (floor / 9)}, // just under: GCPercent would not reach the floor
		{60 << 20, GCPercent},                              // GCPercent reaches the floor by itself
		{floor, GCPercent},                                 // at the floor
		{1 << 10, maxPercent},                              // a kilobyte: bounded
	} {
		if got := percentFor(tc.live, floor); got != tc.want {
			t.Errorf("percentFor(%d, %d) = %d, want %d", tc.live, floor, got, tc.want)
		}
	}
}

func TestMemoryLimit(t *testing.T) {
	const meminfo = "MemTotal:       24576000 kB\nMemFree:        1000 kB\n"
	const total = 24576000 << 10
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  int64
	}{
		{"machine only", map[string]string{"/proc/meminfo": meminfo}, total},
		{"cgroup v2 limit", map[string]string{"/proc/meminfo": meminfo, "/sys/fs/cgroup/memory.max": "1073741824\n"}, 1 << 30},
		{"cgroup v2 without a limit", map[string]string{"/proc/meminfo": meminfo, "/sys/fs/cgroup/memory.max": "max\n"}, total},
		{"cgroup v1 limit", map[string]string{"/proc/meminfo": meminfo, "/sys/fs/cgroup/memory/memory.limit_in_bytes": "2147483648\n"}, 2 << 30},
		{"cgroup v1 without a limit", map[string]string{"/proc/meminfo": meminfo, "/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n"}, total},
		{"cgroup only", map[string]string{"/sys/fs/cgroup/memory.max": "536870912"}, 512 << 20},
		{"meminfo without MemTotal", map[string]string{"/proc/meminfo": "MemFree: 10 kB\n"}, 0},
		{"meminfo garbled", map[string]string{"/proc/meminfo": "MemTotal: lots kB\n"}, 0},
		{"nothing readable", nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			read := func(path string) ([]byte, error) {
				if s, ok := tc.files[path]; ok {
					return []byte(s), nil
				}
				return nil, fs.ErrNotExist
			}
			if got := memoryLimit(read); got != tc.want {
				t.Errorf("memoryLimit = %d, want %d", got, tc.want)
			}
		})
	}
}
