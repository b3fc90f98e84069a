package server

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/heartbeat"
	"github.com/droverhq/drover/structs"
)

func paramJob(id string, payload string, required, optional []string) *structs.Job {
	j := mockJob(id, 1)
	j.Type = structs.JobTypeBatch
	j.Parameterized = &structs.ParameterizedJobConfig{Payload: payload, MetaRequired: required, MetaOptional: optional}
	j.TaskGroups[0].Tasks[0].DispatchPayload = &structs.DispatchPayloadConfig{File: "input/payload.txt"}
	return j
}

func TestDispatchCreatesAChildThatRuns(t *testing.T) {
	s := testServer(t, heartbeat.DefaultConfig())
	ctx := context.Background()
	registerNodes(t, s, "n1")
	_, err := s.RegisterJob(ctx, paramJob("work", structs.DispatchPayloadOptional, []string{"user"}, []string{"prio"}))
	require.NoError(t, err)
	require.Empty(t, mustAllocs(t, s, "work"), "a parameterized job never runs by itself")

	resp, err := s.DispatchJob(ctx, DispatchRequest{JobID: "work", Payload: []byte("hello"), Meta: map[string]string{"user": "ann"}})
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(resp.DispatchedJobId, "work/dispatch-"), resp.DispatchedJobId)
	require.Regexp(t, `^work/dispatch-\d+-[0-9a-f]{8}$`, resp.DispatchedJobId)
	child, err := s.Job(ctx, "", resp.DispatchedJobId)
	require.NoError(t, err)
	require.Equal(t, "work", child.ParentId)
	require.True(t, child.Dispatched)
	require.Nil(t, child.Parameterized)
	require.Equal(t, []byte("hello"), child.Payload)
	require.Equal(t, "ann", child.Meta["user"])
	waitState(t, s, "the child to be placed", func() bool { return len(mustAllocs(t, s, resp.DispatchedJobId)) == 1 })

	parent, err := s.Job(ctx, "", "work")
	require.NoError(t, err)
	require.Equal(t, structs.JobStatusRunning, parent.Status, "a parent runs while it may launch children")
	_, sums, err := s.JobsWithSummaries(ctx, "default", "work")
	require.NoError(t, err)
	require.EqualValues(t, 1, sums[0].GetChildren().GetPending()+sums[0].GetChildren().GetRunning())
	children, err := s.JobChildren(ctx, "", "work")
	require.NoError(t, err)
	require.Len(t, children, 1)
}

func mustAllocs(t *testing.T, s *Server, job string) []*structs.Allocation {
	t.Helper()
	a, err := s.Allocations(context.Background(), "default", job, "")
	require.NoError(t, err)
	return a
}

func TestDispatchIsRefusedWholeNamingTheProblem(t *testing.T) {
	s := testServer(t, heartbeat.DefaultConfig())
	ctx := context.Background()
	_, err := s.RegisterJob(ctx, paramJob("strict", structs.DispatchPayloadForbidden, []string{"user", "team"}, nil))
	require.NoError(t, err)
	before := s.StateIndex()

	_, err = s.DispatchJob(ctx, DispatchRequest{JobID: "strict", Payload: []byte("x"), Meta: map[string]string{"user": "a", "color": "red"}})
	require.ErrorIs(t, err, structs.ErrValidation)
	msg := err.Error()
	for _, want := range []string{"payload is forbidden", `"team"`, `"color"`} {
		require.Contains(t, msg, want)
	}
	_, err = s.DispatchJob(ctx, DispatchRequest{JobID: "strict", Meta: map[string]string{"user": "a"}})
	require.ErrorIs(t, err, structs.ErrValidation)
	require.Contains(t, err.Error(), `required meta key "team" is missing`)
	require.Equal(t, before, s.StateIndex(), "a refused dispatch changes nothing")

	_, err = s.RegisterJob(ctx, paramJob("needs", structs.DispatchPayloadRequired, nil, nil))
	require.NoError(t, err)
	before = s.StateIndex()
	_, err = s.DispatchJob(ctx, DispatchRequest{JobID: "needs"})
	require.ErrorIs(t, err, structs.ErrValidation)
	_, err = s.DispatchJob(ctx, DispatchRequest{JobID: "needs", Payload: make([]byte, structs.DispatchPayloadSizeLimit+1)})
	require.ErrorIs(t, err, structs.ErrValidation)
	require.Contains(t, err.Error(), "exceeds the limit")
	_, err = s.DispatchJob(ctx, DispatchRequest{JobID: "nope"})
	require.ErrorIs(t, err, ErrNotFound)
	require.Equal(t, before, s.StateIndex(), "a refused dispatch changes nothing")
	children, err := s.JobChildren(ctx, "", "strict")
	require.NoError(t, err)
	require.Empty(t, children)

	_, err = s.RegisterJob(ctx, mockJob("plain", 1))
	require.NoError(t, err)
	_, err = s.DispatchJob(ctx, DispatchRequest{JobID: "plain"})
	require.ErrorIs(t, err, ErrBadRequest)
}

