package server

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/plinthml/plinth/dataset"
	"github.com/plinthml/plinth/feature"
	"github.com/plinthml/plinth/queue"
)

// Push appends events to a dataset and refreshes the online views over
// it: the one code path of pushes over HTTP and from NATS (api.Server.Push).
func (n *Node) Push(ctx context.Context, name string, rows []map[string]any) (*dataset.Version, *dataset.Quarantine, []feature.MaterializeResult, error) {
	return n.API.Push(ctx, name, rows)
}

// PushStream is the NATS stream events for a dataset arrive on.
func PushStream(name string) string { return "push_" + name }

// ServePush takes events for a dataset from the NATS stream
// "push_<dataset>" — each message a JSON object or an array of them — and
// pushes them in batches (up to maxBatch messages, or what arrives within
// a second), acknowledging a batch once it is stored. A message that is not
// JSON events is acknowledged and logged: retrying cannot fix it.
func (n *Node) ServePush(ctx context.Context, name string) error {
	if n.qcfg == nil {
		return fmt.Errorf("pushing from NATS needs a NATS server: give --queue URL or --queue-listen HOST:PORT")
	}
	qc := *n.qcfg
	qc.Name = PushStream(name)
	q, err := queue.Open(ctx, qc)
	if err != nil {
		return err
	}
	defer q.Close()
	n.Logger.Info("pushing events from NATS", "dataset", name, "stream", qc.Name)
	const maxBatch = 500
	for ctx.Err() == nil {
		var tasks []*queue.Task
		var rows []map[string]any
		fctx, cancel := context.WithTimeout(ctx, time.Second)
		for len(tasks) < maxBatch {
			t, err := q.Fetch(fctx)
			if err != nil {
				break
			}
			got, err := decodeEvents(t.Payload)
			if err != nil {
				n.Logger.Warn("push: a message is not events; dropped", "dataset", name, "id", t.ID, "err", err)
				t.Ack(ctx)
				continue
			}
			tasks = append(tasks, t)
			rows = append(rows, got...)
		}
		cancel()
		if len(tasks) == 0 {
			continue
		}
		if _, q, _, err := n.Push(ctx, name, rows); err != nil {
			n.Logger.Warn("push from NATS", "dataset", name, "err", err)
			for _, t := range tasks {
				t.Nak(context.WithoutCancel(ctx), time.Second)
			}
			continue
		} else if q != nil {
			n.Logger.Warn("push from NATS: rows quarantined", "dataset", name, "quarantine", q.ID, "rows", q.Rows)
		}
		for _, t := range tasks {
			t.Ack(context.WithoutCancel(ctx))
		}
	}
	return nil
}

func decodeEvents(raw []byte) ([]map[string]any, error) {
	var many []map[string]any
	if err := json.Unmarshal(raw, &many); err == nil {
		return many, nil
	}
	var one map[string]any
	if err := json.Unmarshal(raw, &one); err != nil {
		return nil, err
	}
	return []map[string]any{one}, nil
}
