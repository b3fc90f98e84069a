package driver

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLogRotatorKeepsTheNewestFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "web.stdout.0")
	r := NewLogRotator(path, 3, 10)

	rotated, err := r.Rotate()
	require.NoError(t, err)
	require.False(t, rotated, "no live file yet: nothing to do")

	// The writer keeps one O_APPEND descriptor, as a task does.
	w, err := OpenLog(path)
	require.NoError(t, err)
	defer w.Close()
	for i, chunk := range []string{"first-chunk\n", "second-chunk\n", "third-chunk\n", "fourth-chunk\n"} {
		_, err := w.WriteString(chunk)
		require.NoError(t, err)
		rotated, err := r.Rotate()
		require.NoError(t, err)
		require.True(t, rotated, "chunk %d is over the limit", i)
	}
	_, err = w.WriteString("live\n")
	require.NoError(t, err)
	rotated, err = r.Rotate()
	require.NoError(t, err)
	require.False(t, rotated, "5 bytes are under the limit")

	read := func(p string) string {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		return string(b)
	}
	require.Equal(t, "live\n", read(path), "the writer's next write lands at the start of the truncated file")
	require.Equal(t, "fourth-chunk\n", read(path+".1"), ".1 is the newest copy")
	require.Equal(t, "third-chunk\n", read(path+".2"))
	require.NoFileExists(t, path+".3", "three files in all: the live one and two copies")
	matches, err := filepath.Glob(path + ".*")
	require.NoError(t, err)
	for _, m := range matches {
		require.False(t, strings.HasSuffix(m, ".tmp"), "no temporary file is left behind")
	}
}

func TestLogRotatorWithOneFileOnlyTruncates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	require.NoError(t, os.WriteFile(path, []byte(strings.Repeat("x", 100)), 0o644))
	r := NewLogRotator(path, 1, 10)
	rotated, err := r.Rotate()
	require.NoError(t, err)
	require.True(t, rotated)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Zero(t, fi.Size())
	require.NoFileExists(t, path+".1")
}

func TestLogRotatorDefaults(t *testing.T) {
	r := NewLogRotator("p", 0, 0)
	require.Equal(t, DefaultMaxLogFiles, r.MaxFiles)
	require.Equal(t, int64(DefaultMaxLogFileSizeMB<<20), r.MaxBytes)
}

func TestLogRotatorRunStopsWithItsContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	require.NoError(t, os.WriteFile(path, []byte(strings.Repeat("x", 100)), 0o644))
	r := NewLogRotator(path, 2, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx, time.Millisecond, func(err error) { t.Error(err) })
	}()
	require.Eventually(t, func() bool {
		fi, err := os.Stat(path + ".1")
		return err == nil && fi.Size() == 100
	}, 20*time.Second, time.Millisecond)
	cancel()
	<-done
}
