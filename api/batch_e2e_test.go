package api_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/api"
	"github.com/droverhq/drover/driver/mock"
	"github.com/droverhq/drover/internal/testing/harness"
)

// batchCluster is a server and a client with the mock driver, whose data
// directory the test knows, behind the HTTP API.
func batchCluster(t *testing.T) (*cluster, string) {
	t.Helper()
	dir := t.TempDir()
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server"), NumSchedulers: 1})
	clientDir := filepath.Join(dir, "client")
	cli := harness.StartClient(t, drover.ClientOptions{DataDir: clientDir, Servers: []string{srv.Addr()}, Drivers: []drover.Driver{mock.New(nil)}})
	c := &cluster{srv: srv, cli: cli, http: httptest.NewServer(srv.NewHTTPHandler(api.Options{}))}
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
	return c, clientDir
}

func batchJob(id string) *nomad.Job {
	job := nomad.NewBatchJob(id, id, "global", 50)
	task := nomad.NewTask("work", "mock").SetConfig("run_for", "50ms").Require(&nomad.Resources{CPU: ptr(50), MemoryMB: ptr(32)})
	return job.AddTaskGroup(nomad.NewTaskGroup("g", 1).AddTask(task))
}

func TestNomadClientDispatchesParameterizedJobs(t *testing.T) {
	c, clientDir := batchCluster(t)
	jobs := c.nomad.Jobs()
	job := batchJob("resize")
	job.ParameterizedJob = &nomad.ParameterizedJobConfig{Payload: "required", MetaRequired: []string{"user"}, MetaOptional: []string{"size"}}
	job.TaskGroups[0].Tasks[0].DispatchPayload = &nomad.DispatchPayloadConfig{File: "in/image.json"}
	_, _, err := jobs.Register(job, nil)
	require.NoError(t, err)

	parent, _, err := jobs.Info("resize", nil)
	require.NoError(t, err)
	require.Equal(t, []string{"user"}, parent.ParameterizedJob.MetaRequired)
	require.Equal(t, "in/image.json", parent.TaskGroups[0].Tasks[0].DispatchPayload.File)
	allocs, _, err := jobs.Allocations("resize", false, nil)
	require.NoError(t, err)
	require.Empty(t, allocs, "a parameterized job never runs by itself")

	// Refused whole, naming the key.
	_, _, err = jobs.Dispatch("resize", map[string]string{"size": "big"}, []byte(`{}`), "", nil)
	require.ErrorContains(t, err, `required meta key \"user\" is missing`)
	_, _, err = jobs.Dispatch("resize", map[string]string{"user": "ann"}, nil, "", nil)
	require.ErrorContains(t, err, "a payload is required")
	_, _, err = jobs.Dispatch("resize", map[string]string{"user": "ann"}, make([]byte, 16*1024+1), "", nil)
	require.ErrorContains(t, err, "exceeds the limit")
	list, _, err := jobs.PrefixList("resize/")
	require.NoError(t, err)
	require.Empty(t, list)

	payload := []byte(`{"image":"cat.png"}`)
	tok := &nomad.WriteOptions{IdempotencyToken: "req-1"}
	resp, _, err := jobs.Dispatch("resize", map[string]string{"user": "ann"}, payload, "", tok)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(resp.DispatchedJobID, "resize/dispatch-"), resp.DispatchedJobID)
	require.NotEmpty(t, resp.EvalID)
	again, _, err := jobs.Dispatch("resize", map[string]string{"user": "ann"}, payload, "", tok)
	require.NoError(t, err)
	require.Equal(t, resp.DispatchedJobID, again.DispatchedJobID, "the same token returns the first child")

	// The child, an id with a '/', through every per-job endpoint.
	childID := resp.DispatchedJobID
	child, _, err := jobs.Info(childID, nil)
	require.NoError(t, err)
	require.Equal(t, "resize", *child.ParentID)
	require.True(t, child.Dispatched)
	require.Equal(t, payload, child.Payload)
	require.Equal(t, "ann", child.Meta["user"])
	require.Nil(t, child.ParameterizedJob)
	done := waitAllocs(t, c, childID, func(a []*nomad.AllocationListStub) bool {
		return len(a) == 1 && a[0].ClientStatus == "complete"
	})
	got, err := os.ReadFile(filepath.Join(clientDir, "alloc", done[0].ID, "work", "local", "in", "image.json"))
	require.NoError(t, err)
	require.Equal(t, payload, got, "the client wrote the payload where dispatch_payload says")
	evals, _, err := jobs.Evaluations(childID, nil)
	require.NoError(t, err)
	require.Len(t, evals, 1)
	_, _, _, err = jobs.Versions(childID, false, nil)
	require.NoError(t, err)

	// The parent counts its children.
	require.Eventually(t, func() bool {
		sum, _, err := jobs.Summary("resize", nil)
		return err == nil && sum.Children != nil && sum.Children.Dead == 1
	}, 30*time.Second, 20*time.Millisecond)
	stubs, _, err := jobs.PrefixList("resize")
	require.NoError(t, err)
	require.Len(t, stubs, 2)
	for _, s := range stubs {
		if s.ID == "resize" {
			require.True(t, s.ParameterizedJob)
		} else {
			require.Equal(t, "resize", s.ParentID)
		}
	}

	// A stopped parent dispatches nothing.
	_, _, err = jobs.Deregister("resize", false, nil)
	require.NoError(t, err)
	_, _, err = jobs.Dispatch("resize", map[string]string{"user": "bob"}, payload, "", nil)
	require.ErrorContains(t, err, "stopped")
}

