package auth

import (
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Failed token checks are limited per client address. A guessed secret
// cannot succeed (160 random bits), but every unknown one costs a lookup
// in the store, so a client sending many would load the metadata database
// that every server shares; and a client stuck on a revoked token should
// hear so without hammering it.
const (
	// failureBurst is how many failed checks an address may make at once.
	failureBurst = 20
	// failureRefill is how often it earns one back: 20 a minute.
	failureRefill = 3 * time.Second
	// maxTrackedAddresses bounds the table; past it the table starts over,
	// so an attack from very many addresses costs memory no more than that.
	maxTrackedAddresses = 10_000
)

// failures holds a limiter of failed checks per client address.
type failures struct {
	mu     sync.Mutex
	byAddr map[string]*rate.Limiter
}

// blocked reports whether addr has used up its failed checks, and how
// long until it earns the next one, in whole seconds.
func (f *failures) blocked(addr string, now time.Time) (time.Duration, bool) {
	if addr == "" {
		return 0, false
	}
	f.mu.Lock()
	l := f.byAddr[addr]
	f.mu.Unlock()
	if l == nil {
		return 0, false
	}
	tokens := l.TokensAt(now)
	if tokens >= 1 {
		return 0, false
	}
	wait := time.Duration((1 - tokens) * float64(failureRefill))
	return max(wait.Round(time.Second), time.Second), true
}

// fail counts a failed check from addr.
func (f *failures) fail(addr string, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.byAddr[addr]
	if l == nil {
		if f.byAddr == nil || len(f.byAddr) >= maxTrackedAddresses {
			f.byAddr = map[string]*rate.Limiter{}
		}
		l = rate.NewLimiter(rate.Every(failureRefill), failureBurst)
		f.byAddr[addr] = l
	}
	l.AllowN(now, 1)
}

// RetryLater is a check refused for the failed checks before it, with
// when the address may try again (an HTTP answer's Retry-After).
type RetryLater struct {
	After time.Duration
	err   error // overloaded
}

func (e *RetryLater) Error() string { return e.err.Error() }
func (e *RetryLater) Unwrap() error { return e.err }

// clientAddr is the address a request came from: the peer's IP, not a
// header a client can write.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
