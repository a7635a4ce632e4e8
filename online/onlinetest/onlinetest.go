// Package onlinetest is the contract every online.Store implementation
// passes, and the benchmarks every implementation reports.
package onlinetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/online"
)

// Opener returns a fresh, empty store; the suite closes it. It runs once per
// subtest or benchmark.
type Opener func(t testing.TB) online.Store

// Corrupter overwrites the stored bytes of (view, key) with data behind the
// store's back, so the suite can check that Get detects it.
type Corrupter func(t testing.TB, s online.Store, view, key string, data []byte)

// base is an event time with nanoseconds, so truncation to micro- or
// milliseconds would show.
var base = time.Date(2026, 11, 22, 9, 30, 15, 123456789, time.UTC)

func at(sec int) time.Time { return base.Add(time.Duration(sec) * time.Second) }

// Run runs the contract suite against the stores open returns. corrupt may
// be nil for a store whose bytes the test cannot reach.
func Run(t *testing.T, open Opener, corrupt Corrupter) {
	t.Run("RoundTripEveryKind", func(t *testing.T) { testRoundTrip(t, openStore(t, open)) })
	t.Run("Missing", func(t *testing.T) { testMissing(t, openStore(t, open)) })
	t.Run("OutOfOrder", func(t *testing.T) { testOutOfOrder(t, openStore(t, open)) })
	t.Run("EqualTimes", func(t *testing.T) { testEqualTimes(t, openStore(t, open)) })
	t.Run("WithinOneBatch", func(t *testing.T) { testWithinOneBatch(t, openStore(t, open)) })
	t.Run("ViewsAreSeparate", func(t *testing.T) { testViewsAreSeparate(t, openStore(t, open)) })
	t.Run("DeleteView", func(t *testing.T) { testDeleteView(t, openStore(t, open)) })
	t.Run("ManyKeysOneGet", func(t *testing.T) { testManyKeys(t, openStore(t, open)) })
	t.Run("ResultsReused", func(t *testing.T) { testResultsReused(t, openStore(t, open)) })
	t.Run("Invalid", func(t *testing.T) { testInvalid(t, openStore(t, open)) })
	t.Run("CanceledContext", func(t *testing.T) { testCanceled(t, openStore(t, open)) })
	t.Run("ConcurrentWritersAndReaders", func(t *testing.T) { testConcurrent(t, openStore(t, open)) })
	t.Run("LargeBatch", func(t *testing.T) { testLargeBatch(t, openStore(t, open)) })
	if corrupt != nil {
		t.Run("CorruptionDetected", func(t *testing.T) {
			s := openStore(t, open)
			testCorruption(t, s, func(view, key string, data []byte) { corrupt(t, s, view, key, data) })
		})
	}
}

