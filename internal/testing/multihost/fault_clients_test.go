package multihost

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"
)

// Client faults: a client host killed and restarted, a client cut off
// from the servers for less and for more than its heartbeat TTL.

// testClientKilledAndRestarted: under load, the client running the most
// of a few pinned count-1 jobs is killed; its allocations are replaced on
// the other clients within the heartbeat TTL plus scheduling time. Started
// again, it does not run the replaced allocations again: they are
// stopped, each job runs once.
func testClientKilledAndRestarted(t *testing.T, fx *fixture) {
	fc := newFaultCluster(t, fx, "s6", 3, 3)
	l := startLoad(t, fc, "s6-load", loadOptions{})
	dw := watchDuplicates(t, fc, "s6")
	leader := fc.currentLeader()
	var pinned []string
	for i := range 3 {
		id := fmt.Sprintf("s6-pinned-%d", i)
		pinned = append(pinned, id)
		if _, _, err := leader.api.Jobs().Register(loadJob(id, "pinned"), nil); err != nil {
			t.Fatal(err)
		}
	}
	where := map[string]string{} // job → node
	for _, id := range pinned {
		where[id] = nodeNames(waitRunning(t, leader, id, 1))[0]
	}
	perNode := map[string]int{}
	for _, n := range where {
		perNode[n]++
	}
	var victim *agent
	for _, c := range fc.clients {
		if victim == nil || perNode[c.node] > perNode[victim.node] {
			victim = c
		}
	}
	var moved []string
	for id, n := range where {
		if n == victim.node {
			moved = append(moved, id)
		}
	}
	slices.Sort(moved)

	killed := time.Now()
	fc.sigkill(victim)
	l.mark("client " + victim.node + " killed")
	// The bound: the node's TTL (the minimum, up to twice it as the
	// leader spreads TTLs; the failover TTL if an election came first is
	// not expected here) plus the grace, plus scheduling and start-up.
	bound := 2*clientTTL + heartbeatGrace + 15*time.Second
	waitFor(t, bound, fmt.Sprintf("%v to run on other clients", moved), func() error {
		for _, id := range moved {
			on, err := runningOn(leader, id)
			if err != nil {
				return err
			}
			nodes := nodesOf(on)
			if len(nodes) != 1 || nodes[0] == victim.node {
				return fmt.Errorf("%s runs on %v", id, nodes)
			}
		}
		return nil
	})
	replaced := time.Since(killed)
	t.Logf("%s killed; %v replaced on other clients after %.1fs (bound %s)", victim.node, moved, replaced.Seconds(), bound)
	node, _, err := leader.api.Nodes().Info(nodeID(t, leader, victim.node), nil)
	if err != nil {
		t.Fatal(err)
	}
	if node.Status != "down" {
		t.Errorf("the killed client's node is %q, want down", node.Status)
	}

	restarted := time.Now()
	l.mark("client " + victim.node + " restarted")
	fc.restart(victim)
	fc.waitHealthy(stepDeadline)
	t.Logf("%s ready again after %.1fs", victim.node, time.Since(restarted).Seconds())
	// Give the restarted client time to act on what it restored, then
	// check it runs none of the replaced allocations, as the servers see
	// it and in its container.
	waitFor(t, stepDeadline, "the restarted client's stale allocations to be stopped", func() error {
		allocs, _, err := leader.api.Nodes().Allocations(nodeID(t, leader, victim.node), nil)
		if err != nil {
			return err
		}
		for _, a := range allocs {
			if slices.Contains(moved, a.JobID) && (a.ClientStatus == "running" || a.ClientStatus == "pending") {
				return fmt.Errorf("allocation %s of %s is %s/%s on %s", a.ID[:8], a.JobID, a.DesiredStatus, a.ClientStatus, victim.node)
			}
		}
		procs, err := sleepers(victim)
		if err != nil {
			return err
		}
		for _, id := range moved {
			if len(procs[id]) > 0 {
				return fmt.Errorf("%s runs %s in its container", victim.node, id)
			}
		}
		return nil
	})
	for _, id := range pinned {
		if on := waitRunning(t, leader, id, 1); len(on) != 1 {
			t.Errorf("%s runs %d allocations", id, len(on))
		}
	}
	l.waitWrites(t, time.Now(), 10, "writes after the restart")
	l.finish(t, "6 client killed and restarted")
	t.Logf("FIGURES 6 client killed and restarted: allocations replaced after %.1fs", replaced.Seconds())
	dw.check(t)
}

// nodeID is the id of the node named name.
func nodeID(t *testing.T, a *agent, name string) string {
	t.Helper()
	nodes, _, err := a.api.Nodes().List(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.Name == name {
			return n.ID
		}
	}
	t.Fatalf("no node named %s", name)
	return ""
}

