package api_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/api"
)

// statusOf returns the HTTP status a Nomad client error carries.
func statusOf(t *testing.T, err error) int {
	t.Helper()
	require.Error(t, err)
	var ue nomad.UnexpectedResponseError
	if ue, ok := err.(nomad.UnexpectedResponseError); ok {
		return ue.StatusCode()
	}
	if ue, ok := err.(*nomad.UnexpectedResponseError); ok {
		return ue.StatusCode()
	}
	_ = ue
	t.Fatalf("not an HTTP error: %v", err)
	return 0
}

// TestAllocFSThroughTheNomadClient lists, stats, reads and streams files
// of an allocation's directory as nomad alloc fs does, and refuses paths
// that leave it, through ".." or a symbolic link, and a task's secrets.
func TestAllocFSThroughTheNomadClient(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, filepath.Join(dir, "server"), false)
	node := startClientNode(t, filepath.Join(dir, "client"), srv.Addr())
	defer node.stop(t)
	s := serveAPI(t, srv.NewHTTPHandler(api.Options{}), "")
	alloc := runJob(t, s.nomad, shJob("fs", `printf 'hello from the task\n' > local/greeting.txt; ln -s /etc outside;
echo top-secret > secrets/key; echo ready > ready; sleep 3600`))
	defer stopJobs(t, s.nomad)
	waitFor(t, "the task to be ready", func() bool {
		_, err := os.Stat(filepath.Join(node.taskDir(alloc.ID, "web"), "ready"))
		return err == nil
	})
	fs := s.nomad.AllocFS()

	root, _, err := fs.List(alloc, "/", nil)
	require.NoError(t, err)
	names := map[string]bool{}
	for _, f := range root {
		names[f.Name] = f.IsDir
	}
	require.Equal(t, map[string]bool{"alloc": true, "web": true}, names)
	logs, _, err := fs.List(alloc, "alloc/logs", nil)
	require.NoError(t, err)
	require.NotEmpty(t, logs)

	st, _, err := fs.Stat(alloc, "/web/local/greeting.txt", nil)
	require.NoError(t, err)
	require.Equal(t, "greeting.txt", st.Name)
	require.Equal(t, int64(len("hello from the task\n")), st.Size)
	require.False(t, st.IsDir)
	require.Contains(t, st.ContentType, "text/plain")
	require.WithinDuration(t, time.Now(), st.ModTime, time.Hour)

	r, err := fs.Cat(alloc, "web/local/greeting.txt", nil)
	require.NoError(t, err)
	b, _ := io.ReadAll(r)
	r.Close()
	require.Equal(t, "hello from the task\n", string(b))

	r, err = fs.ReadAt(alloc, "web/local/greeting.txt", 6, 4, nil)
	require.NoError(t, err)
	b, _ = io.ReadAll(r)
	r.Close()
	require.Equal(t, "from", string(b))

	// stream follows the file: what is appended arrives too.
	cancel := make(chan struct{})
	frames, errs := fs.Stream(alloc, "web/local/greeting.txt", nomad.OriginStart, 0, cancel, nil)
	var got bytes.Buffer
	appended := false
	deadline := time.After(60 * time.Second)
	for got.String() != "hello from the task\nand more\n" {
		select {
		case f := <-frames:
			got.Write(f.Data)
			if !appended {
				appended = true
				fh, err := os.OpenFile(filepath.Join(node.taskDir(alloc.ID, "web"), "local", "greeting.txt"), os.O_APPEND|os.O_WRONLY, 0)
				require.NoError(t, err)
				_, err = fh.WriteString("and more\n")
				require.NoError(t, err)
				require.NoError(t, fh.Close())
			}
		case err := <-errs:
			t.Fatalf("stream failed: %v", err)
		case <-deadline:
			t.Fatalf("stream delivered %q", got.String())
		}
	}
	close(cancel)

	// Nothing outside the allocation's directory.
	_, _, err = fs.List(alloc, "../..", nil)
	require.Equal(t, http.StatusBadRequest, statusOf(t, err))
	_, _, err = fs.List(alloc, "web/../../..", nil)
	require.Equal(t, http.StatusBadRequest, statusOf(t, err))
	_, _, err = fs.List(alloc, "web/outside", nil)
	require.Equal(t, http.StatusBadRequest, statusOf(t, err), "a link out of the directory is refused")
	_, _, err = fs.Stat(alloc, "web/outside/passwd", nil)
	require.Equal(t, http.StatusBadRequest, statusOf(t, err))
	_, err = fs.Cat(alloc, "web/outside/passwd", nil)
	require.Error(t, err)
	require.Contains(t, err.Error(), "unsafe path")
	_, err = fs.Cat(alloc, "web/secrets/key", nil)
	require.Error(t, err)
	require.Contains(t, err.Error(), "secrets")
	_, _, err = fs.Stat(alloc, "web/local/nope", nil)
	require.Equal(t, http.StatusNotFound, statusOf(t, err))
	_, _, err = s.nomad.AllocFS().List(&nomad.Allocation{ID: "0a0b0c0d-0000-4000-8000-000000000000", NodeID: alloc.NodeID}, "/", nil)
	require.Equal(t, http.StatusNotFound, statusOf(t, err))
}

