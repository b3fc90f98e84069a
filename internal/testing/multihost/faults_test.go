package multihost

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	nomad "github.com/hashicorp/nomad/api"

	"github.com/droverhq/drover/internal/testing/linmodel"
)

// faultsEnv selects the fault suite's scenarios: "quick" (1, 2 and 6),
// "all", or scenario numbers separated by commas. Unset, TestFaults skips:
// the suite takes minutes and is run by make test-multihost(-quick).
const faultsEnv = "DROVER_FAULTS"

// scenario is one fault scenario of the suite.
type scenario struct {
	id   int
	name string
	run  func(t *testing.T, fx *fixture)
	// budget is what the scenario should take, cluster start-up
	// included, logged next to what it took. Its bound is every wait's
	// deadline: a scenario never waits for a state without one.
	budget time.Duration
}

var scenarios = []scenario{
	{1, "LeaderKilledFiveTimes", testLeaderKilledFiveTimes, 4 * time.Minute},
	{2, "LeaderIsolated", testLeaderIsolated, 3 * time.Minute},
	{3, "FlappingPartition", testFlappingPartition, 3 * time.Minute},
	{4, "RollingRestartTwice", testRollingRestart, 4 * time.Minute},
	{5, "FiveServersLoseQuorum", testQuorumLost, 3 * time.Minute},
	{6, "ClientKilledAndRestarted", testClientKilledAndRestarted, 3 * time.Minute},
	{7, "ClientPartitions", testClientPartitions, 4 * time.Minute},
	{8, "LeaderPausedAndWoken", testPausedLeader, 3 * time.Minute},
	{9, "ServerDiskFull", testDiskFull, 3 * time.Minute},
}

// selectedScenarios reads faultsEnv.
func selectedScenarios(t *testing.T) map[int]bool {
	v := strings.TrimSpace(os.Getenv(faultsEnv))
	switch v {
	case "":
		t.Skipf("the fault suite runs for minutes: set %s=quick (scenarios 1, 2, 6), %s=all or %s=1,3 "+
			"(or run make test-multihost)", faultsEnv, faultsEnv, faultsEnv)
	case "quick":
		return map[int]bool{1: true, 2: true, 6: true}
	case "all":
		all := map[int]bool{}
		for _, s := range scenarios {
			all[s.id] = true
		}
		return all
	}
	out := map[int]bool{}
	for _, f := range strings.Split(v, ",") {
		var id int
		if _, err := fmt.Sscanf(strings.TrimSpace(f), "%d", &id); err != nil {
			t.Fatalf("%s=%q: want quick, all or scenario numbers separated by commas", faultsEnv, v)
		}
		out[id] = true
	}
	return out
}

// TestFaults is the fault suite: each scenario starts servers and
// client-only agents in containers of their own, runs the load generator
// through a fault, heals it, and checks that nothing acknowledged was lost
// (linmodel.Durable), that the history is linearizable (porcupine) and
// that no count-1 job ran twice (duplicateWatch). See docs/testing.md.
func TestFaults(t *testing.T) {
	which := selectedScenarios(t)
	fx := newFixture(t)
	for _, s := range scenarios {
		if !which[s.id] {
			continue
		}
		t.Run(fmt.Sprintf("%d-%s", s.id, s.name), func(t *testing.T) {
			start := time.Now()
			s.run(t, fx)
			took := time.Since(start)
			over := ""
			if took > s.budget {
				over = ", OVER BUDGET"
			}
			t.Logf("scenario %d took %.0fs (budget %s%s; %s)", s.id, took.Seconds(), s.budget, over, loadNote())
		})
	}
}

// waitWriteAfter waits until the load has a write acknowledged after at.
func (l *load) waitWriteAfter(t *testing.T, at time.Time, what string) {
	t.Helper()
	l.waitWrites(t, at, 1, what)
}

// waitWrites waits until the load has n writes invoked after at
// acknowledged.
func (l *load) waitWrites(t *testing.T, at time.Time, n int, what string) {
	t.Helper()
	waitFor(t, stepDeadline, what, func() error {
		l.mu.Lock()
		defer l.mu.Unlock()
		got := 0
		for _, call := range l.writeOKCall {
			if call.After(at) {
				got++
			}
		}
		if got < n {
			return fmt.Errorf("%d writes invoked since %s acknowledged", got, at.Format("15:04:05.000"))
		}
		return nil
	})
}

