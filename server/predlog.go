package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/plinthml/plinth"
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
	pending  map[string]*pendingLog // by dataset
	json     []byte                 // scratch
	keys     []string               // the last inputs' sorted keys
	reqKeys  []string               // the last request's sorted keys
}

type pendingLog struct {
	rows               []logRow
	minEvent, maxEvent time.Time
}

func newLogSink(in *dataset.Ingester) *logSink {
	return &logSink{ingester: in, pending: map[string]*pendingLog{}}
}

// PredictionDataset names the dataset an endpoint's predictions go to.
func PredictionDataset(endpoint string) string {
	return "predictions_" + strings.ReplaceAll(endpoint, "-", "_")
}

// logRow is a prediction log record as its dataset stores it. Inputs and
// request differ between models: they are JSON text, which DuckDB reads
// with its JSON functions.
type logRow struct {
	RequestID  string    `parquet:"request_id"`
	Time       time.Time `parquet:"time,timestamp(microsecond:utc)"`
	Endpoint   string    `parquet:"endpoint"`
	Model      string    `parquet:"model"`
	Version    int64     `parquet:"version"`
	Variant    string    `parquet:"variant"`
	Inputs     string    `parquet:"inputs"`
	Request    *string   `parquet:"request,optional"`
	Outputs    []float64 `parquet:"outputs,list"`
	LatencyUS  int64     `parquet:"latency_us"`
	IngestedAt time.Time `parquet:"_ingested_at,timestamp(microsecond:utc)"`
}

// logSchema is logRow's schema as DuckDB describes the file.
var logSchema = []dataset.Field{
	{Name: "request_id", Type: "VARCHAR"}, {Name: "time", Type: "TIMESTAMP WITH TIME ZONE"},
	{Name: "endpoint", Type: "VARCHAR"}, {Name: "model", Type: "VARCHAR"}, {Name: "version", Type: "BIGINT"},
	{Name: "variant", Type: "VARCHAR"}, {Name: "inputs", Type: "VARCHAR"}, {Name: "request", Type: "VARCHAR"},
	{Name: "outputs", Type: "DOUBLE[]"}, {Name: "latency_us", Type: "BIGINT"},
	{Name: dataset.IngestedAt, Type: "TIMESTAMP WITH TIME ZONE"},
}

func (s *logSink) Add(_ context.Context, r serve.LogRecord) {
	name := PredictionDataset(r.Endpoint)
	p := s.pending[name]
	if p == nil {
		p = &pendingLog{minEvent: r.Time, maxEvent: r.Time}
		s.pending[name] = p
	}
	s.json, s.keys = jsonx.AppendObject(s.json[:0], s.keys, r.Inputs)
	row := logRow{RequestID: r.RequestID, Time: r.Time, Endpoint: r.Endpoint, Model: r.Model, Version: int64(r.Version),
		Variant: r.Variant, Inputs: string(s.json), Outputs: r.Outputs, LatencyUS: r.LatencyUS}
	if r.Request != nil {
		s.json, s.reqKeys = jsonx.AppendObject(s.json[:0], s.reqKeys, r.Request)
		req := string(s.json)
		row.Request = &req
	}
	p.rows = append(p.rows, row)
	if r.Time.Before(p.minEvent) {
		p.minEvent = r.Time
	}
	if r.Time.After(p.maxEvent) {
		p.maxEvent = r.Time
	}
}

// Flush writes every endpoint's pending rows. The rows of an endpoint
// that fails are dropped (and counted as failed): keeping them would grow
// the buffer without bound while the store is down.
func (s *logSink) Flush(ctx context.Context) (int, error) {
	var stored int
	var errs []error
	for name, p := range s.pending {
		if err := s.write(ctx, name, p); err != nil {
			errs = append(errs, fmt.Errorf("prediction log %s: %w", name, err))
			continue
		}
		stored += len(p.rows)
	}
	clear(s.pending)
	return stored, errors.Join(errs...)
}