func TestDispatchIdempotencyTokenReturnsTheFirstChild(t *testing.T) {
	s := testServer(t, heartbeat.DefaultConfig())
	ctx := context.Background()
	_, err := s.RegisterJob(ctx, paramJob("once", "", nil, nil))
	require.NoError(t, err)
	var wg sync.WaitGroup
	ids := make([]string, 8)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := s.DispatchJob(ctx, DispatchRequest{JobID: "once", IdempotencyToken: "tok"})
			require.NoError(t, err)
			ids[i] = resp.DispatchedJobId
		}()
	}
	wg.Wait()
	for _, id := range ids {
		require.Equal(t, ids[0], id)
	}
	children, err := s.JobChildren(ctx, "", "once")
	require.NoError(t, err)
	require.Len(t, children, 1)
	other, err := s.DispatchJob(ctx, DispatchRequest{JobID: "once", IdempotencyToken: "other"})
	require.NoError(t, err)
	require.NotEqual(t, ids[0], other.DispatchedJobId)
}

func TestStoppedParentDispatchesNothing(t *testing.T) {
	s := testServer(t, heartbeat.DefaultConfig())
	ctx := context.Background()
	_, err := s.RegisterJob(ctx, paramJob("gone", "", nil, nil))
	require.NoError(t, err)
	_, err = s.DeregisterJob(ctx, "", "gone", false)
	require.NoError(t, err)
	_, err = s.DispatchJob(ctx, DispatchRequest{JobID: "gone"})
	require.ErrorIs(t, err, ErrBadRequest)
	job, err := s.Job(ctx, "", "gone")
	require.NoError(t, err)
	require.Equal(t, structs.JobStatusDead, job.Status)
}

// TestThousandDispatchesInABurstEachRunOnce dispatches 1,000 children at
// once and checks that each is placed exactly once.
func TestThousandDispatchesInABurstEachRunOnce(t *testing.T) {
	// The nodes do not heartbeat: their TTL outlasts the test.
	s := testServer(t, heartbeat.Config{MinTTL: time.Hour, Grace: time.Hour, FailoverTTL: time.Hour, MaxPerSecond: 50})
	ctx := context.Background()
	for i := range 4 {
		n := mockNode(fmt.Sprintf("n%d", i))
		n.Resources = &structs.Resources{CpuMhz: 1 << 20, MemoryMb: 1 << 20}
		_, err := s.RegisterNode(ctx, n)
		require.NoError(t, err)
	}
	j := paramJob("burst", "", nil, nil)
	j.TaskGroups[0].Tasks[0].Resources = &structs.Resources{CpuMhz: 10, MemoryMb: 10}
	_, err := s.RegisterJob(ctx, j)
	require.NoError(t, err)
	const n = 1000
	ids := make(chan string, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			resp, err := s.DispatchJob(ctx, DispatchRequest{JobID: "burst", Payload: []byte(fmt.Sprint(i))})
			if err != nil {
				t.Errorf("dispatch %d: %v", i, err)
				return
			}
			ids <- resp.DispatchedJobId
		}()
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		require.False(t, seen[id], "child id %s given twice", id)
		seen[id] = true
	}
	require.Len(t, seen, n)
	// Generous: a thousand evaluations, each placed by one worker, on a
	// shared machine under the race detector.
	wctx, cancel := context.WithTimeout(ctx, 6*time.Minute)
	defer cancel()
	for idx := uint64(0); countPlaced(s, "burst/") < n; {
		require.NoError(t, wctx.Err(), "only %d of %d children placed", countPlaced(s, "burst/"), n)
		idx = s.WaitForIndex(wctx, idx)
	}
	perJob := map[string]int{}
	for _, a := range s.state.Snapshot().Allocs() {
		if strings.HasPrefix(a.JobId, "burst/") {
			perJob[a.JobId]++
		}
	}
	require.Len(t, perJob, n)
	for id, c := range perJob {
		require.Equal(t, 1, c, "child %s placed %d times", id, c)
	}
}

func countPlaced(s *Server, prefix string) int {
	jobs := map[string]bool{}
	for _, a := range s.state.Snapshot().Allocs() {
		if strings.HasPrefix(a.JobId, prefix) {
			jobs[a.JobId] = true
		}
	}
	return len(jobs)
}

func TestDispatchOptionsAreChecked(t *testing.T) {
	s := testServer(t, heartbeat.DefaultConfig())
	ctx := context.Background()
	_, err := s.RegisterJob(ctx, paramJob("opts", "", nil, nil))
	require.NoError(t, err)
	_, err = s.DispatchJob(ctx, DispatchRequest{JobID: "opts", IDPrefix: "../x", Priority: 1000, IdempotencyToken: strings.Repeat("t", 300)})
	require.ErrorIs(t, err, structs.ErrValidation)
	for _, want := range []string{"id prefix", "priority 1000", "idempotency token"} {
		require.Contains(t, err.Error(), want)
	}
	resp, err := s.DispatchJob(ctx, DispatchRequest{JobID: "opts", IDPrefix: "nightly", Priority: 70})
	require.NoError(t, err)
	require.Regexp(t, `^opts/dispatch-nightly-\d+-[0-9a-f]{8}$`, resp.DispatchedJobId)
	child, err := s.Job(ctx, "", resp.DispatchedJobId)
	require.NoError(t, err)
	require.EqualValues(t, 70, child.Priority)
}