// healClient puts a cut-off client back on the network. It counts as a
// live node again, for the invariants, once the servers hold its node
// ready and it runs none of the allocations replaced while it was away:
// it learns of those only when it asks the servers again, after its node
// is ready. How long that takes is returned and is a figure of the
// scenario; it must be within stepDeadline.
func (fc *faultCluster) healClient(a *agent, leader *agent) (ready, synced time.Duration) {
	fc.t.Helper()
	start := time.Now()
	a.connect(fc.t)
	id := nodeID(fc.t, leader, a.node)
	waitFor(fc.t, stepDeadline, a.node+" to be a ready node again", func() error {
		n, _, err := leader.api.Nodes().Info(id, nil)
		if err != nil {
			return err
		}
		if n.Status != "ready" {
			return fmt.Errorf("it is %s", n.Status)
		}
		return nil
	})
	ready = time.Since(start)
	waitFor(fc.t, stepDeadline, a.node+" to stop the allocations replaced while it was away", func() error {
		allocs, _, err := leader.api.Nodes().Allocations(id, nil)
		if err != nil {
			return err
		}
		wanted := map[string]bool{}
		for _, al := range allocs {
			if al.DesiredStatus == "run" {
				wanted[al.ID[:8]] = true
			}
		}
		procs, err := sleepers(a)
		if err != nil {
			return err
		}
		for job, ids := range procs {
			for _, alloc := range ids {
				if !wanted[alloc] {
					return fmt.Errorf("it still runs %s of %s", alloc, job)
				}
			}
		}
		return nil
	})
	fc.setOut(a, "")
	return ready, time.Since(start) - ready
}

