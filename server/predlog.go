package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
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
	"github.com/parquet-go/parquet-go/format"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/dataset"
	"github.com/plinthml/plinth/internal/jsonx"
	"github.com/plinthml/plinth/serve"
)

// logSink stores the prediction log as versions of a dataset per
// endpoint, "predictions_<endpoint>", which monitoring and label joins read
// like any dataset. Records are appended to a spool segment as they are
// added, which is all the log's writer does with them on the serving
// cores; a flush has the converter (convert.go) write the segment as
// Parquet, a file per endpoint and model version, and records each as the
// dataset's next version. The records are plinth's own, so they skip the
// checks outside data goes through.
type logSink struct {
	ingester *dataset.Ingester
	dir      string // where segments and the files made of them are written
	convert  func(segment, dir string) (conversion, error)
	seg      *segmentWriter // nil until a record comes
	layouts  map[layoutKey]*logLayout
	reqKeys  []string // the last request's sorted keys
	text     []byte   // a request's JSON text
	spare    []byte   // the last segment's buffer, for the next
}

// maxLayouts bounds the layouts kept of model versions a server has
// served since it started.
const maxLayouts = 64

// newLogSink returns a sink that converts its segments with convert, or
// in this process when convert is nil.
func newLogSink(in *dataset.Ingester, dir string, convert func(segment, dir string) (conversion, error)) *logSink {
	if convert == nil {
		convert = convertSegment
	}
	return &logSink{ingester: in, dir: dir, convert: convert, layouts: map[layoutKey]*logLayout{}}
}

