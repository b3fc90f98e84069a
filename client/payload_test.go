package client

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/internal/safepath"
	"github.com/droverhq/drover/structs"
)

func payloadRunner(file string, payload []byte) *taskRunner {
	return &taskRunner{
		task:  &structs.Task{Name: "t", DispatchPayload: &structs.DispatchPayloadConfig{File: file}},
		alloc: &structs.Allocation{Job: &structs.Job{Payload: payload}},
	}
}

func TestDispatchPayloadIsWrittenIntoLocal(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "local"), 0o755))
	cfg := &driver.TaskConfig{TaskDir: dir}
	require.NoError(t, dispatchPayloadHook{}.prestart(context.Background(), payloadRunner("in/req.json", []byte("hi")), cfg))
	got, err := os.ReadFile(filepath.Join(dir, "local", "in", "req.json"))
	require.NoError(t, err)
	require.Equal(t, "hi", string(got))
	// Again (a restart): the file is replaced.
	require.NoError(t, dispatchPayloadHook{}.prestart(context.Background(), payloadRunner("in/req.json", []byte("again")), cfg))
	got, _ = os.ReadFile(filepath.Join(dir, "local", "in", "req.json"))
	require.Equal(t, "again", string(got))
	// No block, nothing written.
	require.NoError(t, dispatchPayloadHook{}.prestart(context.Background(), &taskRunner{task: &structs.Task{}, alloc: &structs.Allocation{}}, cfg))
}

func TestDispatchPayloadNeverLeavesLocal(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "local"), 0o755))
	// A task left a link to elsewhere in its local/ directory.
	require.NoError(t, os.Symlink(outside, filepath.Join(dir, "local", "out")))
	cfg := &driver.TaskConfig{TaskDir: dir}
	for _, file := range []string{"../escape", "/etc/passwd", "out/x", "a/../../escape"} {
		err := dispatchPayloadHook{}.prestart(context.Background(), payloadRunner(file, []byte("x")), cfg)
		var he *hookError
		require.True(t, errors.As(err, &he), "%s: %v", file, err)
		require.ErrorIs(t, he.err, safepath.ErrUnsafePath, file)
	}
	entries, err := os.ReadDir(outside)
	require.NoError(t, err)
	require.Empty(t, entries, "nothing written outside local/")
	_, err = os.Stat(filepath.Join(dir, "escape"))
	require.True(t, os.IsNotExist(err))
}
