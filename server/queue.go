package server

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/plinthml/plinth/pipeline"
	"github.com/plinthml/plinth/queue"
	"github.com/plinthml/plinth/serve"
)

// tasks adapts the work queue to what pipelines need of it.
type tasks struct{ q *queue.Queue }

func (t tasks) Publish(ctx context.Context, id string, payload []byte) error {
	return t.q.Publish(ctx, id, payload)
}

func (t tasks) Fetch(ctx context.Context) (pipeline.Delivery, error) {
	task, err := t.q.Fetch(ctx)
	if err != nil {
		return nil, err
	}
	return delivery{task}, nil
}

type delivery struct{ *queue.Task }

func (d delivery) Payload() []byte { return d.Task.Payload }

// openQueue connects the node to the work queue the configuration names:
// an external NATS server or cluster (Queue), or one embedded in this
// process and listening on QueueListen for workers.
func (n *Node) openQueue(ctx context.Context, cfg Config) error {
	qcfg := queue.Config{URL: cfg.Queue, Lease: cfg.QueueLease}
	if cfg.QueueListen != "" {
		if cfg.DataDir == "" {
			return fmt.Errorf("an embedded queue needs a data directory")
		}
		srv, err := queue.StartServer(ctx, queue.ServerConfig{Dir: filepath.Join(cfg.DataDir, "nats"), Listen: cfg.QueueListen, Token: cfg.QueueToken, Log: n.Logger})
		if err != nil {
			return fmt.Errorf("embedded NATS server: %w", err)
		}
		n.natsServer = srv
		qcfg.URL = srv.URL()
		qcfg.Server = srv
	}
	n.qcfg = &qcfg
	q, err := queue.Open(ctx, qcfg)
	if err != nil {
		if n.natsServer != nil {
			n.natsServer.Shutdown()
		}
		return fmt.Errorf("work queue: %w", err)
	}
	n.Queue = q
	return nil
}

// QueueURL is the address workers connect to, "" without a queue.
func (n *Node) QueueURL() string {
	if n.qcfg == nil {
		return ""
	}
	return n.qcfg.URL
}

// Work runs this node as a pipeline worker until ctx ends: it takes step
// attempts from the queue and runs them.
func (n *Node) Work(ctx context.Context, lease time.Duration) error {
	if n.Queue == nil {
		return fmt.Errorf("a worker needs a work queue: give --queue URL")
	}
	w := &pipeline.Worker{Engine: n.Pipelines, Tasks: tasks{n.Queue}, Lease: lease}
	return w.Run(ctx)
}

// inbox adapts a work queue to a stream's requests.
type inbox struct{ q *queue.Queue }

func (i inbox) Fetch(ctx context.Context) (serve.Message, error) {
	t, err := i.q.Fetch(ctx)
	if err != nil {
		return nil, err
	}
	return delivery{t}, nil
}

// StreamNames are the queues of an endpoint's stream: requests in,
// answers out.
func StreamNames(endpoint string) (in, out string) {
	e := strings.ReplaceAll(endpoint, ".", "_")
	return "requests_" + e, "answers_" + e
}

// ServeStream scores the endpoint's requests from the work queue's NATS
// server until ctx ends: clients publish StreamRequests to the stream
// "requests_<endpoint>" and read StreamAnswers from "answers_<endpoint>".
func (n *Node) ServeStream(ctx context.Context, endpoint string) error {
	if n.qcfg == nil {
		return fmt.Errorf("streaming needs a NATS server: give --queue URL or --queue-listen HOST:PORT")
	}
	inName, outName := StreamNames(endpoint)
	in, out := *n.qcfg, *n.qcfg
	in.Name, out.Name = inName, outName
	inQ, err := queue.Open(ctx, in)
	if err != nil {
		return err
	}
	defer inQ.Close()
	outQ, err := queue.Open(ctx, out)
	if err != nil {
		return err
	}
	defer outQ.Close()
	n.Logger.Info("streaming inference", "endpoint", endpoint, "requests", inName, "answers", outName)
	return n.Runtime.Stream(ctx, endpoint, inbox{inQ}, outQ)
}