// testLeaderKilledFiveTimes: under load, the leader's container is
// killed (SIGKILL) five times in a row; each time the two others elect a
// new leader and writes resume, and the killed server is started again on
// its data before the next kill.
func testLeaderKilledFiveTimes(t *testing.T, fx *fixture) {
	fc := newFaultCluster(t, fx, "s1", 3, 3)
	l := startLoad(t, fc, "s1", loadOptions{})
	dw := watchDuplicates(t, fc, "s1")
	l.waitWrites(t, time.Now(), 10, "the load to get ten writes through")

	for i := range 5 {
		old := fc.currentLeader()
		fc.sigkill(old)
		killed := time.Now()
		l.mark(fmt.Sprintf("kill %d of the leader %s", i+1, old.node))
		var leader *agent
		waitFor(t, stepDeadline, "the survivors to elect a new leader", func() error {
			var err error
			leader, err = fc.agreedLeader(fc.liveServers(), old.rpcAddr())
			return err
		})
		elected := time.Since(killed)
		l.waitWriteAfter(t, killed, "a write acknowledged after the kill")
		t.Logf("kill %d: %s killed, %s elected after %.1fs, writes resumed after %.1fs",
			i+1, old.node, leader.node, elected.Seconds(), l.firstWriteAfter(killed).Sub(killed).Seconds())
		fc.restart(old)
		fc.waitHealthy(stepDeadline)
		waitFor(t, stepDeadline, old.node+" to follow "+leader.node+" again", func() error {
			l, err := old.api.Status().Leader()
			if err == nil && l == "" {
				err = fmt.Errorf("it knows no leader")
			}
			return err
		})
	}
	l.waitWrites(t, time.Now(), 10, "writes after the last restart")
	l.finish(t, "1 leader SIGKILL x5")
	dw.check(t)
}

