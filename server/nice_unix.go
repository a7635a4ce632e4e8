//go:build unix

package server

import (
	"os"
	"strconv"
	"syscall"
)

// lowerPriority gives this process the lowest CPU priority (nice 19). On
// Linux a priority is a thread's, so it is set on each of the process's
// threads; threads started later inherit it from the thread that starts
// them. The threads are listed twice, in case one started during the
// first pass.
func lowerPriority() {
	for range 2 {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil { // not Linux: the priority is the process's
			syscall.Setpriority(syscall.PRIO_PROCESS, 0, 19)
			return
		}
		for _, t := range tasks {
			if tid, err := strconv.Atoi(t.Name()); err == nil {
				syscall.Setpriority(syscall.PRIO_PROCESS, tid, 19)
			}
		}
	}
}
