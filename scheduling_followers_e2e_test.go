package drover_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/metadata"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/internal/rpcerr"
	"github.com/droverhq/drover/internal/testing/harness"
	"github.com/droverhq/drover/internal/testing/testcluster"
	"github.com/droverhq/drover/internal/testing/tlstest"
	"github.com/droverhq/drover/scheduler"
	"github.com/droverhq/drover/structs"
)

// followerCluster is three real servers where server-0, the leader, runs
// no scheduler worker (NoSchedulers) and the two others run two each: all
// scheduling happens on the followers.
type followerCluster struct {
	*testcluster.Cluster
	regs []*prometheus.Registry
}

func startFollowerCluster(t *testing.T, adjust func(i int, o *drover.ServerOptions)) *followerCluster {
	t.Helper()
	return startFollowerClusterOn(t, false, adjust)
}

// startFollowerClusterOn is startFollowerCluster on TCP, or on an
// in-memory network (whose links a test can cut) with inMemory.
func startFollowerClusterOn(t *testing.T, inMemory bool, adjust func(i int, o *drover.ServerOptions)) *followerCluster {
	t.Helper()
	fc := &followerCluster{regs: make([]*prometheus.Registry, 3)}
	for i := range fc.regs {
		fc.regs[i] = prometheus.NewRegistry()
	}
	fc.Cluster = testcluster.New(t, testcluster.Options{Servers: 3, InMemory: inMemory, Server: func(i int, o *drover.ServerOptions) {
		o.NumSchedulers = 2
		if i == 0 {
			o.NumSchedulers = drover.NoSchedulers
		}
		if i < len(fc.regs) {
			o.Registerer = fc.regs[i]
		}
		// The test registers nodes that never heartbeat: they must stay up.
		o.Heartbeat = drover.HeartbeatConfig{MinTTL: time.Hour, FailoverTTL: time.Hour}
		if adjust != nil {
			adjust(i, o)
		}
	}})
	leader := fc.WaitLeader(30 * time.Second)
	first := fc.Member(0)
	if leader != first {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, leader.Server().TransferLeadership(ctx, "", first.Addr))
	}
	harness.Eventually(t, 30*time.Second, "server-0 leads and everyone knows it", func() bool {
		for _, m := range fc.Running() {
			if m.Server().LeaderAddr() != first.Addr {
				return false
			}
		}
		return first.Server().IsLeader()
	})
	return fc
}

