package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/blob"
	"github.com/plinthml/plinth/dataset"
	"github.com/plinthml/plinth/internal/jsonx"
	"github.com/plinthml/plinth/serve"
)

// logSink stores the prediction log as versions of a dataset per
// endpoint, "predictions_<endpoint>", which monitoring and label joins read
// like any dataset. Records are encoded as they are added; a flush writes
// each endpoint's rows to Parquet and records them as the next version.
// The records are plinth's own, so they skip the checks outside data goes
// through: the log's writer shares the serving cores, and the checks cost
// more than the writing (issue 6's benchmark).
type logSink struct {
	ingester *dataset.Ingester
	dir      string // where the open batches are written
	pending  map[pendingKey]*pendingLog
	layouts  map[layoutKey]*logLayout
	reqKeys  []string       // the last request's sorted keys
	spare    []batchBuffers // of finished batches, for the next
}

// pendingKey names a batch: an endpoint's records of one model version.
type pendingKey struct {
	endpoint string
	layout   *logLayout
}

type batchBuffers struct {
	rows []parquet.Row
	text []byte
}

const (
	maxSpareText = 8 << 20
	// maxLayouts bounds the layouts kept of model versions a server has
	// served since it started.
	maxLayouts = 64
)

// pendingLog is a batch: the open Parquet file its rows go to. After a
// write error the batch is lost; its rows are still counted, so that Flush
// reports them.
type pendingLog struct {
	layout             *logLayout
	file               *os.File
	w                  *parquet.Writer
	hash               *blob.Hasher  // of the bytes written to file
	rowBuf             []parquet.Row // rows not yet handed to the writer
	text               []byte        // their requests' JSON text, which they point into
	rows               int
	minEvent, maxEvent time.Time
	err                error
}

func newLogSink(in *dataset.Ingester, dir string) *logSink {
	return &logSink{ingester: in, dir: dir, pending: map[pendingKey]*pendingLog{}, layouts: map[layoutKey]*logLayout{}}
}

// logDir makes this process's directory for the prediction log's open
// batches, work/prediction-log/PID, and removes those of processes that
// are no longer running: a server killed mid-batch leaves a Parquet file
// without its footer, whose records were never stored.
func logDir(work string) (string, error) {
	parent := filepath.Join(work, "prediction-log")
	entries, err := os.ReadDir(parent)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("prediction log: %w", err)
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() || running(pid) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(parent, e.Name())); err != nil {
			return "", fmt.Errorf("prediction log: %w", err)
		}
	}
	dir := filepath.Join(parent, strconv.Itoa(os.Getpid()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("prediction log: %w", err)
	}
	return dir, nil
}

// running reports whether a process with that id exists, even one this
// user may not signal.
func running(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	return !errors.Is(p.Signal(syscall.Signal(0)), os.ErrProcessDone)
}

// PredictionDataset names the dataset an endpoint's predictions go to.
func PredictionDataset(endpoint string) string {
	return "predictions_" + strings.ReplaceAll(endpoint, "-", "_")
}

func (s *logSink) Add(_ context.Context, r serve.LogRecord) {
	lay := s.layout(&r)
	key := pendingKey{r.Endpoint, lay}
	p := s.pending[key]
	if p == nil {
		p = s.open(lay, r.Time)
		s.pending[key] = p
	}
	p.rows++
	if r.Time.Before(p.minEvent) {
		p.minEvent = r.Time
	}
	if r.Time.After(p.maxEvent) {
		p.maxEvent = r.Time
	}
	if p.err != nil {
		return // the batch is lost; Flush reports it
	}
	var request []byte
	if r.Request != nil {
		start := len(p.text)
		p.text, s.reqKeys = jsonx.AppendObject(p.text, s.reqKeys, r.Request)
		// Rows point into text until writeRows; text may move as it
		// grows, but what they point to stays as it was.
		request = p.text[start:len(p.text):len(p.text)]
	}
	n := len(p.rowBuf)
	p.rowBuf = p.rowBuf[:n+1]
	p.rowBuf[n] = lay.appendRow(p.rowBuf[n][:0], &r, request, time.Now().UTC())
	if len(p.rowBuf) == cap(p.rowBuf) {
		p.writeRows() // an error is kept in p.err
	}
}

// layout returns the layout of r's model version.
func (s *logSink) layout(r *serve.LogRecord) *logLayout {
	key := layoutKey{r.Model, r.Version}
	lay := s.layouts[key]
	if lay == nil || !lay.fits(r.Inputs) {
		lay = newLogLayout(r.Inputs)
		s.layouts[key] = lay
	}
	return lay
}

