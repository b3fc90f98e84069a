package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/droverhq/drover/internal/testing/harness"
	"github.com/droverhq/drover/internal/testing/leakcheck"
	nomad "github.com/hashicorp/nomad/api"
	mobyclient "github.com/moby/moby/client"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

// syncBuffer collects a child's output while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// engineAnswers reports whether a Docker Engine answers here.
func engineAnswers() bool {
	c, err := mobyclient.New(mobyclient.FromEnv)
	if err != nil {
		return false
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = c.Ping(ctx, mobyclient.PingOptions{})
	return err == nil
}

func buildAgent(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "agent")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}

// TestAgentBinary builds the agent, starts it in -dev mode on free ports
// and drives it with Nomad's Go client and with signals.
func TestAgentBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the agent binary")
	}
	bin := buildAgent(t)
	dir := t.TempDir()
	cfgDir := filepath.Join(dir, "config.d")
	require.NoError(t, os.MkdirAll(cfgDir, 0o755))
	write := func(name, src string) {
		require.NoError(t, os.WriteFile(filepath.Join(cfgDir, name), []byte(src), 0o600))
	}
	write("10-ports.hcl", "ports {\n  http = 0\n  rpc  = 0\n  serf = 0\n}\n")
	write("20-dir.hcl", "data_dir = \""+filepath.Join(dir, "data")+"\"\nlog_level = \"INFO\"\n")

	var stdout, stderr syncBuffer
	cmd := exec.Command(bin, "-dev", "-config", cfgDir, "-node", "agent-test")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// A task the killed agent left behind may hold its output open.
	cmd.WaitDelay = 5 * time.Second
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	addrRe := regexp.MustCompile(`Bind Addrs: HTTP: ([0-9.]+:[0-9]+)`)
	harness.Eventually(t, 30*time.Second, "the start-up summary", func() bool {
		return addrRe.MatchString(stdout.String()) && strings.Contains(stdout.String(), "agent started!")
	})
	summary := stdout.String()
	for _, want := range []string{"Client: true", "Log Level: INFO", "Region: global (DC: dc1)", "Server: true", "ACL: disabled", "TLS: disabled"} {
		require.Contains(t, summary, want)
	}
	addr := addrRe.FindStringSubmatch(summary)[1]
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c, err := nomad.NewClient(&nomad.Config{Address: "http://" + addr, HttpClient: &http.Client{Transport: tr}})
	require.NoError(t, err)

	var nodes []*nomad.NodeListStub
	harness.Eventually(t, 30*time.Second, "the client to register", func() bool {
		nodes, _, err = c.Nodes().List(nil)
		return err == nil && len(nodes) == 1 && nodes[0].Status == "ready"
	})
	require.Equal(t, "agent-test", nodes[0].Name)
	require.True(t, nodes[0].Drivers["raw_exec"].Detected, "-dev turns raw_exec on")
	require.True(t, nodes[0].Drivers["exec"].Detected, "exec is on, as in Nomad")
	if engineAnswers() {
		require.True(t, nodes[0].Drivers["docker"].Detected, "docker is detected where an engine answers")
		require.True(t, nodes[0].Drivers["docker"].Healthy)
	} else {
		require.False(t, nodes[0].Drivers["docker"].Detected, "no engine here: docker is not detected")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stream, err := c.EventStream().Stream(ctx, map[nomad.Topic][]string{nomad.TopicAllocation: {"sleeper"}}, 0, nil)
	require.NoError(t, err)

	job := nomad.NewServiceJob("sleeper", "sleeper", "global", 50)
	task := nomad.NewTask("sleep", "raw_exec").SetConfig("command", "/bin/sh").SetConfig("args", []string{"-c", "sleep 300"}).
		Require(&nomad.Resources{CPU: ptrTo(50), MemoryMB: ptrTo(32)})
	job.AddTaskGroup(nomad.NewTaskGroup("g", 1).AddTask(task))
	_, _, err = c.Jobs().Register(job, nil)
	require.NoError(t, err)

	var index uint64
	var allocID string
	deadline := time.Now().Add(45 * time.Second)
	for allocID == "" && time.Now().Before(deadline) {
		allocs, meta, err := c.Jobs().Allocations("sleeper", false, &nomad.QueryOptions{WaitIndex: index, WaitTime: 5 * time.Second})
		require.NoError(t, err)
		for _, a := range allocs {
			if a.ClientStatus == "running" {
				allocID = a.ID
			}
		}
		index = meta.LastIndex
	}
	require.NotEmpty(t, allocID, "the job's allocation reached running")
	select {
	case evs := <-stream:
		require.NoError(t, evs.Err)
		a, err := evs.Events[0].Allocation()
		require.NoError(t, err)
		require.Equal(t, "sleeper", a.JobID)
	case <-ctx.Done():
		t.Fatal("no allocation event")
	}

	// Drain the node, then cancel the drain and make it eligible again.
	_, err = c.Nodes().UpdateDrain(nodes[0].ID, &nomad.DrainSpec{Deadline: time.Minute}, false, nil)
	require.NoError(t, err)
	n, _, err := c.Nodes().Info(nodes[0].ID, nil)
	require.NoError(t, err)
	require.Equal(t, "ineligible", n.SchedulingEligibility)
	_, err = c.Nodes().UpdateDrain(nodes[0].ID, nil, true, nil)
	require.NoError(t, err)

	// SIGUSR1 prints metrics and keeps running.
	require.NoError(t, cmd.Process.Signal(syscall.SIGUSR1))
	harness.Eventually(t, 10*time.Second, "the metrics dump", func() bool {
		return bytes.Contains([]byte(stderr.String()), []byte("drover_raft_applied_index"))
	})
	// SIGHUP reloads the log level from the files.
	write("20-dir.hcl", "data_dir = \""+filepath.Join(dir, "data")+"\"\nlog_level = \"DEBUG\"\n")
	require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
	harness.Eventually(t, 10*time.Second, "the reload", func() bool {
		return bytes.Contains([]byte(stderr.String()), []byte(`msg="configuration reloaded" log_level=DEBUG`))
	})
	_, err = c.Status().Leader()
	require.NoError(t, err, "still serving after the signals")

	_, _, err = c.Jobs().Deregister("sleeper", true, nil)
	require.NoError(t, err)
	harness.Eventually(t, 30*time.Second, "the allocation to stop", func() bool {
		a, _, err := c.Allocations().Info(allocID, nil)
		return err == nil && a.ClientStatus == "complete"
	})
	cancel()

	// SIGINT stops the agent cleanly after writing its state.
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	select {
	case <-exited:
		require.NoError(t, waitErr, "stderr: %s", stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatal("the agent did not stop on SIGINT")
	}
	require.Contains(t, stderr.String(), "agent stopped")
	_, err = os.Stat(filepath.Join(dir, "data", "server", "raft.db"))
	require.NoError(t, err, "the server's state is on disk")
}

func TestBadFlagsAndConfigExitNonZero(t *testing.T) {
	var out, errOut bytes.Buffer
	require.Equal(t, 1, run([]string{"-nope"}, &out, &errOut, nil))
	require.Contains(t, errOut.String(), "flag provided but not defined")
	errOut.Reset()
	require.Equal(t, 1, run([]string{"-config", "/does/not/exist"}, &out, &errOut, nil))
	require.Contains(t, errOut.String(), "invalid agent configuration")
}

func ptrTo[T any](v T) *T { return &v }
