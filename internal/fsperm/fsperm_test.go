//go:build unix

package fsperm

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

func mode(t *testing.T, p string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(p)
	require.NoError(t, err)
	return fi.Mode().Perm()
}

func TestDirCreatesAndTightens(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	root := t.TempDir()

	fresh := filepath.Join(root, "a", "b")
	fixed, err := Dir(fresh, 0o700)
	require.NoError(t, err)
	require.Nil(t, fixed, "a new dir needs no fixing")
	require.Equal(t, fs.FileMode(0o700), mode(t, fresh))

	loose := filepath.Join(root, "loose")
	require.NoError(t, os.Mkdir(loose, 0o755))
	fixed, err = Dir(loose, 0o700)
	require.NoError(t, err)
	require.Equal(t, &Fixed{Path: loose, Was: 0o755, Now: 0o700}, fixed)
	require.Equal(t, fs.FileMode(0o700), mode(t, loose))

	tight := filepath.Join(root, "tight")
	require.NoError(t, os.Mkdir(tight, 0o500))
	fixed, err = Dir(tight, 0o711)
	require.NoError(t, err)
	require.Nil(t, fixed, "tighter bits are left alone")
	require.Equal(t, fs.FileMode(0o500), mode(t, tight))

	file := filepath.Join(root, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	_, err = Dir(file, 0o700)
	require.Error(t, err)
}

func TestFileTightens(t *testing.T) {
	root := t.TempDir()
	f := filepath.Join(root, "state.db")
	fixed, err := File(f, 0o600)
	require.NoError(t, err)
	require.Nil(t, fixed, "a missing file is fine")

	require.NoError(t, os.WriteFile(f, []byte("x"), 0o600))
	require.NoError(t, os.Chmod(f, 0o644))
	fixed, err = File(f, 0o600)
	require.NoError(t, err)
	require.Equal(t, &Fixed{Path: f, Was: 0o644, Now: 0o600}, fixed)
	require.Equal(t, fs.FileMode(0o600), mode(t, f))

	fixed, err = File(f, 0o600)
	require.NoError(t, err)
	require.Nil(t, fixed)
}
