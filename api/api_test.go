package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/api"
	"github.com/droverhq/drover/driver/mock"
	"github.com/droverhq/drover/internal/testing/harness"
	"github.com/droverhq/drover/internal/testing/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

// cluster is a real server and client on loopback with the HTTP API
// served over real TCP, and Nomad's Go client pointed at it.
type cluster struct {
	srv    *drover.Server
	cli    *drover.Client
	http   *httptest.Server
	nomad  *nomad.Client
	client *http.Client
	// dir holds the server's and the client's data dirs.
	dir string
}

func newCluster(t *testing.T, opts api.Options) *cluster {
	return newClusterWith(t, drover.ServerOptions{}, opts)
}

func newClusterWith(t *testing.T, so drover.ServerOptions, opts api.Options) *cluster {
	t.Helper()
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	so.DataDir, so.Registerer, so.NumSchedulers = filepath.Join(dir, "server"), reg, 1
	srv := harness.StartServer(t, so)
	cli := harness.StartClient(t, drover.ClientOptions{
		DataDir: filepath.Join(dir, "client"), Servers: []string{srv.Addr()}, Drivers: []drover.Driver{mock.New(nil)}, Registerer: reg,
	})
	c := &cluster{srv: srv, cli: cli, dir: dir}
	c.http = httptest.NewServer(srv.NewHTTPHandler(opts))
	tr := &http.Transport{}
	c.client = &http.Client{Transport: tr}
	var err error
	c.nomad, err = nomad.NewClient(&nomad.Config{Address: c.http.URL, HttpClient: c.client})
	require.NoError(t, err)
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		c.http.CloseClientConnections()
		c.http.Close()
		harness.Shutdown(t, cli, srv)
	})
	return c
}

func ptr[T any](v T) *T { return &v }

func mockJob(id string, count int) *nomad.Job {
	job := nomad.NewServiceJob(id, id, "global", 50)
	task := nomad.NewTask("server", "mock").SetConfig("run_for", "1h").
		Require(&nomad.Resources{CPU: ptr(50), MemoryMB: ptr(32)})
	return job.AddTaskGroup(nomad.NewTaskGroup("api", count).AddTask(task))
}

// waitAllocs long-polls a job's allocations with blocking queries until
// cond holds for them.
func waitAllocs(t *testing.T, c *cluster, jobID string, cond func([]*nomad.AllocationListStub) bool) []*nomad.AllocationListStub {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var index uint64
	for time.Now().Before(deadline) {
		allocs, meta, err := c.nomad.Jobs().Allocations(jobID, false, &nomad.QueryOptions{WaitIndex: index, WaitTime: 5 * time.Second})
		require.NoError(t, err)
		require.NotZero(t, meta.LastIndex, "every read carries X-Nomad-Index")
		if cond(allocs) {
			return allocs
		}
		index = meta.LastIndex
	}
	t.Fatalf("allocations of %s never reached the wanted state", jobID)
	return nil
}

func running(n int) func([]*nomad.AllocationListStub) bool {
	return func(allocs []*nomad.AllocationListStub) bool {
		up := 0
		for _, a := range allocs {
			if a.ClientStatus == "running" {
				up++
			}
		}
		return up == n
	}
}

