package server

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/plinthml/plinth/blob"
	"github.com/plinthml/plinth/dataset"
)

// The prediction log's segments are written as Parquet by a converter
// process: the server's own executable, started with converterEnv set and
// run at the lowest CPU priority. Encoding, compressing and hashing the
// files is most of the log's work, and done in the server it took the
// serving cores in bursts that made the latency tail (BENCHMARKS.md,
// issue 6); in a process of its own, the kernel gives it only the time the
// server leaves idle. The converter only writes files: the server stores
// them and records the versions, with its own stores.
const converterEnv = "PLINTH_PREDICTION_LOG_CONVERTER"

// A process started as the converter converts and exits before main (or
// a test binary's TestMain) runs: every binary that links the server can
// start its converter, without wiring of its own.
func init() {
	if os.Getenv(converterEnv) != "1" {
		return
	}
	lowerPriority()
	os.Exit(serveConversions(os.Stdin, os.Stdout))
}

// conversion is what converting a segment made.
type conversion struct {
	Batches []convertedBatch `json:"batches"`
	// Unread says why the segment's rest was not read (a frame torn by a
	// crash, or corrupt): its records are lost.
	Unread string `json:"unread,omitempty"`
	Error  string `json:"error,omitempty"` // the converter process's failure
}

// convertedBatch is one endpoint's records of one model version in a
// segment, written as a Parquet file.
type convertedBatch struct {
	Endpoint string          `json:"endpoint"`
	File     string          `json:"file"`
	Rows     int64           `json:"rows"`
	Schema   []dataset.Field `json:"schema"`
	MinEvent time.Time       `json:"min_event"`
	MaxEvent time.Time       `json:"max_event"`
	Info     blob.Info       `json:"info"`
}

type conversionRequest struct {
	Segment string `json:"segment"`
	Dir     string `json:"dir"` // where the Parquet files go
}

// serveConversions is the converter process: a request per line on in, a
// conversion per line on out, until in closes (the server stopped or
// died).
func serveConversions(in io.Reader, out io.Writer) int {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	enc := json.NewEncoder(out)
	for sc.Scan() {
		var req conversionRequest
		var conv conversion
		err := json.Unmarshal(sc.Bytes(), &req)
		if err == nil {
			conv, err = convertSegment(req.Segment, req.Dir)
		}
		if err != nil {
			conv.Error = err.Error()
		}
		if enc.Encode(conv) != nil {
			return 1
		}
	}
	return 0
}

// pendingBatch is a batch being converted.
type pendingBatch struct {
	convertedBatch
	layout *logLayout
	file   *os.File
	w      *parquet.Writer
	hash   *blob.Hasher
	rows   []parquet.Row // not yet handed to the writer
}

// convertSegment writes the records of the segment at path as Parquet
// files in dir, one per endpoint and model version. What a torn or
// corrupt frame keeps from being read is reported in Unread; an error
// writing the files removes them all.
func convertSegment(path, dir string) (conv conversion, err error) {
	f, err := os.Open(path)
	if err != nil {
		return conv, err
	}
	defer f.Close()
	type batchKey struct {
		endpoint string
		layout   int
	}
	var (
		rd      = segmentReader{r: bufio.NewReaderSize(f, 256<<10)}
		batches = map[batchKey]*pendingBatch{}
		order   []*pendingBatch
		rec     spoolRecord
	)
	defer func() {
		for _, b := range order {
			if b.file != nil {
				b.file.Close()
			}
			if err != nil {
				os.Remove(b.File)
			}
		}
	}()
	for {
		if err := rd.next(&rec); err != nil {
			if err != io.EOF {
				conv.Unread = err.Error()
			}
			break
		}
		key := batchKey{rec.endpoint, rec.layout}
		b := batches[key]
		if b == nil {
			if b, err = createBatch(dir, rec.endpoint, rd.layouts[rec.layout], rec.time); err != nil {
				return conv, err
			}
			batches[key] = b
			order = append(order, b)
		}
		if err := b.add(&rec); err != nil {
			return conv, err
		}
	}
	for _, b := range order {
		if err := b.close(); err != nil {
			return conv, err
		}
		conv.Batches = append(conv.Batches, b.convertedBatch)
	}
	return conv, nil
}

func createBatch(dir, endpoint string, lay *logLayout, first time.Time) (*pendingBatch, error) {
	file, err := os.CreateTemp(dir, "predictions-*.parquet")
	if err != nil {
		return nil, err
	}
	b := &pendingBatch{layout: lay, file: file, hash: blob.NewHasher(), rows: make([]parquet.Row, 0, writeBatch)}
	b.Endpoint, b.File, b.Schema, b.MinEvent, b.MaxEvent = endpoint, file.Name(), lay.fields, first, first
	b.w = parquet.NewWriter(io.MultiWriter(file, b.hash), lay.schema,
		parquet.Compression(fastSnappy{}), parquet.MaxRowsPerRowGroup(rowGroupRows))
	return b, nil
}