// writeRows hands the buffered rows to the Parquet writer and returns the
// batch's first error. Rows go in groups: the writer's per-call cost is
// paid once per group, and a group is small enough (writeBatch) that writing
// it is no burst.
func (p *pendingLog) writeRows() error {
	if _, err := p.w.WriteRows(p.rowBuf); err != nil && p.err == nil {
		p.err = err
	}
	p.rowBuf = p.rowBuf[:0]
	p.text = p.text[:0] // no row refers to it any more
	return p.err
}

// open starts an endpoint's next batch: a Parquet file that rows are
// written to as they are added, so encoding and compressing them is spread
// over time instead of done at each flush.
func (s *logSink) open(lay *logLayout, first time.Time) *pendingLog {
	p := &pendingLog{layout: lay, minEvent: first, maxEvent: first, hash: blob.NewHasher()}
	if n := len(s.spare); n > 0 { // a finished batch's buffers, grown already
		p.rowBuf, p.text = s.spare[n-1].rows, s.spare[n-1].text
		s.spare = s.spare[:n-1]
	} else {
		p.rowBuf = make([]parquet.Row, 0, writeBatch)
	}
	p.file, p.err = os.CreateTemp(s.dir, "predictions-*.parquet")
	if p.err == nil {
		p.w = parquet.NewWriter(io.MultiWriter(p.file, p.hash), lay.schema,
			parquet.Compression(fastSnappy{}), parquet.MaxRowsPerRowGroup(rowGroupRows))
	}
	return p
}

const (
	// writeBatch is how many rows the log hands its Parquet writer at a
	// time: enough to pay the writer's per-call cost rarely, few enough
	// that one call (under a millisecond) is no burst on a serving core.
	writeBatch = 64
	// rowGroupRows bounds a batch file's row groups. The writer holds a
	// row group's pages until it is complete and then writes, hashes and
	// indexes them all at once, on a core that also serves: a batch of one
	// row group (20,000 rows, about 13 MB) took 40-70 ms at its flush,
	// row groups of 4,096 rows 5-13 ms each under serving load, and of
	// 1,024 rows 2-7 ms (BenchmarkServing's open loop). Smaller groups cost
	// no more per record (BenchmarkLogSink) and let DuckDB skip more of a
	// file by time.
	rowGroupRows = 1024
)

// fastSnappy is Snappy compressed at its fast level. parquet-go's Snappy
// codec compresses at the better level, which was a third of the log
// writer's CPU on the serving cores (BenchmarkLogSink); any Snappy reader
// decodes both.
type fastSnappy struct{}

func (fastSnappy) String() string                            { return "SNAPPY" }
func (fastSnappy) CompressionCodec() format.CompressionCodec { return format.Snappy }
func (fastSnappy) Encode(dst, src []byte) ([]byte, error) {
	return s2.EncodeSnappy(dst[:cap(dst)], src), nil
}
func (fastSnappy) Decode(dst, src []byte) ([]byte, error) { return s2.Decode(dst[:cap(dst)], src) }

// Flush writes every endpoint's pending rows. The rows of an endpoint
// that fails are dropped (and counted as failed): keeping them would grow
// the buffer without bound while the store is down.
func (s *logSink) Flush(ctx context.Context) (int, error) {
	var stored int
	var errs []error
	for key, p := range s.pending {
		name := PredictionDataset(key.endpoint)
		if err := s.write(ctx, name, p); err != nil {
			errs = append(errs, fmt.Errorf("prediction log %s: %w", name, err))
			continue
		}
		stored += p.rows
	}
	for _, p := range s.pending {
		if cap(p.text) <= maxSpareText { // rows of rare size do not keep their memory
			s.spare = append(s.spare, batchBuffers{rows: p.rowBuf[:0], text: p.text[:0]})
		}
	}
	clear(s.pending)
	if len(s.layouts) > maxLayouts {
		clear(s.layouts)
	}
	return stored, errors.Join(errs...)
}

// write closes an endpoint's batch and records it as the dataset's next
// version. The rows' ingestion times are when the writer took them, no
// later than the version's.
func (s *logSink) write(ctx context.Context, name string, p *pendingLog) error {
	if p.file != nil {
		defer os.Remove(p.file.Name())
	}
	if p.err != nil {
		if p.file != nil {
			p.file.Close()
		}
		return p.err
	}
	if err := p.writeRows(); err != nil {
		p.w.Close()
		p.file.Close()
		return err
	}
	if err := p.w.Close(); err != nil {
		p.file.Close()
		return err
	}
	if err := p.file.Close(); err != nil {
		return err
	}
	spec, err := s.ingester.Store.Spec(ctx, name)
	if plinth.IsCode(err, plinth.ENOTFOUND) {
		spec = &dataset.Spec{Name: name, EventTime: "time", Columns: []dataset.Column{{Name: "time", Type: "timestamp", NotNull: true}}}
		err = s.ingester.Store.SetSpec(ctx, *spec)
	}
	if err != nil {
		return err
	}
	info := p.hash.Info()
	_, err = s.ingester.Record(ctx, *spec, dataset.Written{File: p.file.Name(), Rows: int64(p.rows), Schema: p.layout.fields,
		At: time.Now().UTC(), MinEvent: &p.minEvent, MaxEvent: &p.maxEvent, Info: &info}, "prediction log")
	return err
}