// logDir makes this process's directory for the prediction log's
// segments, work/prediction-log/PID, and returns the segments that
// processes no longer running left behind, oldest first: a server killed
// with records spooled leaves them for the next start to store. Other
// files there (Parquet files a converter had not finished) are removed.
func logDir(work string) (dir string, orphans []string, err error) {
	parent := filepath.Join(work, "prediction-log")
	entries, err := os.ReadDir(parent)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", nil, fmt.Errorf("prediction log: %w", err)
	}
	type orphan struct {
		path string
		mod  time.Time
	}
	var found []orphan
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		// This process's id may be that of one gone before it.
		if err != nil || pid != os.Getpid() && running(pid) {
			continue
		}
		sub := filepath.Join(parent, e.Name())
		files, err := os.ReadDir(sub)
		if err != nil {
			return "", nil, fmt.Errorf("prediction log: %w", err)
		}
		for _, f := range files {
			path := filepath.Join(sub, f.Name())
			info, err := f.Info()
			if err == nil && strings.HasSuffix(f.Name(), ".spool") {
				found = append(found, orphan{path, info.ModTime()})
				continue
			}
			if err := os.RemoveAll(path); err != nil {
				return "", nil, fmt.Errorf("prediction log: %w", err)
			}
		}
	}
	slices.SortFunc(found, func(a, b orphan) int { return a.mod.Compare(b.mod) })
	for _, o := range found {
		orphans = append(orphans, o.path)
	}
	dir = filepath.Join(parent, strconv.Itoa(os.Getpid()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, fmt.Errorf("prediction log: %w", err)
	}
	return dir, orphans, nil
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
	if s.seg == nil {
		s.seg = createSegment(s.dir, s.spare)
	}
	var request []byte
	if r.Request != nil {
		s.text, s.reqKeys = jsonx.AppendObject(s.text[:0], s.reqKeys, r.Request)
		request = s.text
	}
	s.seg.add(lay, &r, request, time.Now().UTC())
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

const (
	// writeBatch is how many rows the converter hands its Parquet writer
	// at a time: enough to pay the writer's per-call cost rarely.
	writeBatch = 64
	// rowGroupRows bounds a file's row groups: smaller groups cost no more
	// per record (BenchmarkLogSink) and let DuckDB skip more of a file by
	// time.
	rowGroupRows = 1024
	// maxSpare bounds the segment buffer kept for the next segment.
	maxSpare = 1 << 20
)

// fastSnappy is Snappy compressed at its fast level. parquet-go's Snappy
// codec compresses at the better level, which was a third of the log
// writer's CPU (BenchmarkLogSink); any Snappy reader decodes both.
type fastSnappy struct{}

func (fastSnappy) String() string                            { return "SNAPPY" }
func (fastSnappy) CompressionCodec() format.CompressionCodec { return format.Snappy }
func (fastSnappy) Encode(dst, src []byte) ([]byte, error) {
	return s2.EncodeSnappy(dst[:cap(dst)], src), nil
}
func (fastSnappy) Decode(dst, src []byte) ([]byte, error) { return s2.Decode(dst[:cap(dst)], src) }

// Flush stores the records added since the last flush: it closes their
// segment, has it converted, and records each file made of it. The records
// of an endpoint that fails are dropped (and counted as failed): keeping
// them would grow the spool without bound while the store is down.
func (s *logSink) Flush(ctx context.Context) (int, error) {
	seg := s.seg
	if seg == nil {
		return 0, nil
	}
	s.seg = nil
	err := seg.close()
	if cap(seg.buf) <= maxSpare {
		s.spare = seg.buf[:0]
	}
	if err != nil {
		if seg.path != "" {
			os.Remove(seg.path)
		}
		return 0, fmt.Errorf("prediction log: %d records lost: %w", seg.records, err)
	}
	if len(s.layouts) > maxLayouts {
		clear(s.layouts)
	}
	return s.store(ctx, seg.path, false)
}

// store converts a segment, records the files made of it and removes it.
// A segment left by a server that died (recovered) may have been stored
// in part before: files recorded already are not recorded again.
func (s *logSink) store(ctx context.Context, segment string, recovered bool) (int, error) {
	defer os.Remove(segment)
	conv, err := s.convert(segment, s.dir)
	if err != nil {
		return 0, fmt.Errorf("prediction log: segment %s: %w", filepath.Base(segment), err)
	}
	var stored int
	var errs []error
	for _, b := range conv.Batches {
		name := PredictionDataset(b.Endpoint)
		if err := s.record(ctx, name, b, recovered); err != nil {
			os.Remove(b.File)
			errs = append(errs, fmt.Errorf("prediction log %s: %w", name, err))
			continue
		}
		stored += int(b.Rows)
	}
	if conv.Unread != "" {
		errs = append(errs, fmt.Errorf("prediction log: segment %s: the rest is unreadable: %s", filepath.Base(segment), conv.Unread))
	}
	return stored, errors.Join(errs...)
}

// record stores a batch's file as its dataset's next version. The rows'
// ingestion times are when the writer took them, no later than the
// version's.
func (s *logSink) record(ctx context.Context, name string, b convertedBatch, recovered bool) error {
	spec, err := s.ingester.Store.Spec(ctx, name)
	if plinth.IsCode(err, plinth.ENOTFOUND) {
		spec = &dataset.Spec{Name: name, EventTime: "time", Columns: []dataset.Column{{Name: "time", Type: "timestamp", NotNull: true}}}
		err = s.ingester.Store.SetSpec(plinth.WithPrincipal(ctx, plinth.System), *spec)
	}
	if err != nil {
		return err
	}
	if recovered {
		versions, err := s.ingester.Store.DatasetVersions(ctx, name)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(versions, func(v dataset.Version) bool { return v.Digest == string(b.Info.Digest) }) {
			return os.Remove(b.File)
		}
	}
	_, err = s.ingester.Record(ctx, *spec, dataset.Written{File: b.File, Rows: b.Rows, Schema: b.Schema,
		At: time.Now().UTC(), MinEvent: &b.MinEvent, MaxEvent: &b.MaxEvent, Info: &b.Info}, "prediction log")
	return err
}

// recoverSegments stores the segments a server that died left (logDir), oldest
// first, and says how many records that was.
func (s *logSink) recoverSegments(ctx context.Context, segments []string) (int, error) {
	var stored int
	var errs []error
	for _, seg := range segments {
		n, err := s.store(ctx, seg, true)
		stored += n
		if err != nil {
			errs = append(errs, err)
		}
		if dir := filepath.Dir(seg); dir != s.dir {
			os.Remove(dir) // once empty
		}
	}
	return stored, errors.Join(errs...)
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
