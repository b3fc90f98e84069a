// Package logstream tees an agent's log records to live subscribers, such
// as the HTTP API's /v1/agent/monitor, each at its own level and format,
// without slowing the logger: a subscriber that falls behind loses lines.
package logstream

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
)

// subscriberBuffer is how many lines a subscriber may fall behind.
const subscriberBuffer = 512

// Broadcaster is a slog.Handler that passes every record to the handler
// it wraps and, formatted as JSON or text, to each subscriber whose level
// the record reaches.
type Broadcaster struct {
	inner slog.Handler
	hub   *hub
	// ops are the WithAttrs and WithGroup calls that led to this handler,
	// replayed on the subscribers' formatters.
	ops []op
}

type op struct {
	attrs []slog.Attr
	group string
}

type hub struct {
	mu   sync.RWMutex
	subs map[*subscriber]struct{}
	// min is the lowest level any subscriber wants.
	min slog.Level
}

type subscriber struct {
	level slog.Level
	json  bool
	lines chan []byte
}

// New wraps h.
func New(h slog.Handler) *Broadcaster {
	return &Broadcaster{inner: h, hub: &hub{subs: map[*subscriber]struct{}{}}}
}

// Enabled implements slog.Handler: the wrapped handler's level, or lower
// while a subscriber asks for it.
func (b *Broadcaster) Enabled(ctx context.Context, l slog.Level) bool {
	if b.inner.Enabled(ctx, l) {
		return true
	}
	b.hub.mu.RLock()
	defer b.hub.mu.RUnlock()
	return len(b.hub.subs) > 0 && l >= b.hub.min
}

// Handle implements slog.Handler.
func (b *Broadcaster) Handle(ctx context.Context, r slog.Record) error {
	var err error
	if b.inner.Enabled(ctx, r.Level) {
		err = b.inner.Handle(ctx, r)
	}
	b.hub.mu.RLock()
	defer b.hub.mu.RUnlock()
	var text, js []byte
	for s := range b.hub.subs {
		if r.Level < s.level {
			continue
		}
		line := &text
		if s.json {
			line = &js
		}
		if *line == nil {
			*line = b.format(ctx, r, s.json)
		}
		select {
		case s.lines <- *line:
		default: // the subscriber fell behind: the line is lost to it
		}
	}
	return err
}

// format renders r as one line, with the attributes and groups of b.
func (b *Broadcaster) format(ctx context.Context, r slog.Record, json bool) []byte {
	var buf bytes.Buffer
	opts := &slog.HandlerOptions{Level: slog.LevelDebug - 8}
	var h slog.Handler
	if json {
		h = slog.NewJSONHandler(&buf, opts)
	} else {
		h = slog.NewTextHandler(&buf, opts)
	}
	for _, o := range b.ops {
		if o.group != "" {
			h = h.WithGroup(o.group)
		} else {
			h = h.WithAttrs(o.attrs)
		}
	}
	_ = h.Handle(ctx, r)
	return buf.Bytes()
}

// WithAttrs implements slog.Handler.
func (b *Broadcaster) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Broadcaster{inner: b.inner.WithAttrs(attrs), hub: b.hub, ops: append(b.ops[:len(b.ops):len(b.ops)], op{attrs: attrs})}
}

// WithGroup implements slog.Handler.
func (b *Broadcaster) WithGroup(name string) slog.Handler {
	if name == "" {
		return b
	}
	return &Broadcaster{inner: b.inner.WithGroup(name), hub: b.hub, ops: append(b.ops[:len(b.ops):len(b.ops)], op{group: name})}
}

// Subscribe streams the records at level or above, each as a line of JSON
// (json) or text, until cancel is called; cancel closes lines.
func (b *Broadcaster) Subscribe(level slog.Level, json bool) (lines <-chan []byte, cancel func()) {
	s := &subscriber{level: level, json: json, lines: make(chan []byte, subscriberBuffer)}
	h := b.hub
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.recompute()
	h.mu.Unlock()
	var once sync.Once
	return s.lines, func() {
		once.Do(func() {
			h.mu.Lock()
			delete(h.subs, s)
			h.recompute()
			h.mu.Unlock()
			close(s.lines)
		})
	}
}

func (h *hub) recompute() {
	first := true
	for s := range h.subs {
		if first || s.level < h.min {
			h.min, first = s.level, false
		}
	}
}