// TestExecThroughTheNomadClient runs commands in a raw_exec task as nomad
// alloc exec does: stdin reaches the command and its close ends cat, the
// output comes back on stdout and stderr, and so does the exit code; with
// a terminal the command sees one. A task whose driver cannot exec says so.
func TestExecThroughTheNomadClient(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, filepath.Join(dir, "server"), false)
	node := startClientNode(t, filepath.Join(dir, "client"), srv.Addr())
	defer node.stop(t)
	s := serveAPI(t, srv.NewHTTPHandler(api.Options{}), "")
	alloc := runJob(t, s.nomad, shJob("exec", `sleep 3600`))
	defer stopJobs(t, s.nomad)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var stdout, stderr bytes.Buffer
	code, err := s.nomad.Allocations().Exec(ctx, alloc, "web", false,
		[]string{"/bin/sh", "-c", `cat; echo "in $NOMAD_TASK_NAME $(basename $(pwd))" >&2; exit 7`},
		strings.NewReader("first\nsecond\n"), &stdout, &stderr, nil, nil)
	require.NoError(t, err)
	require.Equal(t, 7, code)
	require.Equal(t, "first\nsecond\n", stdout.String())
	require.Equal(t, "in web web\n", stderr.String())

	stdout.Reset()
	sizes := make(chan nomad.TerminalSize, 1)
	sizes <- nomad.TerminalSize{Height: 40, Width: 100}
	code, err = s.nomad.Allocations().Exec(ctx, alloc, "web", true,
		[]string{"/bin/sh", "-c", `test -t 0 && echo on-a-terminal`}, strings.NewReader(""), &stdout, &stderr, sizes, nil)
	require.NoError(t, err)
	require.Zero(t, code)
	require.Contains(t, stdout.String(), "on-a-terminal")

	_, err = s.nomad.Allocations().Exec(ctx, alloc, "nope", false, []string{"true"}, strings.NewReader(""), &stdout, &stderr, nil, nil)
	require.ErrorContains(t, err, "unknown task")

	// The fn driver runs functions, not processes: it cannot exec.
	job := nomad.NewServiceJob("fnjob", "fnjob", "global", 50)
	job.AddTaskGroup(nomad.NewTaskGroup("g", 1).AddTask(nomad.NewTask("web", "fn").SetConfig("func", "idle").
		Require(&nomad.Resources{CPU: ptr(20), MemoryMB: ptr(16)})))
	fnAlloc := runJob(t, s.nomad, job)
	_, err = s.nomad.Allocations().Exec(ctx, fnAlloc, "web", false, []string{"true"}, strings.NewReader(""), &stdout, &stderr, nil, nil)
	require.ErrorContains(t, err, "the fn driver cannot run commands in its tasks")
}
