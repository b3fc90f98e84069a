package drover_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/driver/mock"
	"github.com/droverhq/drover/internal/testing/harness"
	"github.com/droverhq/drover/scheduler"
	"github.com/droverhq/drover/structs"
)

// metaScheduler places every allocation of a job on the nodes whose meta
// "pool" equals the job's meta "pool": a custom scheduler, as a host writes one.
type metaScheduler struct{}

func (metaScheduler) Schedule(st scheduler.State, in scheduler.Input) (*scheduler.Decision, error) {
	job := st.Job(in.Eval.Namespace, in.Eval.JobId)
	d := &scheduler.Decision{}
	if job == nil || job.Stop {
		return d, nil
	}
	held := map[string]bool{}
	for _, a := range st.AllocsByJob(job.Namespace, job.Id) {
		if a.DesiredStatus == drover.AllocDesiredRun && !a.ClientTerminal() {
			held[a.Name] = true
		}
	}
	plan := &structs.Plan{EvalId: in.Eval.Id, Priority: in.Eval.Priority, Job: job, SnapshotIndex: st.Index()}
	for _, n := range st.Nodes() {
		if n.Meta["pool"] != job.Meta["pool"] || n.Status != drover.NodeStatusReady {
			continue
		}
		for _, tg := range job.TaskGroups {
			name := scheduler.AllocName(job.Id, tg.Name, 0) + "@" + n.Name
			if !held[name] {
				plan.NodeAllocation = append(plan.NodeAllocation, scheduler.NewAllocation(in, job, tg, name, n))
			}
		}
	}
	if len(plan.NodeAllocation) > 0 {
		d.Plan = plan
	}
	return d, nil
}

func schedServer(t *testing.T, dir string, mod func(*drover.ServerOptions)) *drover.Server {
	t.Helper()
	opts := drover.ServerOptions{
		DataDir:    dir,
		Schedulers: map[string]drover.SchedulerFactory{"pinned": func() drover.Scheduler { return metaScheduler{} }},
	}
	if mod != nil {
		mod(&opts)
	}
	return harness.StartServer(t, opts)
}

func metaClient(t *testing.T, dir string, srv *drover.Server, meta map[string]string) *drover.Client {
	t.Helper()
	return harness.StartClient(t, drover.ClientOptions{
		DataDir: dir, Servers: []string{srv.Addr()}, Meta: meta,
		Drivers: []drover.Driver{mock.New(nil)},
	})
}

func typedJob(t *testing.T, id, jobType string, count int32, runFor string) *drover.Job {
	j := serviceJob(t, id, count)
	j.Type = jobType
	j.TaskGroups[0].Tasks[0].Config = drover.TaskConfig(map[string]any{"run_for": runFor})
	return j
}

func statusOn(t *testing.T, srv *drover.Server, jobID string) (byStatus map[string]int, nodes map[string]int) {
	allocs, err := srv.Allocations(context.Background(), "", jobID, "")
	require.NoError(t, err)
	byStatus, nodes = map[string]int{}, map[string]int{}
	for _, a := range allocs {
		byStatus[a.ClientStatus]++
		if a.DesiredStatus == "run" {
			nodes[a.NodeId]++
		}
	}
	return byStatus, nodes
}

func TestEveryJobTypeSchedulesInACluster(t *testing.T) {
	dir := t.TempDir()
	srv := schedServer(t, filepath.Join(dir, "server"), nil)
	defer harness.Shutdown(t, srv)
	a := metaClient(t, filepath.Join(dir, "a"), srv, map[string]string{"pool": "edge"})
	b := metaClient(t, filepath.Join(dir, "b"), srv, map[string]string{"pool": "core"})
	defer harness.Shutdown(t, a, b)
	ctx := context.Background()

	pinned := typedJob(t, "pinned", "pinned", 1, "-1")
	pinned.Meta = map[string]string{"pool": "edge"}
	for _, j := range []*drover.Job{
		typedJob(t, "svc", "service", 3, "-1"),
		typedJob(t, "batch", "batch", 2, "10ms"),
		typedJob(t, "sys", "system", 1, "-1"),
		typedJob(t, "sysbatch", "sysbatch", 1, "10ms"),
		pinned,
	} {
		_, err := srv.RegisterJob(ctx, j)
		require.NoError(t, err, j.Id)
	}
	harness.WaitFor(t, srv, 60*time.Second, "every job type placed and run", func() bool {
		svc, _ := statusOn(t, srv, "svc")
		batch, _ := statusOn(t, srv, "batch")
		sys, sysNodes := statusOn(t, srv, "sys")
		sysb, _ := statusOn(t, srv, "sysbatch")
		pin, _ := statusOn(t, srv, "pinned")
		return svc["running"] == 3 && batch["complete"] == 2 && sys["running"] == 2 && len(sysNodes) == 2 &&
			sysb["complete"] == 2 && pin["running"] == 1
	})
	_, pinNodes := statusOn(t, srv, "pinned")
	require.Equal(t, map[string]int{a.NodeID(): 1}, pinNodes, "the custom scheduler placed by node meta")
	for _, id := range []string{"svc", "batch", "sys", "sysbatch", "pinned"} {
		evals, err := srv.Evaluations(ctx, "", id)
		require.NoError(t, err)
		require.NotEmpty(t, evals)
		for _, e := range evals {
			require.NotEqual(t, "failed", e.Status, "%s: %s", id, e.StatusDescription)
		}
	}

	// A system job follows a node joining.
	c := metaClient(t, filepath.Join(dir, "c"), srv, nil)
	defer harness.Shutdown(t, c)
	harness.WaitFor(t, srv, 30*time.Second, "the system job on the new node", func() bool {
		_, nodes := statusOn(t, srv, "sys")
		return nodes[c.NodeID()] == 1 && len(nodes) == 3
	})
}