func TestNomadClientForcesPeriodicLaunches(t *testing.T) {
	c, _ := batchCluster(t)
	jobs := c.nomad.Jobs()
	job := batchJob("nightly")
	job.Periodic = &nomad.PeriodicConfig{Specs: []string{"0 3 * * *"}, TimeZone: ptr("Europe/Paris"), ProhibitOverlap: ptr(true)}
	_, _, err := jobs.Register(job, nil)
	require.NoError(t, err)
	got, _, err := jobs.Info("nightly", nil)
	require.NoError(t, err)
	require.True(t, got.IsPeriodic())
	require.Equal(t, "Europe/Paris", *got.Periodic.TimeZone)
	require.True(t, *got.Periodic.Enabled)

	plan, _, err := jobs.Plan(job, false, nil)
	require.NoError(t, err)
	paris, _ := time.LoadLocation("Europe/Paris")
	require.Equal(t, 3, plan.NextPeriodicLaunch.In(paris).Hour(), "the plan says when the next launch is, in the job's zone")

	evalID, _, err := jobs.PeriodicForce("nightly", nil)
	require.NoError(t, err)
	require.NotEmpty(t, evalID)
	children, _, err := jobs.PrefixList("nightly/periodic-")
	require.NoError(t, err)
	require.Len(t, children, 1)
	waitAllocs(t, c, children[0].ID, func(a []*nomad.AllocationListStub) bool { return len(a) == 1 && a[0].ClientStatus == "complete" })

	_, _, err = jobs.PeriodicForce("resize-nothing", nil)
	require.ErrorContains(t, err, "404")
	_, _, err = jobs.Register(batchJob("plain"), nil)
	require.NoError(t, err)
	_, _, err = jobs.PeriodicForce("plain", nil)
	require.ErrorContains(t, err, "not periodic")

	bad := batchJob("bad")
	bad.Periodic = &nomad.PeriodicConfig{Spec: ptr("not a cron")}
	_, _, err = jobs.Register(bad, nil)
	require.ErrorContains(t, err, "cron")
}

func TestNomadClientScalesAGroup(t *testing.T) {
	c, _ := batchCluster(t)
	jobs := c.nomad.Jobs()
	job := mockJob("pool", 1)
	job.TaskGroups[0].Scaling = &nomad.ScalingPolicy{Min: ptr(int64(1)), Max: ptr(int64(3)), Policy: map[string]any{"cooldown": "1m"}}
	_, _, err := jobs.Register(job, nil)
	require.NoError(t, err)
	waitAllocs(t, c, "pool", running(1))

	_, _, err = jobs.Scale("pool", "api", ptr(5), "too many", false, nil, nil)
	require.ErrorContains(t, err, "greater than the scaling policy's max 3")
	_, _, err = jobs.Scale("pool", "api", ptr(0), "too few", false, nil, nil)
	require.ErrorContains(t, err, "less than the scaling policy's min 1")
	_, _, err = jobs.Scale("pool", "nope", ptr(2), "", false, nil, nil)
	require.ErrorContains(t, err, `group \"nope\" does not exist`)

	resp, _, err := jobs.Scale("pool", "api", ptr(3), "load is high", false, map[string]any{"by": "autoscaler"}, nil)
	require.NoError(t, err)
	require.NotEmpty(t, resp.EvalID)
	waitAllocs(t, c, "pool", running(3))
	require.Eventually(t, func() bool {
		st, _, err := jobs.ScaleStatus("pool", nil)
		return err == nil && st.TaskGroups["api"].Running == 3
	}, 30*time.Second, 20*time.Millisecond)
	st, _, err := jobs.ScaleStatus("pool", nil)
	require.NoError(t, err)
	g := st.TaskGroups["api"]
	require.Equal(t, 3, g.Desired)
	require.Equal(t, 3, g.Placed)
	require.Len(t, g.Events, 1)
	ev := g.Events[0]
	require.Equal(t, int64(3), *ev.Count)
	require.Equal(t, int64(1), ev.PreviousCount)
	require.Equal(t, "load is high", ev.Message)
	require.Equal(t, "autoscaler", ev.Meta["by"])
	require.Equal(t, resp.EvalID, *ev.EvalID)

	// An autoscaler's error report changes nothing but the history.
	_, _, err = jobs.Scale("pool", "api", nil, "metrics unavailable", true, nil, nil)
	require.NoError(t, err)
	st, _, err = jobs.ScaleStatus("pool", nil)
	require.NoError(t, err)
	require.Len(t, st.TaskGroups["api"].Events, 2)
	require.True(t, st.TaskGroups["api"].Events[0].Error, "newest first")

	versions, _, _, err := jobs.Versions("pool", false, nil)
	require.NoError(t, err)
	require.Len(t, versions, 2, "a scale is a new version of the job")
	require.Equal(t, 3, *versions[0].TaskGroups[0].Count)
	require.Equal(t, int64(3), *versions[0].TaskGroups[0].Scaling.Max)
	require.Equal(t, "1m", versions[0].TaskGroups[0].Scaling.Policy["cooldown"])
}

