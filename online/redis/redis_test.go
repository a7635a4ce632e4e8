package redis_test

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/online"
	"github.com/plinthml/plinth/online/onlinetest"
	"github.com/plinthml/plinth/online/redis"
	"github.com/plinthml/plinth/online/redis/redistest"
)

// The tests run against a real redis-server started once per test binary
// (see redistest); each store gets a fresh key prefix.
func TestMain(m *testing.M) {
	code := m.Run()
	redistest.Stop()
	os.Exit(code)
}

func freshPrefix() string { return "t:" + strings.ToLower(rand.Text()) + ":" }

func openStore(t testing.TB, srv *redistest.Server, prefix string) *redis.Store {
	t.Helper()
	s, err := redis.OpenURL(context.Background(), srv.URL(prefix))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestContract(t *testing.T) {
	srv := redistest.Start(t)
	t.Logf("redis-server %s on %s", srv.Version, srv.Addr)
	open := func(t testing.TB) online.Store { return openStore(t, srv, freshPrefix()) }
	corrupt := func(t testing.TB, s online.Store, view, key string, data []byte) {
		if err := srv.Admin.Set(context.Background(), s.(*redis.Store).Key(view, key), data, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	onlinetest.Run(t, open, corrupt)
}

func TestKeyLayout(t *testing.T) {
	srv := redistest.Start(t)
	prefix := freshPrefix()
	s := openStore(t, srv, prefix)
	defer s.Close()
	rec := onlinetest.Rec("weather", "JFK", time.Unix(1_800_000_000, 0), online.FloatValue(21.5))
	if err := s.Write(context.Background(), []online.Record{rec}); err != nil {
		t.Fatal(err)
	}
	want := prefix + "7:weather:JFK"
	if got := s.Key("weather", "JFK"); got != want {
		t.Fatalf("Key = %q, want %q", got, want)
	}
	data, err := srv.Admin.Get(context.Background(), want).Bytes()
	if err != nil {
		t.Fatalf("record not at %q: %v", want, err)
	}
	if string(data) != string(online.AppendRecord(nil, rec.EventTime, rec.Values)) {
		t.Fatalf("stored %x, want the record's encoding", data)
	}
}

// Two deployments sharing one Redis database through different prefixes do
// not see or delete each other's records.
func TestPrefixesAreSeparate(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a, b := openStore(t, srv, freshPrefix()), openStore(t, srv, freshPrefix())
	defer a.Close()
	defer b.Close()
	rec := onlinetest.Rec("v", "k", time.Unix(1, 0), online.IntValue(1))
	if err := a.Write(ctx, []online.Record{rec}); err != nil {
		t.Fatal(err)
	}
	if err := b.Write(ctx, []online.Record{rec}); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteView(ctx, "v"); err != nil {
		t.Fatal(err)
	}
	dst := make([]online.Result, 1)
	if err := a.Get(ctx, "v", []string{"k"}, dst); err != nil || !dst[0].Found {
		t.Fatalf("a's record after b deleted the view: %+v, %v", dst[0], err)
	}
	if err := b.Get(ctx, "v", []string{"k"}, dst); err != nil || dst[0].Found {
		t.Fatalf("b's record after b deleted the view: %+v, %v", dst[0], err)
	}
}

// After the server forgets its scripts (a restart, SCRIPT FLUSH), Write
// loads the script again.
func TestScriptFlushed(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	s := openStore(t, srv, freshPrefix())
	defer s.Close()
	if err := srv.Admin.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	recs := onlinetest.Records("v", 3, 2, time.Unix(5, 0))
	if err := s.Write(ctx, recs); err != nil {
		t.Fatalf("Write after SCRIPT FLUSH: %v", err)
	}
	dst := make([]online.Result, 1)
	if err := s.Get(ctx, "v", []string{recs[2].Key}, dst); err != nil || !dst[0].Found {
		t.Fatalf("Get: %+v, %v", dst[0], err)
	}
}

func TestUnavailable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// A port nothing listens on: the discard port, closed on loopback.
	_, err := redis.OpenURL(ctx, "redis://127.0.0.1:9/0")
	if !plinth.IsCode(err, plinth.EUNAVAILABLE) {
		t.Fatalf("Open of a closed port: error = %v, want unavailable", err)
	}
}

func TestParseURL(t *testing.T) {
	ok := []struct {
		url  string
		want redis.Config
	}{
		{"redis://localhost", redis.Config{Addr: "localhost:6379"}},
		{"redis://10.0.0.5:7000/3", redis.Config{Addr: "10.0.0.5:7000", DB: 3}},
		{"redis://:secret@h:1/0?prefix=team-a:", redis.Config{Addr: "h:1", Password: "secret", Prefix: "team-a:"}},
		{"redis://user:pw@h:1/?pool_size=4", redis.Config{Addr: "h:1", Username: "user", Password: "pw", PoolSize: 4}},
		{"rediss://[::1]:6380/1", redis.Config{Addr: "[::1]:6380", DB: 1, TLS: true}},
	}
	for _, tc := range ok {
		got, err := redis.ParseURL(tc.url)
		if err != nil || got != tc.want {
			t.Errorf("ParseURL(%q) = %+v, %v; want %+v", tc.url, got, err, tc.want)
		}
	}
	bad := []struct{ url, field string }{
		{"http://localhost:6379", "url"},
		{"redis:localhost", "url"},
		{"redis:///0", "url"},
		{"redis://h:1/x", "db"},
		{"redis://h:1/-1", "db"},
		{"redis://h:1/0?pool_size=many", "pool_size"},
		{"redis://h:1/0?dial_timeout=1s", "url"},
		{"redis://h:1/0\x7f", "url"},
	}
	for _, tc := range bad {
		_, err := redis.ParseURL(tc.url)
		var e *plinth.Error
		if !errors.As(err, &e) || e.Code != plinth.EINVALID || e.Field != tc.field {
			t.Errorf("ParseURL(%q) error = %v, want invalid on field %q", tc.url, err, tc.field)
		}
	}
	// The password never appears in an error.
	if _, err := redis.ParseURL("redis://u:hunter2@h:1/0\x7f"); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %v shows the password", err)
	}
}

func BenchmarkStore(b *testing.B) {
	srv := redistest.Start(b)
	onlinetest.Bench(b, func(t testing.TB) online.Store { return openStore(t, srv, freshPrefix()) })
}
