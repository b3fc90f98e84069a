package api_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/api"
)

// withHandler serves the cluster's server again with opts (a client agent,
// a log stream) and points a second Nomad client at it.
func withHandler(t *testing.T, c *cluster, opts api.Options) *nomad.Client {
	t.Helper()
	hs := httptest.NewServer(c.srv.NewHTTPHandler(opts))
	tr := &http.Transport{}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		hs.CloseClientConnections()
		hs.Close()
	})
	n, err := nomad.NewClient(&nomad.Config{Address: hs.URL, HttpClient: &http.Client{Transport: tr}})
	require.NoError(t, err)
	return n
}

func TestNomadClientPlansValidatesAndChecksIndexes(t *testing.T) {
	c := newCluster(t, api.Options{})
	jobs := c.nomad.Jobs()

	// A plan of a new job: everything added, two placements, no write.
	plan, _, err := jobs.Plan(mockJob("web", 2), true, nil)
	require.NoError(t, err)
	require.Zero(t, plan.JobModifyIndex)
	require.Equal(t, "Added", plan.Diff.Type)
	require.Len(t, plan.Diff.TaskGroups, 1)
	require.Equal(t, uint64(2), plan.Annotations.DesiredTGUpdates["api"].Place)
	_, _, err = jobs.Info("web", nil)
	require.Error(t, err, "a plan registers nothing")

	// -check-index 0: only if the job does not exist.
	_, _, err = jobs.RegisterOpts(mockJob("web", 2), &nomad.RegisterOptions{EnforceIndex: true, ModifyIndex: 0}, nil)
	require.NoError(t, err)
	_, _, err = jobs.RegisterOpts(mockJob("web", 2), &nomad.RegisterOptions{EnforceIndex: true, ModifyIndex: 0}, nil)
	require.ErrorContains(t, err, "job already exists")
	waitAllocs(t, c, "web", running(2))

	// Scaling up: the diff edits Count, annotated; one placement more,
	// and the new version reaches the two running allocations in place.
	bigger := mockJob("web", 3)
	plan, _, err = jobs.Plan(bigger, true, nil)
	require.NoError(t, err)
	require.NotZero(t, plan.JobModifyIndex)
	require.Equal(t, "Edited", plan.Diff.Type)
	tg := plan.Diff.TaskGroups[0]
	require.Equal(t, "Edited", tg.Type)
	var count *nomad.FieldDiff
	for _, f := range tg.Fields {
		if f.Name == "Count" {
			count = f
		}
	}
	require.NotNil(t, count)
	require.Equal(t, []string{"forces create"}, count.Annotations)
	require.Equal(t, "2", count.Old)
	require.Equal(t, "3", count.New)
	u := plan.Annotations.DesiredTGUpdates["api"]
	require.Equal(t, uint64(1), u.Place)
	require.Equal(t, uint64(2), u.InPlaceUpdate, "a new version reaches the running allocations in place")

	// A changed task config forces a destructive update.
	changed := mockJob("web", 2)
	changed.TaskGroups[0].Tasks[0].Config["run_for"] = "2h"
	plan, _, err = jobs.Plan(changed, true, nil)
	require.NoError(t, err)
	require.Equal(t, uint64(2), plan.Annotations.DesiredTGUpdates["api"].DestructiveUpdate)
	require.Equal(t, []string{"forces create/destroy update"}, plan.Diff.TaskGroups[0].Tasks[0].Annotations)

	// A stale index is refused; the planned one registers.
	_, _, err = jobs.RegisterOpts(bigger, &nomad.RegisterOptions{EnforceIndex: true, ModifyIndex: plan.JobModifyIndex + 100}, nil)
	require.ErrorContains(t, err, "conflicting job modify index")
	_, _, err = jobs.RegisterOpts(bigger, &nomad.RegisterOptions{EnforceIndex: true, ModifyIndex: plan.JobModifyIndex}, nil)
	require.NoError(t, err)

	// The failed placements of a job that cannot fit are explained.
	huge := mockJob("huge", 1)
	huge.TaskGroups[0].Tasks[0].Resources.MemoryMB = ptr(1 << 30)
	plan, _, err = jobs.Plan(huge, false, nil)
	require.NoError(t, err)
	require.Nil(t, plan.Diff)
	require.Contains(t, plan.FailedTGAllocs, "api")

	// Validation is drover's: a field drover refuses is an error here.
	resp, _, err := jobs.Validate(mockJob("ok", 1), nil)
	require.NoError(t, err)
	require.Empty(t, resp.ValidationErrors)
	bad := mockJob("bad", 1)
	bad.Multiregion = &nomad.Multiregion{Regions: []*nomad.MultiregionRegion{{Name: "a"}}}
	resp, _, err = jobs.Validate(bad, nil)
	require.NoError(t, err)
	require.NotEmpty(t, resp.ValidationErrors)
	require.Contains(t, resp.Error, "Multiregion")

	// Version history with diffs, newest first.
	versions, diffs, _, err := jobs.Versions("web", true, nil)
	require.NoError(t, err)
	require.Len(t, versions, 2)
	require.Len(t, diffs, 1)
	require.Equal(t, "Edited", diffs[0].Type)
}