func TestNomadClientRunsAJobAndStopsIt(t *testing.T) {
	c := newCluster(t, api.Options{})
	resp, wm, err := c.nomad.Jobs().Register(mockJob("web", 2), nil)
	require.NoError(t, err)
	require.NotEmpty(t, resp.EvalID)
	require.NotZero(t, wm.LastIndex)

	allocs := waitAllocs(t, c, "web", running(2))
	for _, a := range allocs {
		require.Equal(t, c.cli.NodeID(), a.NodeID)
		require.Equal(t, "service", a.JobType)
	}

	job, meta, err := c.nomad.Jobs().Info("web", nil)
	require.NoError(t, err)
	require.Equal(t, "running", *job.Status)
	require.True(t, meta.KnownLeader)
	require.Equal(t, 2, *job.TaskGroups[0].Count)

	list, _, err := c.nomad.Jobs().List(nil)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, "web", list[0].ID)

	evals, _, err := c.nomad.Jobs().Evaluations("web", nil)
	require.NoError(t, err)
	require.NotEmpty(t, evals)
	eval, _, err := c.nomad.Evaluations().Info(resp.EvalID, nil)
	require.NoError(t, err)
	require.Equal(t, "complete", eval.Status)
	evalAllocs, _, err := c.nomad.Evaluations().Allocations(resp.EvalID, nil)
	require.NoError(t, err)
	require.Len(t, evalAllocs, 2)

	alloc, _, err := c.nomad.Allocations().Info(allocs[0].ID, nil)
	require.NoError(t, err)
	require.Equal(t, "web", *alloc.Job.ID)
	require.Equal(t, "running", alloc.TaskStates["server"].State)
	require.False(t, alloc.TaskStates["server"].StartedAt.IsZero())

	nodes, _, err := c.nomad.Nodes().List(nil)
	require.NoError(t, err)
	require.Len(t, nodes, 1)
	require.Equal(t, "ready", nodes[0].Status)
	node, _, err := c.nomad.Nodes().Info(nodes[0].ID, nil)
	require.NoError(t, err)
	require.True(t, node.Drivers["mock"].Healthy)
	nodeAllocs, _, err := c.nomad.Nodes().Allocations(node.ID, nil)
	require.NoError(t, err)
	require.Len(t, nodeAllocs, 2)

	_, _, err = c.nomad.Jobs().Deregister("web", true, nil)
	require.NoError(t, err)
	_, _, err = c.nomad.Jobs().Info("web", nil)
	requireStatus(t, err, http.StatusNotFound)
	waitAllocs(t, c, "web", func(allocs []*nomad.AllocationListStub) bool {
		for _, a := range allocs {
			if a.DesiredStatus != "stop" || a.ClientStatus == "running" {
				return false
			}
		}
		return true
	})
}

// requireStatus checks the Nomad client's error carries the HTTP status.
func requireStatus(t *testing.T, err error, code int) {
	t.Helper()
	require.Error(t, err)
	var ur nomad.UnexpectedResponseError
	require.True(t, errors.As(err, &ur), "want an HTTP error, got %v", err)
	require.Equal(t, code, ur.StatusCode(), "body: %s", ur.Body())
}

func TestBlockingQueriesWaitForAChange(t *testing.T) {
	c := newCluster(t, api.Options{})
	_, meta, err := c.nomad.Jobs().List(nil)
	require.NoError(t, err)

	// Nothing changes: the query returns after its wait with the same index.
	_, quiet, err := c.nomad.Jobs().List(&nomad.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: 100 * time.Millisecond})
	require.NoError(t, err)
	require.Equal(t, meta.LastIndex, quiet.LastIndex)

	// A write wakes a waiting query.
	done := make(chan uint64, 1)
	go func() {
		_, m, err := c.nomad.Jobs().List(&nomad.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: time.Minute})
		if err != nil {
			done <- 0
			return
		}
		done <- m.LastIndex
	}()
	_, wm, err := c.nomad.Jobs().Register(mockJob("db", 0), nil)
	require.NoError(t, err)
	select {
	case idx := <-done:
		require.Greater(t, idx, meta.LastIndex)
		require.LessOrEqual(t, idx, wm.LastIndex+100)
	case <-time.After(30 * time.Second):
		t.Fatal("the blocking query did not wake on the write")
	}
}

func TestListsPageWithNextToken(t *testing.T) {
	c := newCluster(t, api.Options{})
	for _, id := range []string{"a", "b", "c"} {
		_, _, err := c.nomad.Jobs().Register(mockJob(id, 0), nil)
		require.NoError(t, err)
	}
	page, meta, err := c.nomad.Jobs().List(&nomad.QueryOptions{PerPage: 2})
	require.NoError(t, err)
	require.Len(t, page, 2)
	require.Equal(t, "c", meta.NextToken)
	rest, meta, err := c.nomad.Jobs().List(&nomad.QueryOptions{PerPage: 2, NextToken: meta.NextToken})
	require.NoError(t, err)
	require.Len(t, rest, 1)
	require.Equal(t, "c", rest[0].ID)
	require.Empty(t, meta.NextToken)
	prefixed, _, err := c.nomad.Jobs().PrefixList("b")
	require.NoError(t, err)
	require.Len(t, prefixed, 1)
}

