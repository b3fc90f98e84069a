//go:build unix

package bolt

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestOpenRestrictsTheFileToItsOwner(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	s, err := Open(path, Options{})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Zero(t, fi.Mode().Perm()&^FileMode, "a new file is %#o", fi.Mode().Perm())

	require.NoError(t, os.Chmod(path, 0o644))
	s, err = Open(path, Options{})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	fi, err = os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, fs.FileMode(0o600), fi.Mode().Perm(), "an existing file is restricted")
}
