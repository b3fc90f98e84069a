package drover_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/internal/testing/harness"
	"github.com/droverhq/drover/internal/testing/testcluster"
)

func waitRoles(t *testing.T, ctx context.Context, c *testcluster.Cluster, want map[string]string) {
	t.Helper()
	var got map[string]string
	harness.Eventually(t, 30*time.Second, "the raft configuration to settle", func() bool {
		l := c.Leader()
		if l == nil {
			return false
		}
		peers, err := l.Server().RaftConfiguration(ctx)
		if err != nil {
			return false
		}
		got = map[string]string{}
		for _, p := range peers {
			got[p.Name] = p.Role
		}
		if len(got) != len(want) {
			return false
		}
		for name, role := range want {
			if role == "voter" {
				if got[name] != "leader" && got[name] != "follower" {
					return false
				}
			} else if got[name] != role {
				return false
			}
		}
		return true
	})
}

func TestServersJoinLeaveAndAreRemoved(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Servers: 3})
	c.WaitLeader(30 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, err := c.Member(0).Server().RegisterJob(ctx, batchJob("early"))
	require.NoError(t, err)

	// A fourth server joins the running cluster and gets its state.
	fourth, err := c.AddServer(nil)
	require.NoError(t, err)
	waitRoles(t, ctx, c, map[string]string{"server-0": "voter", "server-1": "voter", "server-2": "voter", "server-3": "voter"})
	_, err = fourth.Server().Job(ctx, "", "early")
	require.NoError(t, err, "the new server reads what was written before it joined")

	// A non-voting server replicates and serves stale reads.
	learner, err := c.AddServer(func(o *drover.ServerOptions) { o.NonVotingServer = true })
	require.NoError(t, err)
	waitRoles(t, ctx, c, map[string]string{"server-0": "voter", "server-1": "voter", "server-2": "voter", "server-3": "voter", "server-4": "learner"})
	harness.Eventually(t, 30*time.Second, "the learner to replicate", func() bool {
		_, err := learner.Server().Job(drover.AllowStale(ctx), "", "early")
		return err == nil
	})
	_, err = learner.Server().RegisterJob(ctx, batchJob("through-learner"))
	require.NoError(t, err, "a learner forwards writes")

	// Graceful leave of a follower, then of the leader: each leaves the
	// peer set before it stops.
	leader := c.WaitLeader(30 * time.Second)
	var follower *testcluster.Member
	for _, m := range c.Members()[:4] {
		if m != leader {
			follower = m
			break
		}
	}
	require.NoError(t, follower.Server().Leave(ctx))
	follower.Stop()
	want := map[string]string{"server-4": "learner"}
	for _, m := range c.Members()[:4] {
		if m != follower {
			want[m.Name] = "voter"
		}
	}
	waitRoles(t, ctx, c, want)

	require.NoError(t, leader.Server().Leave(ctx))
	leader.Stop()
	delete(want, leader.Name)
	waitRoles(t, ctx, c, want)
	newLeader := c.WaitLeader(30 * time.Second)
	_, err = newLeader.Server().RegisterJob(ctx, batchJob("after-leaves"))
	require.NoError(t, err)

	// Two voters remain: the learner does not count toward the quorum.
	// Promote it, kill a voter, and the two voters left still commit.
	require.NoError(t, newLeader.Server().PromoteServer(ctx, learner.Name))
	want[learner.Name] = "voter"
	waitRoles(t, ctx, c, want)
	var dead *testcluster.Member
	for name := range want {
		if name != newLeader.Name && name != learner.Name {
			dead = memberNamed(c, name)
		}
	}
	dead.Stop()
	l := c.WaitLeader(30 * time.Second)
	require.NoError(t, registerRetrying(ctx, l.Server(), batchJob("two-of-three")))

	// The dead server is removed by name (force-leave): two voters of two.
	require.NoError(t, l.Server().RemoveServer(ctx, dead.Name))
	delete(want, dead.Name)
	waitRoles(t, ctx, c, want)
	_, err = l.Server().RegisterJob(ctx, batchJob("after-remove"))
	require.NoError(t, err)
	err = l.Server().RemoveServer(ctx, dead.Name)
	require.ErrorIs(t, err, drover.ErrNotFound, "a removed server is gone from the peer set")
}

func memberNamed(c *testcluster.Cluster, name string) *testcluster.Member {
	for _, m := range c.Members() {
		if m.Name == name {
			return m
		}
	}
	return nil
}

func TestNonVotingServerDoesNotCountTowardQuorum(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Servers: 3})
	c.WaitLeader(30 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	learner, err := c.AddServer(func(o *drover.ServerOptions) { o.NonVotingServer = true })
	require.NoError(t, err)
	waitRoles(t, ctx, c, map[string]string{"server-0": "voter", "server-1": "voter", "server-2": "voter", "server-3": "learner"})

	// Two of three voters down: two of four servers run, but no quorum.
	c.Member(0).Stop()
	c.Member(1).Stop()
	_, err = learner.Server().RegisterJob(ctx, batchJob("no-quorum"))
	require.ErrorIs(t, err, drover.ErrNoLeader)
	require.NoError(t, c.Member(0).Start())
	c.WaitLeader(30 * time.Second)
	require.NoError(t, registerRetrying(ctx, learner.Server(), batchJob("quorum-again")))
}
