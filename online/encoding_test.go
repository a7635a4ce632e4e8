package online_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"testing"
	"time"

	"github.com/plinthml/plinth/online"
)

var sample = []online.Value{
	online.Null,
	online.FloatValue(1.5),
	online.FloatValue(math.NaN()),
	online.FloatValue(math.Inf(-1)),
	online.FloatValue(math.Copysign(0, -1)),
	online.IntValue(-300),
	online.IntValue(math.MinInt64),
	online.StringValue(""),
	online.StringValue("AA\x1fN123"),
	online.BoolValue(true),
	online.BoolValue(false),
}

func TestRecordRoundTrip(t *testing.T) {
	times := []time.Time{
		time.Date(2026, 11, 22, 1, 2, 3, 456789, time.UTC),
		online.MinEventTime,
		online.MaxEventTime,
		time.Unix(0, 0),
		time.Unix(0, -1),
	}
	for _, tm := range times {
		for _, vals := range [][]online.Value{nil, sample, sample[:1]} {
			data := online.AppendRecord([]byte("prefix"), tm, vals)
			if !bytes.HasPrefix(data, []byte("prefix")) {
				t.Fatal("AppendRecord overwrote dst")
			}
			data = data[len("prefix"):]
			if len(data) != online.RecordSize(vals) {
				t.Fatalf("RecordSize = %d, encoded %d bytes", online.RecordSize(vals), len(data))
			}
			got, dec, err := online.DecodeRecord(string(data), nil)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tm) || got.Location() != time.UTC {
				t.Fatalf("time %v, want %v in UTC", got, tm)
			}
			if len(dec) != len(vals) {
				t.Fatalf("%d values, want %d", len(dec), len(vals))
			}
			for i := range vals {
				if !dec[i].Identical(vals[i]) {
					t.Fatalf("value %d: %v, want %v", i, dec[i], vals[i])
				}
			}
			et, err := online.RecordEventTime(data)
			if err != nil || !et.Equal(tm) {
				t.Fatalf("RecordEventTime = %v, %v; want %v", et, err, tm)
			}
		}
	}
}

// The header's event time bytes order as the times do, which the Redis
// script relies on.
func TestHeaderOrdersByTime(t *testing.T) {
	times := []time.Time{
		online.MinEventTime,
		time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Unix(0, -1),
		time.Unix(0, 0),
		time.Unix(0, 1),
		time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC),
		online.MaxEventTime,
	}
	for i := 1; i < len(times); i++ {
		a := online.AppendRecord(nil, times[i-1], nil)[1:online.RecordHeaderSize]
		b := online.AppendRecord(nil, times[i], nil)[1:online.RecordHeaderSize]
		if bytes.Compare(a, b) >= 0 {
			t.Fatalf("header of %v does not sort before header of %v", times[i-1], times[i])
		}
	}
}

func TestDecodeReusesDst(t *testing.T) {
	data := string(online.AppendRecord(nil, time.Unix(1, 0), sample))
	dst := make([]online.Value, 3, 64)
	_, got, err := online.DecodeRecord(data, dst)
	if err != nil {
		t.Fatal(err)
	}
	if &got[0] != &dst[:1][0] {
		t.Fatal("DecodeRecord allocated although dst had the capacity")
	}
	if allocs := testing.AllocsPerRun(100, func() { online.DecodeRecord(data, dst) }); allocs != 0 {
		t.Fatalf("DecodeRecord into a large enough dst: %v allocations, want 0", allocs)
	}
}

func TestDecodeCorrupt(t *testing.T) {
	valid := online.AppendRecord(nil, time.Unix(1, 0), sample)
	resum := func(b []byte) []byte {
		b = bytes.Clone(b)
		binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], crc32.MakeTable(crc32.Castagnoli)))
		return b
	}
	// body returns a record with a valid header and checksum around body.
	body := func(body ...byte) []byte {
		b := append([]byte{online.RecordVersion}, valid[1:online.RecordHeaderSize]...)
		b = append(b, body...)
		return resum(append(b, 0, 0, 0, 0))
	}
	cases := map[string][]byte{
		"nil":                  nil,
		"header only":          valid[:online.RecordHeaderSize],
		"truncated":            valid[:len(valid)-1],
		"bad checksum":         append(bytes.Clone(valid[:len(valid)-1]), valid[len(valid)-1]^1),
		"wrong version":        resum(append([]byte{2}, valid[1:]...)),
		"count beyond data":    body(200, 1),
		"huge count":           body(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
		"overlong count":       body(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
		"missing values":       body(2, 0),
		"unknown tag":          body(1, 9),
		"float truncated":      body(1, 1, 0, 0, 0),
		"int truncated":        body(1, 2, 0x80),
		"string too long":      body(1, 3, 5, 'a', 'b'),
		"string length huge":   body(1, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f),
		"bytes after values":   body(1, 0, 0),
		"count missing":        body(),
		"string len truncated": body(1, 3, 0x80),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			if _, _, err := online.DecodeRecord(string(data), nil); !errors.Is(err, online.ErrCorrupt) {
				t.Fatalf("DecodeRecord error = %v, want ErrCorrupt", err)
			}
		})
	}
	if _, err := online.RecordEventTime(valid[:len(valid)-1]); !errors.Is(err, online.ErrCorrupt) {
		t.Fatalf("RecordEventTime of a truncated record: error = %v, want ErrCorrupt", err)
	}
}

