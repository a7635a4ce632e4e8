package ui

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzSafeNext: whatever return address a sign-in is given, it sends the
// browser to one of this site's pages: a path under /ui/, never another
// host (no open redirect). Seeds are in testdata/fuzz/FuzzSafeNext.
func FuzzSafeNext(f *testing.F) {
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		if got != "/ui/" && got != next {
			t.Fatalf("safeNext(%q) = %q: neither the address nor the default", next, got)
		}
		u, err := url.Parse(got)
		if !strings.HasPrefix(got, "/ui/") || err != nil || u.Host != "" || u.Scheme != "" || strings.ContainsAny(got, "\\\r\n") {
			t.Fatalf("safeNext(%q) = %q leaves the site's pages (%+v, %v)", next, got, u, err)
		}
	})
}
