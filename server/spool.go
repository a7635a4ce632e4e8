package server

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"time"

	"github.com/plinthml/plinth/serve"
)

// A spool segment holds prediction log records on their way from the
// log's writer, which shares the serving cores, to the converter that
// writes them as Parquet at a low priority (convert.go). The writer's part
// is only to append each record as a frame; a segment is a sequence of
// frames, each
//
//	length  uint32, little-endian: of the payload
//	crc     uint32, little-endian: CRC-32C of the payload
//	payload length bytes; its first byte is the frame's kind
//
// A layout frame describes the features of one model version's records
// (their names and column kinds) and is written once per segment, before
// the first record that uses it; a record frame refers to it by its index
// in the segment. Feature values are stored as their columns hold them
// (featureValue), so the converter needs no model. A segment outlives a
// kill -9 of its server: the next start converts what it holds up to the
// first frame that is torn or fails its checksum.
const (
	frameLayout byte = 'L'
	frameRecord byte = 'R'

	frameHeader = 8
	// maxFrame bounds a frame's payload: a length beyond it is taken as
	// corruption rather than read.
	maxFrame = 64 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// spoolRecord is a record as a segment holds it.
type spoolRecord struct {
	layout              int
	endpoint, requestID string
	model, variant      string
	version             int64
	time, ingested      time.Time
	latencyUS           int64
	request             []byte // JSON text; nil when the request had none
	outputs             []float64
	features            []spoolValue // by the layout's features
}

// spoolValue is a feature's value as its column holds it.
type spoolValue struct {
	null bool
	num  float64 // kindDouble
	int  int64   // kindInt
	bool bool    // kindBool
	text string  // kindText
}

// segmentWriter appends frames to a segment file. Frames are gathered in
// buf and written when it grows past spoolChunk, when a record comes
// spoolEvery or more after the last write, and when the segment is
// closed: a write call per record would cost the serving cores more than
// encoding it.
type segmentWriter struct {
	path    string
	file    *os.File
	buf     []byte
	layouts map[*logLayout]int // index in the segment
	written time.Time          // of the last write
	records int                // added, including those lost to err
	err     error              // the first; the segment's records are lost
}

const (
	spoolChunk = 64 << 10
	spoolEvery = 100 * time.Millisecond
)

func createSegment(dir string, buf []byte) *segmentWriter {
	w := &segmentWriter{buf: buf[:0], layouts: map[*logLayout]int{}, written: time.Now()}
	w.file, w.err = os.CreateTemp(dir, "segment-*.spool")
	if w.err == nil {
		w.path = w.file.Name()
	}
	return w
}

// add appends r, whose layout is lay, and writes what is gathered when it
// is due.
func (w *segmentWriter) add(lay *logLayout, r *serve.LogRecord, request []byte, now time.Time) {
	w.records++
	if w.err != nil {
		return
	}
	id, ok := w.layouts[lay]
	if !ok {
		id = len(w.layouts)
		w.layouts[lay] = id
		w.buf = appendFrame(w.buf, func(b []byte) []byte { return appendLayout(b, lay) })
	}
	w.buf = appendFrame(w.buf, func(b []byte) []byte { return appendRecord(b, id, lay, r, request, now) })
	if len(w.buf) >= spoolChunk || now.Sub(w.written) >= spoolEvery {
		w.write(now)
	}
}

func (w *segmentWriter) write(now time.Time) {
	if len(w.buf) > 0 && w.err == nil {
		_, w.err = w.file.Write(w.buf)
	}
	w.buf = w.buf[:0]
	w.written = now
}

// close writes what is gathered and closes the file. The segment is not
// synced: it must outlive the process, not the machine, and the Parquet
// files made of it are synced when they are stored.
func (w *segmentWriter) close() error {
	if w.file == nil {
		return w.err
	}
	w.write(time.Now())
	if err := w.file.Close(); err != nil && w.err == nil {
		w.err = err
	}
	return w.err
}

// appendFrame appends a frame whose payload body appends.
func appendFrame(b []byte, body func([]byte) []byte) []byte {
	start := len(b)
	b = append(b, make([]byte, frameHeader)...)
	b = body(b)
	payload := b[start+frameHeader:]
	binary.LittleEndian.PutUint32(b[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(b[start+4:], crc32.Checksum(payload, castagnoli))
	return b
}

func appendLayout(b []byte, lay *logLayout) []byte {
	b = append(b, frameLayout)
	b = binary.AppendUvarint(b, uint64(len(lay.names)))
	for i, n := range lay.names {
		b = appendString(b, n)
		b = append(b, byte(lay.kinds[i]))
	}
	return b
}

func appendRecord(b []byte, layout int, lay *logLayout, r *serve.LogRecord, request []byte, ingested time.Time) []byte {
	b = append(b, frameRecord)
	b = binary.AppendUvarint(b, uint64(layout))
	b = appendString(b, r.Endpoint)
	b = appendString(b, r.RequestID)
	b = appendString(b, r.Model)
	b = appendString(b, r.Variant)
	b = binary.AppendVarint(b, int64(r.Version))
	b = binary.AppendVarint(b, r.Time.UnixMicro())
	b = binary.AppendVarint(b, ingested.UnixMicro())
	b = binary.AppendVarint(b, r.LatencyUS)
	if request == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = appendString(b, request)
	}
	b = binary.AppendUvarint(b, uint64(len(r.Outputs)))
	for _, x := range r.Outputs {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
	}
	for i := range lay.names {
		v := lay.featureValue(i, r.Inputs.Values)
		if v.IsNull() {
			b = append(b, 0)
			continue
		}
		b = append(b, 1)
		switch lay.kinds[i] {
		case kindDouble:
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v.Double()))
		case kindInt:
			b = binary.AppendVarint(b, v.Int64())
		case kindBool:
			if v.Boolean() {
				b = append(b, 1)
			} else {
				b = append(b, 0)
			}
		case kindText:
			b = appendString(b, v.ByteArray())
		}
	}
	return b
}