func TestValueAccessors(t *testing.T) {
	if v := online.FloatValue(2.5); v.Kind() != online.KindFloat || v.Float() != 2.5 || v.Int() != 0 || v.String() != "2.5" {
		t.Fatalf("float: %v", v)
	}
	if v := online.IntValue(-3); v.Kind() != online.KindInt || v.Int() != -3 || v.Float() != 0 || v.String() != "-3" {
		t.Fatalf("int: %v", v)
	}
	if v := online.StringValue("x"); v.Kind() != online.KindString || v.Str() != "x" || v.String() != `"x"` {
		t.Fatalf("string: %v", v)
	}
	if v := online.BoolValue(true); v.Kind() != online.KindBool || !v.Bool() || v.String() != "true" {
		t.Fatalf("bool: %v", v)
	}
	var zero online.Value
	if !zero.IsNull() || zero.Kind() != online.KindNull || zero.String() != "null" || zero.Bool() || zero.Str() != "" {
		t.Fatalf("zero value: %v", zero)
	}
	if !online.FloatValue(math.NaN()).Identical(online.FloatValue(math.NaN())) {
		t.Fatal("NaN is not identical to itself")
	}
	if online.FloatValue(0).Identical(online.FloatValue(math.Copysign(0, -1))) {
		t.Fatal("0 is identical to -0")
	}
}

// FuzzDecodeRecord feeds arbitrary bytes to the decoder, as they are and with
// a valid checksum appended (so the fuzzer gets past the checksum to the
// parser). Decoding must never panic, and whatever decodes must encode and
// decode again to the same record.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(online.AppendRecord(nil, time.Unix(1, 0), sample))
	f.Add(online.AppendRecord(nil, time.Unix(0, 0), nil))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		withSum := binary.LittleEndian.AppendUint32(bytes.Clone(data),
			crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)))
		for _, in := range [][]byte{data, withSum} {
			tm, vals, err := online.DecodeRecord(string(in), nil)
			et, terr := online.RecordEventTime(in)
			if (err == nil) != (terr == nil) && err == nil {
				t.Fatalf("DecodeRecord succeeded but RecordEventTime failed: %v", terr)
			}
			if err != nil {
				if !errors.Is(err, online.ErrCorrupt) {
					t.Fatalf("error %v does not wrap ErrCorrupt", err)
				}
				continue
			}
			if !et.Equal(tm) {
				t.Fatalf("RecordEventTime %v, DecodeRecord %v", et, tm)
			}
			again := online.AppendRecord(nil, tm, vals)
			tm2, vals2, err := online.DecodeRecord(string(again), nil)
			if err != nil || !tm2.Equal(tm) || len(vals2) != len(vals) {
				t.Fatalf("re-encoded record: %v, %v, %d values (want %v, %d)", err, tm2, len(vals2), tm, len(vals))
			}
			for i := range vals {
				if !vals2[i].Identical(vals[i]) {
					t.Fatalf("value %d: %v after re-encoding, want %v", i, vals2[i], vals[i])
				}
			}
		}
	})
}

// FuzzRoundTrip builds records from fuzzed values and checks that they
// decode to themselves.
func FuzzRoundTrip(f *testing.F) {
	f.Add(int64(0), []byte{0, 1, 2, 3, 4}, "s", 1.5, int64(-7))
	f.Add(int64(math.MinInt64), []byte{}, "", math.Inf(1), int64(math.MaxInt64))
	f.Fuzz(func(t *testing.T, nanos int64, kinds []byte, s string, fl float64, i int64) {
		vals := make([]online.Value, len(kinds))
		for j, k := range kinds {
			switch k % 5 {
			case 0:
				vals[j] = online.Null
			case 1:
				vals[j] = online.FloatValue(fl)
			case 2:
				vals[j] = online.IntValue(i + int64(j))
			case 3:
				vals[j] = online.StringValue(s[:min(len(s), j)])
			case 4:
				vals[j] = online.BoolValue(k&8 != 0)
			}
		}
		tm := time.Unix(0, nanos)
		data := online.AppendRecord(nil, tm, vals)
		if len(data) != online.RecordSize(vals) {
			t.Fatalf("RecordSize %d, encoded %d", online.RecordSize(vals), len(data))
		}
		got, dec, err := online.DecodeRecord(string(data), nil)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Equal(tm) || len(dec) != len(vals) {
			t.Fatalf("decoded %v with %d values, want %v with %d", got, len(dec), tm, len(vals))
		}
		for j := range vals {
			if !dec[j].Identical(vals[j]) {
				t.Fatalf("value %d: %v, want %v", j, dec[j], vals[j])
			}
		}
	})
}