func openStore(t testing.TB, open Opener) online.Store {
	t.Helper()
	s := open(t)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// Rec builds a record.
func Rec(view, key string, t time.Time, values ...online.Value) online.Record {
	return online.Record{View: view, Key: key, EventTime: t, Values: values}
}

func write(t testing.TB, s online.Store, recs ...online.Record) {
	t.Helper()
	if err := s.Write(context.Background(), recs); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

func get(t testing.TB, s online.Store, view string, keys ...string) []online.Result {
	t.Helper()
	dst := make([]online.Result, len(keys))
	if err := s.Get(context.Background(), view, keys, dst); err != nil {
		t.Fatalf("Get(%q, %d keys): %v", view, len(keys), err)
	}
	return dst
}

// wantRecord checks that r holds exactly the record want.
func wantRecord(t testing.TB, r online.Result, want online.Record) {
	t.Helper()
	if !r.Found {
		t.Fatalf("view %q key %q: not found, want the record at %v", want.View, want.Key, want.EventTime)
	}
	if !r.EventTime.Equal(want.EventTime) {
		t.Fatalf("view %q key %q: event time %v, want %v", want.View, want.Key, r.EventTime, want.EventTime)
	}
	if r.EventTime.Location() != time.UTC {
		t.Fatalf("view %q key %q: event time in %v, want UTC", want.View, want.Key, r.EventTime.Location())
	}
	if len(r.Values) != len(want.Values) {
		t.Fatalf("view %q key %q: %d values, want %d", want.View, want.Key, len(r.Values), len(want.Values))
	}
	for i, v := range r.Values {
		if !v.Identical(want.Values[i]) {
			t.Fatalf("view %q key %q: value %d is %s (%s), want %s (%s)", want.View, want.Key, i,
				v, v.Kind(), want.Values[i], want.Values[i].Kind())
		}
	}
}

func wantMissing(t testing.TB, r online.Result, view, key string) {
	t.Helper()
	if r.Found || !r.EventTime.IsZero() || len(r.Values) != 0 {
		t.Fatalf("view %q key %q: got found=%v time=%v %d values, want not found and empty",
			view, key, r.Found, r.EventTime, len(r.Values))
	}
}

func testRoundTrip(t *testing.T, s online.Store) {
	payloadNaN := math.Float64frombits(0x7ff8_0000_dead_beef)
	long := strings.Repeat("long string \x00\x1f:*?[]\\ ", 4000)
	many := make([]online.Value, 1000)
	for i := range many {
		many[i] = online.FloatValue(float64(i) / 7)
	}
	recs := []online.Record{
		Rec("kinds", "floats", at(0),
			online.FloatValue(0), online.FloatValue(math.Copysign(0, -1)), online.FloatValue(1.5),
			online.FloatValue(-1e308), online.FloatValue(math.SmallestNonzeroFloat64),
			online.FloatValue(math.NaN()), online.FloatValue(payloadNaN),
			online.FloatValue(math.Inf(1)), online.FloatValue(math.Inf(-1))),
		Rec("kinds", "ints", at(0),
			online.IntValue(0), online.IntValue(1), online.IntValue(-1),
			online.IntValue(math.MaxInt64), online.IntValue(math.MinInt64), online.IntValue(1<<40)),
		Rec("kinds", "strings", at(0),
			online.StringValue(""), online.StringValue("JFK"), online.StringValue("AA\x1fN123"),
			online.StringValue("\x00"), online.StringValue("a:b:c"), online.StringValue("*?[]\\"),
			online.StringValue("üñíçødé ✈"), online.StringValue("\xff\xfe not utf-8"),
			online.StringValue(long)),
		Rec("kinds", "bools and nulls", at(0),
			online.BoolValue(true), online.BoolValue(false), online.Null, online.Value{},
			online.Null, online.BoolValue(true)),
		Rec("kinds", "mixed", at(0),
			online.Null, online.FloatValue(2.25), online.IntValue(-7), online.StringValue("x"),
			online.BoolValue(false), online.Null),
		Rec("kinds", "no values", at(0)),
		Rec("kinds", "many values", at(0), many...),
		// Keys with the bytes a backend might use as separators, and the
		// empty key.
		Rec("kinds", "", at(1), online.IntValue(1)),
		Rec("kinds", "\x00", at(2), online.IntValue(2)),
		Rec("kinds", "a:b", at(3), online.IntValue(3)),
		Rec("kinds", "AA\x1fN123", at(4), online.IntValue(4)),
		Rec("kinds", "*", at(5), online.IntValue(5)),
		Rec("kinds", "\xff\xff", at(6), online.IntValue(6)),
		// Event times: the ends of the range, before 1970, another zone.
		Rec("times", "min", online.MinEventTime, online.IntValue(1)),
		Rec("times", "max", online.MaxEventTime, online.IntValue(2)),
		Rec("times", "1969", time.Date(1969, 7, 20, 20, 17, 40, 1, time.UTC), online.IntValue(3)),
		Rec("times", "zoned", time.Date(2026, 3, 1, 12, 0, 0, 7, time.FixedZone("EST", -5*3600)), online.IntValue(4)),
	}
	write(t, s, recs...)
	for _, r := range recs {
		wantRecord(t, get(t, s, r.View, r.Key)[0], r)
	}
}

func testMissing(t *testing.T, s online.Store) {
	write(t, s, Rec("v", "present", at(0), online.IntValue(1)))
	dst := make([]online.Result, 3)
	// Leftovers from an earlier call must not leak into a missing result.
	for i := range dst {
		dst[i] = online.Result{Found: true, EventTime: at(9), Values: []online.Value{online.IntValue(9)}}
	}
	keys := []string{"absent", "present", "presen"}
	if err := s.Get(context.Background(), "v", keys, dst); err != nil {
		t.Fatal(err)
	}
	wantMissing(t, dst[0], "v", "absent")
	wantRecord(t, dst[1], Rec("v", "present", at(0), online.IntValue(1)))
	wantMissing(t, dst[2], "v", "presen")
	wantMissing(t, get(t, s, "never written", "present")[0], "never written", "present")
	// No keys: nothing to do, not an error.
	if err := s.Get(context.Background(), "v", nil, nil); err != nil {
		t.Fatalf("Get of no keys: %v", err)
	}
	if err := s.Write(context.Background(), nil); err != nil {
		t.Fatalf("Write of no records: %v", err)
	}
}

func testOutOfOrder(t *testing.T, s online.Store) {
	newer := Rec("v", "k", at(10), online.FloatValue(10))
	write(t, s, newer)
	// A late event and a replay of an old one are ignored, without error.
	write(t, s, Rec("v", "k", at(5), online.FloatValue(5)))
	write(t, s, Rec("v", "k", at(10).Add(-time.Nanosecond), online.FloatValue(9.99)))
	wantRecord(t, get(t, s, "v", "k")[0], newer)
	// A newer one replaces it, even with fewer values.
	newest := Rec("v", "k", at(11), online.StringValue("now a string"))
	write(t, s, newest)
	wantRecord(t, get(t, s, "v", "k")[0], newest)
	// Times before 1970 order correctly too.
	write(t, s, Rec("v", "old", time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC), online.IntValue(2)))
	write(t, s, Rec("v", "old", time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC), online.IntValue(1)))
	wantRecord(t, get(t, s, "v", "old")[0], Rec("v", "old", time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC), online.IntValue(2)))
	write(t, s, Rec("v", "old", online.MinEventTime, online.IntValue(0)))
	wantRecord(t, get(t, s, "v", "old")[0], Rec("v", "old", time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC), online.IntValue(2)))
}