func appendString[T string | []byte](b []byte, s T) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// segmentReader reads a segment's frames.
type segmentReader struct {
	r       io.Reader
	header  [frameHeader]byte
	payload []byte
	layouts []*logLayout // by their index in the segment
	offset  int64        // of the next frame
}

// next reads the next record into rec, reading the layout frames before
// it. It returns io.EOF at the end of the segment, and an error naming the
// offset where the rest cannot be read: a frame torn by a crash, or
// corrupt.
func (s *segmentReader) next(rec *spoolRecord) error {
	for {
		if _, err := io.ReadFull(s.r, s.header[:]); err != nil {
			if err == io.EOF {
				return io.EOF
			}
			return s.torn("header: %v", err)
		}
		n := binary.LittleEndian.Uint32(s.header[:])
		if n == 0 || n > maxFrame {
			return s.torn("length %d", n)
		}
		if cap(s.payload) < int(n) {
			s.payload = make([]byte, n)
		}
		p := s.payload[:n]
		if _, err := io.ReadFull(s.r, p); err != nil {
			return s.torn("payload: %v", err)
		}
		if crc32.Checksum(p, castagnoli) != binary.LittleEndian.Uint32(s.header[4:]) {
			return s.torn("checksum")
		}
		at := s.offset
		s.offset += frameHeader + int64(n)
		d := decoder{b: p[1:]}
		switch p[0] {
		case frameLayout:
			lay := d.layout()
			if d.err != nil {
				return fmt.Errorf("frame at %d: layout: %w", at, d.err)
			}
			s.layouts = append(s.layouts, lay)
		case frameRecord:
			d.record(rec, s.layouts)
			if d.err != nil {
				return fmt.Errorf("frame at %d: record: %w", at, d.err)
			}
			return nil
		default:
			return fmt.Errorf("frame at %d: unknown kind %q", at, p[0])
		}
	}
}

func (s *segmentReader) torn(format string, args ...any) error {
	return fmt.Errorf("frame at %d: torn or corrupt: %s", s.offset, fmt.Sprintf(format, args...))
}

// decoder reads a frame's payload; its first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%s: malformed", what)
	}
	d.b = nil
}

func (d *decoder) uvarint(what string) uint64 {
	x, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return x
}

func (d *decoder) varint(what string) int64 {
	x, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return x
}

func (d *decoder) bytes(what string, n uint64) []byte {
	if n > uint64(len(d.b)) {
		d.fail(what)
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) string(what string) string {
	return string(d.bytes(what, d.uvarint(what)))
}

func (d *decoder) byte(what string) byte {
	p := d.bytes(what, 1)
	if p == nil {
		return 0
	}
	return p[0]
}

func (d *decoder) float(what string) float64 {
	p := d.bytes(what, 8)
	if p == nil {
		return 0
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(p))
}

// count reads a count of items that take at least size bytes each, so
// that a corrupt count cannot make the reader allocate more than the frame
// could hold.
func (d *decoder) count(what string, size int) int {
	n := d.uvarint(what)
	if n > uint64(len(d.b)/size) {
		d.fail(what)
		return 0
	}
	return int(n)
}

// layout reads a layout frame: the features' names and kinds, all the
// converter needs to write their files.
func (d *decoder) layout() *logLayout {
	n := d.count("features", 2)
	names, kinds := make([]string, n), make([]featureKind, n)
	for i := range n {
		names[i] = d.string("feature name")
		if kinds[i] = featureKind(d.byte("feature kind")); kinds[i] > kindText {
			d.fail("feature kind")
		}
	}
	if len(d.b) != 0 {
		d.fail("layout")
	}
	if d.err != nil {
		return nil
	}
	return layoutOf(names, kinds)
}

func (d *decoder) record(r *spoolRecord, layouts []*logLayout) {
	id := d.uvarint("layout")
	if d.err == nil && id >= uint64(len(layouts)) {
		d.err = fmt.Errorf("layout %d is not defined before it", id)
	}
	if d.err != nil {
		return
	}
	lay := layouts[id]
	r.layout = int(id)
	r.endpoint = d.string("endpoint")
	r.requestID = d.string("request id")
	r.model = d.string("model")
	r.variant = d.string("variant")
	r.version = d.varint("version")
	r.time = time.UnixMicro(d.varint("time")).UTC()
	r.ingested = time.UnixMicro(d.varint("ingested")).UTC()
	r.latencyUS = d.varint("latency")
	r.request = nil
	if d.byte("request") == 1 {
		r.request = d.bytes("request", d.uvarint("request"))
	}
	r.outputs = r.outputs[:0]
	for range d.count("outputs", 8) {
		r.outputs = append(r.outputs, d.float("output"))
	}
	r.features = r.features[:0]
	for _, k := range lay.kinds {
		var v spoolValue
		if v.null = d.byte("feature") == 0; !v.null {
			switch k {
			case kindDouble:
				v.num = d.float("feature")
			case kindInt:
				v.int = d.varint("feature")
			case kindBool:
				v.bool = d.byte("feature") != 0
			case kindText:
				v.text = d.string("feature")
			}
		}
		r.features = append(r.features, v)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("record")
	}
}
