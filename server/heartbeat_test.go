package server

import (
	"log/slog"
	"testing"
	"time"

	"github.com/droverhq/drover/heartbeat"
)

// TestNodeSeenBeforeEnableKeepsItsOwnTTL: a node that heartbeats to a new
// leader before its services are enabled already knows that leader: it
// gets its own TTL, not the failover TTL that covers nodes still talking
// to the old one.
func TestNodeSeenBeforeEnableKeepsItsOwnTTL(t *testing.T) {
	cfg := heartbeat.Config{MinTTL: 20 * time.Millisecond, Grace: 20 * time.Millisecond, MaxPerSecond: 50, FailoverTTL: time.Hour}
	expired := make(chan string, 2)
	tr := newTTLTracker(cfg, true, slog.New(slog.DiscardHandler), func(id string) { expired <- id })
	defer tr.disable()
	tr.reset("early")
	tr.enable([]string{"early", "other"})
	select {
	case id := <-expired:
		if id != "early" {
			t.Fatalf("%s expired; only the node seen early has a short TTL", id)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the node seen before enable got the failover TTL")
	}
	select {
	case id := <-expired:
		t.Fatalf("%s expired before the failover TTL", id)
	default:
	}
}
