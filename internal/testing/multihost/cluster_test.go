package multihost

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"
)

const (
	// httpPort and rpcPort are the agent's default ports, which every
	// container keeps: each has an address of its own.
	httpPort = "4646"
	rpcPort  = "4647"
	// formDeadline bounds the wait for a cluster to form, and
	// stepDeadline each later wait of a scenario (an election, a
	// rejoin, allocations starting).
	formDeadline = 60 * time.Second
	stepDeadline = 45 * time.Second
)

// baseConfig is what every agent of the tests reads first: a server and a
// client in one agent, on all of the container's addresses, with
// raw_exec to run the sleeper.
const baseConfig = `data_dir  = "/data"
bind_addr = "0.0.0.0"
log_level = "INFO"

server {
  enabled          = true
  bootstrap_expect = 3
}

client {
  enabled = true
}

plugin "raw_exec" {
  config {
    enabled = true
  }
}
`

// nodeConfig names one agent and lists the gossip addresses it joins.
func nodeConfig(name string, join []string) string {
	return fmt.Sprintf(`name = %q

server {
  server_join {
    retry_join     = ["%s"]
    retry_interval = "1s"
  }
}
`, name, strings.Join(join, `", "`))
}

// fixture is what the scenarios of one run share: the run's prefix and
// the agent image.
type fixture struct {
	prefix string
	image  string
}

// newFixture builds the agent and the sleeper as static binaries and an
// image holding them, or skips the test when Docker is not there.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	arch := requireDocker(t)
	removeStale(t)
	fx := &fixture{prefix: runPrefix(t)}
	fx.image = fx.prefix + ":test"
	dir := t.TempDir()
	agentBin, sleeperBin := filepath.Join(dir, "drover-agent"), filepath.Join(dir, "sleeper")
	goBuild(t, arch, agentBin, "github.com/droverhq/drover/examples/agent")
	goBuild(t, arch, sleeperBin, "./testdata/sleeper")
	buildImage(t, fx.image, fx.prefix, []string{"/bin/drover-agent", "-config", "/etc/drover.d"}, []imageFile{
		{path: "/bin/", mode: 0o755},
		{path: "/bin/drover-agent", mode: 0o755, from: agentBin},
		{path: "/bin/sleeper", mode: 0o755, from: sleeperBin},
		{path: "/etc/", mode: 0o755},
		{path: "/etc/drover.d/", mode: 0o755},
		{path: "/etc/drover.d/00-base.hcl", mode: 0o644, data: baseConfig},
		{path: "/data/", mode: 0o700},
		{path: "/tmp/", mode: 0o1777},
	})
	requireRoutable(t, fx)
	return fx
}

