//go:build linux

package client_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/client"
	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/driver/docker"
	"github.com/droverhq/drover/internal/testing/dockertest"
	"github.com/droverhq/drover/internal/testing/harness"
	"github.com/droverhq/drover/structs"
)

// TestDockerTaskMountsHostVolumes: a docker task's volume_mount blocks
// become bind mounts of the node's host volumes, read-only when asked.
func TestDockerTaskMountsHostVolumes(t *testing.T) {
	engine := dockertest.Engine(t)
	image := dockertest.Image(t, engine)
	dir := t.TempDir()
	ro, rw := filepath.Join(dir, "ro"), filepath.Join(dir, "rw")
	require.NoError(t, os.MkdirAll(ro, 0o755))
	require.NoError(t, os.MkdirAll(rw, 0o755))
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server")})
	defer harness.Shutdown(t, srv)
	cliDir := filepath.Join(dir, "client")
	d := docker.New(docker.Config{Logger: harness.Logger(t)})
	cli := startClient(t, client.Config{
		DataDir: cliDir, Servers: []string{srv.Addr()}, Drivers: []driver.Driver{d},
		HostVolumes: map[string]client.HostVolume{"certs": {Path: ro, ReadOnly: true}, "data": {Path: rw}},
	})
	t.Cleanup(func() {
		harness.Shutdown(t, cli)
		require.NoError(t, d.Close())
		removeLeftContainers(t, engine, cliDir)
	})

	task := dockerTask("web", image, "sleep")
	task.VolumeMounts = []*structs.VolumeMount{
		{Volume: "certs", Destination: "/etc/certs"},
		{Volume: "data", Destination: "/data/${NOMAD_TASK_NAME}"},
	}
	j := job("dvol", "service", 1, task)
	j.TaskGroups[0].Volumes = map[string]*structs.VolumeRequest{
		"certs": {Type: structs.VolumeTypeHost, Source: "certs", ReadOnly: true},
		"data":  {Type: structs.VolumeTypeHost, Source: "data"},
	}
	register(t, srv, j)
	var alloc *structs.Allocation
	harness.WaitFor(t, srv, deadline, "the task to run", func() bool {
		alloc = only(t, srv, "dvol")
		return alloc != nil && alloc.ClientStatus == structs.AllocClientRunning
	})
	c := inspectContainer(t, engine, oneContainer(t, engine, alloc.Id))
	mounts := map[string]bool{} // destination -> writable
	for _, m := range c.Container.Mounts {
		if m.Source == ro || m.Source == rw {
			mounts[m.Destination] = m.RW
		}
	}
	require.Equal(t, map[string]bool{"/etc/certs": false, "/data/web": true}, mounts)

	_, err := srv.DeregisterJob(t.Context(), "", "dvol", false)
	require.NoError(t, err)
	harness.WaitFor(t, srv, deadline, "the task to be stopped", func() bool {
		return only(t, srv, "dvol").ClientStatus == structs.AllocClientComplete
	})
}
