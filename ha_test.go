package drover_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/internal/testing/harness"
	"github.com/droverhq/drover/internal/testing/testcluster"
)

// batchJob is a small valid job; nothing needs to run it for the raft tests.
func batchJob(id string) *drover.Job {
	return &drover.Job{
		Id: id, Type: "batch", Datacenters: []string{"dc1"},
		TaskGroups: []*drover.TaskGroup{{
			Name: "g", Count: 1,
			Tasks: []*drover.Task{{Name: "t", Driver: "mock"}},
		}},
	}
}

// registerRetrying registers a job through srv, retrying while the
// cluster has no leader or lost one, until ctx ends.
func registerRetrying(ctx context.Context, srv *drover.Server, job *drover.Job) error {
	for {
		_, err := srv.RegisterJob(ctx, job)
		if err == nil || !(errors.Is(err, drover.ErrNoLeader) || errors.Is(err, drover.ErrLeadershipLost)) {
			return err
		}
		if ctx.Err() != nil {
			return err
		}
	}
}

func TestThreeServersFormOneCluster(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Servers: 3})
	leader := c.WaitLeader(30 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	peers, err := leader.Server().RaftConfiguration(ctx)
	require.NoError(t, err)
	require.Len(t, peers, 3)
	leaders := 0
	for _, p := range peers {
		require.True(t, p.Voter)
		if p.Leader {
			leaders++
			require.Equal(t, leader.Addr, p.Addr)
		}
	}
	require.Equal(t, 1, leaders)

	// Every server takes writes and consistent reads; the follower forwards.
	for i, m := range c.Members() {
		id := fmt.Sprintf("job-%d", i)
		_, err := m.Server().RegisterJob(ctx, batchJob(id))
		require.NoError(t, err, "write through %s", m.Name)
		for _, other := range c.Members() {
			j, err := other.Server().Job(ctx, "", id)
			require.NoError(t, err, "consistent read on %s", other.Name)
			require.Equal(t, id, j.Id)
		}
	}
}

func TestThreeServersSurviveLeaderLoss(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Servers: 3})
	old := c.WaitLeader(30 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err := old.Server().RegisterJob(ctx, batchJob("before"))
	require.NoError(t, err)

	old.Stop() // hard: no leave
	killed := time.Now()
	leader := c.WaitLeader(30 * time.Second)
	require.NotEqual(t, old.Name, leader.Name)
	t.Logf("new leader %s after %s", leader.Name, time.Since(killed))

	for _, m := range c.Running() {
		require.NoError(t, registerRetrying(ctx, m.Server(), batchJob("after-"+m.Name)))
	}
	for _, m := range c.Running() {
		for _, id := range []string{"before", "after-" + c.Running()[0].Name, "after-" + c.Running()[1].Name} {
			_, err := m.Server().Job(ctx, "", id)
			require.NoError(t, err, "%s reads %s", m.Name, id)
		}
	}

	// The old leader comes back as a follower and catches up.
	require.NoError(t, old.Start())
	harness.Eventually(t, 30*time.Second, "the old leader to catch up", func() bool {
		_, err := old.Server().Job(drover.AllowStale(ctx), "", "after-"+leader.Name)
		return err == nil
	})
}