// evalsRun returns how many evaluations the server's workers of role
// (leader, follower) ran.
func evalsRun(t *testing.T, reg *prometheus.Registry, role string) uint64 {
	t.Helper()
	fams, err := reg.Gather()
	require.NoError(t, err)
	var n uint64
	for _, f := range fams {
		if f.GetName() != "drover_scheduler_eval_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "worker" && l.GetValue() == role {
					n += m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return n
}

func schedSimNode(i int) *structs.Node {
	id := fmt.Sprintf("sim-node-%03d", i)
	return &structs.Node{
		Id: id, SecretId: id + "-secret", Name: id, Datacenter: "dc1",
		Resources: &structs.Resources{CpuMhz: 4000, MemoryMb: 4000},
		Drivers:   map[string]*structs.DriverInfo{"mock": {Detected: true, Healthy: true}},
	}
}

func registerSimNodes(t *testing.T, rpc structs.DroverClient, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range n {
		_, err := rpc.RegisterNode(ctx, &structs.NodeRegisterRequest{Node: schedSimNode(i)})
		require.NoError(t, err)
	}
}

// placedOnce reports whether the job has exactly count allocations meant
// to run, each of a distinct name, and fails the test on more.
func placedOnce(t *testing.T, srv *drover.Server, jobID string, count int) bool {
	t.Helper()
	allocs, err := srv.Allocations(drover.AllowStale(context.Background()), "", jobID, "")
	require.NoError(t, err)
	names := map[string]int{}
	live := 0
	for _, a := range allocs {
		if a.DesiredStatus == drover.AllocDesiredRun {
			live++
			names[a.Name]++
			require.Equal(t, 1, names[a.Name], "job %s: %s placed twice", jobID, a.Name)
		}
	}
	require.LessOrEqual(t, live, count, "job %s placed more than its count", jobID)
	return live == count
}

// registerGatedJobs registers jobs gated-0 … gated-(jobs-1), of type
// "gated" and count allocations each.
func registerGatedJobs(t *testing.T, srv *drover.Server, jobs int, count int32) {
	t.Helper()
	for i := range jobs {
		j := serviceJob(t, fmt.Sprintf("gated-%d", i), count)
		j.Type = "gated"
		_, err := srv.RegisterJob(context.Background(), j)
		require.NoError(t, err)
	}
}

// requireFollowersPlace waits until job jobID has count allocations,
// placed once, and a follower's worker recorded a pass (how: the
// setting the test runs under, for the messages).
func requireFollowersPlace(t *testing.T, fc *followerCluster, jobID string, count int, how string) {
	t.Helper()
	leader := fc.Member(0).Server()
	harness.WaitFor(t, leader, 60*time.Second, "the followers place the job "+how, func() bool {
		return placedOnce(t, leader, jobID, count)
	})
	harness.Eventually(t, 10*time.Second, "a follower's worker recorded the pass", func() bool {
		return evalsRun(t, fc.regs[1], "follower")+evalsRun(t, fc.regs[2], "follower") > 0
	})
}

// gatedPlacedOnce reports whether jobs gated-0 … gated-(jobs-1) each have
// count allocations placed once (placedOnce).
func gatedPlacedOnce(t *testing.T, srv *drover.Server, jobs, count int) bool {
	t.Helper()
	for i := range jobs {
		if !placedOnce(t, srv, fmt.Sprintf("gated-%d", i), count) {
			return false
		}
	}
	return true
}

// evalStatuses counts a job's evaluations by status.
func evalStatuses(t *testing.T, srv *drover.Server, jobID string) map[string]int {
	t.Helper()
	evals, err := srv.Evaluations(drover.AllowStale(context.Background()), "", jobID)
	require.NoError(t, err)
	out := map[string]int{}
	for _, e := range evals {
		out[e.Status]++
	}
	return out
}

// TestFollowersScheduleWhileTheLeaderRunsNoWorkers: with no worker on the
// leader, the followers' workers take every evaluation from the leader's
// broker over RPC, plan on their own replica and have the leader apply
// the plans: every job is placed once, every evaluation ends complete.
func TestFollowersScheduleWhileTheLeaderRunsNoWorkers(t *testing.T) {
	const jobs, count = 12, 3
	fc := startFollowerCluster(t, nil)
	leader := fc.Member(0).Server()
	registerSimNodes(t, harness.DialRPC(t, fc.Member(0).Addr), 4)
	ctx := context.Background()
	for i := range jobs {
		// Half of the jobs are registered through a follower, forwarded.
		srv := leader
		if i%2 == 1 {
			srv = fc.Member(1 + i%2).Server()
		}
		_, err := srv.RegisterJob(ctx, serviceJob(t, fmt.Sprintf("web-%02d", i), count))
		require.NoError(t, err)
	}
	harness.WaitFor(t, leader, 60*time.Second, "every job placed and its evaluation complete", func() bool {
		for i := range jobs {
			id := fmt.Sprintf("web-%02d", i)
			if !placedOnce(t, leader, id, count) {
				return false
			}
			st := evalStatuses(t, leader, id)
			if st[drover.EvalStatusComplete] == 0 || sumOthers(st) > 0 {
				return false
			}
		}
		return true
	})
	for i := range jobs {
		st := evalStatuses(t, leader, fmt.Sprintf("web-%02d", i))
		require.Zero(t, st[drover.EvalStatusFailed]+st[drover.EvalStatusPending]+st[drover.EvalStatusBlocked], "job %d: %v", i, st)
	}
	// A worker records its pass after the evaluation's outcome is committed.
	harness.Eventually(t, 10*time.Second, "the followers' workers recorded every pass", func() bool {
		return evalsRun(t, fc.regs[1], "follower")+evalsRun(t, fc.regs[2], "follower") >= jobs
	})
	require.Zero(t, evalsRun(t, fc.regs[0], "leader")+evalsRun(t, fc.regs[0], "follower"), "the leader ran no evaluation")
}

// sumOthers is the number of evaluations neither complete nor canceled.
func sumOthers(st map[string]int) int {
	n := 0
	for s, c := range st {
		if s != drover.EvalStatusComplete && s != drover.EvalStatusCanceled {
			n += c
		}
	}
	return n
}

// refusingScheduler is the service scheduler whose plans name an
// evaluation the leader does not hold, for the jobs refuse says, so the
// leader refuses them: the follower's worker nacks the evaluation.
type refusingScheduler struct {
	passes *sync.Map // job id -> *atomic.Int32
	refuse func(jobID string, pass int32) bool
}

func (r refusingScheduler) Schedule(st scheduler.State, in scheduler.Input) (*scheduler.Decision, error) {
	n, _ := r.passes.LoadOrStore(in.Eval.JobId, new(atomic.Int32))
	pass := n.(*atomic.Int32).Add(1)
	sched, err := scheduler.Builtin(drover.JobTypeService)
	if err != nil {
		return nil, err
	}
	d, err := sched.Schedule(st, in)
	if err == nil && d != nil && d.Plan != nil && r.refuse(in.Eval.JobId, pass) {
		d.Plan.EvalId = "not-" + in.Eval.Id
	}
	return d, err
}

// TestFollowerWorkerNacksAreRetriedUpToTheDeliveryLimit: a follower's
// plan the leader refuses makes its worker nack the evaluation; the
// broker hands it out again, and fails it at the delivery limit (3), as
// for the leader's own workers.
func TestFollowerWorkerNacksAreRetriedUpToTheDeliveryLimit(t *testing.T) {
	passes := &sync.Map{}
	sched := refusingScheduler{passes: passes, refuse: func(jobID string, pass int32) bool {
		return jobID == "doomed" || (jobID == "flaky" && pass == 1)
	}}
	fc := startFollowerCluster(t, func(_ int, o *drover.ServerOptions) {
		o.Schedulers = map[string]drover.SchedulerFactory{"refusing": func() drover.Scheduler { return sched }}
	})
	leader := fc.Member(0).Server()
	registerSimNodes(t, harness.DialRPC(t, fc.Member(0).Addr), 2)
	ctx := context.Background()
	for _, id := range []string{"flaky", "doomed"} {
		j := serviceJob(t, id, 2)
		j.Type = "refusing"
		_, err := leader.RegisterJob(ctx, j)
		require.NoError(t, err)
	}
	harness.WaitFor(t, leader, 60*time.Second, "flaky placed on its second delivery", func() bool {
		return placedOnce(t, leader, "flaky", 2) && evalStatuses(t, leader, "flaky")[drover.EvalStatusComplete] == 1
	})
	n, _ := passes.Load("flaky")
	require.Equal(t, int32(2), n.(*atomic.Int32).Load(), "refused once, then scheduled again")

	var failed *drover.Evaluation
	harness.WaitFor(t, leader, 60*time.Second, "doomed failed at the delivery limit", func() bool {
		evals, err := leader.Evaluations(drover.AllowStale(ctx), "", "doomed")
		require.NoError(t, err)
		for _, e := range evals {
			if e.Status == drover.EvalStatusFailed {
				failed = e
			}
		}
		return failed != nil
	})
	require.Contains(t, failed.StatusDescription, "delivery limit")
	n, _ = passes.Load("doomed")
	require.Equal(t, int32(3), n.(*atomic.Int32).Load(), "handed out exactly the delivery limit's times")
	allocs, err := leader.Allocations(drover.AllowStale(ctx), "", "doomed", "")
	require.NoError(t, err)
	require.Empty(t, allocs, "no refused plan was applied")
	st := evalStatuses(t, leader, "doomed")
	require.Equal(t, 1, st[drover.EvalStatusPending], "a delayed follow-up evaluation retries the job later: %v", st)
}

// gatedScheduler is the service scheduler that, while its gate is shut,
// holds every pass until the gate opens.
type gatedScheduler struct {
	gate    chan struct{}
	holding *atomic.Int32
}

func (g gatedScheduler) Schedule(st scheduler.State, in scheduler.Input) (*scheduler.Decision, error) {
	g.holding.Add(1)
	<-g.gate
	sched, err := scheduler.Builtin(drover.JobTypeService)
	if err != nil {
		return nil, err
	}
	return sched.Schedule(st, in)
}

// TestLeaderLossWhileFollowersHoldEvaluations: the leader dies while the
// followers' workers are in the middle of evaluations it handed out. Their
// plans then find no leader to take them; the new leader hands the
// evaluations, still pending in the state, out again, and every job is
// placed exactly once.
func TestLeaderLossWhileFollowersHoldEvaluations(t *testing.T) {
	const jobs, count = 6, 2
	gate := make(chan struct{})
	var holding atomic.Int32
	var openGate sync.Once
	defer openGate.Do(func() { close(gate) })
	sched := gatedScheduler{gate: gate, holding: &holding}
	fc := startFollowerCluster(t, func(_ int, o *drover.ServerOptions) {
		o.Schedulers = map[string]drover.SchedulerFactory{"gated": func() drover.Scheduler { return sched }}
	})
	old := fc.Member(0)
	registerSimNodes(t, harness.DialRPC(t, old.Addr), 3)
	registerGatedJobs(t, old.Server(), jobs, count)
	// Two followers with two workers each: four evaluations in hand.
	harness.Eventually(t, 30*time.Second, "the followers' workers hold four evaluations", func() bool { return holding.Load() == 4 })
	old.Stop()
	next := fc.WaitLeader(30 * time.Second)
	require.NotEqual(t, old, next)
	openGate.Do(func() { close(gate) })
	srv := next.Server()
	harness.WaitFor(t, srv, 60*time.Second, "every job placed once under the new leader", func() bool {
		return gatedPlacedOnce(t, srv, jobs, count)
	})
	for i := range jobs {
		st := evalStatuses(t, srv, fmt.Sprintf("gated-%d", i))
		require.Zero(t, st[drover.EvalStatusFailed], "job %d: %v", i, st)
	}
}

// schedRPCs calls each scheduling RPC of a leader once, with what ctx
// carries, and returns their errors.
func schedRPCs(ctx context.Context, rpc structs.DroverClient) []error {
	_, e1 := rpc.DequeueEval(ctx, &structs.EvalDequeueRequest{Types: []string{"service"}, TimeoutMs: 10})
	tok := &structs.EvalTokenRequest{EvalId: "e", Token: "e/1"}
	_, e2 := rpc.AckEval(ctx, tok)
	_, e3 := rpc.NackEval(ctx, tok)
	_, e4 := rpc.RenewEvalLease(ctx, tok)
	_, e5 := rpc.SubmitPlan(ctx, &structs.PlanSubmitRequest{Plan: &structs.Plan{EvalId: "e"}, Token: "e/1"})
	_, e6 := rpc.UpdateEvals(ctx, &structs.EvalUpdateRequest{EvalId: "e", Token: "e/1"})
	return []error{e1, e2, e3, e4, e5, e6}
}

func requireAllDenied(t *testing.T, errs []error, why string) {
	t.Helper()
	for i, err := range errs {
		require.True(t, errors.Is(rpcerr.From(err), drover.ErrPermissionDenied), "%s: call %d: %v", why, i, err)
	}
}

// TestSchedulingRPCsRefuseClientsOverMutualTLS: with mutual TLS and
// verify_server_hostname, a client certificate cannot take evaluations
// or submit plans, nor can a server certificate without the region's
// server secret; the followers, real servers, schedule.
func TestSchedulingRPCsRefuseClientsOverMutualTLS(t *testing.T) {
	ca := tlstest.NewCA(t)
	files := make([]tlsFiles, 3)
	for i := range files {
		files[i] = writeTLSFiles(t, t.TempDir(), ca.PEM, ca.Issue(t, "server.global.nomad"))
	}
	fc := startFollowerCluster(t, func(i int, o *drover.ServerOptions) {
		if i < len(files) {
			o.TLS = files[i].options(true)
		}
	})
	addr := fc.Member(0).Addr
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	clientRPC := rpcAs(t, addr, ca, ca.Issue(t, "client.global.nomad"))
	for i, err := range schedRPCs(ctx, clientRPC) {
		require.True(t, errors.Is(rpcerr.From(err), drover.ErrPermissionDenied), "call %d: %v", i, err)
		require.Contains(t, err.Error(), "certificate refused", "call %d", i)
	}
	serverRPC := rpcAs(t, addr, ca, ca.Issue(t, "server.global.nomad"))
	requireAllDenied(t, schedRPCs(ctx, serverRPC), "a server certificate without the server secret")

	// The real followers are accepted: they place a job.
	registerSimNodes(t, clientRPC, 2)
	leader := fc.Member(0).Server()
	_, err := leader.RegisterJob(ctx, serviceJob(t, "web", 2))
	require.NoError(t, err)
	requireFollowersPlace(t, fc, "web", 2, "over mutual TLS")
}

// TestSchedulingRPCsRefuseTokensWithACLs: with ACLs on, the scheduling
// RPCs refuse a call without a token and one with a management token:
// only the servers of the region, which hold its server secret, take
// part; and they do, placing a job.
func TestSchedulingRPCsRefuseTokensWithACLs(t *testing.T) {
	fc := startFollowerCluster(t, func(_ int, o *drover.ServerOptions) {
		o.ACL = drover.ACLOptions{Enabled: true}
	})
	leader := fc.Member(0).Server()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	boot, err := leader.ACLBootstrap(drover.WithToken(ctx, ""), "")
	require.NoError(t, err)
	rpc := harness.DialRPC(t, fc.Member(0).Addr)
	requireAllDenied(t, schedRPCs(ctx, rpc), "no token")
	requireAllDenied(t, schedRPCs(metadata.AppendToOutgoingContext(ctx, "x-nomad-token", boot.SecretId), rpc), "a management token")

	registerSimNodes(t, rpc, 2)
	_, err = leader.RegisterJob(drover.WithToken(ctx, boot.SecretId), serviceJob(t, "web", 2))
	require.NoError(t, err)
	requireFollowersPlace(t, fc, "web", 2, "with ACLs on")
}

// TestFollowerCutOffMidEvaluationLeavesItToAnother: a follower is cut off
// from the cluster while its workers hold evaluations, so it can neither
// renew their leases nor hand them back. Once the leases run out
// (EvalNackTimeout) the leader's broker hands the evaluations to the other
// follower, which places the jobs; when the cut-off follower comes back,
// the plans it made under its stale deliveries are refused: every job is
// placed exactly once and no evaluation fails.
func TestFollowerCutOffMidEvaluationLeavesItToAnother(t *testing.T) {
	const jobs, count = 6, 2
	gates := []chan struct{}{nil, make(chan struct{}), make(chan struct{})}
	var opened [3]sync.Once
	open := func(i int) { opened[i].Do(func() { close(gates[i]) }) }
	defer open(1)
	defer open(2)
	holding := make([]atomic.Int32, 3)
	fc := startFollowerClusterOn(t, true, func(i int, o *drover.ServerOptions) {
		o.EvalNackTimeout = 3 * time.Second
		// Server-0 runs no worker; it needs the type to take the jobs.
		sched := gatedScheduler{gate: gates[max(i, 1)], holding: &holding[i]}
		o.Schedulers = map[string]drover.SchedulerFactory{"gated": func() drover.Scheduler { return sched }}
	})
	leader, cut := fc.Member(0), fc.Member(1)
	registerSimNodes(t, harness.DialRPCOver(t, fc.Network.Transport(), leader.Addr), 3)
	registerGatedJobs(t, leader.Server(), jobs, count)
	harness.Eventually(t, 30*time.Second, "each follower's two workers hold an evaluation", func() bool {
		return holding[1].Load() == 2 && holding[2].Load() == 2
	})

	cut.Isolate()
	open(2)
	srv := leader.Server()
	harness.WaitFor(t, srv, 60*time.Second, "every job placed once by the follower still connected", func() bool {
		return gatedPlacedOnce(t, srv, jobs, count)
	})
	require.Equal(t, int32(jobs), holding[2].Load(),
		"the connected follower ran every evaluation: its own, the queued ones and the two whose leases ran out")

	// The cut-off follower finishes its passes and comes back: what it
	// planned under deliveries that ended is refused.
	open(1)
	cut.Rejoin()
	harness.Eventually(t, 60*time.Second, "the cut-off follower's two passes ended", func() bool {
		return evalsRun(t, fc.regs[1], "follower") == 2
	})
	for i := range jobs {
		job := fmt.Sprintf("gated-%d", i)
		require.True(t, placedOnce(t, srv, job, count), "job %s", job)
		st := evalStatuses(t, srv, job)
		require.Zero(t, st[drover.EvalStatusFailed], "job %s: %v", job, st)
	}
}