func TestNomadClientEvaluatesAndSearches(t *testing.T) {
	c := newCluster(t, api.Options{})
	_, _, err := c.nomad.Jobs().Register(mockJob("search-me", 1), nil)
	require.NoError(t, err)
	allocs := waitAllocs(t, c, "search-me", running(1))

	id, _, err := c.nomad.Jobs().EvaluateWithOpts("search-me", nomad.EvalOptions{ForceReschedule: true}, nil)
	require.NoError(t, err)
	require.NotEmpty(t, id)
	ev, _, err := c.nomad.Evaluations().Info(id, nil)
	require.NoError(t, err)
	require.Equal(t, "search-me", ev.JobID)
	_, _, err = c.nomad.Jobs().EvaluateWithOpts("nope", nomad.EvalOptions{}, nil)
	require.Error(t, err)

	res, _, err := c.nomad.Search().PrefixSearch("search", "all", nil)
	require.NoError(t, err)
	require.Equal(t, []string{"search-me"}, res.Matches["jobs"])
	res, _, err = c.nomad.Search().PrefixSearch(allocs[0].ID[:6], "allocs", nil)
	require.NoError(t, err)
	require.Equal(t, []string{allocs[0].ID}, res.Matches["allocs"])
	nodes, _, err := c.nomad.Nodes().List(nil)
	require.NoError(t, err)
	res, _, err = c.nomad.Search().PrefixSearch(nodes[0].ID[:4], "nodes", nil)
	require.NoError(t, err)
	require.Contains(t, res.Matches["nodes"], nodes[0].ID)
	fz, _, err := c.nomad.Search().FuzzySearch("arch-m", "all", nil)
	require.NoError(t, err)
	require.Equal(t, "search-me", fz.Matches["jobs"][0].ID)

	pools, _, err := c.nomad.NodePools().List(nil)
	require.NoError(t, err)
	require.Len(t, pools, 2)
	pool, _, err := c.nomad.NodePools().Info("default", nil)
	require.NoError(t, err)
	require.Equal(t, "default", pool.Name)
	_, _, err = c.nomad.NodePools().Info("gpu", nil)
	require.Error(t, err)
}

func TestNomadClientNodeMetaSelfAndServers(t *testing.T) {
	c := newCluster(t, api.Options{})
	n := withHandler(t, c, api.Options{ClientAgent: c.cli})
	self, err := n.Agent().Self()
	require.NoError(t, err)
	require.Equal(t, c.cli.NodeID(), self.Stats["client"]["node_id"], "nomad node status -self reads it")

	resp, err := n.Nodes().Meta().Apply(&nomad.NodeMetaApplyRequest{Meta: map[string]*string{"rack": ptr("r7")}}, nil)
	require.NoError(t, err)
	require.Equal(t, "r7", resp.Meta["rack"])
	require.Equal(t, "r7", *resp.Dynamic["rack"])
	read, err := n.Nodes().Meta().Read(c.cli.NodeID(), nil)
	require.NoError(t, err)
	require.Equal(t, "r7", read.Meta["rack"])
	node, _, err := n.Nodes().Info(c.cli.NodeID(), nil)
	require.NoError(t, err)
	require.Equal(t, "r7", node.Meta["rack"], "the servers schedule with it")
	resp, err = n.Nodes().Meta().Apply(&nomad.NodeMetaApplyRequest{NodeID: c.cli.NodeID(), Meta: map[string]*string{"rack": nil}}, nil)
	require.NoError(t, err)
	require.NotContains(t, resp.Meta, "rack")

	servers, err := n.Agent().Servers()
	require.NoError(t, err)
	require.Equal(t, []string{c.srv.Addr()}, servers)
	require.NoError(t, n.Agent().SetServers([]string{c.srv.Addr()}))
	_, err = c.nomad.Agent().Servers()
	require.ErrorContains(t, err, "501", "an agent without a client says so")
}