// LookupPrediction finds a request's records in an endpoint's prediction
// log dataset with DuckDB, first flushing the log if the request's records
// wait in its buffer. The UI and the API trace a prediction from it.
func (n *Node) LookupPrediction(ctx context.Context, endpoint, requestID string) ([]serve.LogRecord, error) {
	if _, err := n.Runtime.Log.FlushRequest(ctx, requestID); err != nil {
		return nil, err
	}
	snapshots := &dataset.Snapshots{Store: n.Meta, Blobs: n.Blobs, CacheDir: n.Ingester.WorkDir}
	files, err := snapshots.Files(ctx, PredictionDataset(endpoint), nil)
	if err != nil || len(files) == 0 {
		if plinth.ErrorCode(err) == plinth.ENOTFOUND {
			err = nil
		}
		return nil, err
	}
	// Files of different model versions have different features, and read
	// together their structs merge: a record would show the other
	// versions' features as NULL, like a missing value. So the files
	// holding the request are found first and read one by one.
	holding, err := filesHolding(ctx, n.Offline.DB(), files, requestID)
	if err != nil {
		return nil, fmt.Errorf("prediction log of %s: %w", endpoint, err)
	}
	var out []serve.LogRecord
	for _, f := range holding {
		recs, err := readLogRecords(ctx, n.Offline.DB(), f, requestID)
		if err != nil {
			return nil, fmt.Errorf("prediction log of %s: %w", endpoint, err)
		}
		out = append(out, recs...)
	}
	slices.SortStableFunc(out, func(a, b serve.LogRecord) int { return a.Time.Compare(b.Time) })
	return out[:min(len(out), maxLookup)], nil
}

// maxLookup bounds the records LookupPrediction returns.
const maxLookup = 1000

// filesHolding returns those of a prediction log's files that hold a
// request's records.
func filesHolding(ctx context.Context, db *sql.DB, files []string, requestID string) ([]string, error) {
	quoted := make([]string, len(files))
	for i, f := range files {
		quoted[i] = "'" + strings.ReplaceAll(f, "'", "''") + "'"
	}
	rows, err := db.QueryContext(ctx, `SELECT DISTINCT filename FROM read_parquet([`+strings.Join(quoted, ", ")+`], union_by_name = true, filename = true)
		WHERE request_id = ?`, requestID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var holding []string
	for rows.Next() {
		var f string
		if err := rows.Scan(&f); err != nil {
			return nil, err
		}
		holding = append(holding, f)
	}
	return holding, rows.Err()
}

// readLogRecords reads a request's records from one prediction log file:
// this version's, with its features in a struct, or an older one's, with
// its inputs as JSON text.
func readLogRecords(ctx context.Context, db *sql.DB, file, requestID string) ([]serve.LogRecord, error) {
	rows, err := db.QueryContext(ctx, `SELECT * FROM read_parquet(?) WHERE request_id = ? ORDER BY time LIMIT `+strconv.Itoa(maxLookup), file, requestID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []serve.LogRecord
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		var r serve.LogRecord
		for i, c := range cols {
			switch v := vals[i]; c {
			case "request_id":
				r.RequestID, _ = v.(string)
			case "time":
				r.Time, _ = v.(time.Time)
			case "endpoint":
				r.Endpoint, _ = v.(string)
			case "model":
				r.Model, _ = v.(string)
			case "version":
				x, _ := number(v)
				r.Version = int(x)
			case "variant":
				r.Variant, _ = v.(string)
			case "latency_us":
				x, _ := number(v)
				r.LatencyUS = int64(x)
			case "features":
				if m, ok := v.(map[string]any); ok {
					r.Inputs = serve.InputsOf(m)
				}
			case "inputs", "request":
				if s, _ := v.(string); s != "" {
					var m map[string]any
					if err := json.Unmarshal([]byte(s), &m); err != nil {
						return nil, fmt.Errorf("%s: %w", c, err)
					}
					if c == "inputs" {
						r.Inputs = serve.InputsOf(m)
					} else {
						r.Request = m
					}
				}
			case "outputs":
				list, _ := v.([]any)
				for _, e := range list {
					x, ok := number(e)
					if !ok {
						x = math.NaN() // a NULL or NaN output
					}
					r.Outputs = append(r.Outputs, x)
				}
			}
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
