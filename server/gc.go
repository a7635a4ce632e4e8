package server

import "runtime/debug"

// GCPercent is the garbage collector's target that `plinth server` runs
// with unless the GOGC environment variable sets one: a collection when the
// heap has grown by four times what was live, not Go's default of once.
//
// On a serving node each collection's mark phase takes a share of the
// cores from requests for some milliseconds, and those milliseconds make
// the latency tail. The serving heap is small (tens of megabytes live), so
// collecting a quarter as often costs little memory. In the serving
// benchmark's open loop at 6,500 req/s the p99 was 2.0 ms against 2.4-2.6
// ms with the default, and 4.0-5.6 ms against 4.4-7.6 ms before the
// prediction log's flushes were made cheaper (BENCHMARKS.md).
const GCPercent = 400

// TuneGC sets the collector's target to GCPercent unless the environment
// (getenv) sets GOGC.
func TuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(GCPercent)
	}
}
