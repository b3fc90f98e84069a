package server

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/heartbeat"
	"github.com/droverhq/drover/server/events"
	"github.com/droverhq/drover/server/raft"
	"github.com/droverhq/drover/structs"
)

// nextBatch reads one batch within a deadline.
func nextBatch(t *testing.T, sub *events.Subscription) events.Batch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := sub.Next(ctx)
	require.NoError(t, err)
	return b
}

func TestAppliedEntriesBecomeEventsWithTheirIndex(t *testing.T) {
	s := testServer(t, heartbeat.DefaultConfig())
	ctx := context.Background()
	sub, err := s.Events(ctx, events.SubscribeRequest{Index: s.StateIndex() + 1})
	require.NoError(t, err)
	defer sub.Close()

	reg, err := s.RegisterNode(ctx, mockNode("n1"))
	require.NoError(t, err)
	b := nextBatch(t, sub)
	require.Equal(t, reg.Meta.Index, b.Index)
	require.Equal(t, events.TopicNode, b.Events[0].Topic)
	require.Equal(t, events.TypeNodeRegistration, b.Events[0].Type)
	require.Empty(t, b.Events[0].Payload.(*structs.Node).SecretId, "events never carry a node's secret")

	resp, err := s.RegisterJob(ctx, mockJob("web", 1))
	require.NoError(t, err)
	b = nextBatch(t, sub)
	require.Equal(t, resp.Meta.Index, b.Index)
	require.Len(t, b.Events, 2)
	require.Equal(t, events.TopicJob, b.Events[0].Topic)
	require.Equal(t, "web", b.Events[0].Payload.(*structs.Job).Id)
	require.Equal(t, resp.Meta.Index, b.Events[0].Payload.(*structs.Job).ModifyIndex)
	require.Equal(t, events.TopicEvaluation, b.Events[1].Topic)
	require.Equal(t, resp.EvalId, b.Events[1].Key)

	// The scheduler's plan shows up as allocation events keyed by the job too.
	allocs, err := s.Events(ctx, events.SubscribeRequest{Topics: map[events.Topic][]string{events.TopicAllocation: {"web"}}})
	require.NoError(t, err)
	defer allocs.Close()
	b = nextBatch(t, allocs)
	require.Equal(t, events.TypePlanResult, b.Events[0].Type)
	a := b.Events[0].Payload.(*structs.Allocation)
	require.Equal(t, "web", a.JobId)
	require.Equal(t, "n1", a.NodeId)
}

func TestEligibilityChangesAreCommittedAndPublished(t *testing.T) {
	s := testServer(t, heartbeat.DefaultConfig())
	ctx := context.Background()
	_, err := s.RegisterNode(ctx, mockNode("n1"))
	require.NoError(t, err)
	sub, err := s.Events(ctx, events.SubscribeRequest{Topics: map[events.Topic][]string{events.TopicNode: {"n1"}}, Index: s.StateIndex() + 1})
	require.NoError(t, err)
	defer sub.Close()

	resp, err := s.UpdateNodeEligibility(ctx, "n1", structs.NodeIneligible)
	require.NoError(t, err)
	require.Empty(t, resp.EvalIds, "making a node ineligible schedules nothing")
	n, err := s.Node(ctx, "n1")
	require.NoError(t, err)
	require.Equal(t, structs.NodeIneligible, n.SchedulingEligibility)
	b := nextBatch(t, sub)
	require.Equal(t, events.TypeNodeEligibility, b.Events[0].Type)
	require.Equal(t, resp.Meta.Index, b.Index)

	// Work registered while the only node is ineligible waits for it.
	job, err := s.RegisterJob(ctx, mockJob("web", 1))
	require.NoError(t, err)
	waitState(t, s, "the job's evaluation to block", func() bool {
		e, err := s.Evaluation(ctx, job.EvalId)
		return err == nil && e.Status == structs.EvalStatusComplete && e.BlockedEval != ""
	})
	_, err = s.UpdateNodeEligibility(ctx, "n1", structs.NodeEligible)
	require.NoError(t, err)
	waitState(t, s, "the blocked job to be placed on the node once eligible", func() bool {
		allocs, _ := s.Allocations(ctx, "", "web", "")
		return len(allocs) == 1
	})

	for _, bad := range []struct{ node, elig string }{{"n1", "maybe"}, {"nope", structs.NodeEligible}} {
		before := s.StateIndex()
		_, err := s.UpdateNodeEligibility(ctx, bad.node, bad.elig)
		require.Error(t, err)
		require.Equal(t, before, s.StateIndex(), "a refused update changes nothing")
	}
}

func TestEventsDisabled(t *testing.T) {
	s, err := New(Config{
		Name: "s1", DataDir: t.TempDir(), BindAddr: "127.0.0.1:0", Heartbeat: heartbeat.DefaultConfig(),

		JobDefaultPriority: 50, JobMaxPriority: 100, DisableEventBroker: true,
	})
	require.NoError(t, err)
	defer s.Shutdown(context.Background())
	_, err = s.Events(context.Background(), events.SubscribeRequest{})
	require.ErrorIs(t, err, events.ErrDisabled)
}

func TestSubscriptionsEndWithTheServerOrTheirContext(t *testing.T) {
	s := testServer(t, heartbeat.DefaultConfig())
	ctx, cancel := context.WithCancel(context.Background())
	sub, err := s.Events(ctx, events.SubscribeRequest{})
	require.NoError(t, err)
	cancel()
	_, err = sub.Next(context.Background())
	require.ErrorIs(t, err, events.ErrClosed)

	sub2, err := s.Events(context.Background(), events.SubscribeRequest{Index: s.StateIndex() + 1})
	require.NoError(t, err)
	require.NoError(t, s.Shutdown(context.Background()))
	_, err = sub2.Next(context.Background())
	require.ErrorIs(t, err, events.ErrClosed)
}

func TestRestoredServerRefusesIndexesBeforeItsSnapshot(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{
		Name: "s1", DataDir: dir, BindAddr: "127.0.0.1:0", NumSchedulers: 0, Heartbeat: heartbeat.DefaultConfig(),
		Raft:               raft.Config{SnapshotThreshold: 3, SnapshotInterval: time.Millisecond, TrailingLogs: 1},
		JobDefaultPriority: 50, JobMaxPriority: 100, Logger: testLogger(),
	}
	s, err := New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, s.WaitForLeader(ctx))
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		_, err := s.RegisterJob(ctx, mockJob(id, 0))
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool {
		snap, err := s.store.Snapshot()
		require.NoError(t, err)
		return snap.GetMetadata().GetIndex() > 2
	}, 10*time.Second, 10*time.Millisecond, "a snapshot is taken")
	require.NoError(t, s.Shutdown(ctx))

	s2, err := New(cfg)
	require.NoError(t, err)
	defer s2.Shutdown(ctx)
	require.NoError(t, s2.WaitForLeader(ctx))
	_, err = s2.Events(ctx, events.SubscribeRequest{Index: 1})
	require.ErrorIs(t, err, events.ErrLagged, "the events before the snapshot are gone; saying so beats a silent gap")
}
