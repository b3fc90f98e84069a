//go:build unix

package client

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// requireNoLooser asserts p grants nothing beyond want.
func requireNoLooser(t *testing.T, p string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(p)
	require.NoError(t, err)
	require.Zero(t, fi.Mode().Perm()&^want, "%s is %#o, looser than %#o", p, fi.Mode().Perm(), want)
}

func TestClientTightensLoosePermissionsOfItsDataDir(t *testing.T) {
	root := t.TempDir()
	data := filepath.Join(root, "data")
	// As an operator, or an older version, might have left them.
	require.NoError(t, os.MkdirAll(filepath.Join(data, "alloc"), 0o755))
	require.NoError(t, os.Chmod(data, 0o755))
	require.NoError(t, os.Chmod(filepath.Join(data, "alloc"), 0o777))
	id, _ := json.Marshal(identity{NodeID: uuid.NewString(), SecretID: uuid.NewString()})
	require.NoError(t, os.WriteFile(filepath.Join(data, identityFile), id, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(data, stateFile), nil, 0o644))
	for _, f := range []string{identityFile, stateFile} {
		require.NoError(t, os.Chmod(filepath.Join(data, f), 0o644))
	}
	oldAlloc := uuid.NewString()
	require.NoError(t, os.MkdirAll(filepath.Join(data, "alloc", oldAlloc, "t", "secrets"), 0o755))
	require.NoError(t, os.Chmod(filepath.Join(data, "alloc", oldAlloc), 0o755))
	require.NoError(t, os.Chmod(filepath.Join(data, "alloc", oldAlloc, "t"), 0o755))
	require.NoError(t, os.Chmod(filepath.Join(data, "alloc", oldAlloc, "t", "secrets"), 0o755))

	c, _ := isolatedClientAt(t, root)
	mode := func(p string) fs.FileMode {
		fi, err := os.Stat(filepath.Join(data, p))
		require.NoError(t, err)
		return fi.Mode().Perm()
	}
	require.Equal(t, fs.FileMode(0o700), mode("."))
	require.Equal(t, fs.FileMode(0o711), mode("alloc"))
	require.Equal(t, fs.FileMode(0o600), mode(identityFile))
	require.Equal(t, fs.FileMode(0o600), mode(stateFile))

	// The allocation's directories too, when it runs (again).
	states := runAlloc(t, c, craftedAlloc(oldAlloc, "t"))
	require.False(t, states["t"].Failed, "%v", states["t"].Events)
	require.Equal(t, fs.FileMode(0o711), mode(filepath.Join("alloc", oldAlloc)))
	require.Equal(t, fs.FileMode(0o711), mode(filepath.Join("alloc", oldAlloc, "t")))
	require.Equal(t, fs.FileMode(0o700), mode(filepath.Join("alloc", oldAlloc, "t", "secrets")))
}

func TestClientCreatesItsDataDirPrivate(t *testing.T) {
	c, root := isolatedClient(t)
	data := filepath.Join(root, "data")
	requireNoLooser(t, data, 0o700)
	requireNoLooser(t, filepath.Join(data, "alloc"), 0o711)
	requireNoLooser(t, filepath.Join(data, identityFile), 0o600)
	requireNoLooser(t, filepath.Join(data, stateFile), 0o600)

	id := uuid.NewString()
	states := runAlloc(t, c, craftedAlloc(id, "t"))
	require.False(t, states["t"].Failed, "%v", states["t"].Events)
	alloc := filepath.Join(data, "alloc", id)
	requireNoLooser(t, alloc, 0o711)
	requireNoLooser(t, filepath.Join(alloc, "t"), 0o711)
	requireNoLooser(t, filepath.Join(alloc, "t", "local"), 0o711)
	requireNoLooser(t, filepath.Join(alloc, "t", "secrets"), 0o700)
	requireNoLooser(t, filepath.Join(alloc, "alloc", "logs", "t.stdout.0"), 0o640)
}
