package drover_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/driver/mock"
	"github.com/droverhq/drover/internal/testing/harness"
	"github.com/droverhq/drover/transport"
	"github.com/droverhq/drover/transport/inmem"
)

// shortTTLServer starts a server whose clients heartbeat every 300-600ms.
func shortTTLServer(t *testing.T, dir string, tr transport.Transport, addr string, reg prometheus.Registerer) *drover.Server {
	t.Helper()
	srv, err := drover.NewServer(drover.ServerOptions{
		DataDir: dir, BindAddr: addr, Transport: tr, Registerer: reg, Logger: harness.Logger(t),
		Heartbeat: drover.HeartbeatConfig{MinTTL: 300 * time.Millisecond, Grace: 200 * time.Millisecond}, DisableGossip: true,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, srv.WaitForLeader(ctx))
	return srv
}

func clientOn(t *testing.T, dir string, srv *drover.Server, tr transport.Transport) *drover.Client {
	t.Helper()
	cli, err := drover.NewClient(drover.ClientOptions{
		DataDir: dir, Servers: []string{srv.Addr()}, Transport: tr,
		Drivers: []drover.Driver{mock.New(nil)}, Logger: harness.Logger(t),
	})
	require.NoError(t, err)
	select {
	case <-cli.Ready():
	case <-time.After(20 * time.Second):
		t.Fatal("client did not register")
	}
	return cli
}

func TestDeadClientsWorkMovesToAnotherClient(t *testing.T) {
	dir := t.TempDir()
	srv := shortTTLServer(t, filepath.Join(dir, "server"), nil, "127.0.0.1:0", nil)
	defer harness.Shutdown(t, srv)
	a := clientOn(t, filepath.Join(dir, "a"), srv, nil)
	b := clientOn(t, filepath.Join(dir, "b"), srv, nil)
	defer harness.Shutdown(t, a, b) // Shutdown is idempotent: the victim's second one is a no-op
	ctx := context.Background()

	_, err := srv.RegisterJob(ctx, serviceJob(t, "web", 2))
	require.NoError(t, err)
	harness.WaitFor(t, srv, 30*time.Second, "2 running allocations", func() bool {
		return allocsByStatus(t, srv, "web")["running"] == 2
	})
	allocs, err := srv.Allocations(ctx, "", "web", "")
	require.NoError(t, err)
	victim, survivor := a, b
	if allocs[0].NodeId == b.NodeID() {
		victim, survivor = b, a
	}
	onVictim := 0
	for _, al := range allocs {
		if al.NodeId == victim.NodeID() {
			onVictim++
		}
	}
	// The client vanishes: no more heartbeats, no goodbye.
	harness.Shutdown(t, victim)

	harness.WaitFor(t, srv, 30*time.Second, "the work to run on the surviving client", func() bool {
		running := 0
		all, _ := srv.Allocations(ctx, "", "web", "")
		for _, al := range all {
			if al.ClientStatus == "running" && al.NodeId == survivor.NodeID() {
				running++
			}
		}
		return running == 2
	})
	nodes, err := srv.Nodes(ctx)
	require.NoError(t, err)
	for _, n := range nodes {
		if n.Id == victim.NodeID() {
			require.Equal(t, "down", n.Status)
		}
	}
	require.Equal(t, onVictim, allocsByStatus(t, srv, "web")["lost"], "what the victim ran is lost")
}

func heartbeats(t *testing.T, reg *prometheus.Registry) float64 {
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() == "drover_server_heartbeats_total" {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

func TestShortNetworkPauseReschedulesNothing(t *testing.T) {
	dir := t.TempDir()
	network := inmem.NewNetwork()
	reg := prometheus.NewRegistry()
	srv, err := drover.NewServer(drover.ServerOptions{
		DataDir: filepath.Join(dir, "server"), BindAddr: "server:0", Transport: network.Transport(),
		Registerer: reg, Logger: harness.Logger(t),
		// TTLs of 3-6 s plus 2 s of grace: far longer than the pause below.
		Heartbeat: drover.HeartbeatConfig{MinTTL: 3 * time.Second, Grace: 2 * time.Second},
	})
	require.NoError(t, err)
	defer harness.Shutdown(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, srv.WaitForLeader(ctx))
	cli := clientOn(t, filepath.Join(dir, "client"), srv, network.Transport())
	defer harness.Shutdown(t, cli)

	_, err = srv.RegisterJob(ctx, serviceJob(t, "web", 2))
	require.NoError(t, err)
	harness.WaitFor(t, srv, 30*time.Second, "2 running allocations", func() bool {
		return allocsByStatus(t, srv, "web")["running"] == 2
	})
	before, err := srv.Allocations(ctx, "", "web", "")
	require.NoError(t, err)

	// The pause lasts until the client has noticed it (its link to the
	// server broke), far shorter than any TTL.
	network.Isolate(srv.Addr())
	harness.Eventually(t, 30*time.Second, "the client to lose its server", func() bool {
		addr, _ := drover.ClientOf(cli).ServerConnection()
		return addr == ""
	})
	network.Rejoin(srv.Addr())

	// Two heartbeats after the pause: the node has outlived every TTL it
	// was given before it.
	seen := heartbeats(t, reg)
	require.Eventually(t, func() bool { return heartbeats(t, reg) >= seen+2 }, 40*time.Second, 50*time.Millisecond)
	nodes, err := srv.Nodes(ctx)
	require.NoError(t, err)
	require.Equal(t, "ready", nodes[0].Status)
	after, err := srv.Allocations(ctx, "", "web", "")
	require.NoError(t, err)
	require.Len(t, after, len(before), "nothing was rescheduled")
	for i := range before {
		require.Equal(t, before[i].Id, after[i].Id)
		require.Equal(t, "running", after[i].ClientStatus)
	}
}