// add buffers a record's row; rows go to the writer writeBatch at a time.
func (b *pendingBatch) add(r *spoolRecord) error {
	b.Rows++
	if r.time.Before(b.MinEvent) {
		b.MinEvent = r.time
	}
	if r.time.After(b.MaxEvent) {
		b.MaxEvent = r.time
	}
	// The record's request points into the reader's buffer, which the
	// next frame overwrites.
	r.request = append([]byte(nil), r.request...)
	n := len(b.rows)
	b.rows = b.rows[:n+1]
	b.rows[n] = b.layout.appendRow(b.rows[n][:0], r)
	if len(b.rows) == cap(b.rows) {
		return b.flushRows()
	}
	return nil
}

func (b *pendingBatch) flushRows() error {
	_, err := b.w.WriteRows(b.rows)
	b.rows = b.rows[:0]
	return err
}

func (b *pendingBatch) close() error {
	if err := b.flushRows(); err != nil {
		return err
	}
	if err := b.w.Close(); err != nil {
		return err
	}
	err := b.file.Close()
	b.file = nil
	b.Info = b.hash.Info()
	return err
}

// converter converts segments in a converter process, started at the
// first segment, or in this process when one cannot run.
type converter struct {
	logger *slog.Logger
	// command is the converter process to start; nil: this executable.
	command func() *exec.Cmd
	// timeout bounds a conversion in the process: one that takes longer
	// is killed and converted in the server. Zero: convertTimeout.
	timeout time.Duration
	cmd     *exec.Cmd
	in      io.WriteCloser
	out     *bufio.Scanner
	retryAt time.Time // of a process, after one failed
}

const (
	// converterRetry is how long a server converts in process after its
	// converter process failed to start or broke.
	converterRetry = time.Minute
	// convertTimeout is far longer than a segment of a flush takes (about
	// 0.1 s for 20,000 records): a process that takes it has hung, and
	// the log's writer waiting on it would leave records to be dropped.
	convertTimeout = 2 * time.Minute
)

func (c *converter) convert(path, dir string) (conversion, error) {
	if c.cmd == nil && !time.Now().Before(c.retryAt) {
		if err := c.start(); err != nil {
			c.broke("start", err)
		}
	}
	if c.cmd != nil {
		timeout := c.timeout
		if timeout <= 0 {
			timeout = convertTimeout
		}
		proc := c.cmd.Process
		hung := time.AfterFunc(timeout, func() { proc.Kill() }) // the answer's read then fails
		conv, err := c.ask(conversionRequest{Segment: path, Dir: dir})
		if !hung.Stop() && err != nil {
			err = fmt.Errorf("no answer in %v: %w", timeout, err)
		}
		if err == nil {
			if conv.Error != "" {
				return conv, errors.New(conv.Error)
			}
			return conv, nil
		}
		c.broke("convert", err)
	}
	return convertSegment(path, dir)
}

func (c *converter) start() error {
	var cmd *exec.Cmd
	if c.command != nil {
		cmd = c.command()
	} else {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		cmd = exec.Command(exe, "prediction-log-converter")
		cmd.Env = append(os.Environ(), converterEnv+"=1", "GOMAXPROCS=1")
	}
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	c.cmd, c.in, c.out = cmd, in, bufio.NewScanner(out)
	c.out.Buffer(make([]byte, 64<<10), 16<<20)
	return nil
}

func (c *converter) ask(req conversionRequest) (conversion, error) {
	line, err := json.Marshal(req)
	if err != nil {
		return conversion{}, err
	}
	if _, err := c.in.Write(append(line, '\n')); err != nil {
		return conversion{}, err
	}
	if !c.out.Scan() {
		err := c.out.Err()
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return conversion{}, err
	}
	var conv conversion
	err = json.Unmarshal(c.out.Bytes(), &conv)
	return conv, err
}

// broke stops a converter process that failed and converts in process
// until converterRetry has passed.
func (c *converter) broke(what string, err error) {
	logger := c.logger
	if logger == nil {
		logger = slog.Default()
	}
	logger.Warn("prediction log: converter process failed; converting in the server for now", "step", what, "err", err, "retry_in", converterRetry)
	c.Close()
	c.retryAt = time.Now().Add(converterRetry)
}

// Close stops the converter process: it exits when its input closes.
func (c *converter) Close() error {
	if c.cmd == nil {
		return nil
	}
	c.in.Close()
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		err = fmt.Errorf("converter process did not stop; killed: %w", <-done)
	}
	c.cmd = nil
	return err
}
