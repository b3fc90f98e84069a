//go:build linux

package client_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/client"
	"github.com/droverhq/drover/driver"
	execdriver "github.com/droverhq/drover/driver/exec"
	"github.com/droverhq/drover/driver/rawexec"
	"github.com/droverhq/drover/internal/testing/harness"
	"github.com/droverhq/drover/structs"
)

// TestHostVolumesMountedIntoTasks: a host volume mounted read-only into
// an isolated exec task can be read and not written; a writable one is
// written through; raw_exec sees a writable volume as a link in its
// directory and refuses a read-only one; a group asking for a volume no
// node has is not placed.
func TestHostVolumesMountedIntoTasks(t *testing.T) {
	exec := execdriver.New(nil)
	if !exec.Isolated() {
		t.Skip("exec cannot isolate tasks on this host: read-only mounts need a root of the task's own")
	}
	dir := t.TempDir()
	ro, rw := filepath.Join(dir, "ro"), filepath.Join(dir, "rw")
	require.NoError(t, os.MkdirAll(ro, 0o755))
	require.NoError(t, os.MkdirAll(rw, 0o777))
	require.NoError(t, os.Chmod(rw, 0o777))
	require.NoError(t, os.WriteFile(filepath.Join(ro, "config"), []byte("from the host\n"), 0o644))

	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server")})
	defer harness.Shutdown(t, srv)
	cliDir := filepath.Join(dir, "client")
	cli := startClient(t, client.Config{
		DataDir: cliDir, Servers: []string{srv.Addr()}, Drivers: []driver.Driver{exec, rawexec.New(nil)},
		HostVolumes: map[string]client.HostVolume{"shared": {Path: ro}, "scratch": {Path: rw}},
	})
	defer harness.Shutdown(t, cli)

	task := shTask("web", `cat /srv/config/config > /local/seen
if { echo x > /srv/config/written; } 2> /local/write-error; then echo wrote > /local/result; else echo refused > /local/result; fi
echo via-mount > /srv/scratch/out
exec sleep 300`)
	task.VolumeMounts = []*structs.VolumeMount{
		{Volume: "cfg", Destination: "/srv/config", ReadOnly: true},
		{Volume: "tmp", Destination: "/srv/scratch"},
	}
	j := job("vol", "service", 1, task)
	j.TaskGroups[0].Volumes = map[string]*structs.VolumeRequest{
		"cfg": {Type: structs.VolumeTypeHost, Source: "shared", ReadOnly: true},
		"tmp": {Type: structs.VolumeTypeHost, Source: "scratch"},
	}
	register(t, srv, j)
	var alloc *structs.Allocation
	harness.WaitFor(t, srv, deadline, "the task to run", func() bool {
		alloc = only(t, srv, "vol")
		return alloc != nil && alloc.ClientStatus == structs.AllocClientRunning
	})
	local := filepath.Join(allocDir(cliDir, alloc.Id), "web", "local")
	harness.Eventually(t, deadline, "the task's results", func() bool {
		b, _ := os.ReadFile(filepath.Join(local, "result"))
		return len(b) > 0
	})
	require.Equal(t, "from the host\n", readFile(t, filepath.Join(local, "seen")))
	require.Equal(t, "refused\n", readFile(t, filepath.Join(local, "result")), "the read-only mount refuses writes")
	require.Contains(t, readFile(t, filepath.Join(local, "write-error")), "Read-only file system")
	_, err := os.Stat(filepath.Join(ro, "written"))
	require.True(t, os.IsNotExist(err))
	harness.Eventually(t, deadline, "the write through the writable mount", func() bool {
		b, _ := os.ReadFile(filepath.Join(rw, "out"))
		return string(b) == "via-mount\n"
	})

	// raw_exec: a writable volume is a link in the task's directory.
	raw := &structs.Task{
		Name: "raw", Driver: "raw_exec", Config: drover.TaskConfig(map[string]any{"command": "/bin/sh", "args": []any{"-c", `echo raw > data/from-raw; exec sleep 300`}}),
		VolumeMounts: []*structs.VolumeMount{{Volume: "tmp", Destination: "data"}},
	}
	rj := job("rawvol", "service", 1, raw)
	rj.TaskGroups[0].Volumes = map[string]*structs.VolumeRequest{"tmp": {Type: structs.VolumeTypeHost, Source: "scratch"}}
	register(t, srv, rj)
	harness.Eventually(t, deadline, "raw_exec's write through its link", func() bool {
		b, _ := os.ReadFile(filepath.Join(rw, "from-raw"))
		return string(b) == "raw\n"
	})
	// And refuses a read-only volume rather than hand it over writable.
	raw.Name = "rawro"
	raw.VolumeMounts = []*structs.VolumeMount{{Volume: "cfg", Destination: "data", ReadOnly: true}}
	rro := job("rawro", "batch", 1, raw)
	rro.TaskGroups[0].Volumes = map[string]*structs.VolumeRequest{"cfg": {Type: structs.VolumeTypeHost, Source: "shared", ReadOnly: true}}
	register(t, srv, rro)
	harness.WaitFor(t, srv, deadline, "the read-only raw_exec mount to be refused", func() bool {
		a := only(t, srv, "rawro")
		if a == nil || a.ClientStatus != structs.AllocClientFailed {
			return false
		}
		ev := events(a.TaskStates["rawro"], structs.TaskEventDriverFailure)
		return len(ev) == 1 && strings.Contains(ev[0].Message, "cannot mount volume")
	})

	// A group asking for a volume no node has stays unplaced.
	missing := job("novol", "service", 1, shTask("web", "exec sleep 300"))
	missing.TaskGroups[0].Volumes = map[string]*structs.VolumeRequest{"x": {Type: structs.VolumeTypeHost, Source: "nowhere"}}
	register(t, srv, missing)
	harness.WaitFor(t, srv, deadline, "the placement failure", func() bool {
		evals, err := srv.Evaluations(t.Context(), "", "novol")
		require.NoError(t, err)
		for _, e := range evals {
			if m := e.FailedTgAllocs["g"]; m != nil && m.ConstraintFiltered["missing host volume nowhere"] == 1 {
				return true
			}
		}
		return false
	})
	require.Nil(t, only(t, srv, "novol"))

	for _, id := range []string{"vol", "rawvol"} {
		_, err := srv.DeregisterJob(t.Context(), "", id, false)
		require.NoError(t, err)
		harness.WaitFor(t, srv, deadline, "job "+id+" to stop", func() bool {
			a := only(t, srv, id)
			return a != nil && a.ClientStatus == structs.AllocClientComplete
		})
	}
}