// testLeaderIsolated: under load, the leader is cut off from both
// followers (the test still reaches its HTTP API on the control network).
// The followers elect a new leader and keep taking writes; the isolated
// server refuses writes and consistent reads with a clear error, and
// answers only the reads that ask for stale data, with its stale state —
// which porcupine, fed that read as if it were a consistent one, rejects.
// Healed, it follows the new leader and has what was written meanwhile.
func testLeaderIsolated(t *testing.T, fx *fixture) {
	fc := newFaultCluster(t, fx, "s2", 3, 3)
	l := startLoad(t, fc, "s2", loadOptions{})
	dw := watchDuplicates(t, fc, "s2")
	l.waitWrites(t, time.Now(), 10, "the load to get ten writes through")

	old := fc.currentLeader()
	majority := fc.others(old)
	// A job written before the cut, seen by every server.
	marker := linmodel.NewHistory()
	const markerJob = "s2-marker"
	register := func(via *agent, value string) {
		t.Helper()
		in := linmodel.Input{Kind: linmodel.Register, Key: markerJob, Value: value}
		call := time.Now()
		if _, _, err := via.api.Jobs().Register(loadJob(markerJob, value), nil); err != nil {
			t.Fatalf("register %s=%s through %s: %v", markerJob, value, via.node, err)
		}
		marker.Record(0, in, call, time.Now(), linmodel.Output{})
	}
	register(old, "before")
	waitFor(t, stepDeadline, "every server to have the marker job", func() error {
		for _, a := range fc.agents {
			j, _, err := a.api.Jobs().Info(markerJob, &nomad.QueryOptions{AllowStale: true})
			if err != nil {
				return fmt.Errorf("%s: %w", a.node, err)
			}
			if j.Meta["v"] != "before" {
				return fmt.Errorf("%s has %q", a.node, j.Meta["v"])
			}
		}
		return nil
	})

	cut := time.Now()
	fc.cut(old)
	l.mark("leader " + old.node + " isolated")
	var leader *agent
	waitFor(t, stepDeadline, "the majority to elect a new leader", func() error {
		var err error
		leader, err = fc.agreedLeader(majority, old.rpcAddr())
		return err
	})
	t.Logf("%s isolated; %s elected after %.1fs", old.node, leader.node, time.Since(cut).Seconds())
	l.waitWrites(t, time.Now(), 5, "the majority to take writes")
	register(majority[0], "during")

	// The minority side: writes refused with a clear error; no
	// consistent read; a stale read only when asked, and stale.
	start := time.Now()
	_, _, err := old.api.Jobs().Register(loadJob("s2-minority", "x"), nil)
	t.Logf("a write to the isolated server: %v (after %.1fs)", err, time.Since(start).Seconds())
	if err == nil {
		t.Fatal("the isolated server acknowledged a write")
	}
	if !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "leader") {
		t.Errorf("the isolated server refused a write with %q, want a 503 naming the missing leader", err)
	}
	start = time.Now()
	_, _, err = old.api.Jobs().Info(markerJob, nil)
	t.Logf("a consistent read from the isolated server: %v (after %.1fs)", err, time.Since(start).Seconds())
	if err == nil {
		t.Error("the isolated server answered a consistent read without a quorum")
	} else if !strings.Contains(err.Error(), "503") {
		t.Errorf("the isolated server refused a consistent read with %q, want a 503", err)
	}
	call := time.Now()
	j, _, err := old.api.Jobs().Info(markerJob, &nomad.QueryOptions{AllowStale: true})
	if err != nil {
		t.Fatalf("a stale read from the isolated server: %v", err)
	}
	if j.Meta["v"] != "before" {
		t.Errorf("the isolated server's stale state has %q, want the value from before the cut", j.Meta["v"])
	}
	// The injected bug: that stale read recorded as a consistent one.
	staleRead := marker.Operation(9, linmodel.Input{Kind: linmodel.Read, Key: markerJob}, call, time.Now(), linmodel.Output{Value: j.Meta["v"]})
	checkStaleReadCaught(t, marker, staleRead)

	healed := time.Now()
	l.mark("leader " + old.node + " healed")
	fc.heal(old)
	fc.waitHealthy(stepDeadline)
	waitFor(t, stepDeadline, "the healed server to follow "+leader.node+" and have the marker's new value", func() error {
		if l, err := old.api.Status().Leader(); err != nil || l != leader.rpcAddr() {
			return fmt.Errorf("it reports leader %q (%v), want %s", l, err, leader.rpcAddr())
		}
		j, _, err := old.api.Jobs().Info(markerJob, &nomad.QueryOptions{AllowStale: true})
		if err != nil {
			return err
		}
		if j.Meta["v"] != "during" {
			return fmt.Errorf("it has %q", j.Meta["v"])
		}
		return nil
	})
	t.Logf("%s back in %.1fs", old.node, time.Since(healed).Seconds())
	if _, _, err := old.api.Jobs().Info("s2-minority", &nomad.QueryOptions{AllowStale: true}); !isNotFound(err) {
		t.Errorf("the write refused during the isolation: %v, want no such job", err)
	}
	l.waitWrites(t, time.Now(), 10, "writes after the heal")
	l.finish(t, "2 leader isolated")
	dw.check(t)
}

// checkStaleReadCaught shows porcupine catches a stale read: the marker's
// history with staleRead (invoked after a later write was acknowledged)
// is rejected, and the same history without it accepted.
func checkStaleReadCaught(t *testing.T, marker *linmodel.History, staleRead porcupine.Operation) {
	t.Helper()
	ops := marker.Operations()
	if res := linmodel.Check(t, ops, time.Minute); res != porcupine.Ok {
		t.Errorf("the marker's own history is not linearizable (%v)", res)
	}
	if porcupine.CheckOperations(linmodel.Model, append(slices.Clone(ops), staleRead)) {
		t.Errorf("porcupine accepted a stale read (%s, after a later write was acknowledged): the check cannot fail",
			linmodel.Model.DescribeOperation(staleRead.Input, staleRead.Output))
	} else {
		t.Logf("porcupine rejects the history with the isolated server's stale read (%s) passed off as consistent, as it must",
			linmodel.Model.DescribeOperation(staleRead.Input, staleRead.Output))
	}
}
