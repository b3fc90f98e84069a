package api

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/droverhq/drover/server/acl"
)

// streamFrame is Nomad's StreamFrame; an empty one is a heartbeat.
type streamFrame struct {
	Offset    int64  `json:",omitempty"`
	Data      []byte `json:",omitempty"`
	File      string `json:",omitempty"`
	FileEvent string `json:",omitempty"`
}

// agentMonitor serves GET /v1/agent/monitor (nomad monitor): the agent's
// log from now on, at log_level (default info), as JSON lines with
// log_json, in Nomad's stream frames, or as plain text with plain=true.
func (h *Handler) agentMonitor(w http.ResponseWriter, r *http.Request, _ []string) error {
	if err := h.check(r, "agent read", (*acl.ACL).AllowAgentRead); err != nil {
		return err
	}
	v := r.URL.Query()
	if id := v.Get("node_id"); id != "" && (h.opts.ClientAgent == nil || id != h.opts.ClientAgent.NodeID()) {
		return badRequest("node_id %q is not this agent's node: ask that node's agent", id)
	}
	if h.opts.Logs == nil {
		return errNotServedf("the agent's log stream: the host did not install a log broadcaster (drover.NewLogBroadcaster)")
	}
	level, err := parseLevel(v.Get("log_level"))
	if err != nil {
		return err
	}
	asJSON, err := boolParam(r, "log_json")
	if err != nil {
		return err
	}
	plain, err := boolParam(r, "plain")
	if err != nil {
		return err
	}
	lines, cancel := h.opts.Logs.Subscribe(level, asJSON)
	defer cancel()
	rc := http.NewResponseController(w)
	if plain {
		w.Header().Set("Content-Type", "text/plain")
	} else {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()
	enc := json.NewEncoder(w)
	beat := time.NewTicker(h.opts.EventHeartbeat)
	defer beat.Stop()
	for {
		var err error
		select {
		case <-r.Context().Done():
			return nil
		case line, ok := <-lines:
			if !ok {
				return nil
			}
			if plain {
				_, err = w.Write(line)
			} else {
				err = enc.Encode(streamFrame{Data: line})
			}
		case <-beat.C:
			if !plain {
				err = enc.Encode(streamFrame{})
			}
		}
		if err != nil {
			return nil // the client went away
		}
		_ = rc.Flush()
	}
}

// parseLevel reads a Nomad log level (trace, debug, info, warn, error).
func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "", "info":
		return slog.LevelInfo, nil
	case "trace":
		return slog.LevelDebug - 4, nil
	case "debug":
		return slog.LevelDebug, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error", "err":
		return slog.LevelError, nil
	}
	return 0, badRequest("unknown log level %q: want trace, debug, info, warn or error", s)
}