func TestNodeEligibilityAndDrain(t *testing.T) {
	c := newCluster(t, api.Options{})
	id := c.cli.NodeID()
	resp, err := c.nomad.Nodes().ToggleEligibility(id, false, nil)
	require.NoError(t, err)
	require.NotZero(t, resp.NodeModifyIndex)
	node, _, err := c.nomad.Nodes().Info(id, nil)
	require.NoError(t, err)
	require.Equal(t, "ineligible", node.SchedulingEligibility)
	_, err = c.nomad.Nodes().ToggleEligibility(id, true, nil)
	require.NoError(t, err)
	node, _, err = c.nomad.Nodes().Info(id, nil)
	require.NoError(t, err)
	require.Equal(t, "eligible", node.SchedulingEligibility)
	_, err = c.nomad.Nodes().ToggleEligibility("no-such-node", true, nil)
	requireStatus(t, err, http.StatusNotFound)

	// An operator's drain makes the node ineligible and records the
	// strategy; cancelling it with mark-eligible undoes both.
	dr, err := c.nomad.Nodes().UpdateDrain(id, &nomad.DrainSpec{Deadline: time.Minute}, false, nil)
	require.NoError(t, err)
	require.NotZero(t, dr.NodeModifyIndex)
	node, _, err = c.nomad.Nodes().Info(id, nil)
	require.NoError(t, err)
	require.Equal(t, "ineligible", node.SchedulingEligibility)
	_, err = c.nomad.Nodes().UpdateDrain(id, nil, true, nil)
	require.NoError(t, err)
	node, _, err = c.nomad.Nodes().Info(id, nil)
	require.NoError(t, err)
	require.Equal(t, "eligible", node.SchedulingEligibility)
	_, err = c.nomad.Nodes().UpdateDrain("no-such-node", &nomad.DrainSpec{Deadline: time.Minute}, false, nil)
	requireStatus(t, err, http.StatusNotFound)
}

func TestStatusAgentAndOperatorEndpoints(t *testing.T) {
	c := newCluster(t, api.Options{Client: true})
	leader, err := c.nomad.Status().Leader()
	require.NoError(t, err)
	require.Equal(t, c.srv.Addr(), leader)
	peers, err := c.nomad.Status().Peers()
	require.NoError(t, err)
	require.Equal(t, []string{c.srv.Addr()}, peers)
	regions, err := c.nomad.Regions().List()
	require.NoError(t, err)
	require.Equal(t, []string{"global"}, regions)

	self, err := c.nomad.Agent().Self()
	require.NoError(t, err)
	require.Equal(t, "alive", self.Member.Status)
	require.Equal(t, "true", self.Stats["nomad"]["leader"])
	require.NotEqual(t, "0", self.Stats["raft"]["term"], "the raft term is reported")
	region, err := c.nomad.Agent().Region()
	require.NoError(t, err)
	require.Equal(t, "global", region)
	dc, err := c.nomad.Agent().Datacenter()
	require.NoError(t, err)
	require.Equal(t, "dc1", dc)
	members, err := c.nomad.Agent().Members()
	require.NoError(t, err)
	require.Len(t, members.Members, 1)
	require.Equal(t, "global", members.ServerRegion)
	health, err := c.nomad.Agent().Health()
	require.NoError(t, err)
	require.True(t, health.Server.Ok)
	require.True(t, health.Client.Ok)

	raft, err := c.nomad.Operator().RaftGetConfiguration(nil)
	require.NoError(t, err)
	require.Len(t, raft.Servers, 1)
	require.NotZero(t, raft.Index, "the index of the peer set's last change")
	_, _, err = c.nomad.Jobs().Register(mockJob("after-config", 1), nil)
	require.NoError(t, err)
	again, err := c.nomad.Operator().RaftGetConfiguration(nil)
	require.NoError(t, err)
	require.Equal(t, raft.Index, again.Index, "writes do not move the configuration's index")
	require.True(t, raft.Servers[0].Leader)
	require.Equal(t, c.srv.Addr(), raft.Servers[0].Address)

	sched, _, err := c.nomad.Operator().SchedulerGetConfiguration(nil)
	require.NoError(t, err)
	require.EqualValues(t, "binpack", sched.SchedulerConfig.SchedulerAlgorithm)
	require.True(t, sched.SchedulerConfig.PreemptionConfig.SystemSchedulerEnabled)
	set, _, err := c.nomad.Operator().SchedulerCASConfiguration(&nomad.SchedulerConfiguration{
		SchedulerAlgorithm: "spread",
	}, nil)
	require.NoError(t, err)
	require.False(t, set.Updated, "a compare-and-set against index 0 loses once the configuration exists")
	set, _, err = c.nomad.Operator().SchedulerSetConfiguration(&nomad.SchedulerConfiguration{SchedulerAlgorithm: "spread"}, nil)
	require.NoError(t, err)
	require.True(t, set.Updated)
	sched, _, err = c.nomad.Operator().SchedulerGetConfiguration(nil)
	require.NoError(t, err)
	require.EqualValues(t, "spread", sched.SchedulerConfig.SchedulerAlgorithm)

	_, _, _, err = c.nomad.Jobs().Versions("web", false, nil)
	requireStatus(t, err, http.StatusNotFound)
	_, _, err = c.nomad.Jobs().Register(mockJob("web", 1), nil)
	require.NoError(t, err)
	versions, _, _, err := c.nomad.Jobs().Versions("web", false, nil)
	require.NoError(t, err)
	require.Len(t, versions, 1)

	require.NoError(t, c.nomad.System().GarbageCollect())
}

