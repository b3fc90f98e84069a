package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/droverhq/drover/server/events"
	"github.com/droverhq/drover/structs"
)

// eventJSON is one event as Nomad's stream sends it.
type eventJSON struct {
	Topic      events.Topic
	Type       string
	Key        string
	Namespace  string
	FilterKeys []string
	Index      uint64
	Payload    map[string]any
}

type batchJSON struct {
	Index  uint64
	Events []eventJSON
}

// parseEventRequest reads index, topic (Topic or Topic:key, repeated) and
// namespace.
func (h *Handler) parseEventRequest(r *http.Request) (events.SubscribeRequest, error) {
	q, err := h.parseQuery(r)
	if err != nil {
		return events.SubscribeRequest{}, err
	}
	req := events.SubscribeRequest{Index: q.index, Namespace: q.namespace}
	for _, t := range r.URL.Query()["topic"] {
		topic, key, _ := strings.Cut(t, ":")
		if topic == "" {
			return req, badRequest("invalid topic %q: want Topic or Topic:key", t)
		}
		if req.Topics == nil {
			req.Topics = map[events.Topic][]string{}
		}
		tp := events.Topic(topic)
		if key == "" || key == "*" {
			req.Topics[tp] = nil
			continue
		}
		if keys, seen := req.Topics[tp]; seen && keys == nil {
			continue
		}
		req.Topics[tp] = append(req.Topics[tp], key)
	}
	return req, nil
}

// eventStream serves /v1/event/stream: one JSON object per line, a batch
// of events per raft index, and `{}` when nothing happened for a while. A
// subscriber that falls behind gets a last line {"Error": "..."}.
func (h *Handler) eventStream(w http.ResponseWriter, r *http.Request, _ []string) error {
	req, err := h.parseEventRequest(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	sub, err := h.b.Events(ctx, req)
	if err != nil {
		return err
	}
	defer sub.Close()
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/json")
	h.setMeta(w, h.b.StateIndex())
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()
	enc := json.NewEncoder(w)
	for {
		next, cancel := context.WithTimeout(ctx, h.opts.EventHeartbeat)
		batch, err := sub.Next(next)
		cancel()
		switch {
		case err == nil:
			if werr := enc.Encode(batchToJSON(batch)); werr != nil {
				return nil // the client went away
			}
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
			if _, werr := w.Write([]byte("{}\n")); werr != nil {
				return nil
			}
		case ctx.Err() != nil:
			return nil
		default:
			_ = enc.Encode(errorBody{Error: err.Error()})
			_ = rc.Flush()
			return nil
		}
		if rc.Flush() != nil {
			return nil
		}
	}
}

func batchToJSON(b events.Batch) batchJSON {
	out := batchJSON{Index: b.Index, Events: make([]eventJSON, 0, len(b.Events))}
	for _, e := range b.Events {
		out.Events = append(out.Events, eventToJSON(e))
	}
	return out
}

func eventToJSON(e events.Event) eventJSON {
	out := eventJSON{Topic: e.Topic, Type: e.Type, Key: e.Key, Namespace: e.Namespace, FilterKeys: e.FilterKeys, Index: e.Index}
	switch p := e.Payload.(type) {
	case *structs.Job:
		out.Payload = map[string]any{"Job": jobToJSON(p)}
		if e.Deleted {
			out.Payload["Deleted"] = true
		}
	case *structs.Node:
		out.Payload = map[string]any{"Node": nodeToJSON(p)}
	case *structs.Allocation:
		out.Payload = map[string]any{"Allocation": allocToJSON(p, "")} // the node's address is not looked up per event
	case *structs.Evaluation:
		out.Payload = map[string]any{"Evaluation": evalToJSON(p)}
	case *structs.Deployment:
		out.Payload = map[string]any{"Deployment": deploymentToJSON(p)}
	default:
		out.Payload = map[string]any{}
	}
	return out
}

// durationOf converts Nomad's nanosecond durations.
func durationOf(ns int64) time.Duration { return time.Duration(ns) }
