package multihost

import (
	"fmt"
	"strings"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"
)

// Server faults beyond a leader killed or isolated: a flapping partition,
// rolling restarts, a paused server, a cluster losing its quorum.

// testFlappingPartition: under load, a follower is cut off and put back
// every few seconds for a minute. The cluster keeps taking writes
// throughout; at the end the follower has caught up.
func testFlappingPartition(t *testing.T, fx *fixture) {
	fc := newFaultCluster(t, fx, "s3", 3, 3)
	l := startLoad(t, fc, "s3", loadOptions{})
	dw := watchDuplicates(t, fc, "s3")
	l.waitWrites(t, time.Now(), 10, "the load to get ten writes through")

	leader := fc.currentLeader()
	flapper := fc.others(leader)[0]
	before := leader.leaderChanges(t)
	const period, span = 3 * time.Second, time.Minute
	flaps := 0
	for end := time.Now().Add(span); time.Now().Before(end); flaps++ {
		fc.cut(flapper)
		l.mark(fmt.Sprintf("flap %d: %s cut off", flaps+1, flapper.node))
		time.Sleep(period) // the fault's own duration, not a wait for a state
		l.mark(fmt.Sprintf("flap %d: %s back", flaps+1, flapper.node))
		fc.heal(flapper)
		time.Sleep(period)
	}
	now := fc.waitHealthy(stepDeadline)
	t.Logf("%d flaps of %s; leader %s before, %s after; the first leader saw %v leader changes",
		flaps, flapper.node, leader.node, now.node, leader.leaderChanges(t)-before)
	waitCaughtUp(t, fc, flapper)
	l.waitWrites(t, time.Now(), 10, "writes after the flapping")
	l.finish(t, "3 flapping partition")
	dw.check(t)
}

