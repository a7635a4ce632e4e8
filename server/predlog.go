package server

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

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
