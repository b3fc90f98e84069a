package server

import (
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/clock"
	"github.com/droverhq/drover/heartbeat"
)

// TestNodeSeenBeforeEnableKeepsItsOwnTTL: a node that heartbeats to a new
// leader before its services are enabled already knows that leader: it
// gets its own TTL, not the failover TTL that covers nodes still talking
// to the old one. Time is stepped, so the TTLs are exact.
func TestNodeSeenBeforeEnableKeepsItsOwnTTL(t *testing.T) {
	cfg := heartbeat.Config{MinTTL: 20 * time.Millisecond, Grace: 20 * time.Millisecond, MaxPerSecond: 50, FailoverTTL: time.Hour}
	c := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	expired := make(chan string, 2)
	tr := newTTLTracker(cfg, true, c, slog.New(slog.DiscardHandler), func(id string) { expired <- id })
	defer tr.disable()
	ttl := tr.reset("early")
	tr.enable([]string{"early", "other"})
	require.Equal(t, 2, c.Waiters())

	c.Advance(ttl + cfg.Grace - time.Nanosecond)
	select {
	case id := <-expired:
		t.Fatalf("%s expired before its TTL and grace", id)
	default:
	}
	c.Advance(time.Nanosecond)
	require.Equal(t, "early", <-expired, "the node seen before enable keeps its own TTL")

	c.Advance(cfg.FailoverTTL - ttl - cfg.Grace - time.Nanosecond)
	select {
	case id := <-expired:
		t.Fatalf("%s expired before the failover TTL", id)
	default:
	}
	c.Advance(time.Nanosecond)
	require.Equal(t, "other", <-expired, "the other node gets the failover TTL")
}
