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
	"github.com/droverhq/drover/internal/testing/harness"
	"github.com/droverhq/drover/internal/testing/testcluster"
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
	harness.Eventually(t, 30*time.Second, "the mismatch to be reported", func() bool {
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
	// Cut off before it has applied the configuration, a joiner would
	// never campaign, and would keep its leader.
	leader := c.WaitConfigured(30 * time.Second)
	ctx := context.Background()
	var f *testcluster.Member
	for _, m := range c.Members() {
		if m != leader {
			f = m
			break
		}
	}
	term := func(m *testcluster.Member) uint64 {
		peers, err := m.Server().RaftConfiguration(drover.AllowStale(ctx))
		require.NoError(t, err)
		return peers[0].Term
	}
	f.Isolate()
	// Cut off, the follower times out and asks for pre-votes: it no longer
	// knows a leader. With pre-vote it never raises its term, however many
	// timeouts pass (server/raft/testdata/cluster/prevote.txt ticks through
	// many of them).
	harness.Eventually(t, 30*time.Second, "the cut-off follower to stop following", func() bool {
		return f.Server().LeaderAddr() == ""
	})
	l := c.WaitLeaderAmong(30*time.Second, f)
	isolatedTerm, leaderTerm := term(f), term(l)
	require.LessOrEqual(t, isolatedTerm, leaderTerm, "the cut-off server did not move to a higher term")

	f.Rejoin()
	harness.Eventually(t, 30*time.Second, "the follower to follow the leader again", func() bool {
		return f.Server().LeaderAddr() == l.Addr
	})
	require.True(t, l.Server().IsLeader(), "the leader kept its place")
	require.Equal(t, leaderTerm, term(l), "no election happened")
}
