package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/internal/testing/harness"
)

func TestServerDataDirTakesTheNestedOneOfEarlierVersionsOnlyWhenAlone(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	data := t.TempDir()
	earlier := filepath.Join(data, "server")

	require.Equal(t, data, serverDataDir(logger, data, earlier), "a new agent")
	require.NoError(t, os.MkdirAll(earlier, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(earlier, "raft.db"), nil, 0o600))
	require.Equal(t, data, serverDataDir(logger, data, earlier), "data at the new place")
	require.Empty(t, logs.String())

	require.NoError(t, os.Remove(filepath.Join(earlier, "raft.db")))
	require.NoError(t, os.MkdirAll(filepath.Join(earlier, "server"), 0o700))
	require.Equal(t, earlier, serverDataDir(logger, data, earlier), "only the nested directory of earlier versions")
	require.Contains(t, logs.String(), "nested directory of earlier versions")
	require.Equal(t, "/srv/x", serverDataDir(logger, "/srv/x", ""), "server.data_dir is used as given")

	require.NoError(t, os.WriteFile(filepath.Join(earlier, "raft.db"), nil, 0o600))
	require.Equal(t, data, serverDataDir(logger, data, earlier), "both: the new place wins")
}

const serverOnlyAgent = `
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
`

func TestAgentKeepsTheServersDataInOneDirectory(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	a := startAgent(t, `data_dir = "`+data+`"`+serverOnlyAgent)
	waitLeader(t, a)
	a.stop(t)
	require.FileExists(t, filepath.Join(data, "server", "raft.db"))
	require.NoDirExists(t, filepath.Join(data, "server", "server"))
	require.NotContains(t, a.stderr.String(), "earlier versions")
}

func TestAgentRunsOnTheServerDataEarlierVersionsNested(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	// Earlier agents gave the server <data_dir>/server as its data dir.
	old := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(data, "server")})
	ctx, cancel := context.WithTimeout(context.Background(), harness.Deadline)
	defer cancel()
	_, err := old.RegisterJob(ctx, &drover.Job{
		Id: "kept", Type: drover.JobTypeBatch,
		TaskGroups: []*drover.TaskGroup{{Name: "g", Count: 1, Tasks: []*drover.Task{{
			Name: "t", Driver: "raw_exec", Config: drover.TaskConfig(map[string]any{"command": "/bin/true"}),
			Resources: &drover.Resources{CpuMhz: 10, MemoryMb: 16},
		}}}},
	})
	require.NoError(t, err)
	harness.Shutdown(t, old)
	require.FileExists(t, filepath.Join(data, "server", "server", "raft.db"))

	a := startAgent(t, `data_dir = "`+data+`"`+serverOnlyAgent)
	c := waitLeader(t, a)
	job, _, err := c.Jobs().Info("kept", nil)
	require.NoError(t, err, "the state the server had before the upgrade")
	require.Equal(t, "kept", *job.ID)
	require.Contains(t, a.stderr.String(), "nested directory of earlier versions")
	a.stop(t)
	require.NoFileExists(t, filepath.Join(data, "server", "raft.db"), "nothing was started at the new place")
}

// waitLeader waits until the agent's server has a leader and returns a
// Nomad client of its HTTP API.
func waitLeader(t *testing.T, a *inProcessAgent) *nomad.Client {
	t.Helper()
	c := nomadClient(t, "http://"+a.httpAddr, nil)
	harness.Eventually(t, 30*time.Second, "a leader", func() bool {
		l, err := c.Status().Leader()
		return err == nil && l != ""
	})
	return c
}
