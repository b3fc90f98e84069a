package multihost

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"
)

// The fault suite's cluster: servers that run no client and clients that
// run no server, each in a container of its own, as an operator would
// lay out a production cluster. Every agent reads the image's base file
// and a file of its own that turns the other role off.

// Heartbeat settings of the fault suite's servers, short so that a lost
// client is noticed in seconds: a client is marked down at most
// clientTTL+heartbeatGrace after its last heartbeat (failoverTTL after an
// election), and its work is then placed elsewhere.
const (
	clientTTL      = 5 * time.Second
	heartbeatGrace = 5 * time.Second
	failoverTTL    = 15 * time.Second
)

// advertiseConfig pins the addresses an agent gives others to its
// cluster network's: it has a second, the test's control network.
func advertiseConfig(ip string) string {
	return fmt.Sprintf(`advertise {
  http = "%[1]s:4646"
  rpc  = "%[1]s:4647"
  serf = "%[1]s:4648"
}
`, ip)
}

// faultServerConfig is a server-only agent's own file.
func faultServerConfig(name, ip string, expect int, join []string) string {
	return advertiseConfig(ip) + fmt.Sprintf(`name = %q

server {
  bootstrap_expect       = %d
  min_heartbeat_ttl      = %q
  heartbeat_grace        = %q
  failover_heartbeat_ttl = %q

  server_join {
    retry_join     = ["%s"]
    retry_interval = "1s"
  }
}

client {
  enabled = false
}
`, name, expect, clientTTL, heartbeatGrace, failoverTTL, strings.Join(join, `", "`))
}

// faultClientConfig is a client-only agent's own file, listing the
// servers' RPC addresses.
func faultClientConfig(name, ip string, servers []string) string {
	return advertiseConfig(ip) + fmt.Sprintf(`name = %q

server {
  enabled = false
}

client {
  enabled = true
  servers = ["%s"]
}
`, name, strings.Join(servers, `", "`))
}

// faultCluster is the servers (the embedded cluster's agents) and the
// client-only agents of one scenario, and what the scenario has done to
// each of them. The agents talk to each other on one private network,
// the cluster network, the faults cut; each container also has an address
// on a second network, the control network, through which the test alone
// reaches the HTTP API, so that it can still ask a server cut off from
// the others (the agents never learn these addresses).
type faultCluster struct {
	*cluster
	clients []*agent
	net     *network
	control *network

	mu sync.Mutex
	// out says why an agent is out of service (killed, paused, cut off);
	// an agent not in it is live.
	out map[*agent]string
}

// newFaultCluster starts servers server-only agents and clients
// client-only agents on a network of their own and waits until the
// servers form a cluster and every client is a ready node.
func newFaultCluster(t *testing.T, fx *fixture, scenario string, servers, clients int) *faultCluster {
	t.Helper()
	return newFaultClusterWith(t, fx, scenario, servers, clients, nil)
}

// newFaultClusterWith is newFaultCluster with some agents' data dirs
// mounted from host directories (agent name → host directory).
func newFaultClusterWith(t *testing.T, fx *fixture, scenario string, servers, clients int, dataDirs map[string]string) *faultCluster {
	t.Helper()
	base := fx.prefix + "-" + scenario
	n := newNetwork(t, base, fx.prefix)
	ctl := newNetwork(t, base+"-ctl", fx.prefix)
	var serverIPs, rpcAddrs []string
	for i := range servers {
		ip := n.addr(11 + i)
		serverIPs = append(serverIPs, ip)
		rpcAddrs = append(rpcAddrs, net.JoinHostPort(ip, rpcPort))
	}
	fc := &faultCluster{cluster: &cluster{t: t}, net: n, control: ctl, out: map[*agent]string{}}
	dir := t.TempDir()
	ctlIPs := 0
	add := func(name, ip, cfg string) *agent {
		cfgDir := filepath.Join(dir, name)
		if err := os.Mkdir(cfgDir, 0o755); err != nil {
			t.Fatal(err)
		}
		file := writeFile(t, cfgDir, "10-node.hcl", cfg)
		var flags []string
		if dir, ok := dataDirs[name]; ok {
			flags = []string{"--mount", "type=bind,source=" + dir + ",target=/data"}
		}
		ct := createContainerWith(t, fx.prefix, base+"-"+name, fx.image, n, ip, flags, map[string]string{file: "/etc/drover.d/"})
		ctlIP := ctl.addr(11 + ctlIPs)
		ctlIPs++
		mustDocker(t, "network", "connect", "--ip", ctlIP, ctl.name, ct.name)
		return &agent{container: ct, node: name, api: newLoadAPI(t, ctlIP)}
	}
	for i, ip := range serverIPs {
		name := fmt.Sprintf("s%d", i+1)
		fc.agents = append(fc.agents, add(name, ip, faultServerConfig(name, ip, servers, serverIPs)))
	}
	for i := range clients {
		name := fmt.Sprintf("c%d", i+1)
		ip := n.addr(31 + i)
		fc.clients = append(fc.clients, add(name, ip, faultClientConfig(name, ip, rpcAddrs)))
	}
	for _, a := range append(append([]*agent(nil), fc.agents...), fc.clients...) {
		a.start(t)
	}
	fc.waitHealthy(formDeadline)
	return fc
}