// TestBatchEndpointsCheckTheirCapabilities: over HTTP too, each endpoint
// is refused (403) without its capability and served with it.
func TestBatchEndpointsCheckTheirCapabilities(t *testing.T) {
	c, boot := aclCluster(t)
	admin := c.as(t, boot.SecretID)
	param := batchJob("work")
	param.ParameterizedJob = &nomad.ParameterizedJobConfig{}
	periodic := batchJob("cron")
	periodic.Periodic = &nomad.PeriodicConfig{Spec: ptr("0 3 * * *")}
	for _, j := range []*nomad.Job{param, periodic, mockJob("pool", 1)} {
		_, _, err := admin.Jobs().Register(j, nil)
		require.NoError(t, err)
	}
	_, err := admin.ACLPolicies().Upsert(&nomad.ACLPolicy{Name: "list", Rules: `namespace "default" { capabilities = ["list-jobs"] }`}, nil)
	require.NoError(t, err)
	_, err = admin.ACLPolicies().Upsert(&nomad.ACLPolicy{Name: "batch",
		Rules: `namespace "default" { capabilities = ["dispatch-job", "force-periodic-job", "scale-job", "read-job-scaling"] }`}, nil)
	require.NoError(t, err)
	tok := func(policy string) *nomad.Client {
		tk, _, err := admin.ACLTokens().Create(&nomad.ACLToken{Name: policy, Type: "client", Policies: []string{policy}}, nil)
		require.NoError(t, err)
		return c.as(t, tk.SecretID)
	}
	without, with := tok("list"), tok("batch")
	calls := map[string]func(n *nomad.Client) error{
		"dispatch": func(n *nomad.Client) error { _, _, err := n.Jobs().Dispatch("work", nil, nil, "", nil); return err },
		"force":    func(n *nomad.Client) error { _, _, err := n.Jobs().PeriodicForce("cron", nil); return err },
		"scale": func(n *nomad.Client) error {
			_, _, err := n.Jobs().Scale("pool", "api", ptr(2), "", false, nil, nil)
			return err
		},
		"scale status": func(n *nomad.Client) error { _, _, err := n.Jobs().ScaleStatus("pool", nil); return err },
	}
	for name, call := range calls {
		require.Equal(t, http.StatusForbidden, statusCode(call(without)), name)
		require.Equal(t, http.StatusForbidden, statusCode(call(c.nomad)), name+" anonymous")
		require.NoError(t, call(with), name)
	}
}

func TestPlanDiffShowsAPeriodicChange(t *testing.T) {
	c, _ := batchCluster(t)
	job := batchJob("nightly")
	job.Periodic = &nomad.PeriodicConfig{Spec: ptr("0 3 * * *")}
	_, _, err := c.nomad.Jobs().Register(job, nil)
	require.NoError(t, err)
	job.Periodic.Spec = ptr("0 4 * * *")
	plan, _, err := c.nomad.Jobs().Plan(job, true, nil)
	require.NoError(t, err)
	require.Equal(t, "Edited", plan.Diff.Type)
	var found bool
	for _, o := range plan.Diff.Objects {
		found = found || o.Name == "Periodic"
	}
	require.True(t, found, "the periodic block's change is in the diff: %+v", plan.Diff)
}
