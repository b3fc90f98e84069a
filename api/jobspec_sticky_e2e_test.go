package api_test

import (
	"os"
	"path/filepath"
	"testing"

	nomad "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/api"
)

// TestStickyDiskFollowsTheReplacement: a new version of a job whose
// ephemeral disk is sticky replaces its allocation on the same node, and
// the replacement finds what the previous one left in alloc/data and in
// its task's local/.
func TestStickyDiskFollowsTheReplacement(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, filepath.Join(dir, "server"), false)
	node := startClientNode(t, filepath.Join(dir, "client"), srv.Addr())
	defer node.stop(t)
	s := serveAPI(t, srv.NewHTTPHandler(api.Options{}), "")

	job := shJob("sticky", `echo "$V" >> "$NOMAD_ALLOC_DIR/data/history"; echo "$V" >> local/history; exec sleep 300`)
	job.TaskGroups[0].EphemeralDisk = &nomad.EphemeralDisk{Sticky: ptr(true), SizeMB: ptr(100)}
	job.TaskGroups[0].Tasks[0].Env = map[string]string{"V": "one"}
	first := runJob(t, s.nomad, job)
	read := func(p string) string { b, _ := os.ReadFile(p); return string(b) }
	waitFor(t, "the first version's write", func() bool {
		return read(filepath.Join(node.dir, "alloc", first.ID, "alloc", "data", "history")) == "one\n"
	})

	job.TaskGroups[0].Tasks[0].Env = map[string]string{"V": "two"}
	_, _, err := s.nomad.Jobs().Register(job, nil)
	require.NoError(t, err)
	var second *nomad.AllocationListStub
	waitFor(t, "the replacement to run", func() bool {
		as, _, err := s.nomad.Jobs().Allocations("sticky", false, nil)
		require.NoError(t, err)
		for _, a := range as {
			if a.ID != first.ID && a.ClientStatus == "running" {
				second = a
				return true
			}
		}
		return false
	})
	defer stopJobs(t, s.nomad)
	waitFor(t, "the replacement's write after the previous data", func() bool {
		return read(filepath.Join(node.dir, "alloc", second.ID, "alloc", "data", "history")) == "one\ntwo\n"
	})
	require.Equal(t, "one\ntwo\n", read(filepath.Join(node.taskDir(second.ID, "web"), "local", "history")))

	back, _, err := s.nomad.Jobs().Info("sticky", nil)
	require.NoError(t, err)
	require.True(t, *back.TaskGroups[0].EphemeralDisk.Sticky)
}