func (s *logSink) write(ctx context.Context, name string, p *pendingLog) error {
	spec, err := s.ingester.Store.Spec(ctx, name)
	if plinth.IsCode(err, plinth.ENOTFOUND) {
		spec = &dataset.Spec{Name: name, EventTime: "time", Columns: []dataset.Column{{Name: "time", Type: "timestamp", NotNull: true}}}
		err = s.ingester.Store.SetSpec(ctx, *spec)
	}
	if err != nil {
		return err
	}
	at := time.Now().UTC()
	for i := range p.rows {
		p.rows[i].IngestedAt = at
	}
	tmp, err := os.CreateTemp(s.ingester.WorkDir, "predictions-*.parquet")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	w := parquet.NewGenericWriter[logRow](tmp, parquet.Compression(&parquet.Snappy))
	if _, err := w.Write(p.rows); err != nil {
		tmp.Close()
		return err
	}
	if err := w.Close(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	_, err = s.ingester.Record(ctx, *spec, dataset.Written{File: tmp.Name(), Rows: int64(len(p.rows)), Schema: logSchema,
		At: at, MinEvent: &p.minEvent, MaxEvent: &p.maxEvent}, "prediction log")
	return err
}

// LookupPrediction finds a request's records in an endpoint's prediction
// log dataset with DuckDB; a request not there yet may wait in the log's
// buffer, so a miss flushes the log and looks again. The UI traces a
// prediction's lineage from it.
func (n *Node) LookupPrediction(ctx context.Context, endpoint, requestID string) ([]serve.LogRecord, error) {
	return n.lookupPrediction()(ctx, endpoint, requestID)
}

func (n *Node) lookupPrediction() func(ctx context.Context, endpoint, requestID string) ([]serve.LogRecord, error) {
	snapshots := &dataset.Snapshots{Store: n.Meta, Blobs: n.Blobs, CacheDir: n.Ingester.WorkDir}
	find := func(ctx context.Context, endpoint, requestID string) ([]serve.LogRecord, error) {
		files, err := snapshots.Files(ctx, PredictionDataset(endpoint), nil)
		if err != nil || len(files) == 0 {
			if plinth.ErrorCode(err) == plinth.ENOTFOUND {
				err = nil
			}
			return nil, err
		}
		quoted := make([]string, len(files))
		for i, f := range files {
			quoted[i] = "'" + strings.ReplaceAll(f, "'", "''") + "'"
		}
		rows, err := n.Offline.DB().QueryContext(ctx, `SELECT * FROM read_parquet([`+strings.Join(quoted, ", ")+`], union_by_name = true)
			WHERE request_id = ? ORDER BY time LIMIT 1000`, requestID)
		if err != nil {
			return nil, fmt.Errorf("prediction log of %s: %w", endpoint, err)
		}
		defer rows.Close()
		cols, err := rows.Columns()
		if err != nil {
			return nil, err
		}
		var out []serve.LogRecord
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
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
					r.Version = int(asFloat(v))
				case "variant":
					r.Variant, _ = v.(string)
				case "latency_us":
					r.LatencyUS = int64(asFloat(v))
				case "inputs", "request":
					if s, _ := v.(string); s != "" {
						var m map[string]any
						if err := json.Unmarshal([]byte(s), &m); err != nil {
							return nil, fmt.Errorf("prediction log of %s: %s: %w", endpoint, c, err)
						}
						if c == "inputs" {
							r.Inputs = m
						} else {
							r.Request = m
						}
					}
				case "outputs":
					list, _ := v.([]any)
					for _, x := range list {
						r.Outputs = append(r.Outputs, asFloat(x))
					}
				}
			}
			out = append(out, r)
		}
		return out, rows.Err()
	}
	return func(ctx context.Context, endpoint, requestID string) ([]serve.LogRecord, error) {
		recs, err := find(ctx, endpoint, requestID)
		if err != nil || len(recs) > 0 {
			return recs, err
		}
		if err := n.Runtime.Log.Flush(ctx); err != nil {
			return nil, err
		}
		return find(ctx, endpoint, requestID)
	}
}

func asFloat(v any) float64 {
	switch v := v.(type) {
	case float64:
		return v
	case float32:
		return float64(v)
	case int64:
		return float64(v)
	case int32:
		return float64(v)
	case int:
		return float64(v)
	}
	return math.NaN()
}
