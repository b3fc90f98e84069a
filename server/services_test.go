package server

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/heartbeat"
	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

func registration(allocID, name string) *structs.ServiceRegistration {
	return &structs.ServiceRegistration{
		Id: ServiceIDPrefix(allocID) + "t-" + name + "-http", ServiceName: name, AllocId: allocID,
		Tags: []string{"v1"}, Address: "10.0.0.1", Port: 8080,
		// What the client claims of the rest is not trusted.
		Namespace: "elsewhere", JobId: "someone-else", NodeId: "b",
	}
}

func TestNodesRegisterServicesOfTheirOwnAllocationsOnly(t *testing.T) {
	hb := heartbeat.Config{MinTTL: 200 * time.Millisecond, Grace: 100 * time.Millisecond, FailoverTTL: time.Second, MaxPerSecond: 50}
	s := testServer(t, hb)
	ctx := context.Background()
	_, err := s.RegisterNode(ctx, mockNode("a"))
	require.NoError(t, err)
	_, err = s.RegisterJob(ctx, mockJob("j", 2))
	require.NoError(t, err)
	waitState(t, s, "2 allocations on node a", func() bool {
		allocs, _ := s.Allocations(ctx, "", "", "a")
		return len(allocs) == 2
	})
	allocs, _ := s.Allocations(ctx, "", "", "a")
	_, err = s.RegisterNode(ctx, mockNode("b"))
	require.NoError(t, err)
	before := s.StateIndex()

	regs := []*structs.ServiceRegistration{registration(allocs[0].Id, "web"), registration(allocs[1].Id, "web")}
	_, err = s.UpdateServiceRegistrations(ctx, "b", "b-secret", regs, nil)
	require.ErrorIs(t, err, ErrPermissionDenied, "another node's allocations")
	_, err = s.UpdateServiceRegistrations(ctx, "a", "b-secret", regs, nil)
	require.ErrorIs(t, err, ErrPermissionDenied, "another node's secret")
	_, err = s.UpdateServiceRegistrations(ctx, "b", "b-secret", nil, []string{allocs[0].Id})
	require.ErrorIs(t, err, ErrPermissionDenied, "deregistering another node's allocation")
	bad := registration(allocs[0].Id, "not a name!")
	_, err = s.UpdateServiceRegistrations(ctx, "a", "a-secret", []*structs.ServiceRegistration{bad}, nil)
	var ve *structs.ValidationError
	require.ErrorAs(t, err, &ve)
	foreignID := registration(allocs[0].Id, "web")
	foreignID.Id = ServiceIDPrefix(allocs[1].Id) + "x"
	_, err = s.UpdateServiceRegistrations(ctx, "a", "a-secret", []*structs.ServiceRegistration{foreignID}, nil)
	require.ErrorIs(t, err, ErrBadRequest, "an id naming another allocation")
	require.Equal(t, before, s.StateIndex(), "refused calls change nothing")

	_, err = s.UpdateServiceRegistrations(ctx, "a", "a-secret", regs, nil)
	require.NoError(t, err)
	got, err := s.ServiceRegistrations(ctx, "", "web")
	require.NoError(t, err)
	require.Len(t, got, 2)
	for _, r := range got {
		require.Equal(t, "default", r.Namespace, "taken from the allocation")
		require.Equal(t, "j", r.JobId)
		require.Equal(t, "a", r.NodeId)
		require.Equal(t, "dc1", r.Datacenter)
	}

	// The state snapshot carries the registrations through a restore.
	snap := s.state.Snapshot()
	r := state.NewRestorer()
	require.NoError(t, snap.Walk(func(field protowire.Number, m proto.Message) error { return r.Add(field, m) }))
	restored := state.NewStore()
	restored.Install(r, snap.Index())
	require.Len(t, restored.Snapshot().ServiceRegistrations(""), 2)

	// One allocation's client reports it complete: its registration goes
	// with it.
	_, err = s.UpdateAllocations(ctx, "a", "a-secret", []*structs.Allocation{{Id: allocs[0].Id, ClientStatus: structs.AllocClientComplete}})
	require.NoError(t, err)
	got, _ = s.ServiceRegistrations(ctx, "", "web")
	require.Len(t, got, 1)
	require.Equal(t, allocs[1].Id, got[0].AllocId)
	_, err = s.UpdateServiceRegistrations(ctx, "a", "a-secret", regs[:1], nil)
	require.NoError(t, err)
	got, _ = s.ServiceRegistrations(ctx, "", "web")
	require.Len(t, got, 1, "a terminal allocation registers nothing")

	// Node a goes silent (b keeps heartbeating): its registrations go
	// when it is marked down.
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tk := time.NewTicker(50 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				_, _ = s.Heartbeat(ctx, "b", "b-secret")
			}
		}
	}()
	defer func() { close(stop); <-done }()
	waitState(t, s, "node a down and its registrations gone", func() bool {
		snap := s.state.Snapshot()
		return snap.Node("a").GetStatus() == structs.NodeStatusDown && len(snap.ServiceRegistrations("")) == 0
	})
}
