package server

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/droverhq/drover/heartbeat"
	"github.com/droverhq/drover/structs"
)

// TestEveryClientRPCRefusesAnotherNodesSecret calls each RPC a client
// makes, over gRPC, as node a but with node b's secret.
func TestEveryClientRPCRefusesAnotherNodesSecret(t *testing.T) {
	s := testServer(t, heartbeat.DefaultConfig())
	ctx := context.Background()
	_, err := s.RegisterNode(ctx, mockNode("a"))
	require.NoError(t, err)
	_, err = s.RegisterNode(ctx, mockNode("b"))
	require.NoError(t, err)
	resp, err := s.RegisterJob(ctx, mockJob("j", 2))
	require.NoError(t, err)
	waitState(t, s, "the job's evaluation to complete", func() bool {
		e, err := s.Evaluation(ctx, resp.EvalId)
		return err == nil && e.Status == structs.EvalStatusComplete
	})
	var onA *structs.Allocation
	all, err := s.Allocations(ctx, "", "j", "")
	require.NoError(t, err)
	for _, a := range all {
		if a.NodeId == "a" {
			onA = a
		}
	}
	require.NotNil(t, onA, "binpacking put work on a")

	cc, err := grpc.NewClient("passthrough:///"+s.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer cc.Close()
	rpc := structs.NewDroverClient(cc)
	stolen := "b-secret"
	before := s.StateIndex()
	report := []*structs.Allocation{{Id: onA.Id, ClientStatus: structs.AllocClientFailed}}
	for name, callRPC := range map[string]func() error{
		"RegisterNode": func() error {
			n := mockNode("a")
			n.SecretId = stolen
			_, err := rpc.RegisterNode(ctx, &structs.NodeRegisterRequest{Node: n})
			return err
		},
		"Heartbeat": func() error {
			_, err := rpc.Heartbeat(ctx, &structs.NodeHeartbeatRequest{NodeId: "a", SecretId: stolen})
			return err
		},
		"GetNodeAllocations": func() error {
			_, err := rpc.GetNodeAllocations(ctx, &structs.NodeAllocsRequest{NodeId: "a", SecretId: stolen})
			return err
		},
		"UpdateAllocations": func() error {
			_, err := rpc.UpdateAllocations(ctx, &structs.AllocUpdateRequest{NodeId: "a", SecretId: stolen, Allocations: report})
			return err
		},
		"UpdateAllocations of another node's allocation": func() error {
			_, err := rpc.UpdateAllocations(ctx, &structs.AllocUpdateRequest{NodeId: "b", SecretId: stolen, Allocations: report})
			return err
		},
		"UpdateNodeDrain": func() error {
			_, err := rpc.UpdateNodeDrain(ctx, &structs.NodeDrainRequest{NodeId: "a", SecretId: stolen,
				DrainStrategy: &structs.DrainStrategy{Deadline: durationpb.New(0)}})
			return err
		},
	} {
		err := callRPC()
		require.Equal(t, codes.PermissionDenied, status.Code(err), "%s: %v", name, err)
	}
	require.Equal(t, before, s.StateIndex(), "refused calls change nothing")

	// The node's own secret works.
	_, err = rpc.Heartbeat(ctx, &structs.NodeHeartbeatRequest{NodeId: "a", SecretId: "a-secret"})
	require.NoError(t, err)
	got, err := rpc.GetNodeAllocations(ctx, &structs.NodeAllocsRequest{NodeId: "a", SecretId: "a-secret"})
	require.NoError(t, err)
	for _, a := range got.Allocations {
		require.Equal(t, "a", a.NodeId, "a node reads only its own allocations")
	}
	_, err = rpc.UpdateNodeDrain(ctx, &structs.NodeDrainRequest{NodeId: "a", SecretId: "a-secret",
		DrainStrategy: &structs.DrainStrategy{Deadline: durationpb.New(0)}})
	require.NoError(t, err)
}
