//go:build linux

package proc

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestResolveCommand(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "bin")
	require.NoError(t, os.Mkdir(sub, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(sub, "tool"), []byte("#!/bin/sh\n"), 0o755))

	p, err := resolveCommand("tool", dir, "/nonexistent:bin")
	require.NoError(t, err)
	require.Equal(t, filepath.Join(sub, "tool"), p, "relative PATH entries are relative to the task dir")
	p, err = resolveCommand("bin/tool", dir, "")
	require.NoError(t, err)
	require.Equal(t, filepath.Join(sub, "tool"), p)
	_, err = resolveCommand("bin", dir, dir)
	require.ErrorIs(t, err, exec.ErrNotFound, "a directory is not a command")
	_, err = resolveCommand("./bin", dir, "")
	require.True(t, strings.Contains(err.Error(), "directory"))
}