func TestNomadClientOperatorCommands(t *testing.T) {
	c := newCluster(t, api.Options{})
	op := c.nomad.Operator()
	_, _, err := c.nomad.Jobs().Register(mockJob("kept", 1), nil)
	require.NoError(t, err)
	waitAllocs(t, c, "kept", running(1))

	// Snapshot save and restore.
	rc, err := op.Snapshot(nil)
	require.NoError(t, err)
	snap, err := io.ReadAll(rc)
	require.NoError(t, err, "the digest matches")
	require.NoError(t, rc.Close())
	_, err = op.SnapshotRestore(bytes.NewReader(snap), nil)
	require.NoError(t, err)
	_, err = op.SnapshotRestore(strings.NewReader("not a snapshot"), nil)
	require.ErrorContains(t, err, "400")

	// Autopilot: defaults, a write with cas, health.
	cfg, _, err := op.AutopilotGetConfiguration(nil)
	require.NoError(t, err)
	require.True(t, cfg.CleanupDeadServers)
	require.Equal(t, 200*time.Millisecond, cfg.LastContactThreshold)
	cfg.LastContactThreshold = time.Second
	cfg.CleanupDeadServers = false
	stale := *cfg
	stale.ModifyIndex = 999
	ok, _, err := op.AutopilotCASConfiguration(&stale, nil)
	require.NoError(t, err)
	require.False(t, ok, "a stale index changes nothing")
	_, err = op.AutopilotSetConfiguration(cfg, nil)
	require.NoError(t, err)
	got, _, err := op.AutopilotGetConfiguration(nil)
	require.NoError(t, err)
	require.Equal(t, time.Second, got.LastContactThreshold)
	require.False(t, got.CleanupDeadServers)
	ok, _, err = op.AutopilotCASConfiguration(got, nil)
	require.NoError(t, err)
	require.True(t, ok)
	health, _, err := op.AutopilotServerHealth(nil)
	require.NoError(t, err)
	require.True(t, health.Healthy)
	require.Len(t, health.Servers, 1)
	require.True(t, health.Servers[0].Leader)

	// Summaries, keyring, raft peers.
	err = c.nomad.System().ReconcileSummaries()
	require.NoError(t, err)
	sum, _, err := c.nomad.Jobs().Summary("kept", nil)
	require.NoError(t, err)
	require.Equal(t, 1, sum.Summary["api"].Running)
	_, err = c.nomad.Agent().ListKeys()
	require.Error(t, err, "no gossip encryption key on this server")
	err = op.RaftRemovePeerByID("ffffffff", nil)
	require.ErrorContains(t, err, "404")
	members, err := c.nomad.Agent().Members()
	require.NoError(t, err)
	require.Equal(t, "3", members.Members[0].Tags["raft_vsn"])

	// Endpoints drover does not serve say so.
	_, _, err = c.nomad.Namespaces().List(nil)
	require.ErrorContains(t, err, "501")
	require.ErrorContains(t, err, "namespaces")
	_, _, err = c.nomad.Variables().List(&nomad.QueryOptions{Params: map[string]string{"lock-acquire": ""}})
	require.NoError(t, err, "a list ignores lock parameters")
	_, _, err = c.nomad.Variables().AcquireLock(&nomad.Variable{Path: "x", Items: map[string]string{"a": "b"}}, nil)
	require.ErrorContains(t, err, "501")
	require.ErrorContains(t, err, "variable locks")
	_, _, err = c.nomad.Jobs().Dispatch("kept", nil, nil, "", nil)
	require.ErrorContains(t, err, "is not parameterized")
}

func TestNomadClientMonitorsTheLog(t *testing.T) {
	c := newCluster(t, api.Options{})
	logs := drover.NewLogBroadcaster(slog.DiscardHandler)
	logger := slog.New(logs)
	n := withHandler(t, c, api.Options{Logs: logs})
	stop := make(chan struct{})
	defer close(stop)
	frames, errs := n.Agent().Monitor(stop, &nomad.QueryOptions{Params: map[string]string{"log_level": "debug", "log_json": "true"}})
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	// The subscription is in place once the response started; log until
	// a line arrives.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case f := <-frames:
			require.Contains(t, string(f.Data), `"msg":"hello monitor"`)
			return
		case err := <-errs:
			t.Fatal(err)
		case <-tick.C:
			logger.Debug("hello monitor")
		case <-deadline:
			t.Fatal("no log line streamed")
		}
	}
}

