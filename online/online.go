// Package online defines plinth's online feature store: the key-value store
// that serving reads the latest feature values of an entity from, in
// microseconds, and that materialization and push write into.
//
// A Record is one row of one feature view for one entity: the values of the
// view's features, in the order of the view's feature names, and the event
// time they are valid at. Stores keep the newest record per (view, key):
// writing is an upsert that never lets an older event overwrite a newer one,
// so replays, retries and late events are harmless.
//
// Implementations live in sub-packages named after what they store into
// (pebble: an embedded LSM store in the data directory, the default; redis:
// a Redis server, for several serving replicas) and all pass the suite in
// onlinetest. Both store a record in the binary form of AppendRecord.
//
// # Staleness is not the store's job
//
// A store keeps a record until it is overwritten or its view is deleted; it
// knows nothing of a view's TTL. Get returns each record's event time, and the
// feature layer compares it with the view's TTL, as the offline point-in-time
// join does, so a value is stale online exactly when it would be outside the
// TTL offline.
package online

import (
	"context"
	"errors"
	"math"
	"strconv"
	"time"

	"github.com/plinthml/plinth"
)

// Record is the latest known row of one feature view for one entity.
type Record struct {
	// View names the feature view; it must not be empty. Views are separate
	// namespaces: the same key in two views names two records.
	View string
	// Key is the entity key, already encoded by the caller ("JFK", or the
	// parts of a composite key joined by a separator). Any bytes, including
	// none, are a valid key.
	Key string
	// EventTime is when the values were true in the world. It decides which
	// of two writes of the same (view, key) is kept. It must lie between
	// MinEventTime and MaxEventTime; stores keep it to the nanosecond, in UTC.
	EventTime time.Time
	// Values are the view's feature values, in the order of the view's
	// feature names (which live in the view's definition, not here).
	Values []Value
}

// Result is what Get found for one key.
type Result struct {
	// Found reports whether the store holds a record for the key. If it is
	// false, EventTime is zero and Values is empty.
	Found bool
	// EventTime is the stored record's event time, in UTC.
	EventTime time.Time
	// Values are the stored record's values. Get reuses the capacity of the
	// slice it is given, so a caller that keeps its []Result between calls
	// decodes without allocating a new slice.
	Values []Value
}

// Store is an online feature store. Implementations are safe for concurrent
// use.
//
// Write upserts records: for each (view, key) the store keeps the record with
// the latest EventTime. A record older than the stored one is ignored (not an
// error), so replaying or retrying a Write, or writing late events, never
// overwrites newer values; of two records with equal event times the later
// write wins (within one call, the one later in the slice). Write returns
// only once the records it accepted are durable as far as the backend can
// promise (fsynced for pebble). It is idempotent, so a failed Write may be
// retried whole; some of its records may have been written before it failed.
// An invalid record (empty view, event time out of range) is an EINVALID
// *plinth.Error naming the field, and nothing of that call is written.
//
// Get looks up keys of one view and fills dst[i] for keys[i]; dst must have
// len(keys) elements (else EINVALID). A missing key is not an error: its
// Result has Found false. A stored record that cannot be decoded makes Get
// return an error wrapping ErrCorrupt that names the view and key. Values of
// kind KindString in dst may share memory with each other; they are
// immutable Go strings and stay valid after later calls.
//
// DeleteView removes every record of a view; deleting a view that has no
// records is not an error. Writes to the view that run concurrently with
// DeleteView may or may not survive it.
//
// Close releases the store; no method may be called after it.
//
// A context that is already canceled or expired makes every method but
// Close return an error wrapping ctx.Err(). Errors other than the ones above
// (a lost connection, a full disk) are returned wrapped and count as
// EINTERNAL.
type Store interface {
	Write(ctx context.Context, records []Record) error
	Get(ctx context.Context, view string, keys []string, dst []Result) error
	DeleteView(ctx context.Context, view string) error
	Close() error
}

// ErrCorrupt is wrapped by the errors of Get and DecodeRecord for stored bytes
// that are not a valid record.
var ErrCorrupt = errors.New("online: stored record is corrupt")

// The range of event times a store keeps: the times whose Unix nanoseconds
// fit in an int64 (the years 1678 to 2262).
var (
	MinEventTime = time.Unix(0, math.MinInt64).UTC()
	MaxEventTime = time.Unix(0, math.MaxInt64).UTC()
)