func testEqualTimes(t *testing.T, s online.Store) {
	write(t, s, Rec("v", "k", at(3), online.StringValue("first")))
	second := Rec("v", "k", at(3), online.StringValue("second"))
	write(t, s, second)
	wantRecord(t, get(t, s, "v", "k")[0], second)
	// The same instant in another zone is an equal time.
	third := Rec("v", "k", at(3).In(time.FixedZone("X", 3600)), online.StringValue("third"))
	write(t, s, third)
	wantRecord(t, get(t, s, "v", "k")[0], third)
}

func testWithinOneBatch(t *testing.T, s online.Store) {
	write(t, s,
		// Equal times: the later in the slice wins.
		Rec("v", "tie", at(1), online.IntValue(1)),
		Rec("v", "tie", at(1), online.IntValue(2)),
		// Newer first: the older that follows is ignored.
		Rec("v", "newer first", at(2), online.IntValue(2)),
		Rec("v", "newer first", at(1), online.IntValue(1)),
		// Older first: replaced.
		Rec("v", "older first", at(1), online.IntValue(1)),
		Rec("v", "older first", at(2), online.IntValue(2)),
		// Interleaved with other keys and a stored value in between.
		Rec("v", "mixed", at(5), online.IntValue(5)),
		Rec("w", "mixed", at(1), online.IntValue(1)),
		Rec("v", "mixed", at(7), online.IntValue(7)),
		Rec("v", "mixed", at(6), online.IntValue(6)),
		Rec("v", "mixed", at(7), online.IntValue(8)),
	)
	res := get(t, s, "v", "tie", "newer first", "older first", "mixed")
	wantRecord(t, res[0], Rec("v", "tie", at(1), online.IntValue(2)))
	wantRecord(t, res[1], Rec("v", "newer first", at(2), online.IntValue(2)))
	wantRecord(t, res[2], Rec("v", "older first", at(2), online.IntValue(2)))
	wantRecord(t, res[3], Rec("v", "mixed", at(7), online.IntValue(8)))
	wantRecord(t, get(t, s, "w", "mixed")[0], Rec("w", "mixed", at(1), online.IntValue(1)))

	// A batch of only older records than the stored ones changes nothing.
	write(t, s, Rec("v", "mixed", at(0), online.IntValue(0)), Rec("v", "tie", at(0), online.IntValue(0)))
	res = get(t, s, "v", "tie", "mixed")
	wantRecord(t, res[0], Rec("v", "tie", at(1), online.IntValue(2)))
	wantRecord(t, res[1], Rec("v", "mixed", at(7), online.IntValue(8)))
}

