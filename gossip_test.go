package drover_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http/httptest"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/internal/testing/harness"
	"github.com/droverhq/drover/internal/testing/testcluster"
)

func gossipKey(t *testing.T) string {
	b := make([]byte, 32)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return base64.StdEncoding.EncodeToString(b)
}

// memberStatus returns the gossip status of the member named name as srv sees it.
func memberStatus(srv *drover.Server, name string) string {
	for _, m := range srv.Members() {
		if m.Name == name {
			return m.Status
		}
	}
	return ""
}

func TestServersKnowingOneSeedFormACluster(t *testing.T) {
	var seed string
	c := testcluster.New(t, testcluster.Options{Servers: 3, Server: func(i int, o *drover.ServerOptions) {
		if i == 0 {
			seed = o.SerfBindAddr
			o.ServerJoin.RetryJoin = nil // the seed knows nobody
		} else {
			o.ServerJoin.RetryJoin = []string{seed}
		}
	}})
	leader := c.WaitLeader(30 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	peers, err := leader.Server().RaftConfiguration(ctx)
	require.NoError(t, err)
	require.Len(t, peers, 3)
	for _, m := range c.Members() {
		members := m.Server().Members()
		require.Len(t, members, 3, "%s sees every server through gossip", m.Name)
		for _, mb := range members {
			require.Equal(t, "alive", mb.Status)
			require.Equal(t, "global", mb.Tags["region"])
			require.NotEmpty(t, mb.Tags["rpc_addr"])
			require.NotEmpty(t, mb.Tags["id"])
			require.Equal(t, "3", mb.Tags["expect"])
		}
	}
}

func TestLeaveAndRejoinAfterLeave(t *testing.T) {
	rejoin := map[int]bool{}
	c := testcluster.New(t, testcluster.Options{Servers: 3, Server: func(i int, o *drover.ServerOptions) {
		o.RejoinAfterLeave = rejoin[i]
	}})
	c.WaitLeader(30 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, err := c.Member(0).Server().RegisterJob(ctx, batchJob("before"))
	require.NoError(t, err)

	// server-2 leaves; restarted without rejoin_after_leave it stays out.
	leaving := c.Member(2)
	require.NoError(t, leaving.Server().Leave(ctx))
	leaving.Stop()
	harness.Eventually(t, 30*time.Second, "server-2 to be out of the peer set and gossip", func() bool {
		l := c.Leader()
		if l == nil {
			return false
		}
		peers, err := l.Server().RaftConfiguration(ctx)
		return err == nil && len(peers) == 2 && memberStatus(l.Server(), "server-2.global") == "left"
	})
	require.NoError(t, leaving.Start())
	_, err = c.Member(0).Server().RegisterJob(ctx, batchJob("while-out"))
	require.NoError(t, err)
	// It decides at start not to rejoin: it joins nobody in gossip, and the
	// leader keeps two peers while it serves nothing.
	require.Len(t, leaving.Server().Members(), 1, "a server that left contacts nobody")
	l := c.Leader()
	require.NotNil(t, l)
	peers, err := l.Server().RaftConfiguration(ctx)
	require.NoError(t, err)
	require.Len(t, peers, 2, "a server that left stays out")
	_, err = leaving.Server().Job(drover.AllowStale(ctx), "", "while-out")
	require.ErrorIs(t, err, drover.ErrNotFound)

	// With rejoin_after_leave it comes back, as a new server.
	leaving.Stop()
	rejoin[2] = true
	require.NoError(t, leaving.Start())
	harness.Eventually(t, 60*time.Second, "server-2 to rejoin", func() bool {
		l := c.Leader()
		if l == nil {
			return false
		}
		peers, err := l.Server().RaftConfiguration(ctx)
		return err == nil && len(peers) == 3
	})
	_, err = leaving.Server().Job(ctx, "", "while-out")
	require.NoError(t, err, "the rejoined server has the state")
}

func TestKilledServerIsReapedAfterTheThreshold(t *testing.T) {
	regs := make([]*prometheus.Registry, 3)
	c := testcluster.New(t, testcluster.Options{Servers: 3, Server: func(i int, o *drover.ServerOptions) {
		o.DeadServerThreshold = 3 * time.Second
		regs[i] = prometheus.NewRegistry()
		o.Registerer = regs[i]
	}})
	leader := c.WaitLeader(30 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var victim *testcluster.Member
	for _, m := range c.Members() {
		if m != leader {
			victim = m
			break
		}
	}
	victim.Stop() // no leave: the pool sees it fail
	harness.Eventually(t, 60*time.Second, "the dead server to be reaped", func() bool {
		l := c.Leader()
		if l == nil {
			return false
		}
		peers, err := l.Server().RaftConfiguration(ctx)
		if err != nil || len(peers) != 2 {
			return false
		}
		return memberStatus(l.Server(), victim.Name+".global") == "failed"
	})
	l0 := c.Leader()
	require.Equal(t, 1.0, counterValue(t, regs[l0.Index], "drover_serf_members", map[string]string{"status": "failed"}), "the failure shows in the metrics")
	require.Equal(t, 2.0, counterValue(t, regs[l0.Index], "drover_serf_members", map[string]string{"status": "alive"}))
	// The two left keep a quorum of their own: writes commit, and one more
	// failure now is not survivable (two voters), as the peer set says.
	l := c.WaitLeader(30 * time.Second)
	require.NoError(t, registerRetrying(ctx, l.Server(), batchJob("after-reap")))
}

func TestWrongGossipKeyCannotJoin(t *testing.T) {
	key := gossipKey(t)
	c := testcluster.New(t, testcluster.Options{Servers: 3, Server: func(_ int, o *drover.ServerOptions) {
		o.Encrypt = key
	}})
	leader := c.WaitLeader(30 * time.Second)

	intruder, err := c.AddServer(func(o *drover.ServerOptions) {
		o.Encrypt = gossipKey(t) // another key
		o.ServerJoin = drover.ServerJoin{}
	})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = intruder.Server().Join(ctx, leader.GossipAddr)
	require.Error(t, err, "a server with the wrong key cannot join")
	require.Len(t, leader.Server().Members(), 3)
	peers, err := leader.Server().RaftConfiguration(ctx)
	require.NoError(t, err)
	require.Len(t, peers, 3)
	intruder.Stop()

	// Without a key at all, the same.
	plain, err := c.AddServer(func(o *drover.ServerOptions) {
		o.Encrypt = ""
		o.ServerJoin = drover.ServerJoin{}
	})
	require.NoError(t, err)
	_, err = plain.Server().Join(ctx, leader.GossipAddr)
	require.Error(t, err)
	require.Len(t, leader.Server().Members(), 3)
}

func TestGossipKeyRotationOnALiveCluster(t *testing.T) {
	oldKey, newKey := gossipKey(t), gossipKey(t)
	c := testcluster.New(t, testcluster.Options{Servers: 3, Server: func(_ int, o *drover.ServerOptions) {
		o.Encrypt = oldKey
	}})
	leader := c.WaitLeader(30 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv := c.Member(1).Server()

	list, err := srv.KeyringList(ctx)
	require.NoError(t, err)
	require.Equal(t, map[string]int{oldKey: 3}, list.Keys)

	_, err = srv.KeyringInstall(ctx, newKey)
	require.NoError(t, err)
	_, err = srv.KeyringUse(ctx, newKey)
	require.NoError(t, err)
	_, err = srv.KeyringRemove(ctx, oldKey)
	require.NoError(t, err)
	list, err = srv.KeyringList(ctx)
	require.NoError(t, err)
	require.Equal(t, map[string]int{newKey: 3}, list.Keys)
	require.Equal(t, map[string]int{newKey: 3}, list.PrimaryKeys)

	// The cluster gossips on the new key: all alive, and writes go on.
	for _, m := range c.Members() {
		for _, mb := range m.Server().Members() {
			require.Equal(t, "alive", mb.Status)
		}
	}
	_, err = leader.Server().RegisterJob(ctx, batchJob("after-rotation"))
	require.NoError(t, err)

	// A restarted server keeps the rotated keyring: the old key in its
	// options is ignored, and it rejoins.
	m := c.Member(2)
	m.Stop()
	require.NoError(t, m.Start())
	harness.Eventually(t, 30*time.Second, "the restarted server to be alive in the pool", func() bool {
		if memberStatus(leader.Server(), m.Name+".global") != "alive" {
			return false
		}
		alive := 0
		for _, mb := range m.Server().Members() {
			if mb.Status == "alive" {
				alive++
			}
		}
		return alive == 3
	})
	list, err = m.Server().KeyringList(ctx)
	require.NoError(t, err)
	require.Equal(t, map[string]int{newKey: 3}, list.Keys)

	// A server holding only the old key is refused now.
	stale, err := c.AddServer(func(o *drover.ServerOptions) { o.Encrypt = oldKey; o.ServerJoin = drover.ServerJoin{} })
	require.NoError(t, err)
	_, err = stale.Server().Join(ctx, leader.GossipAddr)
	require.Error(t, err)
}

func TestTwoRegionsShareNothingButForwardCalls(t *testing.T) {
	a := testcluster.New(t, testcluster.Options{Servers: 3, Server: func(_ int, o *drover.ServerOptions) { o.Region = "east" }})
	b := testcluster.New(t, testcluster.Options{Servers: 3, Server: func(_ int, o *drover.ServerOptions) { o.Region = "west" }})
	a.WaitLeader(30 * time.Second)
	b.WaitLeader(30 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// Federate: a server of east joins the servers of west.
	n, err := a.Member(1).Server().Join(ctx, b.Member(0).GossipAddr, b.Member(1).GossipAddr, b.Member(2).GossipAddr)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, c := range []*testcluster.Cluster{a, b} {
			for _, m := range c.Running() {
				var names []string
				for _, mb := range m.Server().Members() {
					names = append(names, mb.Name+"="+mb.Status)
				}
				t.Logf("%s of %s sees %v", m.Name, m.Server().Region(), names)
			}
		}
	})
	harness.Eventually(t, 30*time.Second, "every server to see both regions", func() bool {
		ok := true
		for _, c := range []*testcluster.Cluster{a, b} {
			for _, m := range c.Members() {
				if r := m.Server().Regions(); len(r) != 2 || len(m.Server().Members()) != 6 {
					ok = false
				}
			}
		}
		return ok
	})

	// A job for west registered through a follower of east lands only in west.
	job := batchJob("westward")
	job.Region = "west"
	_, err = follower(a).Server().RegisterJob(ctx, job)
	require.NoError(t, err)
	for _, m := range b.Members() {
		j, err := m.Server().Job(ctx, "", "westward")
		require.NoError(t, err, "%s of west has it", m.Name)
		require.Equal(t, "west", j.Region)
	}
	for _, m := range a.Members() {
		_, err := m.Server().Job(ctx, "", "westward")
		require.ErrorIs(t, err, drover.ErrNotFound, "%s of east does not", m.Name)
	}
	// Reads can name the region too, from any server.
	j, err := a.Member(0).Server().Job(drover.InRegion(ctx, "west"), "", "westward")
	require.NoError(t, err)
	require.Equal(t, "westward", j.Id)
	jobs, err := a.Member(2).Server().Jobs(drover.InRegion(ctx, "west"), "", "")
	require.NoError(t, err)
	require.Len(t, jobs, 1)

	// Nomad's own client, talking to a server of east, names west.
	h := httptest.NewServer(a.Member(0).Server().HTTPHandler())
	defer h.Close()
	nc, err := nomad.NewClient(&nomad.Config{Address: h.URL, Region: "west"})
	require.NoError(t, err)
	stubs, _, err := nc.Jobs().List(nil)
	require.NoError(t, err)
	require.Len(t, stubs, 1)
	require.Equal(t, "westward", stubs[0].ID)
	// Its summary comes from west too: west has no client, so its
	// allocation stays queued.
	harness.Eventually(t, 30*time.Second, "west's summary to show the queued allocation", func() bool {
		stubs, _, err := nc.Jobs().List(nil)
		return err == nil && len(stubs) == 1 && stubs[0].JobSummary.Summary["g"].Queued == 1
	})
	ec, err := nomad.NewClient(&nomad.Config{Address: h.URL, Region: "east"})
	require.NoError(t, err)
	stubs, _, err = ec.Jobs().List(nil)
	require.NoError(t, err)
	require.Empty(t, stubs, "east has no jobs of its own")
	regions, err := ec.Regions().List()
	require.NoError(t, err)
	require.Equal(t, []string{"east", "west"}, regions)

	// Each region keeps its own raft.
	pa, err := a.Member(0).Server().RaftConfiguration(ctx)
	require.NoError(t, err)
	require.Len(t, pa, 3)
	for _, p := range pa {
		require.Equal(t, "east", p.Region)
	}
	_, err = a.Member(0).Server().RegisterJob(drover.InRegion(ctx, "north"), batchJob("nowhere"))
	require.ErrorIs(t, err, drover.ErrUnknownRegion)
}
