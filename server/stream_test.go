package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/client"
	"github.com/plinthml/plinth/dataset"
	"github.com/plinthml/plinth/deploy"
	"github.com/plinthml/plinth/internal/testproc"
	"github.com/plinthml/plinth/model"
	"github.com/plinthml/plinth/monitor"
	"github.com/plinthml/plinth/queue"
	"github.com/plinthml/plinth/registry"
	"github.com/plinthml/plinth/serve"
	"github.com/plinthml/plinth/server"
	"github.com/plinthml/plinth/train"
)

// TestStreamingInference publishes requests to an endpoint's stream on the
// node's embedded NATS server and reads the answers: the same runtime
// scores them, and a bad request gets an error answer naming the field.
func TestStreamingInference(t *testing.T) {
	ctx := context.Background()
	port, _ := testproc.FreePort()
	n, err := server.Open(ctx, server.Config{DataDir: filepath.Join(t.TempDir(), "data"), QueueListen: "127.0.0.1:" + port})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	c := client.Local(n.Handler())
	registerTiny(t, c, "s", 5)
	if _, err := c.Deploy(ctx, "s", deploy.Spec{Model: "s@1"}); err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	go n.ServeStream(sctx, "s")

	inName, outName := server.StreamNames("s")
	url := "nats://127.0.0.1:" + port
	in, err := queue.Open(ctx, queue.Config{URL: url, Name: inName})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := queue.Open(ctx, queue.Config{URL: url, Name: outName})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	for i := range 20 {
		req, _ := json.Marshal(serve.StreamRequest{RequestID: fmt.Sprintf("r%d", i), Instances: []map[string]any{{"x": float64(i % 8)}}})
		if err := in.Publish(ctx, fmt.Sprintf("r%d", i), req); err != nil {
			t.Fatal(err)
		}
	}
	in.Publish(ctx, "bad", []byte(`{"request_id": "bad", "instances": [{"x": "tall"}]}`))
	got := map[string]serve.StreamAnswer{}
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for len(got) < 21 {
		task, err := out.Fetch(fctx)
		if err != nil {
			t.Fatalf("after %d answers: %v", len(got), err)
		}
		var a serve.StreamAnswer
		if err := json.Unmarshal(task.Payload, &a); err != nil {
			t.Fatal(err)
		}
		got[a.RequestID] = a
		task.Ack(ctx)
	}
	if a := got["r6"]; a.Response == nil || a.Response.Version != 1 || a.Response.Predictions[0].Outputs[0] <= got["r1"].Response.Predictions[0].Outputs[0] {
		t.Fatalf("answers: %+v %+v", got["r6"], got["r1"])
	}
	if a := got["bad"]; a.Error == nil || a.Error.Field != "instances[0].x" {
		t.Fatalf("bad request: %+v", a.Error)
	}
}

// registerTiny registers a small GBT over one feature x as a version of
// name.
func registerTiny(t *testing.T, c *client.Client, name string, rounds int) {
	t.Helper()
	ctx := context.Background()
	tbl := &train.Table{Columns: []train.Column{{Name: "x", Type: model.Float, Num: []float64{0, 1, 2, 3, 4, 5, 6, 7}}}, Label: []float64{0, 0, 0, 0, 1, 1, 1, 1}}
	p := train.DefaultGBTParams()
	p.Rounds = rounds
	m, err := train.GBT(tbl, nil, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	m.Encode(&buf)
	info, err := c.PutBlob(ctx, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateVersion(ctx, name, registry.NewVersion{Format: "plinth", Artifacts: []registry.Artifact{{Path: "model.json", Digest: info.Digest.String()}}}); err != nil {
		t.Fatal(err)
	}
}

// TestCanaryGateWatchesAlerts: a monitor alert the gate names, firing
// during the canary's window, rolls the candidate back.
func TestCanaryGateWatchesAlerts(t *testing.T) {
	ctx := context.Background()
	n, err := server.Open(ctx, server.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	c := client.Local(n.Handler())
	registerTiny(t, c, "g", 5)
	registerTiny(t, c, "g", 6)
	if _, err := c.Deploy(ctx, "g", deploy.Spec{Model: "g@1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Deploy(ctx, "g", deploy.Spec{Model: "g@1", Strategy: deploy.Canary, Candidate: "g@2", Weight: 0.5,
		Gate: &deploy.Gate{MinRequests: 1, Window: plinth.Duration(time.Hour), Alerts: []string{"auc_drop"},
			MaxLatencyRatio: 1000, MaxMeanShift: 1}}); err != nil { // only the alert decides
		t.Fatal(err)
	}
	for i := range 40 {
		if _, err := c.Predict(ctx, "g", []map[string]any{{"x": float64(i % 8)}}, 0); err != nil {
			t.Fatal(err)
		}
	}
	if changed, _ := n.Deployer.Judge(ctx, time.Now()); len(changed) != 0 {
		t.Fatalf("decided with no alert: %+v", changed)
	}
	now := time.Now().UTC()
	for _, rule := range []string{"drift", "auc_drop"} {
		if err := n.Meta.SaveAlert(ctx, &monitor.Alert{Endpoint: "g", Rule: rule, State: monitor.Firing, StartedAt: now, FiredAt: &now}); err != nil {
			t.Fatal(err)
		}
	}
	changed, err := n.Deployer.Judge(ctx, time.Now())
	if err != nil || len(changed) != 1 || changed[0].Action != "rollback" || !strings.Contains(changed[0].Reason, "monitor alert firing during the canary: auc_drop") {
		t.Fatalf("judge: %v %+v", err, changed)
	}
}

// TestPushFromNATS: events published on a dataset's push stream are
// appended under its expectations, like a push over HTTP.
func TestPushFromNATS(t *testing.T) {
	ctx := context.Background()
	port, _ := testproc.FreePort()
	n, err := server.Open(ctx, server.Config{DataDir: filepath.Join(t.TempDir(), "data"), QueueListen: "127.0.0.1:" + port})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if err := n.Meta.SetSpec(ctx, dataset.Spec{Name: "weather", EventTime: "ts", Columns: []dataset.Column{{Name: "ts", Type: "timestamp", NotNull: true}, {Name: "temp", Type: "float"}}}); err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	go n.ServePush(sctx, "weather")
	q, err := queue.Open(ctx, queue.Config{URL: "nats://127.0.0.1:" + port, Name: server.PushStream("weather")})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	q.Publish(ctx, "a", []byte(`[{"origin": "JFK", "ts": "2013-01-01T05:00:00Z", "temp": 30}, {"origin": "LGA", "ts": "2013-01-01T05:00:00Z", "temp": 31}]`))
	q.Publish(ctx, "b", []byte(`{"origin": "EWR", "ts": "2013-01-01T06:00:00Z", "temp": 29}`))
	q.Publish(ctx, "c", []byte(`not json`))
	deadline := time.Now().Add(20 * time.Second)
	for {
		vs, err := n.Meta.DatasetVersions(ctx, "weather")
		if err == nil && len(vs) > 0 {
			var rows int64
			for _, v := range vs {
				rows += v.Rows
			}
			if rows == 3 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("versions: %+v %v", vs, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