func testViewsAreSeparate(t *testing.T, s online.Store) {
	// Pairs that collide if view and key were simply concatenated, with or
	// without a separator.
	recs := []online.Record{
		Rec("a", "b:c", at(0), online.IntValue(1)),
		Rec("a:b", "c", at(0), online.IntValue(2)),
		Rec("ab", "c", at(0), online.IntValue(3)),
		Rec("a", "bc", at(0), online.IntValue(4)),
		Rec("a\x00", "b", at(0), online.IntValue(5)),
		Rec("a", "\x00b", at(0), online.IntValue(6)),
		Rec("1:a", "x", at(0), online.IntValue(7)),
		Rec("a", "1:x", at(0), online.IntValue(8)),
		Rec("*", "x", at(0), online.IntValue(9)),
		Rec("a*", "x", at(0), online.IntValue(10)),
	}
	write(t, s, recs...)
	for _, r := range recs {
		wantRecord(t, get(t, s, r.View, r.Key)[0], r)
	}
	wantMissing(t, get(t, s, "a", "b")[0], "a", "b")
}

func testDeleteView(t *testing.T, s online.Store) {
	ctx := context.Background()
	var recs []online.Record
	views := []string{"gone", "gone:2", "gon", "gonee", "*", "[g]one", "kept"}
	for _, v := range views {
		for i := range 50 {
			recs = append(recs, Rec(v, "k"+strconv.Itoa(i), at(i), online.IntValue(int64(i))))
		}
	}
	write(t, s, recs...)
	for _, view := range []string{"gone", "*", "[g]one"} {
		if err := s.DeleteView(ctx, view); err != nil {
			t.Fatalf("DeleteView(%q): %v", view, err)
		}
	}
	for _, r := range recs {
		res := get(t, s, r.View, r.Key)[0]
		switch r.View {
		case "gone", "*", "[g]one":
			wantMissing(t, res, r.View, r.Key)
		default:
			wantRecord(t, res, r)
		}
	}
	// Deleting again, or a view never written, is not an error.
	for _, view := range []string{"gone", "never"} {
		if err := s.DeleteView(ctx, view); err != nil {
			t.Fatalf("DeleteView(%q) again: %v", view, err)
		}
	}
	// The view can be written again, with any event time.
	again := Rec("gone", "k1", at(-100), online.StringValue("again"))
	write(t, s, again)
	wantRecord(t, get(t, s, "gone", "k1")[0], again)
	wantMissing(t, get(t, s, "gone", "k2")[0], "gone", "k2")
}

func testManyKeys(t *testing.T, s online.Store) {
	const n = 1000
	var recs []online.Record
	for i := 0; i < n; i += 2 { // every other key is written
		recs = append(recs, Rec("many", key(i), at(i), online.IntValue(int64(i)), online.StringValue(key(i))))
	}
	write(t, s, recs...)
	// Unsorted, with duplicates.
	keys := make([]string, 0, n+2)
	for i := n - 1; i >= 0; i-- {
		keys = append(keys, key(i))
	}
	keys = append(keys, key(10), key(11))
	res := get(t, s, "many", keys...)
	for i, k := range keys {
		var j int
		fmt.Sscanf(k, "entity-%d", &j)
		if j%2 == 1 {
			wantMissing(t, res[i], "many", k)
			continue
		}
		wantRecord(t, res[i], Rec("many", k, at(j), online.IntValue(int64(j)), online.StringValue(k)))
	}
}

func key(i int) string { return fmt.Sprintf("entity-%06d", i) }

