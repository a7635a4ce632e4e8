// Package pebble stores online features in Pebble, the LSM key-value store
// of CockroachDB, embedded in the plinth process: the default online store,
// one directory, no server.
//
// # Key layout
//
//	0x00 "format"                      the store's format marker
//	0x01 uvarint(len(view)) view key   the latest record of (view, key)
//
// The length prefix makes the view part of a key unambiguous, whatever
// bytes views and keys hold, and makes every view's keys one contiguous
// range that no other view's keys fall into, so DeleteView is one range
// tombstone. Values are online.AppendRecord's encoding.
//
// # Writes
//
// Write is a read-modify-write under a mutex: for each distinct (view, key)
// of the call it picks the winner within the call (latest event time, later
// position on ties), reads the stored record's event time, and adds a Set to
// one Batch only if the winner is not older. Reading the stored time under
// the mutex and applying the batch before releasing it makes the comparison
// atomic. The batch is applied to the memtable (visible) under the mutex
// but its WAL fsync is awaited after releasing it (Pebble's ApplyNoSyncWait),
// so concurrent Writes share fsyncs instead of queuing behind each other's;
// Write returns only once its fsync is done, and since the WAL is one
// sequential log, a Write that saw another's records returns after those
// are durable too.
//
// A Pebble merge operator would make Write blind (no reads) and lock-free,
// but a key updated often (a pushed event per second for one entity) would
// pile up merge operands that every Get has to fold until a compaction;
// a Set shadows the previous value at once, so Get stays one lookup.
//
// # Reads
//
// Get does one point lookup per key; bloom filters on every level let
// lookups skip the tables that cannot hold the key.
package pebble

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"sync"
	"sync/atomic"
	"unsafe"

	pebbledb "github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/sstable"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/online"
)

var _ online.Store = (*Store)(nil)

const (
	prefixMeta   byte = 0x00
	prefixRecord byte = 0x01

	formatMarker = "plinth-online-pebble/1"

	// DefaultCacheSize is the block cache size when Options.CacheSize is 0.
	// The cache takes memory only as blocks are read into it, so a small
	// store uses little of it.
	DefaultCacheSize = 256 << 20
	// DefaultMemTableSize is the memtable size when Options.MemTableSize is 0.
	// Larger than Pebble's 4 MiB default so a materialization batch of
	// 100k records fits in one memtable.
	DefaultMemTableSize = 64 << 20
)

var metaFormatKey = []byte{prefixMeta, 'f', 'o', 'r', 'm', 'a', 't'}

// Options tune a Store; the zero value is the default.
type Options struct {
	// CacheSize is the block cache in bytes; DefaultCacheSize if 0.
	CacheSize int64
	// MemTableSize is the memtable size in bytes; DefaultMemTableSize if 0.
	// Up to four memtables may be held at once while flushes catch up.
	MemTableSize uint64
}

// Store is an online.Store over a Pebble database in one directory. Only one
// process may open a directory at a time. It is safe for concurrent use.
type Store struct {
	db     *pebbledb.DB
	mu     sync.Mutex // serializes the read-modify-write of Write
	closed atomic.Bool
}

// Open opens the store in dir, creating it if needed. A directory holding
// a Pebble database that is not an online store is an error, as is one that
// another process has open.
func Open(dir string, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.CacheSize == 0 {
		o.CacheSize = DefaultCacheSize
	}
	if o.MemTableSize == 0 {
		o.MemTableSize = DefaultMemTableSize
	}
	po := &pebbledb.Options{
		CacheSize:          o.CacheSize,
		MemTableSize:       o.MemTableSize,
		FormatMajorVersion: pebbledb.FormatNewest,
		Logger:             quietLogger{},
	}
	// Blocks are not compressed: feature values (mostly floats) compress
	// little, and a read that misses the block cache then costs no
	// decompression (in-process p99 of BenchmarkOnlineGet 44-93 µs, was
	// 80-114 µs with Snappy).
	//
	// Index blocks may be 256 KB, not Pebble's default of the 4 KB data
	// block size, so that tables of tens of megabytes have one index level: a
	// point read searches one index block instead of a top-level index and
	// then one of its blocks, each a cache lookup. BenchmarkPredictHandler
	// (30 features of 200,000 entities, then a GBDT) went from 40.0-41.6 µs
	// to 35.4-36.0 µs a request, alternated three times.
	for i := range po.Levels {
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
		po.Levels[i].Compression = func() *sstable.CompressionProfile { return sstable.NoCompression }
		po.Levels[i].IndexBlockSize = 256 << 10
	}
	db, err := pebbledb.Open(dir, po)
	if err != nil {
		return nil, fmt.Errorf("open online store %s: %w", dir, err)
	}
	s := &Store{db: db}
	if err := s.checkFormat(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open online store %s: %w", dir, err)
	}
	return s, nil
}

