//go:build unix

package server

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/heartbeat"
	boltstore "github.com/droverhq/drover/store/bolt"
)

func TestServerTightensLoosePermissionsOfItsDataDir(t *testing.T) {
	data := t.TempDir()
	dir := filepath.Join(data, "server")
	// As an operator, or an older version, might have left them.
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "snapshots"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "serf"), 0o755))
	bs, err := boltstore.Open(filepath.Join(dir, "raft.db"), boltstore.Options{})
	require.NoError(t, err)
	require.NoError(t, bs.Close())
	stray := filepath.Join(dir, "snapshots", "0000000000000001-0000000000000001.snap")
	require.NoError(t, os.WriteFile(stray, []byte("x"), 0o600))
	for p, m := range map[string]fs.FileMode{
		dir: 0o755, filepath.Join(dir, "snapshots"): 0o755, filepath.Join(dir, "serf"): 0o777,
		filepath.Join(dir, "raft.db"): 0o644, stray: 0o644,
	} {
		require.NoError(t, os.Chmod(p, m))
	}

	s, err := New(Config{
		Name: "s1", Region: "global", Datacenter: "dc1", DataDir: data, BindAddr: "127.0.0.1:0",
		NumSchedulers: 1, EnabledSchedulers: []string{"service", "batch", "system", "sysbatch", "_core"},
		Heartbeat:          heartbeat.DefaultConfig(),
		JobDefaultPriority: 50, JobMaxPriority: 100, Logger: testLogger(),
	})
	require.NoError(t, err)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, s.Shutdown(ctx))
	}()
	mode := func(p string) fs.FileMode {
		fi, err := os.Stat(p)
		require.NoError(t, err)
		return fi.Mode().Perm()
	}
	require.Equal(t, fs.FileMode(0o700), mode(dir))
	require.Equal(t, fs.FileMode(0o700), mode(filepath.Join(dir, "snapshots")))
	require.Equal(t, fs.FileMode(0o700), mode(filepath.Join(dir, "serf")))
	require.Equal(t, fs.FileMode(0o600), mode(filepath.Join(dir, "raft.db")))
	if _, err := os.Stat(stray); err == nil {
		require.Equal(t, fs.FileMode(0o600), mode(stray))
	}
}

func TestServerCreatesItsDataDirPrivate(t *testing.T) {
	data := t.TempDir()
	s, err := New(Config{
		Name: "s1", Region: "global", Datacenter: "dc1", DataDir: data, BindAddr: "127.0.0.1:0",
		NumSchedulers: 1, EnabledSchedulers: []string{"service"}, Heartbeat: heartbeat.DefaultConfig(),

		JobDefaultPriority: 50, JobMaxPriority: 100, Logger: testLogger(),
	})
	require.NoError(t, err)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, s.Shutdown(ctx))
	}()
	require.NoError(t, filepath.WalkDir(filepath.Join(data, "server"), func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		fi, err := d.Info()
		require.NoError(t, err)
		want := fs.FileMode(0o600)
		switch {
		case d.IsDir():
			want = 0o700
		case filepath.Base(filepath.Dir(p)) == "serf":
			return nil // serf's own files, in a 0700 dir
		}
		require.Zero(t, fi.Mode().Perm()&^want, "%s is %#o", p, fi.Mode().Perm())
		return nil
	}))
}