func testResultsReused(t *testing.T, s online.Store) {
	write(t, s,
		Rec("v", "a", at(1), online.StringValue("alpha"), online.IntValue(1)),
		Rec("v", "b", at(1), online.StringValue("beta")))
	dst := make([]online.Result, 2)
	ctx := context.Background()
	if err := s.Get(ctx, "v", []string{"a", "b"}, dst); err != nil {
		t.Fatal(err)
	}
	kept := dst[0].Values[0].Str()
	write(t, s, Rec("v", "a", at(2), online.StringValue("ALPHA")))
	// The same dst, keys swapped: each result is rebuilt from scratch.
	if err := s.Get(ctx, "v", []string{"b", "a"}, dst); err != nil {
		t.Fatal(err)
	}
	wantRecord(t, dst[0], Rec("v", "b", at(1), online.StringValue("beta")))
	wantRecord(t, dst[1], Rec("v", "a", at(2), online.StringValue("ALPHA")))
	if kept != "alpha" {
		t.Fatalf("a string from an earlier Get changed to %q", kept)
	}
	if err := s.Get(ctx, "v", []string{"zzz", "a"}, dst); err != nil {
		t.Fatal(err)
	}
	wantMissing(t, dst[0], "v", "zzz")
}

func wantInvalid(t testing.TB, err error, field string) {
	t.Helper()
	var e *plinth.Error
	if !errors.As(err, &e) || e.Code != plinth.EINVALID || e.Field != field {
		t.Fatalf("error = %v, want %s error on field %q", err, plinth.EINVALID, field)
	}
}

func testInvalid(t *testing.T, s online.Store) {
	ctx := context.Background()
	good := Rec("v", "good", at(0), online.IntValue(1))
	cases := []struct {
		name  string
		recs  []online.Record
		field string
	}{
		{"empty view", []online.Record{good, Rec("", "k", at(0))}, "records[1].view"},
		{"zero time", []online.Record{good, Rec("v", "k", time.Time{})}, "records[1].event_time"},
		{"before range", []online.Record{good, Rec("v", "k", online.MinEventTime.Add(-1))}, "records[1].event_time"},
		{"after range", []online.Record{Rec("v", "k", online.MaxEventTime.Add(1)), good}, "records[0].event_time"},
	}
	for _, tc := range cases {
		err := s.Write(ctx, tc.recs)
		wantInvalid(t, err, tc.field)
	}
	// Nothing of an invalid call was written.
	wantMissing(t, get(t, s, "v", "good")[0], "v", "good")

	wantInvalid(t, s.Get(ctx, "", []string{"k"}, make([]online.Result, 1)), "view")
	wantInvalid(t, s.Get(ctx, "v", []string{"k", "l"}, make([]online.Result, 1)), "dst")
	wantInvalid(t, s.DeleteView(ctx, ""), "view")
}