// requireRoutable skips the test when this host cannot reach containers
// at their own addresses (rootless Docker, an engine inside a VM): it runs
// one agent in -dev mode on all of its container's addresses, on the
// engine's default bridge network, and dials its HTTP port.
func requireRoutable(t *testing.T, fx *fixture) {
	t.Helper()
	name := fx.prefix + "-probe"
	run := append([]string{"run", "-d", "--name", name, "--entrypoint", "/bin/drover-agent"}, labels(fx.prefix)...)
	mustDocker(t, append(run, fx.image, "-dev", "-bind", "0.0.0.0")...)
	defer func() {
		if _, err := docker("rm", "-f", "-v", name); err != nil {
			t.Errorf("removing the probe container: %v", err)
		}
	}()
	ip := mustDocker(t, "inspect", "--type", "container", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name)
	addr := net.JoinHostPort(ip, httpPort)
	deadline := time.Now().Add(20 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = conn.Close()
			return
		}
		if running := mustDocker(t, "inspect", "--type", "container", "--format", "{{.State.Running}}", name); running != "true" {
			logs, _ := dockerCombined("logs", "--tail", "50", name)
			t.Fatalf("the agent in the probe container stopped:\n%s", logs)
		}
		if time.Now().After(deadline) {
			t.Skipf("this host cannot reach containers at their addresses (%s: %v); the multi-host tests need an engine "+
				"whose bridge networks the host routes to, as a rootful Docker engine on Linux", addr, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// agent is one agent (server and client) in its own container.
type agent struct {
	*container
	// node is the agent's name: its node name and its server name.
	node string
	api  *nomad.Client
}

// rpcAddr is the address the agent's server advertises.
func (a *agent) rpcAddr() string { return net.JoinHostPort(a.ip, rpcPort) }

// cluster is three agents on one private network.
type cluster struct {
	t      *testing.T
	agents []*agent
}

// newCluster starts three agents on a network of their own, each joining
// the others' addresses through server_join, and waits until they form
// one cluster and their clients are ready.
func newCluster(t *testing.T, fx *fixture, scenario string) *cluster {
	t.Helper()
	base := fx.prefix + "-" + scenario
	n := newNetwork(t, base, fx.prefix)
	var ips []string
	for i := range 3 {
		ips = append(ips, n.addr(11+i))
	}
	c := &cluster{t: t}
	dir := t.TempDir()
	for i, ip := range ips {
		node := fmt.Sprintf("s%d", i+1)
		// Copied in as /etc/drover.d/10-node.hcl, read after the base file.
		cfgDir := filepath.Join(dir, node)
		if err := os.Mkdir(cfgDir, 0o755); err != nil {
			t.Fatal(err)
		}
		cfg := writeFile(t, cfgDir, "10-node.hcl", nodeConfig(node, ips))
		ct := createContainer(t, fx.prefix, base+"-"+node, fx.image, n, ip, map[string]string{cfg: "/etc/drover.d/"})
		c.agents = append(c.agents, &agent{container: ct, node: node, api: newAPI(t, ip)})
	}
	for _, a := range c.agents {
		a.start(t)
	}
	c.waitFormed()
	return c
}

// newAPI is Nomad's Go client for the agent at ip, with dial and request
// timeouts so that a call to a killed or cut-off container fails fast.
func newAPI(t *testing.T, ip string) *nomad.Client {
	t.Helper()
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		ResponseHeaderTimeout: 20 * time.Second,
	}
	t.Cleanup(tr.CloseIdleConnections)
	c, err := nomad.NewClient(&nomad.Config{
		Address:    "http://" + net.JoinHostPort(ip, httpPort),
		HttpClient: &http.Client{Transport: tr, Timeout: 30 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitFor polls cond until it returns nil; past the deadline the test
// fails with what cond last reported.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %v", timeout, what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitFormed waits until every agent knows the same leader, the leader's
// raft configuration has all three servers as voters and all three
// clients are ready nodes.
func (c *cluster) waitFormed() {
	c.t.Helper()
	var leader *agent
	waitFor(c.t, formDeadline, "three servers to form a cluster", func() error {
		var err error
		leader, err = c.agreedLeader(c.agents, "")
		return err
	})
	waitFor(c.t, formDeadline, "the raft configuration to list three voters", func() error {
		cfg, err := leader.api.Operator().RaftGetConfiguration(nil)
		if err != nil {
			return err
		}
		if v := voters(cfg); len(v) != 3 {
			return fmt.Errorf("voters %v", v)
		}
		return nil
	})
	waitFor(c.t, formDeadline, "three ready nodes", func() error {
		nodes, _, err := leader.api.Nodes().List(nil)
		if err != nil {
			return err
		}
		ready := 0
		for _, n := range nodes {
			if n.Status == "ready" {
				ready++
			}
		}
		if ready != 3 {
			return fmt.Errorf("%d of %d nodes ready", ready, len(nodes))
		}
		return nil
	})
}

// agreedLeader returns the agent that every agent of among reports as
// leader, when they agree on one other than not and it is among them.
func (c *cluster) agreedLeader(among []*agent, not string) (*agent, error) {
	var addr string
	for _, a := range among {
		l, err := a.api.Status().Leader()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a.node, err)
		}
		switch {
		case l == "":
			return nil, fmt.Errorf("%s knows no leader", a.node)
		case l == not:
			return nil, fmt.Errorf("%s still reports %s", a.node, l)
		case addr != "" && l != addr:
			return nil, fmt.Errorf("%s reports %s, another %s", a.node, l, addr)
		}
		addr = l
	}
	for _, a := range among {
		if a.rpcAddr() == addr {
			return a, nil
		}
	}
	return nil, fmt.Errorf("leader %s is none of the agents asked", addr)
}

// leader is the agent every agent reports as leader.
func (c *cluster) leader() *agent {
	c.t.Helper()
	var l *agent
	waitFor(c.t, stepDeadline, "agreement on the leader", func() error {
		var err error
		l, err = c.agreedLeader(c.agents, "")
		return err
	})
	return l
}

// others are the agents other than a.
func (c *cluster) others(a *agent) []*agent {
	var out []*agent
	for _, b := range c.agents {
		if b != a {
			out = append(out, b)
		}
	}
	return out
}

// voters lists the addresses of the voting servers of a raft
// configuration, sorted.
func voters(cfg *nomad.RaftConfiguration) []string {
	var out []string
	for _, s := range cfg.Servers {
		if s.Voter {
			out = append(out, s.Address)
		}
	}
	slices.Sort(out)
	return out
}

// members lists a raft configuration's servers as id@address (voter or
// not), sorted: what must not change when nobody joins or leaves.
func members(cfg *nomad.RaftConfiguration) []string {
	var out []string
	for _, s := range cfg.Servers {
		out = append(out, fmt.Sprintf("%s@%s voter=%t", s.ID, s.Address, s.Voter))
	}
	slices.Sort(out)
	return out
}

// raftLeader is the raft id of the server a configuration marks leader.
func raftLeader(cfg *nomad.RaftConfiguration) string {
	for _, s := range cfg.Servers {
		if s.Leader {
			return s.ID
		}
	}
	return ""
}

// raftID is the raft id a configuration gives the server at addr.
func raftID(cfg *nomad.RaftConfiguration, addr string) string {
	for _, s := range cfg.Servers {
		if s.Address == addr {
			return s.ID
		}
	}
	return ""
}

// leaderChanges reads the agent's count of leader changes it has seen
// (a new leader, or none) from /v1/metrics.
func (a *agent) leaderChanges(t testing.TB) float64 {
	t.Helper()
	m, _, err := a.api.Operator().MetricsSummary(nil)
	if err != nil {
		t.Fatalf("%s: metrics: %v", a.node, err)
	}
	for _, c := range m.Counters {
		if c.Name == "drover_raft_leader_changes_total" && c.AggregateSample != nil {
			return c.Sum
		}
	}
	t.Fatalf("%s: no drover_raft_leader_changes_total in /v1/metrics", a.node)
	return 0
}

// memberStatus is the gossip status a sees for the server named node.
func (a *agent) memberStatus(node string) (string, error) {
	m, err := a.api.Agent().Members()
	if err != nil {
		return "", err
	}
	for _, mem := range m.Members {
		if mem.Name == node+".global" {
			return mem.Status, nil
		}
	}
	return "", fmt.Errorf("%s is not in %s's gossip pool", node, a.node)
}

// sleeperJob is a service job of count sleepers, one per node, run with
// raw_exec; with nodes, only on the nodes of those names.
func sleeperJob(id string, count int, nodes ...string) *nomad.Job {
	job := nomad.NewServiceJob(id, id, "global", 50)
	job.Datacenters = []string{"dc1"}
	task := nomad.NewTask("sleeper", "raw_exec").SetConfig("command", "/bin/sleeper").
		Require(&nomad.Resources{CPU: ptr(20), MemoryMB: ptr(16)})
	tg := nomad.NewTaskGroup("sleepers", count).AddTask(task).
		Constrain(&nomad.Constraint{Operand: "distinct_hosts", RTarget: "true"})
	if len(nodes) > 0 {
		tg.Constrain(nomad.NewConstraint("${node.unique.name}", "regexp", "^("+strings.Join(nodes, "|")+")$"))
	}
	return job.AddTaskGroup(tg)
}

// waitRunning long-polls the job's allocations through a, with blocking
// queries, until n of them run, each on another node; it returns them.
func waitRunning(t testing.TB, a *agent, jobID string, n int) []*nomad.AllocationListStub {
	t.Helper()
	var running []*nomad.AllocationListStub
	var index uint64
	waitFor(t, stepDeadline, fmt.Sprintf("%d running allocations of %s on distinct nodes", n, jobID), func() error {
		allocs, meta, err := a.api.Jobs().Allocations(jobID, false, &nomad.QueryOptions{WaitIndex: index, WaitTime: 2 * time.Second})
		if err != nil {
			index = 0
			return err
		}
		index = meta.LastIndex
		running = running[:0]
		nodes := map[string]bool{}
		var states []string
		for _, al := range allocs {
			states = append(states, al.NodeName+":"+al.ClientStatus)
			if al.ClientStatus == "running" && al.DesiredStatus == "run" && !nodes[al.NodeID] {
				nodes[al.NodeID] = true
				running = append(running, al)
			}
		}
		if len(running) != n {
			return fmt.Errorf("allocations %v", states)
		}
		return nil
	})
	return running
}

// nodeNames are the names of the nodes the allocations are on, sorted.
func nodeNames(allocs []*nomad.AllocationListStub) []string {
	var out []string
	for _, a := range allocs {
		out = append(out, a.NodeName)
	}
	slices.Sort(out)
	return out
}

func names(agents []*agent) []string {
	var out []string
	for _, a := range agents {
		out = append(out, a.node)
	}
	slices.Sort(out)
	return out
}

// staleJobIndex reads the job from a's own state, without asking the
// leader, and returns the index of that state: what a has applied.
func (a *agent) staleJobIndex(jobID string) (uint64, error) {
	_, meta, err := a.api.Jobs().Info(jobID, &nomad.QueryOptions{AllowStale: true})
	if err != nil {
		return 0, err
	}
	return meta.LastIndex, nil
}

func ptr[T any](v T) *T { return &v }