// setEligible makes the named clients' nodes eligible or not for new work.
func setEligible(t *testing.T, leader *agent, eligible bool, clients ...*agent) {
	t.Helper()
	for _, c := range clients {
		if _, err := leader.api.Nodes().ToggleEligibility(nodeID(t, leader, c.node), eligible, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// runningAllocs maps each of the jobs to the ids of its allocations that
// run (desired run, client running) and the nodes they run on.
func runningAllocs(a *agent, jobs ...string) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	for _, job := range jobs {
		allocs, _, err := a.api.Jobs().Allocations(job, false, nil)
		if err != nil {
			return nil, err
		}
		out[job] = map[string]string{}
		for _, al := range allocs {
			if al.DesiredStatus == "run" && al.ClientStatus == "running" {
				out[job][al.ID] = al.NodeName
			}
		}
	}
	return out, nil
}

// testClientPartitions: under load, a client running two count-1 jobs,
// one of them with max_client_disconnect, is cut off from the servers:
//
//   - for less than its heartbeat grace (shorter than its TTL): its node
//     never leaves ready, both jobs keep their allocations, the tasks run
//     on;
//   - for longer than its TTL: its node goes down (disconnected for the
//     group with a window) and both jobs are replaced on other clients;
//     back on the network, the plain job's old allocation is stopped
//     there, and the job with the window keeps its original and stops the
//     replacement instead. Each job runs once.
func testClientPartitions(t *testing.T, fx *fixture) {
	fc := newFaultCluster(t, fx, "s7", 3, 3)
	l := startLoad(t, fc, "s7-load", loadOptions{})
	dw := watchDuplicates(t, fc, "s7")
	leader := fc.currentLeader()
	victim, others := fc.clients[0], fc.clients[1:]

	// Both jobs on the victim: the others take no new work meanwhile.
	setEligible(t, leader, false, others...)
	const plain, keep = "s7-plain", "s7-keep"
	window := 2 * time.Minute
	keepJob := loadJob(keep, "keep")
	// max_client_disconnect, in the spelling Nomad's client now uses.
	keepJob.TaskGroups[0].Disconnect = &nomad.DisconnectStrategy{LostAfter: &window}
	for _, job := range []*nomad.Job{loadJob(plain, "plain"), keepJob} {
		if _, _, err := leader.api.Jobs().Register(job, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{plain, keep} {
		if on := nodeNames(waitRunning(t, leader, id, 1)); on[0] != victim.node {
			t.Fatalf("%s runs on %v, want %s", id, on, victim.node)
		}
	}
	setEligible(t, leader, true, others...)
	before, err := runningAllocs(leader, plain, keep)
	if err != nil {
		t.Fatal(err)
	}
	l.waitWrites(t, time.Now(), 10, "the load to get ten writes through")
	victimID := nodeID(t, leader, victim.node)

	// Short: under the grace, which is all a cut just before a heartbeat
	// leaves (a client heartbeats once per TTL, the leader waits TTL plus
	// grace, a failed heartbeat is retried every second).
	short := heartbeatGrace - 3*time.Second
	fc.cut(victim)
	l.mark("client " + victim.node + " cut off briefly")
	time.Sleep(short) // the fault's own duration
	fc.heal(victim)
	// Watch for as long as the longest TTL plus grace: the node stays
	// ready and nothing moves.
	watchUntil := time.Now().Add(2*clientTTL + heartbeatGrace)
	for time.Now().Before(watchUntil) {
		n, _, err := leader.api.Nodes().Info(victimID, nil)
		if err == nil && n.Status != "ready" {
			t.Fatalf("%s cut off for %s (under its TTL) is %s", victim.node, short, n.Status)
		}
		now, err := runningAllocs(leader, plain, keep)
		if err == nil && !mapsEqual(now, before) {
			t.Fatalf("after a cut of %s the jobs run %v, before %v", short, now, before)
		}
		time.Sleep(500 * time.Millisecond) // sampling a state that must hold
	}
	procs, err := sleepers(victim)
	if err != nil {
		t.Fatal(err)
	}
	for job, allocs := range before {
		for id := range allocs {
			if !slices.Contains(procs[job], id[:8]) {
				t.Errorf("after the short cut %s's task %s no longer runs on %s (%v)", job, id[:8], victim.node, procs)
			}
		}
	}
	t.Logf("%s cut off for %.1fs: still ready, both jobs kept their allocations and tasks", victim.node, short.Seconds())

	// Long: until both jobs are replaced.
	cut := time.Now()
	fc.cut(victim)
	l.mark("client " + victim.node + " cut off past its TTL")
	var during map[string]map[string]string
	waitFor(t, 2*clientTTL+heartbeatGrace+30*time.Second, "both jobs to be replaced on other clients", func() error {
		var err error
		if during, err = runningAllocs(leader, plain, keep); err != nil {
			return err
		}
		for _, job := range []string{plain, keep} {
			if len(during[job]) != 1 || slices.Contains(mapValues(during[job]), victim.node) {
				return fmt.Errorf("%s runs %v", job, during[job])
			}
		}
		return nil
	})
	replaced := time.Since(cut)
	n, _, err := leader.api.Nodes().Info(victimID, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s cut off: its node is %s; both jobs replaced after %.1fs: %v", victim.node, n.Status, replaced.Seconds(), during)
	if n.Status != "down" && n.Status != "disconnected" {
		t.Errorf("the cut-off client's node is %s, want down or disconnected", n.Status)
	}
	// The tasks still run on the cut-off host: nobody told it otherwise.
	if procs, err := sleepers(victim); err == nil {
		t.Logf("on the cut-off host meanwhile: %v", procs)
	}

	healed := time.Now()
	l.mark("client " + victim.node + " back")
	readyAfter, syncedAfter := fc.healClient(victim, leader)
	t.Logf("%s back: ready %.1fs after the heal, and running none of its replaced allocations %.1fs after that",
		victim.node, readyAfter.Seconds(), syncedAfter.Seconds())
	var originalKeep string
	for id := range before[keep] {
		originalKeep = id
	}
	waitFor(t, stepDeadline, "the plain job's old copy to stop and the windowed job to keep its original", func() error {
		now, err := runningAllocs(leader, plain, keep)
		if err != nil {
			return err
		}
		if len(now[plain]) != 1 || slices.Contains(mapValues(now[plain]), victim.node) {
			return fmt.Errorf("%s runs %v", plain, now[plain])
		}
		if len(now[keep]) != 1 || now[keep][originalKeep] != victim.node {
			return fmt.Errorf("%s runs %v, want only its original %s on %s", keep, now[keep], originalKeep[:8], victim.node)
		}
		procs, err := sleepers(victim)
		if err != nil {
			return err
		}
		if len(procs[plain]) != 0 {
			return fmt.Errorf("%s still runs %s's old task %v", victim.node, plain, procs[plain])
		}
		for _, c := range others {
			p, err := sleepers(c)
			if err != nil {
				return err
			}
			if len(p[keep]) != 0 {
				return fmt.Errorf("%s still runs %s's replacement %v", c.node, keep, p[keep])
			}
		}
		return nil
	})
	t.Logf("FIGURES 7 client partitions: replaced after %.1fs of a cut; back, the node was ready after %.1fs, its replaced copies stopped %.1fs after that, "+
		"the windowed job settled %.1fs after the heal", replaced.Seconds(), readyAfter.Seconds(), syncedAfter.Seconds(), time.Since(healed).Seconds())
	l.waitWrites(t, time.Now(), 10, "writes after the heal")
	l.finish(t, "7 client partitions")
	dw.check(t)
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func mapsEqual(a, b map[string]map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !maps.Equal(v, b[k]) {
			return false
		}
	}
	return true
}