// checkFormat writes the format marker into a new store and checks it in an
// existing one.
func (s *Store) checkFormat() error {
	v, closer, err := s.db.Get(metaFormatKey)
	if err == nil {
		got := string(v)
		closer.Close()
		if got != formatMarker {
			return plinth.Errorf(plinth.EINVALID, "format %q, this plinth reads %q", got, formatMarker)
		}
		return nil
	}
	if !errors.Is(err, pebbledb.ErrNotFound) {
		return err
	}
	it, err := s.db.NewIter(nil)
	if err != nil {
		return err
	}
	empty := !it.First()
	if err := it.Close(); err != nil {
		return err
	}
	if !empty {
		return plinth.Errorf(plinth.EINVALID, "the directory holds a Pebble database that is not a plinth online store")
	}
	return s.db.Set(metaFormatKey, []byte(formatMarker), pebbledb.Sync)
}

// quietLogger drops Pebble's informational lines (one per flush and
// compaction) and keeps its errors.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)              {}
func (quietLogger) Errorf(format string, args ...any) { log.Printf("pebble: "+format, args...) }
func (quietLogger) Fatalf(format string, args ...any) { log.Fatalf("pebble: "+format, args...) }

// appendKey appends the stored key of (view, key) to dst.
func appendKey(dst []byte, view, key string) []byte {
	dst = appendViewPrefix(dst, view)
	return append(dst, key...)
}

func appendViewPrefix(dst []byte, view string) []byte {
	dst = append(dst, prefixRecord)
	for n := uint64(len(view)); ; n >>= 7 { // uvarint
		if n < 0x80 {
			dst = append(dst, byte(n))
			break
		}
		dst = append(dst, byte(n)|0x80)
	}
	return append(dst, view...)
}

var errClosed = errors.New("online store is closed")

func (s *Store) check(ctx context.Context) error {
	if s.closed.Load() {
		return errClosed
	}
	return ctx.Err()
}

// Write implements online.Store.
func (s *Store) Write(ctx context.Context, records []online.Record) error {
	if err := online.ValidateRecords(records); err != nil {
		return err
	}
	if err := s.check(ctx); err != nil {
		return fmt.Errorf("write online records: %w", err)
	}
	if len(records) == 0 {
		return nil
	}

	// The stored keys, end to end in one buffer, and the winner of each
	// distinct key within the call.
	size := 0
	for i := range records {
		size += 10 + len(records[i].View) + len(records[i].Key)
	}
	arena := make([]byte, 0, size)
	ends := make([]int, len(records))
	for i := range records {
		arena = appendKey(arena, records[i].View, records[i].Key)
		ends[i] = len(arena)
	}
	keyOf := func(i int) []byte {
		start := 0
		if i > 0 {
			start = ends[i-1]
		}
		return arena[start:ends[i]:ends[i]]
	}
	winners := pickWinners(records, keyOf)

	batchSize := len(arena)
	for _, i := range winners {
		batchSize += online.RecordSize(records[i].Values) + 16 // + op kind and lengths
	}

	s.mu.Lock()
	if s.closed.Load() { // closed while this Write was preparing
		s.mu.Unlock()
		return fmt.Errorf("write online records: %w", errClosed)
	}
	b := s.db.NewBatchWithSize(batchSize)
	var enc []byte
	for _, i := range winners {
		k := keyOf(i)
		r := &records[i]
		v, closer, err := s.db.Get(k)
		switch {
		case err == nil:
			stored, cerr := online.RecordEventTime(v)
			closer.Close()
			// A stored record that does not decode is overwritten: a
			// valid write is the repair.
			if cerr == nil && stored.After(r.EventTime) {
				continue
			}
		case !errors.Is(err, pebbledb.ErrNotFound):
			s.mu.Unlock()
			b.Close()
			return fmt.Errorf("write online records: read %s: %w", describe(k), err)
		}
		enc = online.AppendRecord(enc[:0], r.EventTime, r.Values)
		if err := b.Set(k, enc, nil); err != nil {
			s.mu.Unlock()
			b.Close()
			return fmt.Errorf("write online records: %w", err)
		}
	}
	if b.Empty() {
		s.mu.Unlock()
		return b.Close()
	}
	err := s.db.ApplyNoSyncWait(b, pebbledb.Sync)
	s.mu.Unlock()
	if err == nil {
		err = b.SyncWait()
	}
	if cerr := b.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write online records: %w", err)
	}
	return nil
}

