package online

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"time"
	"unsafe"
)

// The stored form of a record, shared by every backend (the key is the
// backend's business):
//
//	offset  size  field
//	0       1     format version, RecordVersion
//	1       8     event time: Unix nanoseconds as a big-endian uint64 with the
//	              sign bit flipped, so comparing these 8 bytes as unsigned
//	              bytes compares the times
//	9       var   number of values, uvarint
//	...     var   each value: a tag byte, then
//	                0 null      nothing
//	                1 float     8 bytes, IEEE-754 bits, little-endian
//	                2 int       zigzag varint
//	                3 string    uvarint length, then the bytes
//	                4 false     nothing
//	                5 true      nothing
//	end-4   4     CRC-32C (Castagnoli) of every byte before it, little-endian
//
// The first nine bytes are the same in every version, present and future, so
// a backend can compare the event times of two stored records without
// decoding them (the Redis backend does so in Lua). A new version changes
// only what follows.
const (
	// RecordVersion is the version byte AppendRecord writes.
	RecordVersion = 1
	// RecordHeaderSize is the size of the version byte and the event time.
	RecordHeaderSize = 9

	checksumSize  = 4
	minRecordSize = RecordHeaderSize + 1 + checksumSize // no values
)

const (
	tagNull byte = iota
	tagFloat
	tagInt
	tagString
	tagFalse
	tagTrue
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// AppendRecord appends the stored form of a record with the given event time
// and values to dst and returns the extended slice. The event time must be
// within MinEventTime and MaxEventTime (ValidateRecords checks it).
func AppendRecord(dst []byte, eventTime time.Time, values []Value) []byte {
	start := len(dst)
	dst = append(dst, RecordVersion)
	dst = binary.BigEndian.AppendUint64(dst, uint64(eventTime.UnixNano())^(1<<63))
	dst = binary.AppendUvarint(dst, uint64(len(values)))
	for _, v := range values {
		switch v.kind {
		case KindFloat:
			dst = append(dst, tagFloat)
			dst = binary.LittleEndian.AppendUint64(dst, v.num)
		case KindInt:
			dst = append(dst, tagInt)
			dst = binary.AppendVarint(dst, int64(v.num))
		case KindString:
			dst = append(dst, tagString)
			dst = binary.AppendUvarint(dst, uint64(len(v.str)))
			dst = append(dst, v.str...)
		case KindBool:
			if v.num != 0 {
				dst = append(dst, tagTrue)
			} else {
				dst = append(dst, tagFalse)
			}
		default:
			dst = append(dst, tagNull)
		}
	}
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// RecordSize returns the number of bytes AppendRecord appends for values.
func RecordSize(values []Value) int {
	n := RecordHeaderSize + uvarintLen(uint64(len(values))) + checksumSize
	for _, v := range values {
		n++
		switch v.kind {
		case KindFloat:
			n += 8
		case KindInt:
			n += uvarintLen(uint64(v.num<<1) ^ uint64(int64(v.num)>>63))
		case KindString:
			n += uvarintLen(uint64(len(v.str))) + len(v.str)
		}
	}
	return n
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// RecordEventTime checks the version, size and checksum of a stored record
// and returns its event time without decoding its values. Its errors wrap
// ErrCorrupt.
func RecordEventTime(data []byte) (time.Time, error) {
	if err := check(data); err != nil {
		return time.Time{}, err
	}
	return eventTime(data), nil
}

// DecodeRecord decodes a stored record into dst[:0] and returns its event
// time and values. String values are substrings of data: no bytes are copied.
// A record that is not valid (wrong version, bad checksum, truncated, extra
// bytes, an unknown tag) is an error wrapping ErrCorrupt; DecodeRecord never
// panics.
func DecodeRecord(data string, dst []Value) (time.Time, []Value, error) {
	dst = dst[:0]
	// The checksum is computed over data's bytes in place; nothing writes
	// through the slice.
	if err := check(unsafe.Slice(unsafe.StringData(data), len(data))); err != nil {
		return time.Time{}, dst, err
	}
	t := eventTime(data)
	body := data[RecordHeaderSize : len(data)-checksumSize]
	n, k := uvarint(body)
	if k <= 0 {
		return time.Time{}, dst, corrupt("bad value count")
	}
	body = body[k:]
	if n > uint64(len(body)) { // every value takes at least its tag byte
		return time.Time{}, dst, corrupt("%d values in %d bytes", n, len(body))
	}
	if uint64(cap(dst)) < n {
		dst = make([]Value, 0, n)
	}
	for i := uint64(0); i < n; i++ {
		if len(body) == 0 {
			return time.Time{}, dst[:0], corrupt("value %d of %d: truncated", i, n)
		}
		tag := body[0]
		body = body[1:]
		var v Value
		switch tag {
		case tagNull:
		case tagFloat:
			if len(body) < 8 {
				return time.Time{}, dst[:0], corrupt("value %d: float truncated", i)
			}
			v = Value{kind: KindFloat, num: le64(body)}
			body = body[8:]
		case tagInt:
			x, k := varint(body)
			if k <= 0 {
				return time.Time{}, dst[:0], corrupt("value %d: bad int", i)
			}
			v = Value{kind: KindInt, num: uint64(x)}
			body = body[k:]
		case tagString:
			l, k := uvarint(body)
			if k <= 0 || l > uint64(len(body)-k) {
				return time.Time{}, dst[:0], corrupt("value %d: bad string length", i)
			}
			v = Value{kind: KindString, str: body[k : k+int(l)]}
			body = body[k+int(l):]
		case tagFalse:
			v = Value{kind: KindBool}
		case tagTrue:
			v = Value{kind: KindBool, num: 1}
		default:
			return time.Time{}, dst[:0], corrupt("value %d: unknown tag %d", i, tag)
		}
		dst = append(dst, v)
	}
	if len(body) != 0 {
		return time.Time{}, dst[:0], corrupt("%d bytes after the last value", len(body))
	}
	return t, dst, nil
}

func check(data []byte) error {
	if len(data) < minRecordSize {
		return corrupt("%d bytes, shorter than the smallest record (%d)", len(data), minRecordSize)
	}
	if data[0] != RecordVersion {
		return corrupt("format version %d, want %d", data[0], RecordVersion)
	}
	body := data[:len(data)-checksumSize]
	want := binary.LittleEndian.Uint32(data[len(body):])
	if got := crc32.Checksum(body, castagnoli); got != want {
		return corrupt("checksum %08x, want %08x", got, want)
	}
	return nil
}

func eventTime[T string | []byte](data T) time.Time {
	var u uint64
	for i := 1; i < RecordHeaderSize; i++ {
		u = u<<8 | uint64(data[i])
	}
	return time.Unix(0, int64(u^(1<<63))).UTC()
}

func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// uvarint is binary.Uvarint over a string.
func uvarint(s string) (uint64, int) {
	var x uint64
	var shift uint
	for i := 0; i < len(s); i++ {
		if i == binary.MaxVarintLen64 {
			return 0, -1
		}
		b := s[i]
		if b < 0x80 {
			if i == binary.MaxVarintLen64-1 && b > 1 {
				return 0, -1
			}
			return x | uint64(b)<<shift, i + 1
		}
		x |= uint64(b&0x7f) << shift
		shift += 7
	}
	return 0, 0
}

func varint(s string) (int64, int) {
	ux, n := uvarint(s)
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x, n
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}
