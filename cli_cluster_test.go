package drover_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/api"
	"github.com/droverhq/drover/internal/testing/harness"
	"github.com/droverhq/drover/internal/testing/testcluster"
)

// nomadFor serves srv's HTTP API and returns Nomad's Go client for it.
func nomadFor(t *testing.T, srv *drover.Server) *nomad.Client {
	t.Helper()
	hs := httptest.NewServer(srv.NewHTTPHandler(api.Options{}))
	tr := &http.Transport{}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		hs.CloseClientConnections()
		hs.Close()
	})
	c, err := nomad.NewClient(&nomad.Config{Address: hs.URL, HttpClient: &http.Client{Transport: tr}})
	require.NoError(t, err)
	return c
}

func nomadBatchJob(id string) *nomad.Job {
	job := nomad.NewBatchJob(id, id, "global", 50)
	task := nomad.NewTask("t", "mock").SetConfig("run_for", "1s")
	return job.AddTaskGroup(nomad.NewTaskGroup("g", 1).AddTask(task))
}

// The nomad CLI pointed at a follower: plans, searches, operator commands
// and a leadership transfer all reach the leader; a dead server is ejected
// with force-leave and the two left keep their quorum.
func TestNomadCLIAgainstAFollowerOfThreeServers(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Servers: 3, Server: func(_ int, o *drover.ServerOptions) {
		o.DeadServerThreshold = time.Hour // only force-leave removes the dead server here
	}})
	leader := c.WaitLeader(30 * time.Second)
	f := follower(c)
	require.NotNil(t, f)
	n := nomadFor(t, f.Server())

	_, _, err := n.Jobs().Register(nomadBatchJob("report"), nil)
	require.NoError(t, err)
	plan, _, err := n.Jobs().Plan(nomadBatchJob("report"), true, nil)
	require.NoError(t, err)
	require.NotZero(t, plan.JobModifyIndex)
	_, _, err = n.Jobs().RegisterOpts(nomadBatchJob("report"), &nomad.RegisterOptions{EnforceIndex: true, ModifyIndex: plan.JobModifyIndex}, nil)
	require.NoError(t, err)
	res, _, err := n.Search().PrefixSearch("rep", "jobs", nil)
	require.NoError(t, err)
	require.Equal(t, []string{"report"}, res.Matches["jobs"])
	_, err = n.Operator().AutopilotSetConfiguration(&nomad.AutopilotConfiguration{
		CleanupDeadServers: true, LastContactThreshold: time.Second, MaxTrailingLogs: 500, ServerStabilizationTime: time.Second,
	}, nil)
	require.NoError(t, err)
	harness.Eventually(t, 30*time.Second, "three healthy servers", func() bool {
		h, _, err := n.Operator().AutopilotServerHealth(nil)
		return err == nil && h.Healthy && len(h.Servers) == 3 && h.FailureTolerance == 1
	})
	rc, err := n.Operator().Snapshot(nil)
	require.NoError(t, err)
	_, err = io.Copy(io.Discard, rc)
	require.NoError(t, err, "the snapshot's digest matches")
	require.NoError(t, rc.Close())

	// Leadership moves to the follower the CLI talks to.
	cfg, err := n.Operator().RaftGetConfiguration(nil)
	require.NoError(t, err)
	var target string
	for _, s := range cfg.Servers {
		if s.Node == f.Name {
			target = s.ID
		}
	}
	require.NotEmpty(t, target)
	require.NoError(t, n.Operator().RaftTransferLeadershipByID(target, nil))
	harness.Eventually(t, 30*time.Second, "the follower to lead", func() bool { return f.Server().IsLeader() })
	require.False(t, leader.Server().IsLeader())

	// A server dies; force-leave (through another server) ejects it.
	var victim, other *testcluster.Member
	for _, m := range c.Members() {
		if m != f {
			if victim == nil {
				victim = m
			} else {
				other = m
			}
		}
	}
	victim.Stop()
	o := nomadFor(t, other.Server())
	harness.Eventually(t, 60*time.Second, "the pool to see the server fail", func() bool {
		return memberStatus(other.Server(), victim.Name+".global") == "failed"
	})
	require.NoError(t, o.Agent().ForceLeave(victim.Name))
	harness.Eventually(t, 60*time.Second, "the dead server to leave the peer set", func() bool {
		cfg, err := o.Operator().RaftGetConfiguration(nil)
		return err == nil && len(cfg.Servers) == 2
	})
	_, _, err = o.Jobs().Register(nomadBatchJob("after"), nil)
	require.NoError(t, err, "two servers of two keep a quorum")
	members, err := o.Agent().Members()
	require.NoError(t, err)
	for _, m := range members.Members {
		require.Equal(t, "3", m.Tags["raft_vsn"])
	}
}

// A snapshot saved with the CLI and restored into a fresh cluster brings
// every job along.
func TestSnapshotRestoredIntoAFreshClusterHoldsEveryJob(t *testing.T) {
	old := testcluster.New(t, testcluster.Options{Servers: 1})
	src := nomadFor(t, old.WaitLeader(30*time.Second).Server())
	const jobs = 25
	for i := range jobs {
		_, _, err := src.Jobs().Register(nomadBatchJob("job-"+strconv.Itoa(i)), nil)
		require.NoError(t, err)
	}
	rc, err := src.Operator().Snapshot(nil)
	require.NoError(t, err)
	snap, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())

	fresh := testcluster.New(t, testcluster.Options{Servers: 3})
	fresh.WaitLeader(30 * time.Second)
	dst := nomadFor(t, follower(fresh).Server())
	_, err = dst.Operator().SnapshotRestore(bytes.NewReader(snap), nil)
	require.NoError(t, err)
	for _, m := range fresh.Members() {
		list, _, err := nomadFor(t, m.Server()).Jobs().List(nil)
		require.NoError(t, err)
		require.Len(t, list, jobs, "every server of the new cluster holds every job")
	}
}

// raft_multiplier scales every raft timer: a cluster at 5 elects and
// fails over within a few of its (five times longer) election timeouts.
func TestRaftMultiplierFiveElectsAndFailsOverWithinItsTimings(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for elections at five times the timings")
	}
	const mult = 5
	electionTimeout := mult * 10 * 100 * time.Millisecond // ticks of 100 ms, election after 10
	const within = 6                                      // election timeouts: generous
	start := time.Now()
	c := testcluster.New(t, testcluster.Options{Servers: 3, InMemory: true, Server: func(_ int, o *drover.ServerOptions) {
		o.Raft.Multiplier = mult
	}})
	leader := c.WaitLeader(within * electionTimeout)
	require.NotNil(t, leader)
	elected := time.Since(start)
	require.Less(t, elected, within*electionTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), within*electionTimeout)
	defer cancel()
	require.NoError(t, registerRetrying(ctx, leader.Server(), batchJob("before")))

	killed := time.Now()
	leader.Stop()
	next := c.WaitLeaderAmong(within*electionTimeout, leader)
	require.NotNil(t, next)
	failover := time.Since(killed)
	require.Less(t, failover, within*electionTimeout)
	require.Greater(t, failover, electionTimeout/2, "the followers wait for their scaled election timeout before they elect")
	require.NoError(t, registerRetrying(ctx, next.Server(), batchJob("after")))
	t.Logf("election timeout %s: elected in %s, failed over in %s", electionTimeout, elected, failover)
}
