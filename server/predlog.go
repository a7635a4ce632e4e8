package server

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/dataset"
	"github.com/plinthml/plinth/serve"
)

// logSink stores prediction log batches as versions of a dataset per
// endpoint, "predictions_<endpoint>", through the same ingestion as any
// data: so monitoring and label joins read them like any dataset.
type logSink struct {
	ingester *dataset.Ingester
}

// PredictionDataset names the dataset an endpoint's predictions go to.
func PredictionDataset(endpoint string) string {
	return "predictions_" + strings.ReplaceAll(endpoint, "-", "_")
}

func (s logSink) WriteLog(ctx context.Context, records []serve.LogRecord) error {
	byEndpoint := map[string][]serve.LogRecord{}
	for _, r := range records {
		byEndpoint[r.Endpoint] = append(byEndpoint[r.Endpoint], r)
	}
	for endpoint, recs := range byEndpoint {
		if err := s.write(ctx, PredictionDataset(endpoint), recs); err != nil {
			return err
		}
	}
	return nil
}

func (s logSink) write(ctx context.Context, name string, recs []serve.LogRecord) error {
	spec, err := s.ingester.Store.Spec(ctx, name)
	if plinth.IsCode(err, plinth.ENOTFOUND) {
		spec = &dataset.Spec{Name: name, EventTime: "time", Columns: []dataset.Column{{Name: "time", Type: "timestamp", NotNull: true}}}
		err = s.ingester.Store.SetSpec(ctx, *spec)
	}
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(s.ingester.WorkDir, "predictions-*.ndjson")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	enc := json.NewEncoder(tmp)
	for _, r := range recs {
		// Inputs differ between models: they are kept as one JSON text
		// column, which DuckDB reads with its JSON functions.
		inputs, _ := json.Marshal(r.Inputs)
		request := ""
		if r.Request != nil {
			b, _ := json.Marshal(r.Request)
			request = string(b)
		}
		row := map[string]any{
			"request_id": r.RequestID, "time": r.Time, "endpoint": r.Endpoint, "model": r.Model, "version": r.Version,
			"variant": r.Variant, "inputs": string(inputs), "request": request, "outputs": r.Outputs, "latency_us": r.LatencyUS,
		}
		if err := enc.Encode(row); err != nil {
			tmp.Close()
			return fmt.Errorf("prediction log: %w", err)
		}
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	_, _, err = s.ingester.Ingest(ctx, *spec, tmp.Name())
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