func TestFiveServersLoseTwoKeepWorkingLoseThreeFailFast(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Servers: 5})
	leader := c.WaitConfigured(30 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Lose two (the leader among them): three of five keep a quorum.
	var others []*testcluster.Member
	for _, m := range c.Members() {
		if m != leader {
			others = append(others, m)
		}
	}
	leader.Stop()
	others[0].Stop()
	c.WaitLeader(30 * time.Second)
	for _, m := range c.Running() {
		require.NoError(t, registerRetrying(ctx, m.Server(), batchJob("with-three-"+m.Name)))
		_, err := m.Server().Job(ctx, "", "with-three-"+m.Name)
		require.NoError(t, err)
	}

	// Lose a third: no quorum. Every write and every consistent read on
	// the two left fails with ErrNoLeader within the bounded wait.
	others[1].Stop()
	left := c.Running()
	require.Len(t, left, 2)
	// The calls get a context far longer than the leader wait (5 s at
	// raft_multiplier 1): they must end on their own, with ErrNoLeader,
	// not by the caller giving up. The third server stopped may have been
	// the leader: a call a survivor forwarded to it as it stopped ends
	// with ErrLeadershipLost (its outcome unknown), and asked again the
	// survivor knows there is no leader.
	failsWithNoLeader := func(what string, call func(context.Context) error) {
		t.Helper()
		var err error
		for range 2 {
			cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
			err = call(cctx)
			ccancel()
			if !errors.Is(err, drover.ErrLeadershipLost) {
				break
			}
		}
		require.ErrorIs(t, err, drover.ErrNoLeader, what)
		require.NotErrorIs(t, err, context.DeadlineExceeded, what)
	}
	for _, m := range left {
		failsWithNoLeader("write on "+m.Name, func(ctx context.Context) error {
			_, err := m.Server().RegisterJob(ctx, batchJob("no-quorum"))
			return err
		})
		failsWithNoLeader("consistent read on "+m.Name, func(ctx context.Context) error {
			_, err := m.Server().Job(ctx, "", "with-three-"+m.Name)
			return err
		})

		// A stale read still answers from local state.
		j, err := m.Server().Job(drover.AllowStale(ctx), "", "with-three-"+m.Name)
		require.NoError(t, err)
		require.Equal(t, "with-three-"+m.Name, j.Id)
	}

	// One comes back: quorum again, and everything works.
	require.NoError(t, others[1].Start())
	c.WaitLeader(30 * time.Second)
	for _, m := range c.Running() {
		require.NoError(t, registerRetrying(ctx, m.Server(), batchJob("healed-"+m.Name)))
		for _, id := range []string{"with-three-" + left[0].Name, "healed-" + m.Name} {
			_, err := m.Server().Job(ctx, "", id)
			require.NoError(t, err, "%s reads %s", m.Name, id)
		}
	}
}

func TestCrashRestartOfEveryServerMidLoadLosesNoAcknowledgedWrite(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Servers: 3})
	c.WaitLeader(30 * time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
	)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				running := c.Running()
				if len(running) == 0 {
					continue
				}
				srv := running[(w+i)%len(running)].Server()
				if srv == nil {
					continue
				}
				id := fmt.Sprintf("w%d-%d", w, i)
				wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
				_, err := srv.RegisterJob(wctx, batchJob(id))
				wcancel()
				if err == nil {
					mu.Lock()
					acked = append(acked, id)
					mu.Unlock()
				}
			}
		}()
	}
	ackedCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	harness.Eventually(t, 30*time.Second, "writes to flow", func() bool { return ackedCount() > 200 })

	// Every server crashes at once, in the middle of the load.
	var stop sync.WaitGroup
	for _, m := range c.Members() {
		stop.Add(1)
		go func() {
			defer stop.Done()
			m.Stop()
		}()
	}
	stop.Wait()
	cancel()
	wg.Wait()
	mu.Lock()
	want := append([]string(nil), acked...)
	mu.Unlock()

	for _, m := range c.Members() {
		require.NoError(t, m.Start())
	}
	c.WaitLeader(30 * time.Second)
	rctx, rcancel := context.WithTimeout(context.Background(), time.Minute)
	defer rcancel()
	for _, m := range c.Members() {
		jobs, err := m.Server().Jobs(rctx, "", "")
		require.NoError(t, err)
		have := map[string]bool{}
		for _, j := range jobs {
			have[j.Id] = true
		}
		missing := 0
		for _, id := range want {
			if !have[id] {
				missing++
			}
		}
		require.Zero(t, missing, "%s lost %d of %d acknowledged writes", m.Name, missing, len(want))
	}
	t.Logf("%d acknowledged writes survived", len(want))
}
