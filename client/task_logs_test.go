package client

import (
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/structs"
)

// reader returns a function that reads what TaskLogs returns to its end.
func reader(t *testing.T) func(io.ReadCloser, error) string {
	return func(r io.ReadCloser, err error) string {
		t.Helper()
		require.NoError(t, err)
		defer r.Close()
		b, err := io.ReadAll(r)
		require.NoError(t, err)
		return string(b)
	}
}

func TestTaskLogsReadsTheRotatedCopiesThenTheLiveFile(t *testing.T) {
	c, root := isolatedClient(t)
	id := uuid.NewString()
	states := runAlloc(t, c, craftedAlloc(id, "web"))
	require.Equal(t, structs.TaskStateDead, states["web"].State)
	logs := filepath.Join(root, "data", "alloc", id, "alloc", "logs")
	require.NoError(t, os.WriteFile(filepath.Join(logs, "web.stdout.0.2"), []byte("oldest\n"), 0o640))
	require.NoError(t, os.WriteFile(filepath.Join(logs, "web.stdout.0.1"), []byte("newer\n"), 0o640))
	require.NoError(t, os.WriteFile(filepath.Join(logs, "web.stdout.0.tmp"), []byte("in flight\n"), 0o640))

	readAll := reader(t)
	got := readAll(c.TaskLogs(id, "web", StreamStdout))
	require.Equal(t, "oldest\nnewer\nhello", got)
	require.Empty(t, readAll(c.TaskLogs(id, "web", StreamStderr)))

	// A followed log of a task that has ended is read to its end.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.Equal(t, "oldest\nnewer\nhello", readAll(c.FollowTaskLogs(ctx, id, "web", StreamStdout)))

	// A task's link out of the logs directory is not followed.
	require.NoError(t, os.RemoveAll(filepath.Join(logs, "web.stderr.0")))
	secret := filepath.Join(root, "secret")
	require.NoError(t, os.WriteFile(secret, []byte("not for tasks"), 0o600))
	require.NoError(t, os.Symlink(secret, filepath.Join(logs, "web.stderr.0")))
	if r, err := c.TaskLogs(id, "web", StreamStderr); err == nil {
		b, err := io.ReadAll(r)
		require.Error(t, err)
		require.NotContains(t, string(b), "not for tasks")
		require.NoError(t, r.Close())
	}

	_, err := c.TaskLogs(id, "web", "stdin")
	require.ErrorIs(t, err, structs.ErrBadRequest)
	_, err = c.TaskLogs(id, "../web", StreamStdout)
	require.ErrorIs(t, err, structs.ErrBadRequest)
	_, err = c.TaskLogs("../escape", "web", StreamStdout)
	require.ErrorIs(t, err, structs.ErrBadRequest)
	_, err = c.TaskLogs(uuid.NewString(), "web", StreamStdout)
	require.ErrorIs(t, err, structs.ErrNotFound)
	_, err = c.TaskLogs(id, "db", StreamStdout)
	require.ErrorIs(t, err, structs.ErrNotFound)
}

// TestFollowedLogSurvivesARotation: what the task wrote before a rotation
// that the reader had not read yet comes from the newest copy.
func TestFollowedLogSurvivesARotation(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "web.stdout.0")
	require.NoError(t, os.WriteFile(live, []byte("one\n"), 0o640))
	l := newLogReader(dir, "web.stdout.0")
	require.NoError(t, l.openRoot())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l.ctx, l.cancel = context.WithCancel(ctx)
	running := true
	l.follow = func() bool { return running }
	defer l.Close()

	buf := make([]byte, 64)
	n, err := l.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "one\n", string(buf[:n]))

	// The task writes more, then a rotation copies and truncates the file
	// before the reader looks again; the task goes on writing.
	f, err := os.OpenFile(live, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.WriteString("two\n")
	require.NoError(t, err)
	b, err := os.ReadFile(live)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(live+".1", b, 0o640))
	require.NoError(t, os.Truncate(live, 0))
	_, err = f.WriteString("3\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())

	var got []byte
	for string(got) != "two\n3\n" {
		n, err := l.Read(buf)
		require.NoError(t, err)
		got = append(got, buf[:n]...)
		require.LessOrEqual(t, len(got), len("two\n3\n"), "read %q", got)
	}

	// Nothing more: the reader waits until the task ends, then ends.
	done := make(chan error, 1)
	go func() {
		_, err := l.Read(buf)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("read returned %v while the task runs", err)
	case <-time.After(3 * followInterval):
	}
	require.NoError(t, l.Close())
	require.ErrorIs(t, <-done, fs.ErrClosed, "closing ends a waiting read")
}
