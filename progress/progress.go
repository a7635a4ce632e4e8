// Package progress shows how far long work has got: a redrawn bar on a
// terminal, plain periodic lines otherwise (logs, CI), so neither a person
// nor a log file gets garbage.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// Bar reports progress of one task with a known total.
type Bar struct {
	w        io.Writer
	label    string
	total    int
	done     int
	tty      bool
	start    time.Time
	lastLine time.Time
	lastPct  int
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// New starts a bar for total units of work.
func New(w io.Writer, label string, total int) *Bar {
	b := &Bar{w: w, label: label, total: max(total, 1), tty: IsTerminal(w), start: time.Now(), lastPct: -1}
	b.draw()
	return b
}

// Add records n more units done.
func (b *Bar) Add(n int) {
	b.done = min(b.done+n, b.total)
	b.draw()
}

// Done finishes the bar with a closing note.
func (b *Bar) Done(note string) {
	b.done = b.total
	elapsed := time.Since(b.start).Round(time.Millisecond)
	if b.tty {
		fmt.Fprintf(b.w, "\r\033[K  %s %s %d/%d in %s %s\n", b.label, bar(1, 24), b.total, b.total, elapsed, note)
		return
	}
	fmt.Fprintf(b.w, "  %s: %d/%d done in %s %s\n", b.label, b.total, b.total, elapsed, note)
}

func (b *Bar) draw() {
	frac := float64(b.done) / float64(b.total)
	if b.tty {
		fmt.Fprintf(b.w, "\r\033[K  %s %s %d/%d", b.label, bar(frac, 24), b.done, b.total)
		return
	}
	// Plain output: a line per quarter, at most one a second.
	pct := int(frac * 100)
	if b.done > 0 && b.done < b.total && pct/25 != b.lastPct/25 && time.Since(b.lastLine) > time.Second {
		fmt.Fprintf(b.w, "  %s: %d/%d (%d%%)\n", b.label, b.done, b.total, pct)
		b.lastLine = time.Now()
		b.lastPct = pct
	}
}

func bar(frac float64, width int) string {
	n := int(frac * float64(width))
	return "[" + strings.Repeat("=", n) + strings.Repeat(" ", width-n) + "]"
}
