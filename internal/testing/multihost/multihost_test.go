package multihost

import (
	"fmt"
	"slices"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"

	"github.com/droverhq/drover/internal/testing/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

// TestAgentsOnSeparateHosts runs the reference agent in containers of
// their own, each with its own address on a private Docker network, and
// drives the cluster through the HTTP API with Nomad's Go client. The
// binaries and the image are built once; each scenario gets a network
// and three containers of its own.
func TestAgentsOnSeparateHosts(t *testing.T) {
	fx := newFixture(t)
	t.Run("FormAndRunAJob", func(t *testing.T) { testFormAndRunAJob(t, fx) })
	t.Run("KillTheLeader", func(t *testing.T) { testKillTheLeader(t, fx) })
	t.Run("PartitionAFollower", func(t *testing.T) { testPartitionAFollower(t, fx) })
}

// testFormAndRunAJob: three agents that know each other's addresses only
// through server_join form one raft cluster, every server agrees on its
// membership, and a job's allocations run on all three hosts.
func testFormAndRunAJob(t *testing.T, fx *fixture) {
	c := newCluster(t, fx, "form")
	var want []string
	for _, a := range c.agents {
		want = append(want, a.rpcAddr())
	}
	slices.Sort(want)

	leader := c.leader()
	for _, a := range c.agents {
		peers, err := a.api.Status().Peers()
		if err != nil {
			t.Fatalf("%s: peers: %v", a.node, err)
		}
		slices.Sort(peers)
		if !slices.Equal(peers, want) {
			t.Errorf("%s: peers %v, want the containers' addresses %v", a.node, peers, want)
		}
		cfg, err := a.api.Operator().RaftGetConfiguration(nil)
		if err != nil {
			t.Fatalf("%s: raft configuration: %v", a.node, err)
		}
		if got := voters(cfg); !slices.Equal(got, want) {
			t.Errorf("%s: voters %v, want %v", a.node, got, want)
		}
		if raftLeader(cfg) != raftID(cfg, leader.rpcAddr()) {
			t.Errorf("%s: raft configuration marks %s leader, /v1/status/leader says %s", a.node, raftLeader(cfg), leader.rpcAddr())
		}
		for _, b := range c.agents {
			if st, err := a.memberStatus(b.node); err != nil || st != "alive" {
				t.Errorf("%s sees %s in the gossip pool as %q (%v), want alive", a.node, b.node, st, err)
			}
		}
	}

	nodes, _, err := leader.api.Nodes().List(nil)
	if err != nil {
		t.Fatal(err)
	}
	addrs := map[string]string{}
	for _, n := range nodes {
		addrs[n.Name] = n.Address
		if d := n.Drivers["raw_exec"]; d == nil || !d.Detected || !d.Healthy {
			t.Errorf("node %s: raw_exec not detected and healthy: %+v", n.Name, d)
		}
	}
	for _, a := range c.agents {
		if addrs[a.node] != a.ip {
			t.Errorf("node %s has address %q, want its container's %s", a.node, addrs[a.node], a.ip)
		}
	}

	// Registered through a follower, which forwards the write.
	follower := c.others(leader)[0]
	resp, wm, err := follower.api.Jobs().Register(sleeperJob("sleepers", 3), nil)
	if err != nil {
		t.Fatalf("register through %s: %v", follower.node, err)
	}
	if resp.EvalID == "" || wm.LastIndex == 0 {
		t.Fatalf("register answered %+v, index %d", resp, wm.LastIndex)
	}
	running := waitRunning(t, follower, "sleepers", 3)
	if got := nodeNames(running); !slices.Equal(got, names(c.agents)) {
		t.Errorf("allocations on %v, want one on each of %v", got, names(c.agents))
	}
	alloc, _, err := c.agents[2].api.Allocations().Info(running[0].ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ts := alloc.TaskStates["sleeper"]; ts == nil || ts.State != "running" {
		t.Errorf("task state %+v, want running", ts)
	}
}

// testKillTheLeader: the leader's container is killed; the other two
// elect a new leader and keep taking writes; the killed server, started
// again on its data, rejoins as the same raft server and catches up.
func testKillTheLeader(t *testing.T, fx *fixture) {
	c := newCluster(t, fx, "kill")
	if _, _, err := c.agents[0].api.Jobs().Register(sleeperJob("before", 3), nil); err != nil {
		t.Fatal(err)
	}
	waitRunning(t, c.agents[0], "before", 3)

	old := c.leader()
	cfg, err := old.api.Operator().RaftGetConfiguration(nil)
	if err != nil {
		t.Fatal(err)
	}
	oldID := raftID(cfg, old.rpcAddr())
	killed := time.Now()
	old.kill(t)

	survivors := c.others(old)
	var leader *agent
	waitFor(t, stepDeadline, "the two survivors to elect a new leader", func() error {
		var err error
		leader, err = c.agreedLeader(survivors, old.rpcAddr())
		return err
	})
	cfg, err = leader.api.Operator().RaftGetConfiguration(nil)
	if err != nil {
		t.Fatal(err)
	}
	if raftLeader(cfg) != raftID(cfg, leader.rpcAddr()) || len(voters(cfg)) != 3 {
		t.Errorf("after the election: %+v, want %s leading three voters", cfg.Servers, leader.node)
	}

	// Writes continue: through the surviving follower, placed on the
	// surviving hosts.
	var follower *agent
	for _, a := range survivors {
		if a != leader {
			follower = a
		}
	}
	_, wm, err := follower.api.Jobs().Register(sleeperJob("after", 2, names(survivors)...), nil)
	if err != nil {
		t.Fatalf("register with the leader killed: %v", err)
	}
	waitRunning(t, leader, "after", 2)

	old.start(t)
	waitFor(t, stepDeadline, "the restarted server to follow the new leader", func() error {
		l, err := old.api.Status().Leader()
		if err != nil {
			return err
		}
		if l != leader.rpcAddr() {
			return fmt.Errorf("it reports leader %q, want %s", l, leader.rpcAddr())
		}
		return nil
	})
	waitFor(t, stepDeadline, "the restarted server to catch up", func() error {
		idx, err := old.staleJobIndex("after")
		if err != nil {
			return err
		}
		if idx < wm.LastIndex {
			return fmt.Errorf("it has applied up to %d, the job was written at %d", idx, wm.LastIndex)
		}
		return nil
	})
	cfg, err = old.api.Operator().RaftGetConfiguration(&nomad.QueryOptions{AllowStale: true})
	if err != nil {
		t.Fatal(err)
	}
	if id := raftID(cfg, old.rpcAddr()); id != oldID {
		t.Errorf("restarted server has raft id %q, want its old %q", id, oldID)
	}
	if raftLeader(cfg) != raftID(cfg, leader.rpcAddr()) || len(voters(cfg)) != 3 {
		t.Errorf("restarted server's view: %+v, want %s leading three voters", cfg.Servers, leader.node)
	}
	waitFor(t, stepDeadline, "the new leader to see the restarted server alive", func() error {
		st, err := leader.memberStatus(old.node)
		if err == nil && st != "alive" {
			err = fmt.Errorf("status %q", st)
		}
		return err
	})
	// The restarted client finds its task gone with the killed container
	// and runs it again: its share of the first job runs once more.
	waitFor(t, stepDeadline, "the restarted client to run its task again", func() error {
		allocs, _, err := leader.api.Jobs().Allocations("before", false, nil)
		if err != nil {
			return err
		}
		for _, stub := range allocs {
			if stub.NodeName != old.node || stub.DesiredStatus != "run" {
				continue
			}
			al, _, err := leader.api.Allocations().Info(stub.ID, nil)
			if err != nil {
				return err
			}
			ts := al.TaskStates["sleeper"]
			if ts == nil || ts.State != "running" || !ts.StartedAt.After(killed) {
				return fmt.Errorf("task state %+v, want running since after the kill at %s", ts, killed)
			}
			for _, ev := range ts.Events {
				if ev.Type == "Failed Restoring Task" {
					return nil
				}
			}
			return fmt.Errorf("no %q event in %+v", "Failed Restoring Task", ts.Events)
		}
		return fmt.Errorf("no allocation of the first job wanted on %s", old.node)
	})
	if got := nodeNames(waitRunning(t, leader, "before", 3)); !slices.Equal(got, names(c.agents)) {
		t.Errorf("first job runs on %v, want %v", got, names(c.agents))
	}
}

// testPartitionAFollower: a follower cut off from the network and put back
// does not depose the leader that kept the quorum (pre-vote, check-quorum):
// the same server leads, nobody but the cut-off server saw a leader
// change, the raft peer set did not change, and the returning server catches
// up with what was written meanwhile.
func testPartitionAFollower(t *testing.T, fx *fixture) {
	c := newCluster(t, fx, "part")
	leader := c.leader()
	cut, healthy := c.others(leader)[0], c.others(leader)[1]
	before, err := leader.api.Operator().RaftGetConfiguration(nil)
	if err != nil {
		t.Fatal(err)
	}
	changes := map[*agent]float64{}
	for _, a := range c.agents {
		changes[a] = a.leaderChanges(t)
	}

	cut.disconnect(t)
	// The leader's gossip declares the server failed only after several
	// missed probes, seconds after the cut server's first election timeout.
	waitFor(t, stepDeadline, "the leader to see the cut-off server failed", func() error {
		st, err := leader.memberStatus(cut.node)
		if err == nil && st != "failed" {
			err = fmt.Errorf("status %q", st)
		}
		return err
	})
	_, wm, err := healthy.api.Jobs().Register(sleeperJob("during", 1, leader.node), nil)
	if err != nil {
		t.Fatalf("register during the partition: %v", err)
	}

	cut.connect(t)
	waitFor(t, stepDeadline, "the returning server to follow the same leader and catch up", func() error {
		l, err := cut.api.Status().Leader()
		if err != nil {
			return err
		}
		if l != leader.rpcAddr() {
			return fmt.Errorf("it reports leader %q, want %s", l, leader.rpcAddr())
		}
		idx, err := cut.staleJobIndex("during")
		if err != nil {
			return err
		}
		if idx < wm.LastIndex {
			return fmt.Errorf("it has applied up to %d, the job was written at %d", idx, wm.LastIndex)
		}
		return nil
	})
	waitFor(t, stepDeadline, "the leader to see the returning server alive", func() error {
		st, err := leader.memberStatus(cut.node)
		if err == nil && st != "alive" {
			err = fmt.Errorf("status %q", st)
		}
		return err
	})

	if now, err := c.agreedLeader(c.agents, ""); err != nil || now != leader {
		t.Errorf("after the partition the leader is %v (%v), want %s still", now, err, leader.node)
	}
	for _, a := range c.agents {
		after, err := a.api.Operator().RaftGetConfiguration(&nomad.QueryOptions{AllowStale: true})
		if err != nil {
			t.Fatal(err)
		}
		if raftLeader(after) != raftLeader(before) || !slices.Equal(members(after), members(before)) {
			t.Errorf("%s: raft configuration %v led by %s, want %v led by %s as before",
				a.node, members(after), raftLeader(after), members(before), raftLeader(before))
		}
	}
	// The leader was never deposed, not even for a moment: neither it
	// nor the healthy follower saw a leader change. The cut-off server
	// did (it lost its leader), which shows the partition took effect.
	for _, a := range []*agent{leader, healthy} {
		if got := a.leaderChanges(t); got != changes[a] {
			t.Errorf("%s saw %v leader changes during the partition, want none", a.node, got-changes[a])
		}
	}
	if got := cut.leaderChanges(t); got <= changes[cut] {
		t.Errorf("the cut-off server saw no leader change (%v): was it cut off?", got)
	}
}