// ValidateRecords checks what every store requires of the records of a
// Write: a view name and an event time in range. It returns an EINVALID
// *plinth.Error whose field is "records[i].view" or "records[i].event_time"
// for the first bad record.
func ValidateRecords(records []Record) error {
	for i := range records {
		r := &records[i]
		if r.View == "" {
			return plinth.Invalid(field(i, "view"), "is empty")
		}
		if r.EventTime.IsZero() {
			return plinth.Invalid(field(i, "event_time"), "is not set")
		}
		if r.EventTime.Before(MinEventTime) || r.EventTime.After(MaxEventTime) {
			return plinth.Invalid(field(i, "event_time"), "%s is outside the range %d to %d",
				r.EventTime.UTC().Format(time.RFC3339Nano), MinEventTime.Year(), MaxEventTime.Year())
		}
	}
	return nil
}

// ValidateView returns an EINVALID *plinth.Error with field "view" for an
// empty view name.
func ValidateView(view string) error {
	if view == "" {
		return plinth.Invalid("view", "is empty")
	}
	return nil
}

// ValidateGet checks the arguments of Store.Get.
func ValidateGet(view string, keys []string, dst []Result) error {
	if err := ValidateView(view); err != nil {
		return err
	}
	if len(dst) != len(keys) {
		return plinth.Invalid("dst", "has %d results for %d keys", len(dst), len(keys))
	}
	return nil
}

func field(i int, name string) string {
	return "records[" + strconv.Itoa(i) + "]." + name
}

// Kind is the type of a Value.
type Kind uint8

// The kinds of value. The zero Value is null.
const (
	KindNull Kind = iota
	KindFloat
	KindInt
	KindString
	KindBool
)

var kindNames = [...]string{"null", "float", "int", "string", "bool"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is one typed feature value: a float64, int64, string or bool, or
// null (a missing value). It is a small comparable struct; reading it never
// allocates. The zero Value is null.
type Value struct {
	kind Kind
	num  uint64 // float64 bits, int64, or 0/1 for a bool
	str  string
}

// Null is the null Value.
var Null = Value{}

// FloatValue returns a float Value. NaN and the infinities are kept as they
// are, to the bit.
func FloatValue(f float64) Value { return Value{kind: KindFloat, num: math.Float64bits(f)} }

// IntValue returns an int Value.
func IntValue(i int64) Value { return Value{kind: KindInt, num: uint64(i)} }

// StringValue returns a string Value.
func StringValue(s string) Value { return Value{kind: KindString, str: s} }

// BoolValue returns a bool Value.
func BoolValue(b bool) Value {
	v := Value{kind: KindBool}
	if b {
		v.num = 1
	}
	return v
}

// Kind returns v's kind.
func (v Value) Kind() Kind { return v.kind }

// IsNull reports whether v is null.
func (v Value) IsNull() bool { return v.kind == KindNull }

// Float returns v's float; 0 unless v is KindFloat.
func (v Value) Float() float64 {
	if v.kind != KindFloat {
		return 0
	}
	return math.Float64frombits(v.num)
}

// Int returns v's int; 0 unless v is KindInt.
func (v Value) Int() int64 {
	if v.kind != KindInt {
		return 0
	}
	return int64(v.num)
}

// Str returns v's string; "" unless v is KindString.
func (v Value) Str() string {
	if v.kind != KindString {
		return ""
	}
	return v.str
}

// Bool returns v's bool; false unless v is KindBool.
func (v Value) Bool() bool { return v.kind == KindBool && v.num != 0 }

// Identical reports whether v and w are the same value of the same kind; two
// floats are identical when their bits are, so a NaN is identical to itself
// and 0 is not identical to -0.
func (v Value) Identical(w Value) bool { return v == w }

// String formats v for people: null, a number, true/false, or a quoted string.
func (v Value) String() string {
	switch v.kind {
	case KindNull:
		return "null"
	case KindFloat:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case KindInt:
		return strconv.FormatInt(v.Int(), 10)
	case KindString:
		return strconv.Quote(v.str)
	case KindBool:
		return strconv.FormatBool(v.Bool())
	}
	return v.kind.String()
}
