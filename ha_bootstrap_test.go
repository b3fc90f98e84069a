package drover_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/internal/testcluster"
)

// syncBuffer is a log sink the servers write to concurrently.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestServerExpectingThreeNeverElectsItselfAlone(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Servers: 3})
	c.Member(1).Stop()
	c.Member(2).Stop()
	// Three election timeouts alone: still no leader, and calls fail fast.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	require.ErrorIs(t, c.Member(0).Server().WaitForLeader(ctx), drover.ErrNoLeader)
	require.False(t, c.Member(0).Server().IsLeader())
	_, err := c.Member(0).Server().RegisterJob(context.Background(), batchJob("alone"))
	require.ErrorIs(t, err, drover.ErrNoLeader)

	require.NoError(t, c.Member(1).Start())
	require.NoError(t, c.Member(2).Start())
	leader := c.WaitLeader(30 * time.Second)
	peers, err := leader.Server().RaftConfiguration(context.Background())
	require.NoError(t, err)
	require.Len(t, peers, 3, "the three bootstrapped together")
}

func TestMismatchedBootstrapExpectIsReportedNotBootstrapped(t *testing.T) {
	var logs syncBuffer
	var mu sync.Mutex
	thirdExpects := 5
	c := testcluster.New(t, testcluster.Options{
		Servers: 3,
		Logger:  slog.New(slog.NewTextHandler(&logs, nil)),
		Server: func(i int, o *drover.ServerOptions) {
			mu.Lock()
			defer mu.Unlock()
			if i == 2 {
				o.BootstrapExpect = thirdExpects
			}
		},
	})
	waitUntil(t, 30*time.Second, "the mismatch to be reported", func() bool {
		return strings.Contains(logs.String(), "peer expects a different number of servers")
	})
	// Two servers expecting three never bootstrap with the one expecting five.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, m := range c.Members() {
		require.ErrorIs(t, m.Server().WaitForLeader(ctx), drover.ErrNoLeader, m.Name)
	}

	// Fixed and restarted, the third server lets the cluster form.
	c.Member(2).Stop()
	mu.Lock()
	thirdExpects = 3
	mu.Unlock()
	require.NoError(t, c.Member(2).Start())
	leader := c.WaitLeader(30 * time.Second)
	peers, err := leader.Server().RaftConfiguration(context.Background())
	require.NoError(t, err)
	require.Len(t, peers, 3)
}

func TestRejoiningPartitionedServerDoesNotDeposeTheLeader(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Servers: 3, InMemory: true})
	leader := c.WaitLeader(30 * time.Second)
	ctx := context.Background()
	before, err := leader.Server().RaftConfiguration(ctx)
	require.NoError(t, err)
	var f *testcluster.Member
	for _, m := range c.Members() {
		if m != leader {
			f = m
			break
		}
	}
	f.Isolate()
	// Cut off for many election timeouts, the follower campaigns in vain;
	// pre-vote keeps its term from growing.
	waitUntil(t, 30*time.Second, "the leader to stop hearing from the follower", func() bool {
		peers, err := leader.Server().RaftConfiguration(ctx)
		if err != nil {
			return false
		}
		for _, p := range peers {
			if p.Name == f.Name {
				return p.LastContact > 4*time.Second
			}
		}
		return false
	})
	f.Rejoin()
	waitUntil(t, 30*time.Second, "the follower to catch up", func() bool {
		_, err := f.Server().Job(ctx, "", "none")
		return err != nil && !strings.Contains(err.Error(), "no cluster leader")
	})
	after, err := leader.Server().RaftConfiguration(ctx)
	require.NoError(t, err)
	require.True(t, leader.Server().IsLeader(), "the leader kept its place")
	require.Equal(t, before[0].Term, after[0].Term, "no election happened")
}
