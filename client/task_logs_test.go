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

	"github.com/droverhq/drover/clock"
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

// TestFollowerReadsTheRestOfAnUnannouncedRotationFromTheCopy: what the
// task wrote before a rotation the reader was not told of (another
// process rotated the file) and that the reader had not read yet comes
// from the newest copy.
func TestFollowerReadsTheRestOfAnUnannouncedRotationFromTheCopy(t *testing.T) {
	dir := t.TempDir()
	logs := filepath.Join(dir, "alloc", "logs")
	require.NoError(t, os.MkdirAll(logs, 0o755))
	live := filepath.Join(logs, "web.stdout.0")
	require.NoError(t, os.WriteFile(live, []byte("one\n"), 0o640))
	frames := make(chan string, 64)
	lr := &logReader{
		w: newLogWatches().acquire(live, 5), dir: dir, follow: true, poll: time.Millisecond, clock: clock.Real(),
		send: func(f *structs.StreamFrame) error {
			if len(f.Data) > 0 {
				frames <- string(f.Data)
			}
			return nil
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- lr.run(ctx, structs.OriginStart, 0) }()
	require.Equal(t, "one\n", <-frames)

	// The task writes more, then a rotation copies and truncates the file
	// behind the reader's back; the task goes on writing.
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

	var got string
	for got != "two\n3\n" {
		select {
		case s := <-frames:
			got += s
			require.LessOrEqual(t, len(got), len("two\n3\n"), "read %q", got)
		case <-ctx.Done():
			t.Fatalf("read %q only", got)
		}
	}
	cancel()
	require.NoError(t, <-done)
}

// TestClosingEndsAWaitingRead: Close ends a Read that waits for output.
func TestClosingEndsAWaitingRead(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	_, cancel := context.WithCancel(context.Background())
	r := &taskLogReader{pr: pr, cancel: cancel, closed: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := r.Read(make([]byte, 8))
		done <- err
	}()
	require.NoError(t, r.Close())
	require.ErrorIs(t, <-done, fs.ErrClosed)
	_, err := r.Read(make([]byte, 8))
	require.ErrorIs(t, err, fs.ErrClosed)
}