func testCanceled(t *testing.T, s online.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Write(ctx, []online.Record{Rec("v", "k", at(0))}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Write with a canceled context: error = %v, want context.Canceled", err)
	}
	if err := s.Get(ctx, "v", []string{"k"}, make([]online.Result, 1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with a canceled context: error = %v, want context.Canceled", err)
	}
	if err := s.DeleteView(ctx, "v"); !errors.Is(err, context.Canceled) {
		t.Fatalf("DeleteView with a canceled context: error = %v, want context.Canceled", err)
	}
}

// testConcurrent runs writers that write the same keys with interleaved
// event times, and readers that check every record they see is whole (its
// values agree with its event time) and that no key goes back in time.
func testConcurrent(t *testing.T, s online.Store) {
	const (
		writers = 4
		readers = 4
		keys    = 20
		rounds  = 100
	)
	ctx := context.Background()
	keyList := make([]string, keys)
	for i := range keyList {
		keyList[i] = key(i)
	}
	recordAt := func(k string, sec int) online.Record {
		return Rec("conc", k, at(sec), online.IntValue(int64(sec)), online.StringValue(k+"@"+strconv.Itoa(sec)))
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers+readers)
	done := make(chan struct{})
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				// Writer w writes times r*writers+w: the writers interleave,
				// and each call also carries an older, ignored record.
				sec := r*writers + w
				batch := make([]online.Record, 0, 2*keys)
				for _, k := range keyList {
					batch = append(batch, recordAt(k, sec), recordAt(k, sec-writers*3))
				}
				if err := s.Write(ctx, batch); err != nil {
					errs <- fmt.Errorf("writer %d: %w", w, err)
					return
				}
			}
		}()
	}
	var readerWG sync.WaitGroup
	for range readers {
		readerWG.Add(1)
		go func() {
			defer readerWG.Done()
			last := make([]int64, keys)
			for i := range last {
				last[i] = math.MinInt64
			}
			dst := make([]online.Result, keys)
			for {
				select {
				case <-done:
					return
				default:
				}
				if err := s.Get(ctx, "conc", keyList, dst); err != nil {
					errs <- fmt.Errorf("reader: %w", err)
					return
				}
				for i, r := range dst {
					if !r.Found {
						if last[i] != math.MinInt64 {
							errs <- fmt.Errorf("key %s vanished after time %d", keyList[i], last[i])
							return
						}
						continue
					}
					sec := r.Values[0].Int()
					if !r.EventTime.Equal(at(int(sec))) || r.Values[1].Str() != keyList[i]+"@"+strconv.Itoa(int(sec)) {
						errs <- fmt.Errorf("key %s: torn record: time %v, values %v", keyList[i], r.EventTime, r.Values)
						return
					}
					if sec < last[i] {
						errs <- fmt.Errorf("key %s went back in time from %d to %d", keyList[i], last[i], sec)
						return
					}
					last[i] = sec
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	readerWG.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	final := (rounds-1)*writers + writers - 1
	for i, r := range get(t, s, "conc", keyList...) {
		wantRecord(t, r, recordAt(keyList[i], final))
	}
}

func testLargeBatch(t *testing.T, s online.Store) {
	n := 100_000
	if testing.Short() {
		n = 10_000
	}
	recs := Records("large", n, 10, at(0))
	write(t, s, recs...)
	keys := make([]string, 0, 1000)
	for i := 0; i < n; i += n / 1000 {
		keys = append(keys, recs[i].Key)
	}
	keys = append(keys, recs[n-1].Key)
	res := get(t, s, "large", keys...)
	for i, k := range keys {
		var j int
		fmt.Sscanf(k, "entity-%d", &j)
		wantRecord(t, res[i], recs[j])
	}
}

// Records returns n records of view with nValues values each (mostly
// floats, one int, one string, as a typical feature view has), keys
// entity-000000 upwards and event times t plus one millisecond per record.
func Records(view string, n, nValues int, t time.Time) []online.Record {
	recs := make([]online.Record, n)
	values := make([]online.Value, n*nValues)
	for i := range recs {
		vals := values[i*nValues : (i+1)*nValues : (i+1)*nValues]
		for j := range vals {
			switch j {
			case 1:
				vals[j] = online.IntValue(int64(i * j))
			case 2:
				vals[j] = online.StringValue("cat-" + strconv.Itoa(i%17))
			default:
				vals[j] = online.FloatValue(float64(i)*0.5 + float64(j))
			}
		}
		recs[i] = online.Record{View: view, Key: key(i), EventTime: t.Add(time.Duration(i) * time.Millisecond), Values: vals}
	}
	return recs
}

func testCorruption(t *testing.T, s online.Store, corrupt func(view, key string, data []byte)) {
	ctx := context.Background()
	good := Rec("v", "good", at(0), online.FloatValue(1))
	write(t, s, good, Rec("v", "bad", at(0), online.FloatValue(2)))
	valid := online.AppendRecord(nil, at(0), []online.Value{online.FloatValue(2)})
	flipped := append([]byte(nil), valid...)
	flipped[len(flipped)-6] ^= 0x40 // inside the float's bytes
	for name, data := range map[string][]byte{
		"empty":         {},
		"short":         []byte("tampered"),
		"bit flip":      flipped,
		"truncated":     valid[:len(valid)-1],
		"wrong version": append([]byte{99}, valid[1:]...),
	} {
		corrupt("v", "bad", data)
		dst := make([]online.Result, 2)
		err := s.Get(ctx, "v", []string{"good", "bad"}, dst)
		if !errors.Is(err, online.ErrCorrupt) {
			t.Fatalf("%s: Get of a corrupted record: error = %v, want ErrCorrupt", name, err)
		}
		if !strings.Contains(err.Error(), `"bad"`) {
			t.Fatalf("%s: error %q does not name the key", name, err)
		}
		// Other keys still read.
		wantRecord(t, get(t, s, "v", "good")[0], good)
	}
}
