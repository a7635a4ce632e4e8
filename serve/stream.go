package serve

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/plinthml/plinth"
)

// Message is one delivered stream message: acknowledged once answered,
// delivered again (Nak) after a failure that retrying may cure.
type Message interface {
	Payload() []byte
	Ack(ctx context.Context) error
	Nak(ctx context.Context, delay time.Duration) error
}

// Inbox delivers the requests of a stream, at least once.
type Inbox interface {
	Fetch(ctx context.Context) (Message, error)
}

// Outbox publishes answers; the id de-duplicates an answer published twice
// (a request delivered again after its answer went out).
type Outbox interface {
	Publish(ctx context.Context, id string, payload []byte) error
}

// StreamRequest is a request on a stream: the same instances as an HTTP
// prediction request, with the id that names the answer.
type StreamRequest struct {
	RequestID string           `json:"request_id"`
	Instances []map[string]any `json:"instances"`
	Time      *time.Time       `json:"time,omitempty"`
}

// StreamAnswer is the answer to a StreamRequest: the predictions, or the
// error that names the field at fault.
type StreamAnswer struct {
	RequestID string        `json:"request_id"`
	Response  *Response     `json:"response,omitempty"`
	Error     *plinth.Error `json:"error,omitempty"`
}

// Stream scores an endpoint's requests from a stream until ctx ends:
// streaming inference beside HTTP, through the same runtime (routing,
// canaries, prediction log). A request that cannot be scored (bad input)
// gets an error answer; a failure that retrying may cure leaves the
// request to be delivered again.
func (r *Runtime) Stream(ctx context.Context, endpoint string, in Inbox, out Outbox) error {
	for {
		m, err := in.Fetch(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("stream %s: %w", endpoint, err)
		}
		if err := r.answer(ctx, endpoint, m, out); err != nil {
			m.Nak(context.WithoutCancel(ctx), time.Second)
		}
	}
}

func (r *Runtime) answer(ctx context.Context, endpoint string, m Message, out Outbox) error {
	var req StreamRequest
	ans := StreamAnswer{}
	if err := json.Unmarshal(m.Payload(), &req); err != nil {
		ans.Error = plinth.Invalid("request", "not a stream request: %v", err)
	} else if req.RequestID == "" {
		ans.Error = plinth.Invalid("request_id", "required: it names the answer")
	} else {
		ans.RequestID = req.RequestID
		pctx := plinth.WithRequestID(ctx, req.RequestID)
		if req.Time != nil {
			pctx = WithEventTime(pctx, *req.Time)
		}
		res, err := r.Predict(pctx, endpoint, req.Instances, 0)
		var pe *plinth.Error
		switch {
		case err == nil:
			ans.Response = res
		case errors.As(err, &pe) && (pe.Code == plinth.EINVALID || pe.Code == plinth.ENOTFOUND):
			ans.Error = pe
		default:
			return err
		}
	}
	body, err := json.Marshal(ans)
	if err != nil {
		return err
	}
	id := ans.RequestID
	if id == "" {
		sum := sha256.Sum256(m.Payload())
		id = fmt.Sprintf("invalid-%x", sum[:8])
	}
	if err := out.Publish(ctx, id, body); err != nil {
		return err
	}
	return m.Ack(ctx)
}