// pickWinners returns, for each distinct key among the records, the index
// of the record that wins within the call: the latest event time, and of
// equal times the later one. Indexes come in order of first appearance.
func pickWinners(records []online.Record, keyOf func(int) []byte) []int {
	if len(records) == 1 {
		return []int{0}
	}
	winners := make([]int, 0, len(records))
	seen := make(map[string]int, len(records)) // key -> position in winners
	for i := range records {
		k := keyOf(i)
		// The map's keys alias the arena, which is not modified again.
		ks := unsafe.String(unsafe.SliceData(k), len(k))
		if pos, ok := seen[ks]; ok {
			if !records[winners[pos]].EventTime.After(records[i].EventTime) {
				winners[pos] = i
			}
			continue
		}
		seen[ks] = len(winners)
		winners = append(winners, i)
	}
	return winners
}

// describe names a stored key for an error message.
func describe(k []byte) string {
	n, view := 0, k[1:]
	var l uint64
	for shift := uint(0); n < len(view); shift += 7 {
		c := view[n]
		n++
		l |= uint64(c&0x7f) << shift
		if c < 0x80 {
			break
		}
	}
	if uint64(len(view)-n) < l {
		return fmt.Sprintf("key %q", k)
	}
	return fmt.Sprintf("view %q key %q", view[n:n+int(l)], view[n+int(l):])
}

// Get implements online.Store.
func (s *Store) Get(ctx context.Context, view string, keys []string, dst []online.Result) error {
	if err := online.ValidateGet(view, keys, dst); err != nil {
		return err
	}
	if err := s.check(ctx); err != nil {
		return fmt.Errorf("get online records: %w", err)
	}
	var buf [256]byte
	k := appendViewPrefix(buf[:0], view)
	prefix := len(k)
	for i, key := range keys {
		k = append(k[:prefix], key...)
		v, closer, err := s.db.Get(k)
		if errors.Is(err, pebbledb.ErrNotFound) {
			dst[i] = online.Result{Values: dst[i].Values[:0]}
			continue
		}
		if err != nil {
			return fmt.Errorf("get online record: view %q key %q: %w", view, key, err)
		}
		// Decoded in Pebble's memory: numbers do not point into the record.
		// A record with text is copied out once, and its strings share the
		// copy.
		t, values, err := online.DecodeRecord(unsafe.String(unsafe.SliceData(v), len(v)), dst[i].Values)
		if err == nil && hasText(values) {
			t, values, err = online.DecodeRecord(string(v), values)
		}
		closer.Close()
		if err != nil {
			dst[i] = online.Result{Values: values[:0]}
			return fmt.Errorf("get online record: view %q key %q: %w", view, key, err)
		}
		dst[i] = online.Result{Found: true, EventTime: t, Values: values}
	}
	return nil
}

func hasText(values []online.Value) bool {
	for _, v := range values {
		if v.Kind() == online.KindString {
			return true
		}
	}
	return false
}

// Flush writes the memtable out as sorted tables. A large memtable holds
// a materialization's records until Pebble flushes it on its own, and a
// point read from its skiplist costs several times one from the tables,
// which have bloom filters and the block cache (BenchmarkOnlineGet).
func (s *Store) Flush() error {
	if err := s.check(context.Background()); err != nil {
		return fmt.Errorf("flush online store: %w", err)
	}
	if err := s.db.Flush(); err != nil {
		return fmt.Errorf("flush online store: %w", err)
	}
	return nil
}

// DeleteView implements online.Store. It writes one range tombstone; the
// space is reclaimed by later compactions.
func (s *Store) DeleteView(ctx context.Context, view string) error {
	if err := online.ValidateView(view); err != nil {
		return err
	}
	if err := s.check(ctx); err != nil {
		return fmt.Errorf("delete online view %q: %w", view, err)
	}
	start := appendViewPrefix(nil, view)
	end := bytes.Clone(start)
	// The successor of the prefix: no key of another view lies in
	// [start, end), because views are length-prefixed.
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			end = end[:i+1]
			break
		}
	}
	if err := s.db.DeleteRange(start, end, pebbledb.Sync); err != nil {
		return fmt.Errorf("delete online view %q: %w", view, err)
	}
	return nil
}

// Close implements online.Store. Closing twice is an error.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return errClosed
	}
	s.mu.Lock() // let a Write in progress finish
	defer s.mu.Unlock()
	return s.db.Close()
}
