package pebble_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	pebbledb "github.com/cockroachdb/pebble/v2"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/online"
	"github.com/plinthml/plinth/online/onlinetest"
	"github.com/plinthml/plinth/online/pebble"
)

// When the test binary runs with childEnv set, it is the writer that
// TestKillDuringWrites kills.
const childEnv = "PLINTH_ONLINE_PEBBLE_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		writeUntilKilled(dir)
		return
	}
	os.Exit(m.Run())
}

func open(t testing.TB) online.Store {
	s, err := pebble.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestContract(t *testing.T) {
	corrupt := func(t testing.TB, s online.Store, view, key string, data []byte) {
		if err := s.(*pebble.Store).SetRaw(view, key, data); err != nil {
			t.Fatal(err)
		}
	}
	onlinetest.Run(t, open, corrupt)
}

// A record whose bytes were damaged on disk is reported, and a write over it
// repairs it.
func TestCorruptionAndRepair(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := pebble.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := onlinetest.Rec("v", "k", time.Unix(100, 0), online.FloatValue(1))
	if err := s.Write(ctx, []online.Record{rec}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	// Behind the store's back: a record with a far-future time and a bad
	// checksum.
	db, err := pebbledb.Open(dir, &pebbledb.Options{Logger: silent{}})
	if err != nil {
		t.Fatal(err)
	}
	bad := online.AppendRecord(nil, online.MaxEventTime, []online.Value{online.FloatValue(2)})
	bad[len(bad)-1] ^= 1
	if err := db.Set(append([]byte{1, 1, 'v'}, 'k'), bad, pebbledb.Sync); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err = pebble.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dst := make([]online.Result, 1)
	if err := s.Get(ctx, "v", []string{"k"}, dst); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("Get of a damaged record: error = %v, want corrupt", err)
	}
	// Its unreadable far-future time does not block new writes.
	if err := s.Write(ctx, []online.Record{rec}); err != nil {
		t.Fatal(err)
	}
	if err := s.Get(ctx, "v", []string{"k"}, dst); err != nil || !dst[0].Found || dst[0].Values[0].Float() != 1 {
		t.Fatalf("after the repairing write: %+v, %v", dst[0], err)
	}
}

func TestReopenKeepsRecords(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := pebble.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	recs := onlinetest.Records("v", 1000, 5, time.Unix(1_800_000_000, 0))
	if err := s.Write(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err == nil {
		t.Fatal("second Close succeeded")
	}
	if err := s.Write(ctx, recs[:1]); err == nil {
		t.Fatal("Write after Close succeeded")
	}
	s, err = pebble.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkRecords(t, s, recs)
}

// TestFlush moves the memtable's records to sorted tables (what a
// materialization ends with) without losing or changing any.
func TestFlush(t *testing.T) {
	ctx := context.Background()
	s, err := pebble.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	recs := onlinetest.Records("v", 1000, 5, time.Unix(1_800_000_000, 0))
	if err := s.Write(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	checkRecords(t, s, recs)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err == nil {
		t.Fatal("Flush after Close succeeded")
	}
}

func TestOpenRejectsOtherDatabases(t *testing.T) {
	dir := t.TempDir()
	db, err := pebbledb.Open(dir, &pebbledb.Options{Logger: silent{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set([]byte("someone else's key"), []byte("x"), pebbledb.Sync); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := pebble.Open(dir, nil); !plinth.IsCode(err, plinth.EINVALID) {
		t.Fatalf("Open of a foreign Pebble database: error = %v, want invalid", err)
	}

	// While one store has the directory open, a second Open fails.
	dir = t.TempDir()
	s, err := pebble.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s2, err := pebble.Open(dir, nil); err == nil {
		s2.Close()
		t.Fatal("a second Open of an open directory succeeded")
	}
}

// TestKillDuringWrites SIGKILLs a child process that writes batches and
// reports each acknowledged one; every acknowledged record must be there
// after reopening.
func TestKillDuringWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := -1
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		n, err := strconv.Atoi(sc.Text())
		if err != nil {
			t.Fatalf("child said %q", sc.Text())
		}
		acked = n
		if acked >= 30 {
			// Kill while the child is in the middle of further writes.
			cmd.Process.Signal(syscall.SIGKILL)
			break
		}
	}
	go func() {
		for sc.Scan() { // drain, so the child never blocks on the pipe
		}
	}()
	cmd.Wait()
	if acked < 30 {
		t.Fatalf("child acknowledged only %d batches before it ended", acked)
	}

	s, err := pebble.Open(dir, nil)
	if err != nil {
		t.Fatalf("reopen after kill -9: %v", err)
	}
	defer s.Close()
	for b := 0; b <= acked; b++ {
		checkRecords(t, s, childBatch(b))
	}
	t.Logf("%d batches acknowledged before the kill, all present", acked+1)
}

// childBatch is batch b of the child: 200 records of its own view, and one
// record of view "shared" that each batch overwrites with a newer time.
func childBatch(b int) []online.Record {
	recs := onlinetest.Records(fmt.Sprintf("batch-%d", b), 200, 8, time.Unix(1_800_000_000, 0))
	return append(recs, onlinetest.Rec("shared", "k", time.Unix(int64(b), 0), online.IntValue(int64(b))))
}

func writeUntilKilled(dir string) {
	s, err := pebble.Open(dir, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for b := 0; ; b++ {
		if err := s.Write(context.Background(), childBatch(b)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Println(b) // acknowledged
	}
}

// silent drops the log lines of the Pebble databases tests open directly.
type silent struct{}

func (silent) Infof(string, ...any)                {}
func (silent) Errorf(string, ...any)               {}
func (s silent) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

func checkRecords(t *testing.T, s online.Store, recs []online.Record) {
	t.Helper()
	byView := map[string][]online.Record{}
	for _, r := range recs {
		byView[r.View] = append(byView[r.View], r)
	}
	for view, rs := range byView {
		keys := make([]string, len(rs))
		for i, r := range rs {
			keys[i] = r.Key
		}
		dst := make([]online.Result, len(keys))
		if err := s.Get(context.Background(), view, keys, dst); err != nil {
			t.Fatal(err)
		}
		for i, r := range rs {
			got := dst[i]
			if view == "shared" {
				// Later, unacknowledged batches may have moved it on.
				if !got.Found || got.EventTime.Before(r.EventTime) {
					t.Fatalf("shared record at %v, want at least %v", got.EventTime, r.EventTime)
				}
				continue
			}
			if !got.Found || !got.EventTime.Equal(r.EventTime) || len(got.Values) != len(r.Values) {
				t.Fatalf("view %s key %s: found=%v time=%v values=%d, want the record at %v",
					view, r.Key, got.Found, got.EventTime, len(got.Values), r.EventTime)
			}
			for j := range r.Values {
				if !got.Values[j].Identical(r.Values[j]) {
					t.Fatalf("view %s key %s value %d: %v, want %v", view, r.Key, j, got.Values[j], r.Values[j])
				}
			}
		}
	}
}

func BenchmarkStore(b *testing.B) {
	onlinetest.Bench(b, func(t testing.TB) online.Store {
		s, err := pebble.Open(filepath.Join(t.TempDir(), "online"), nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
