package api_test

import (
	"path/filepath"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/api"
	"github.com/droverhq/drover/internal/testing/harness"
)

// nomadInitExample is the job `nomad job init` writes, as the nomad CLI
// sends it (parsed and canonicalized), with its docker task swapped for
// raw_exec.
func nomadInitExample() *nomad.Job {
	job := &nomad.Job{
		ID: ptr("example"), Name: ptr("example"), Datacenters: []string{"*"}, Type: ptr("service"),
		Update: &nomad.UpdateStrategy{
			MaxParallel: ptr(1), MinHealthyTime: ptr(10 * time.Second), HealthyDeadline: ptr(3 * time.Minute),
			ProgressDeadline: ptr(10 * time.Minute), AutoRevert: ptr(false), Canary: ptr(0),
		},
		UI: &nomad.JobUIConfig{Description: "Nomad **Example** Job", Links: []*nomad.JobUILink{{Label: "Learn more about Nomad", URL: "https://developer.hashicorp.com/nomad"}}},
	}
	task := &nomad.Task{
		Name: "redis", Driver: "raw_exec",
		Config:    map[string]any{"command": "/bin/sh", "args": []string{"-c", `echo "listening on ${NOMAD_PORT_db}"; exec sleep 300`}},
		Resources: &nomad.Resources{CPU: ptr(500), MemoryMB: ptr(256)},
		Identity:  &nomad.WorkloadIdentity{Env: true, File: true},
	}
	tg := &nomad.TaskGroup{
		Name: ptr("cache"), Count: ptr(1),
		Networks: []*nomad.NetworkResource{{DynamicPorts: []nomad.Port{{Label: "db", To: 6379}}}},
		Migrate: &nomad.MigrateStrategy{
			MaxParallel: ptr(1), HealthCheck: ptr("checks"), MinHealthyTime: ptr(10 * time.Second), HealthyDeadline: ptr(5 * time.Minute),
		},
		Services:      []*nomad.Service{{Name: "redis-cache", Tags: []string{"global", "cache"}, PortLabel: "db", Provider: "nomad"}},
		RestartPolicy: &nomad.RestartPolicy{Attempts: ptr(2), Interval: ptr(30 * time.Minute), Delay: ptr(15 * time.Second), Mode: ptr("fail")},
		EphemeralDisk: &nomad.EphemeralDisk{SizeMB: ptr(300)},
		Tasks:         []*nomad.Task{task},
	}
	job.TaskGroups = []*nomad.TaskGroup{tg}
	job.Canonicalize()
	return job
}

// TestNomadJobInitExampleRuns registers `nomad job init`'s example
// through Nomad's Go client and waits for it to run.
func TestNomadJobInitExampleRuns(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, filepath.Join(dir, "server"), false)
	node := startClientNode(t, filepath.Join(dir, "client"), srv.Addr())
	defer node.stop(t)
	s := serveAPI(t, srv.NewHTTPHandler(api.Options{}), "")

	alloc := runJob(t, s.nomad, nomadInitExample())
	defer stopJobs(t, s.nomad)
	require.Equal(t, "cache", alloc.TaskGroup)
	require.Equal(t, "running", alloc.TaskStates["redis"].State)
	// Its service is registered with the servers (provider "nomad").
	harness.Eventually(t, 30*time.Second, "redis-cache to be registered", func() bool {
		regs, _, err := s.nomad.Services().Get("redis-cache", nil)
		require.NoError(t, err)
		return len(regs) == 1 && regs[0].AllocID == alloc.ID && regs[0].Port > 0
	})
}
