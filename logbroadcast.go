package drover

import (
	"log/slog"

	"github.com/droverhq/drover/internal/logstream"
)

// LogBroadcaster is a slog.Handler that passes every record to the
// host's handler and streams it to live subscribers, such as the HTTP
// API's /v1/agent/monitor (nomad monitor), each at its own level and in
// JSON or text. A subscriber that falls behind loses lines; the logger
// never waits for it.
type LogBroadcaster = logstream.Broadcaster

// NewLogBroadcaster wraps the host's handler. Pass slog.New(b) as the
// server's Logger (and the client's): the HTTP handler then serves
// /v1/agent/monitor from it, unless api.Options.Logs names another.
func NewLogBroadcaster(h slog.Handler) *LogBroadcaster { return logstream.New(h) }