func TestMetricsEndpoint(t *testing.T) {
	c := newCluster(t, api.Options{})
	_, _, err := c.nomad.Jobs().Register(mockJob("web", 1), nil)
	require.NoError(t, err)
	waitAllocs(t, c, "web", running(1))

	summary, _, err := c.nomad.Operator().MetricsSummary(nil)
	require.NoError(t, err)
	gauges := map[string]float32{}
	for _, g := range summary.Gauges {
		gauges[g.Name] = g.Value
	}
	require.Greater(t, gauges["drover_raft_applied_index"], float32(0))
	require.Equal(t, float32(1), gauges["drover_client_allocs_running"])
	require.Equal(t, float32(1), gauges["drover_server_heartbeat_active_timers"])

	text, err := c.nomad.Operator().Metrics(&nomad.QueryOptions{Params: map[string]string{"format": "prometheus"}})
	require.NoError(t, err)
	for _, name := range []string{
		"drover_raft_commit_seconds_bucket", "drover_raft_leader_changes_total", "drover_server_plans_applied_total",
		"drover_scheduler_placements_total", "drover_scheduler_eval_seconds_count", "drover_server_broker_blocked_evals",
	} {
		require.Contains(t, string(text), name)
	}
}

func TestEventStreamWithTheNomadClient(t *testing.T) {
	c := newCluster(t, api.Options{EventHeartbeat: 50 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := c.nomad.EventStream().Stream(ctx, map[nomad.Topic][]string{nomad.TopicJob: {"web"}}, 0, nil)
	require.NoError(t, err)
	resp, wm, err := c.nomad.Jobs().Register(mockJob("web", 1), nil)
	require.NoError(t, err)
	_, _, err = c.nomad.Jobs().Register(mockJob("other", 0), nil)
	require.NoError(t, err)
	var evs *nomad.Events
	select {
	case evs = <-stream:
	case <-ctx.Done():
		t.Fatal("no event arrived")
	}
	require.NoError(t, evs.Err)
	require.Equal(t, wm.LastIndex, evs.Index)
	ev := evs.Events[0]
	require.Equal(t, nomad.TopicJob, ev.Topic)
	require.Equal(t, "JobRegistered", ev.Type)
	job, err := ev.Job()
	require.NoError(t, err)
	require.Equal(t, "web", *job.ID, "the filter leaves out the other job")
	require.Equal(t, wm.LastIndex, *job.JobModifyIndex)
	require.NotEmpty(t, resp.EvalID)
	cancel()
}

func TestEventStreamSendsHeartbeatsAndReportsLag(t *testing.T) {
	c := newCluster(t, api.Options{EventHeartbeat: 50 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.http.URL+"/v1/event/stream?topic=Node", nil)
	require.NoError(t, err)
	resp, err := c.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	sawNode, sawHeartbeat := false, false
	for (!sawNode || !sawHeartbeat) && sc.Scan() {
		line := sc.Text()
		if line == "{}" {
			sawHeartbeat = true
			continue
		}
		var b struct {
			Index  uint64
			Events []struct{ Topic, Type string }
		}
		require.NoError(t, json.Unmarshal([]byte(line), &b))
		require.Equal(t, "Node", b.Events[0].Topic, "index 0 replays the buffered node registration")
		sawNode = true
	}
	require.True(t, sawNode && sawHeartbeat, "scan: %v", sc.Err())

	bad, err := c.client.Get(c.http.URL + "/v1/event/stream?topic=Jobs")
	require.NoError(t, err)
	defer bad.Body.Close()
	require.Equal(t, http.StatusBadRequest, bad.StatusCode)
	requireJSONError(t, bad, "unknown topic")
}

func requireJSONError(t *testing.T, resp *http.Response, contains string) {
	t.Helper()
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var body struct {
		Error    string
		Problems []string
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	require.Contains(t, body.Error, contains)
}

func TestBadRequestsGetClearStatusCodesAndChangeNothing(t *testing.T) {
	c := newCluster(t, api.Options{MaxRequestBytes: 64 << 10})
	huge := `{"Job":{"ID":"big","Meta":{"x":"` + strings.Repeat("a", 128<<10) + `"}}}`
	cases := []struct {
		name, method, path, body string
		code                     int
		contains                 string
	}{
		{"not JSON", "PUT", "/v1/jobs", "{nope", 400, "invalid JSON body"},
		{"empty body", "POST", "/v1/jobs", "", 400, "request body is missing"},
		{"no job", "PUT", "/v1/jobs", `{"Jobs":{}}`, 400, "job is missing"},
		{"wrong types", "PUT", "/v1/jobs", `{"Job":{"ID":7}}`, 400, "invalid JSON body"},
		{"invalid job", "PUT", "/v1/jobs", `{"Job":{"ID":"x","TaskGroups":[{"Name":"g","Count":-1,"Tasks":[]}]}}`, 400, "invalid"},
		{"unsupported field", "PUT", "/v1/jobs", `{"Job":{"ID":"x","Multiregion":{"Regions":[{"Name":"a"}]}}}`, 400, "Multiregion is not supported"},
		{"path and body disagree", "PUT", "/v1/job/a", `{"Job":{"ID":"b"}}`, 400, "does not match"},
		{"huge body", "PUT", "/v1/jobs", huge, 413, "larger than the limit"},
		{"wrong method", "PATCH", "/v1/jobs", "", 405, "not allowed"},
		{"wrong method on a job", "POST", "/v1/job/web/allocations", "", 405, "not allowed"},
		{"unknown path", "GET", "/v1/nope", "", 404, "no such endpoint"},
		{"unknown sub-path", "GET", "/v1/job/web/nope", "", 404, "no such endpoint"},
		{"bad index", "GET", "/v1/jobs?index=minus", "", 400, "invalid index"},
		{"bad wait", "GET", "/v1/jobs?wait=forever", "", 400, "invalid wait"},
		{"bad per_page", "GET", "/v1/jobs?per_page=-2", "", 400, "invalid per_page"},
		{"other region", "GET", "/v1/jobs?region=mars", "", 400, "no path to region"},
		{"missing job", "GET", "/v1/job/ghost", "", 404, "not found"},
		{"bad eligibility", "PUT", "/v1/node/x/eligibility", `{"Eligibility":"sometimes"}`, 400, "eligibility must be"},
		{"bad purge", "DELETE", "/v1/job/web?purge=perhaps", "", 400, "invalid purge"},
	}
	before := c.srv.StateIndex()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, c.http.URL+tc.path, strings.NewReader(tc.body))
			require.NoError(t, err)
			resp, err := c.client.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			require.Equal(t, tc.code, resp.StatusCode)
			if tc.code == 405 {
				require.NotEmpty(t, resp.Header.Get("Allow"))
			}
			requireJSONError(t, resp, tc.contains)
		})
	}
	require.Equal(t, before, c.srv.StateIndex(), "no bad request changed the state")

	// The validation problems come back one by one.
	resp, err := c.client.Post(c.http.URL+"/v1/jobs", "application/json",
		strings.NewReader(`{"Job":{"ID":"x","Priority":1000,"TaskGroups":[{"Name":"g","Count":-1,"Tasks":[]}]}}`))
	require.NoError(t, err)
	defer resp.Body.Close()
	var body struct{ Problems []string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	require.GreaterOrEqual(t, len(body.Problems), 2)

	// And the server is unharmed.
	_, _, err = c.nomad.Jobs().Register(mockJob("web", 1), nil)
	require.NoError(t, err)
	waitAllocs(t, c, "web", running(1))
}

func TestEventStreamRefusesIndexesTheBufferDropped(t *testing.T) {
	c := newClusterWith(t, drover.ServerOptions{EventBufferSize: 2}, api.Options{})
	for _, id := range []string{"a", "b", "c", "d"} {
		_, _, err := c.nomad.Jobs().Register(mockJob(id, 0), nil)
		require.NoError(t, err)
	}
	resp, err := c.client.Get(c.http.URL + "/v1/event/stream?index=1")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusGone, resp.StatusCode)
	requireJSONError(t, resp, "fell behind the event buffer")
}
