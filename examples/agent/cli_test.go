package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/droverhq/drover/internal/testing/harness"
	nomad "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/require"
)

// An agent whose server cannot join anyone within retry_max attempts
// stops with an error that says so.
func TestAgentRetryMaxStopsTheAgentWithAClearError(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "agent.hcl")
	require.NoError(t, os.WriteFile(cfg, []byte(`
data_dir  = "`+filepath.Join(t.TempDir(), "data")+`"
bind_addr = "127.0.0.1"
ports {
  http = 0
  rpc  = 0
  serf = 0
}
server {
  enabled          = true
  bootstrap_expect = 3
  server_join {
    retry_join     = ["127.0.0.1:1"]
    retry_max      = 2
    retry_interval = "50ms"
  }
}
`), 0o600))
	var stdout, stderr syncBuffer
	exit := make(chan int, 1)
	go func() { exit <- run([]string{"-config", cfg}, &stdout, &stderr, make(chan os.Signal, 1)) }()
	select {
	case code := <-exit:
		require.Equal(t, 1, code)
	case <-time.After(60 * time.Second):
		t.Fatal("the agent kept running after retry_max attempts")
	}
	require.Contains(t, stderr.String(), "server_join: joined none of [127.0.0.1:1] after 2 attempts")
}

// The agent serves what the nomad CLI asks of a client agent, and its log
// to nomad monitor; a reload applies the raft snapshot settings.
func TestAgentServesTheNomadCLI(t *testing.T) {
	a := startAgent(t, `
data_dir  = "`+filepath.Join(t.TempDir(), "data")+`"
bind_addr = "127.0.0.1"
ports {
  http = 0
  rpc  = 0
  serf = 0
}
server {
  enabled          = true
  bootstrap_expect = 1
}
client { enabled = true }
`)
	c, err := nomad.NewClient(&nomad.Config{Address: "http://" + a.httpAddr})
	require.NoError(t, err)
	var self *nomad.AgentSelf
	harness.Eventually(t, 30*time.Second, "the node id in agent self", func() bool {
		self, err = c.Agent().Self()
		return err == nil && self.Stats["client"]["node_id"] != ""
	})
	nodeID := self.Stats["client"]["node_id"]
	harness.Eventually(t, 30*time.Second, "the node to register", func() bool {
		_, _, err := c.Nodes().Info(nodeID, nil)
		return err == nil
	})
	servers, err := c.Agent().Servers()
	require.NoError(t, err)
	require.Equal(t, []string{a.rpcAddr}, servers)

	stop := make(chan struct{})
	defer close(stop)
	frames, errs := c.Agent().Monitor(stop, &nomad.QueryOptions{Params: map[string]string{"log_level": "info"}})
	// A reload logs at info level, and so reaches the monitor (whose
	// subscription is in place once Monitor returned).
	src, err := os.ReadFile(a.configFile)
	require.NoError(t, err)
	src = []byte(strings.Replace(string(src), "bootstrap_expect = 1", "bootstrap_expect = 1\n  raft_snapshot_threshold = 4096\n  raft_trailing_logs = 2048", 1))
	require.NoError(t, os.WriteFile(a.configFile, src, 0o600))
	a.signals <- syscall.SIGHUP
	deadline := time.After(30 * time.Second)
	var seen strings.Builder
	for !strings.Contains(seen.String(), "raft snapshot settings reloaded") {
		select {
		case fr := <-frames:
			seen.Write(fr.Data)
		case err := <-errs:
			t.Fatal(err)
		case <-deadline:
			t.Fatalf("no reload in the monitor: %s", seen.String())
		}
	}
	require.Contains(t, seen.String(), "raft_snapshot_threshold=4096")
	require.NotContains(t, a.stderr.String(), "take effect only after a restart")
}
