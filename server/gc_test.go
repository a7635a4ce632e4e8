package server

import (
	"io/fs"
	"math"
	"os"
	"runtime/debug"
	"testing"
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

	TuneGC(func(string) string { return "" })
	if gogc, limit := GCSettings(); gogc != GCPercent || limit != debug.SetMemoryLimit(-1) {
		t.Errorf("GCSettings() = %d, %d; want %d and the runtime's limit, %d", gogc, limit, GCPercent, debug.SetMemoryLimit(-1))
	}
	if got := debug.SetGCPercent(100); got != GCPercent {
		t.Errorf("without GOGC, the target is %d, want %d", got, GCPercent)
	}
	if want := memoryLimit(os.ReadFile) / 2; want > 0 {
		if got := debug.SetMemoryLimit(-1); got != want {
			t.Errorf("without GOMEMLIMIT, the limit is %d, want half the memory, %d", got, want)
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
