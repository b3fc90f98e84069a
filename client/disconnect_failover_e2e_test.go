package client_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/client"
	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/driver/mock"
	"github.com/droverhq/drover/internal/testing/harness"
	"github.com/droverhq/drover/internal/testing/testcluster"
	"github.com/droverhq/drover/structs"
)

// A disconnect window opened under one leader runs out under the next:
// the new leader takes the pending window from the state, rather than
// giving the node the failover heartbeat TTL (5 minutes here).
func TestDisconnectWindowSurvivesALeaderFailover(t *testing.T) {
	cluster := testcluster.New(t, testcluster.Options{Servers: 3, Server: func(_ int, o *drover.ServerOptions) {
		o.Heartbeat.MinTTL, o.Heartbeat.Grace = 300*time.Millisecond, 200*time.Millisecond
	}})
	leader := cluster.WaitLeader(deadline)
	var servers []string
	for _, m := range cluster.Members() {
		servers = append(servers, m.Addr)
	}
	start := func(name string) (*client.Client, *mock.Driver) {
		m := mock.New(nil)
		t.Cleanup(m.Close)
		c := startClient(t, client.Config{DataDir: filepath.Join(t.TempDir(), name), Servers: servers,
			Drivers: []driver.Driver{m}, UpdateInterval: 50 * time.Millisecond})
		t.Cleanup(func() { harness.Shutdown(t, c) })
		return c, m
	}
	victim, _ := start("victim")
	srv := leader.Server()
	const window = 10 * time.Second
	register(t, srv, windowJob("failover", window))
	harness.WaitFor(t, srv, deadline, "the allocation to run", func() bool {
		a := only(t, srv, "failover")
		return a != nil && a.ClientStatus == structs.AllocClientRunning
	})
	orig := only(t, srv, "failover")
	other, _ := start("other")

	// The victim stops heartbeating (no drain, no goodbye).
	harness.Shutdown(t, victim)
	harness.WaitFor(t, srv, deadline, "the node disconnected and the replacement running", func() bool {
		a := allocByID(t, srv, "failover", orig.Id)
		if a.ClientStatus != structs.AllocClientUnknown || a.NextAllocation == "" {
			return false
		}
		r := allocByID(t, srv, "failover", a.NextAllocation)
		return r.NodeId == other.NodeID() && r.ClientStatus == structs.AllocClientRunning
	})
	disconnected := allocByID(t, srv, "failover", orig.Id)
	replID := disconnected.NextAllocation
	require.Less(t, time.Since(time.Unix(0, disconnected.DisconnectedAt)), window/2,
		"the failover below happens well inside the window")

	leader.Stop()
	next := cluster.WaitLeader(deadline)
	require.NotEqual(t, leader.Name, next.Name)
	srv = next.Server()
	require.Equal(t, structs.NodeStatusDisconnected, nodeStatus(t, srv, orig.NodeId), "the window is still open")
	harness.WaitFor(t, srv, deadline, "the new leader to end the window", func() bool {
		return allocByID(t, srv, "failover", orig.Id).ClientStatus == structs.AllocClientLost &&
			nodeStatus(t, srv, orig.NodeId) == structs.NodeStatusDown
	})
	lost := allocByID(t, srv, "failover", orig.Id)
	require.Equal(t, disconnected.DisconnectedAt, lost.DisconnectedAt, "the window the first leader opened")
	took := time.Duration(lost.ModifyTime - lost.DisconnectedAt)
	require.GreaterOrEqual(t, took, window, "not before the window's end")
	require.Less(t, took, 5*time.Minute, "not on the failover TTL")
	r := allocByID(t, srv, "failover", replID)
	require.Equal(t, structs.AllocDesiredRun, r.DesiredStatus, "the replacement carries on")
	require.Equal(t, structs.AllocClientRunning, r.ClientStatus)
	require.Equal(t, structs.NodeStatusReady, nodeStatus(t, srv, other.NodeID()))
}