// newLoadAPI is Nomad's Go client for the agent at ip with short
// timeouts: a call to a killed, paused or cut-off agent ends within
// seconds, as the load generator needs.
func newLoadAPI(t testing.TB, ip string) *nomad.Client {
	t.Helper()
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		ResponseHeaderTimeout: 12 * time.Second,
		MaxIdleConnsPerHost:   8,
	}
	t.Cleanup(tr.CloseIdleConnections)
	c, err := nomad.NewClient(&nomad.Config{
		Address:    "http://" + net.JoinHostPort(ip, httpPort),
		HttpClient: &http.Client{Transport: tr, Timeout: 15 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitHealthy waits until the live servers agree on a leader whose raft
// configuration lists every server as a voter, and every live client is a
// ready node; it returns the leader.
func (fc *faultCluster) waitHealthy(timeout time.Duration) *agent {
	fc.t.Helper()
	var leader *agent
	waitFor(fc.t, timeout, "the servers to agree on a leader", func() error {
		var err error
		leader, err = fc.agreedLeader(fc.liveServers(), "")
		return err
	})
	waitFor(fc.t, timeout, fmt.Sprintf("the raft configuration to list %d voters", len(fc.agents)), func() error {
		cfg, err := leader.api.Operator().RaftGetConfiguration(nil)
		if err != nil {
			return err
		}
		if v := voters(cfg); len(v) != len(fc.agents) {
			return fmt.Errorf("voters %v", v)
		}
		return nil
	})
	live := fc.liveClients()
	waitFor(fc.t, timeout, fmt.Sprintf("%d ready client nodes", len(live)), func() error {
		nodes, _, err := leader.api.Nodes().List(nil)
		if err != nil {
			return err
		}
		status := map[string]string{}
		for _, n := range nodes {
			status[n.Name] = n.Status
		}
		for _, c := range live {
			if status[c.node] != "ready" {
				return fmt.Errorf("nodes %v", status)
			}
		}
		return nil
	})
	return leader
}

// setOut marks a out of service for why, or back in service when why is "".
func (fc *faultCluster) setOut(a *agent, why string) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if why == "" {
		delete(fc.out, a)
	} else {
		fc.out[a] = why
	}
}

func (fc *faultCluster) isLive(a *agent) bool {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	_, out := fc.out[a]
	return !out
}

func (fc *faultCluster) live(among []*agent) []*agent {
	var out []*agent
	for _, a := range among {
		if fc.isLive(a) {
			out = append(out, a)
		}
	}
	return out
}

func (fc *faultCluster) liveServers() []*agent { return fc.live(fc.agents) }
func (fc *faultCluster) liveClients() []*agent { return fc.live(fc.clients) }

// anyServer is a server picked at random, live or not: what a client of
// the cluster holding a list of server addresses does.
func (fc *faultCluster) anyServer(rng *rand.Rand) *agent {
	return fc.agents[rng.IntN(len(fc.agents))]
}

// currentLeader is the leader the live servers agree on.
func (fc *faultCluster) currentLeader() *agent {
	fc.t.Helper()
	var l *agent
	waitFor(fc.t, stepDeadline, "the live servers to agree on a leader", func() error {
		var err error
		l, err = fc.agreedLeader(fc.liveServers(), "")
		return err
	})
	return l
}

// The faults. Each marks the agent out of service first, so the
// invariants never count on it while the fault holds, and back in service
// after the fault is healed.

// sigkill kills a's container: SIGKILL to the agent and its tasks.
func (fc *faultCluster) sigkill(a *agent) {
	fc.setOut(a, "killed")
	a.kill(fc.t)
}

// restart starts a killed container again on its data.
func (fc *faultCluster) restart(a *agent) {
	a.start(fc.t)
	fc.setOut(a, "")
}

// cut disconnects a from the network; heal puts it back at its address.
func (fc *faultCluster) cut(a *agent) {
	fc.setOut(a, "cut off")
	a.disconnect(fc.t)
}

func (fc *faultCluster) heal(a *agent) {
	a.connect(fc.t)
	fc.setOut(a, "")
}

// stopGracefully stops a's container with SIGTERM (and SIGKILL after the
// timeout), as a rolling restart does.
func (fc *faultCluster) stopGracefully(a *agent) {
	fc.setOut(a, "restarting")
	mustDocker(fc.t, "stop", "--time", "10", a.name)
}
