package server

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/droverhq/drover/heartbeat"
	"github.com/droverhq/drover/structs"
)

// TestShutdownDoesNotWaitForLongPolls shuts a server down, with no
// deadline, while a client's allocation long-poll and a blocking read
// wait on it: both calls end and Shutdown returns long before the polls'
// own 30 s wait would.
func TestShutdownDoesNotWaitForLongPolls(t *testing.T) {
	s, err := New(Config{
		Name: "s1", Region: "global", Datacenter: "dc1",
		DataDir: t.TempDir(), BindAddr: "127.0.0.1:0",
		NumSchedulers: 1, EnabledSchedulers: []string{"service", "batch", "system", "sysbatch", "_core"},
		Heartbeat: heartbeat.DefaultConfig(), RaftMultiplier: 1,
		RaftSnapshotThreshold: 8192, RaftSnapshotInterval: time.Minute, RaftTrailingLogs: 10240,
		JobDefaultPriority: 50, JobMaxPriority: 100, Logger: testLogger(),
	})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, s.WaitForLeader(ctx))
	_, err = s.RegisterNode(ctx, mockNode("n1"))
	require.NoError(t, err)

	cc, err := grpc.NewClient("passthrough:///"+s.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer cc.Close()
	rpc := structs.NewDroverClient(cc)
	polls := make(chan error, 2)
	go func() {
		_, err := rpc.GetNodeAllocations(ctx, &structs.NodeAllocsRequest{NodeId: "n1", SecretId: "n1-secret",
			Options: &structs.QueryOptions{MinQueryIndex: s.StateIndex(), MaxQueryTimeMs: 30_000}})
		polls <- err
	}()
	go func() {
		_, err := rpc.ListJobs(ctx, &structs.JobListRequest{Options: &structs.QueryOptions{MinQueryIndex: s.StateIndex(), MaxQueryTimeMs: 30_000}})
		polls <- err
	}()
	// Both calls are in the server before it stops.
	require.Eventually(t, func() bool { return s.inflightRPCs() >= 2 }, 10*time.Second, 5*time.Millisecond)

	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	select {
	case err := <-shut:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown waited for the long-polls")
	}
	for range 2 {
		select {
		case <-polls:
		case <-time.After(10 * time.Second):
			t.Fatal("a long-poll outlived the server")
		}
	}
}