func TestNomadClientFiltersLists(t *testing.T) {
	c := newCluster(t, api.Options{})
	for _, id := range []string{"web", "db"} {
		_, _, err := c.nomad.Jobs().Register(mockJob(id, 1), nil)
		require.NoError(t, err)
		waitAllocs(t, c, id, running(1))
	}
	jobs, _, err := c.nomad.Jobs().List(&nomad.QueryOptions{Filter: `ID == "web"`})
	require.NoError(t, err)
	require.Len(t, jobs, 1)
	require.Equal(t, "web", jobs[0].ID)
	jobs, _, err = c.nomad.Jobs().List(&nomad.QueryOptions{Filter: `Status == "running" and Name matches "^d"`})
	require.NoError(t, err)
	require.Len(t, jobs, 1)
	require.Equal(t, "db", jobs[0].ID)
	allocs, _, err := c.nomad.Allocations().List(&nomad.QueryOptions{Filter: `JobID == "db"`})
	require.NoError(t, err)
	require.Len(t, allocs, 1)
	evals, _, err := c.nomad.Evaluations().List(&nomad.QueryOptions{Filter: `JobID == "web"`})
	require.NoError(t, err)
	require.NotEmpty(t, evals)
	for _, e := range evals {
		require.Equal(t, "web", e.JobID)
	}
	nodes, _, err := c.nomad.Nodes().List(&nomad.QueryOptions{Filter: `Status == "down"`})
	require.NoError(t, err)
	require.Empty(t, nodes)
	_, _, err = c.nomad.Jobs().List(&nomad.QueryOptions{Filter: `ID ==`})
	require.ErrorContains(t, err, "400")
}

// A job purged and registered again under the same id lists only the
// allocations of its new instance; all=true lists every one.
func TestJobAllocationsKeepToTheJobsLineage(t *testing.T) {
	c := newCluster(t, api.Options{})
	_, _, err := c.nomad.Jobs().Register(mockJob("again", 1), nil)
	require.NoError(t, err)
	first := waitAllocs(t, c, "again", running(1))
	_, _, err = c.nomad.Jobs().Deregister("again", true, nil)
	require.NoError(t, err)
	_, _, err = c.nomad.Jobs().Register(mockJob("again", 1), nil)
	require.NoError(t, err)
	second := waitAllocs(t, c, "again", running(1))
	for _, a := range second {
		require.NotEqual(t, first[0].ID, a.ID, "the purged instance's allocation is not listed")
	}
	all, _, err := c.nomad.Jobs().Allocations("again", true, nil)
	require.NoError(t, err)
	ids := map[string]bool{}
	for _, a := range all {
		ids[a.ID] = true
	}
	require.True(t, ids[first[0].ID], "all=true lists the earlier instance's too")
}

func TestNodePurgeRemovesTheNode(t *testing.T) {
	c := newCluster(t, api.Options{})
	_, _, err := c.nomad.Jobs().Register(mockJob("on-node", 1), nil)
	require.NoError(t, err)
	waitAllocs(t, c, "on-node", running(1))
	resp, _, err := c.nomad.Nodes().Purge(c.cli.NodeID(), nil)
	require.NoError(t, err)
	require.NotEmpty(t, resp.EvalIDs, "the node's jobs are evaluated again")
	_, _, err = c.nomad.Nodes().Purge("no-such-node", nil)
	require.ErrorContains(t, err, "404")
}

func TestNomadClientGossipKeyringAndJoin(t *testing.T) {
	const oldKey = "ZHJvdmVyIGFnZW50IHRlc3Qga2V5OiAzMiBieXRlcyE="
	const newKey = "bmV3IGRyb3ZlciBnb3NzaXAga2V5IG9mIDMyIGJ5dGU="
	c := newClusterWith(t, drover.ServerOptions{Encrypt: oldKey}, api.Options{})
	agent := c.nomad.Agent()
	keys, err := agent.ListKeys()
	require.NoError(t, err)
	require.Equal(t, map[string]int{oldKey: 1}, keys.Keys)
	_, err = agent.InstallKey(newKey)
	require.NoError(t, err)
	_, err = agent.UseKey(newKey)
	require.NoError(t, err)
	_, err = agent.RemoveKey(oldKey)
	require.NoError(t, err)
	keys, err = agent.ListKeys()
	require.NoError(t, err)
	require.Equal(t, map[string]int{newKey: 1}, keys.Keys)

	n, err := agent.Join(c.srv.GossipAddr())
	require.NoError(t, err)
	require.Equal(t, 1, n)
	_, err = agent.Join("127.0.0.1:1")
	require.Error(t, err)
}