// waitCaughtUp waits until a's own state (a stale read) is as new as the
// leader's at the time of the call.
func waitCaughtUp(t *testing.T, fc *faultCluster, a *agent) {
	t.Helper()
	leader := fc.currentLeader()
	_, meta, err := leader.api.Jobs().List(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := meta.LastIndex
	waitFor(t, stepDeadline, a.node+" to catch up with the leader", func() error {
		_, m, err := a.api.Jobs().List(&nomad.QueryOptions{AllowStale: true})
		if err != nil {
			return err
		}
		if m.LastIndex < want {
			return fmt.Errorf("it has applied up to %d, the leader %d", m.LastIndex, want)
		}
		return nil
	})
}

// testRollingRestart: under load, every server is stopped (SIGTERM) and
// started again, one at a time, twice over; before the next one goes,
// the cluster is whole again.
func testRollingRestart(t *testing.T, fx *fixture) {
	fc := newFaultCluster(t, fx, "s4", 3, 3)
	l := startLoad(t, fc, "s4", loadOptions{})
	dw := watchDuplicates(t, fc, "s4")
	l.waitWrites(t, time.Now(), 10, "the load to get ten writes through")
	for round := range 2 {
		for _, a := range fc.agents {
			stopped := time.Now()
			fc.stopGracefully(a)
			l.mark(fmt.Sprintf("round %d: %s stopped", round+1, a.node))
			l.waitWriteAfter(t, stopped, "a write with "+a.node+" stopped")
			fc.restart(a)
			fc.waitHealthy(stepDeadline)
			waitCaughtUp(t, fc, a)
			t.Logf("round %d: %s restarted and caught up in %.1fs", round+1, a.node, time.Since(stopped).Seconds())
		}
	}
	l.waitWrites(t, time.Now(), 10, "writes after the restarts")
	l.finish(t, "4 rolling restart x2")
	dw.check(t)
}

// signal sends sig to the agent, the container's first process.
func (fc *faultCluster) signal(a *agent, sig string) {
	fc.t.Helper()
	mustDocker(fc.t, "kill", "--signal", sig, a.name)
}

// testPausedLeader: under load, the leader is stopped with SIGSTOP for
// well past the election timeout while the others elect a leader and take
// a write; woken with SIGCONT, it must not act as leader on its stale
// state: a consistent read through it straight away sees the write made
// while it slept (or fails), never the value before, and it follows the
// new leader.
func testPausedLeader(t *testing.T, fx *fixture) {
	fc := newFaultCluster(t, fx, "s8", 3, 3)
	l := startLoad(t, fc, "s8", loadOptions{})
	dw := watchDuplicates(t, fc, "s8")
	l.waitWrites(t, time.Now(), 10, "the load to get ten writes through")

	old := fc.currentLeader()
	const marker = "s8-marker"
	if _, _, err := old.api.Jobs().Register(loadJob(marker, "before"), nil); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	fc.setOut(old, "paused")
	fc.signal(old, "SIGSTOP")
	l.mark("leader " + old.node + " paused")
	var leader *agent
	waitFor(t, stepDeadline, "the others to elect a new leader", func() error {
		var err error
		leader, err = fc.agreedLeader(fc.others(old), old.rpcAddr())
		return err
	})
	if _, _, err := leader.api.Jobs().Register(loadJob(marker, "while-paused"), nil); err != nil {
		t.Fatal(err)
	}
	l.waitWrites(t, time.Now(), 5, "writes while the old leader sleeps")
	// Well past the election timeout: the sleeper's leader lease, if it
	// had one, is long over.
	if d := 10*time.Second - time.Since(paused); d > 0 {
		time.Sleep(d) // the fault's own duration
	}
	l.mark("old leader " + old.node + " woken")
	fc.signal(old, "SIGCONT")
	fc.setOut(old, "")
	woke := time.Now()
	j, _, err := old.api.Jobs().Info(marker, nil)
	switch {
	case err != nil:
		t.Logf("a consistent read through the woken server right away: %v (after %.1fs)", err, time.Since(woke).Seconds())
	case j.Meta["v"] != "while-paused":
		t.Errorf("the woken server answered a consistent read with %q, its state from before the pause", j.Meta["v"])
	default:
		t.Logf("a consistent read through the woken server right away saw the write made while it slept (after %.1fs)", time.Since(woke).Seconds())
	}
	waitFor(t, stepDeadline, "the woken server to follow "+leader.node, func() error {
		if l, err := old.api.Status().Leader(); err != nil || l != leader.rpcAddr() {
			return fmt.Errorf("it reports %q (%v)", l, err)
		}
		return nil
	})
	t.Logf("%s paused for %.1fs, follows %s %.1fs after waking", old.node, woke.Sub(paused).Seconds(), leader.node, time.Since(woke).Seconds())
	fc.waitHealthy(stepDeadline)
	l.waitWrites(t, time.Now(), 10, "writes after the wake-up")
	l.finish(t, "8 leader paused (SIGSTOP) and woken")
	dw.check(t)
}

// testQuorumLost: five servers, under load, lose two (the leader among
// them) and keep taking writes; losing a third, writes stop with a clear
// error; the three back, writes resume and nothing acknowledged is lost.
func testQuorumLost(t *testing.T, fx *fixture) {
	fc := newFaultCluster(t, fx, "s5", 5, 3)
	l := startLoad(t, fc, "s5", loadOptions{})
	dw := watchDuplicates(t, fc, "s5")
	l.waitWrites(t, time.Now(), 10, "the load to get ten writes through")

	leader := fc.currentLeader()
	lost := []*agent{leader}
	for _, a := range fc.others(leader) {
		if len(lost) < 3 {
			lost = append(lost, a)
		}
	}
	fc.sigkill(lost[0])
	fc.sigkill(lost[1])
	killed := time.Now()
	l.mark("two servers killed")
	fc.currentLeader()
	l.waitWriteAfter(t, killed, "a write with two of five servers lost")
	t.Logf("%s and %s killed: writes resumed after %.1fs", lost[0].node, lost[1].node, l.firstWriteAfter(killed).Sub(killed).Seconds())

	fc.sigkill(lost[2])
	l.markOutage("a third server killed")
	noQuorum := time.Now()
	survivor := fc.liveServers()[0]
	start := time.Now()
	_, _, refusal := survivor.api.Jobs().Register(loadJob("s5-no-quorum", "x"), nil)
	if refusal == nil {
		t.Fatalf("a write through %s was acknowledged with three of five servers lost", survivor.node)
	}
	t.Logf("a write with two of five servers left: %v (after %.1fs)", refusal, time.Since(start).Seconds())
	if !strings.Contains(refusal.Error(), "503") || !strings.Contains(refusal.Error(), "leader") {
		t.Errorf("refused with %q, want a 503 naming the missing leader", refusal)
	}
	if _, _, err := survivor.api.Jobs().Info("s5-0", nil); err == nil {
		t.Error("a consistent read was answered without a quorum")
	}
	// The load sees only refusals now.
	time.Sleep(5 * time.Second) // hold the fault: it is the scenario
	if first := l.firstWriteAfter(noQuorum); !first.IsZero() {
		t.Errorf("a write invoked after the quorum was lost was acknowledged at %s", first.Format("15:04:05.000"))
	}

	back := time.Now()
	l.mark("three servers back")
	for _, a := range lost {
		fc.restart(a)
	}
	fc.waitHealthy(stepDeadline)
	l.waitWriteAfter(t, back, "a write after the servers came back")
	t.Logf("writes resumed %.1fs after the three servers were started again", l.firstWriteAfter(back).Sub(back).Seconds())
	for _, a := range lost {
		waitCaughtUp(t, fc, a)
	}
	// A refusal that says nothing was proposed must leave no trace; one
	// that says leadership was lost mid-write may yet take effect.
	if _, _, err := fc.currentLeader().api.Jobs().Info("s5-no-quorum", nil); classify(refusal) == failed && !isNotFound(err) {
		t.Errorf("the write refused without a quorum: %v, want no such job", err)
	}
	l.waitWrites(t, time.Now(), 10, "writes after the recovery")
	l.finish(t, "5 five servers lose two, then three")
	dw.check(t)
}