func TestSchedulerConfigurationRejectsAndPauses(t *testing.T) {
	dir := t.TempDir()
	srv := schedServer(t, filepath.Join(dir, "server"), func(o *drover.ServerOptions) {
		o.DefaultSchedulerConfig = &drover.SchedulerConfiguration{SchedulerAlgorithm: "spread"}
	})
	defer harness.Shutdown(t, srv)
	cli := metaClient(t, filepath.Join(dir, "a"), srv, nil)
	defer harness.Shutdown(t, cli)
	ctx := context.Background()

	cur, curIndex, err := srv.SchedulerConfiguration(ctx)
	require.NoError(t, err)
	require.Equal(t, "spread", cur.SchedulerAlgorithm, "primed from the options on the first leadership")
	require.NotZero(t, curIndex, "stored through raft")

	rejected := &drover.SchedulerConfiguration{SchedulerAlgorithm: "binpack", RejectJobRegistration: true}
	ok, _, err := srv.SetSchedulerConfiguration(ctx, rejected, true, curIndex)
	require.NoError(t, err)
	require.True(t, ok)
	got, _, err := srv.SchedulerConfiguration(ctx)
	require.NoError(t, err)
	require.Equal(t, rejected, got)
	ok, _, err = srv.SetSchedulerConfiguration(ctx, rejected, true, curIndex)
	require.NoError(t, err)
	require.False(t, ok, "a compare-and-set against an old index loses")
	_, err = srv.RegisterJob(ctx, serviceJob(t, "web", 1))
	require.ErrorIs(t, err, drover.ErrRegistrationRejected)
	jobs, err := srv.Jobs(ctx, "", "")
	require.NoError(t, err)
	require.Empty(t, jobs, "a rejected registration changes nothing")
	_, _, err = srv.SetSchedulerConfiguration(ctx, &drover.SchedulerConfiguration{SchedulerAlgorithm: "fastest"}, false, 0)
	require.ErrorIs(t, err, drover.ErrValidation)

	_, _, err = srv.SetSchedulerConfiguration(ctx, &drover.SchedulerConfiguration{SchedulerAlgorithm: "binpack", PauseEvalBroker: true}, false, 0)
	require.NoError(t, err)
	_, err = srv.RegisterJob(ctx, serviceJob(t, "web", 1))
	require.NoError(t, err, "a paused broker still takes registrations")
	_, _, err = srv.SetSchedulerConfiguration(ctx, &drover.SchedulerConfiguration{SchedulerAlgorithm: "binpack"}, false, 0)
	require.NoError(t, err)
	harness.WaitFor(t, srv, 30*time.Second, "the job placed once the broker resumes", func() bool {
		st, _ := statusOn(t, srv, "web")
		return st["running"] == 1
	})
}

func TestSystemJobFollowsNodesLeavingAndJoining(t *testing.T) {
	dir := t.TempDir()
	srv := shortTTLServer(t, filepath.Join(dir, "server"), nil, "127.0.0.1:0", nil)
	defer harness.Shutdown(t, srv)
	a := clientOn(t, filepath.Join(dir, "a"), srv, nil)
	b := clientOn(t, filepath.Join(dir, "b"), srv, nil)
	defer harness.Shutdown(t, a, b)
	ctx := context.Background()

	_, err := srv.RegisterJob(ctx, typedJob(t, "agent", "system", 1, "-1"))
	require.NoError(t, err)
	running := func() map[string]int {
		allocs, err := srv.Allocations(ctx, "", "agent", "")
		require.NoError(t, err)
		out := map[string]int{}
		for _, al := range allocs {
			if al.ClientStatus == "running" && al.DesiredStatus == "run" {
				out[al.NodeId]++
			}
		}
		return out
	}
	harness.WaitFor(t, srv, 30*time.Second, "the system job on both nodes", func() bool {
		return len(running()) == 2
	})

	harness.Shutdown(t, b) // b leaves without a word: its TTL expires
	harness.WaitFor(t, srv, 30*time.Second, "b down and its allocation lost", func() bool {
		st, _ := statusOn(t, srv, "agent")
		return st["lost"] == 1
	})
	require.Equal(t, map[string]int{a.NodeID(): 1}, running(), "a system job is not moved to another node")

	c := clientOn(t, filepath.Join(dir, "c"), srv, nil)
	defer harness.Shutdown(t, c)
	harness.WaitFor(t, srv, 30*time.Second, "the system job on the node that joined", func() bool {
		r := running()
		return r[c.NodeID()] == 1 && r[a.NodeID()] == 1 && len(r) == 2
	})
}
