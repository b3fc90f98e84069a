package server

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/clock"
	"github.com/droverhq/drover/structs"
)

// dataDirHolds reports whether any file under dir holds needle.
func dataDirHolds(t *testing.T, dir string, needle []byte) bool {
	t.Helper()
	found := false
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		found = found || bytes.Contains(b, needle)
		return nil
	}))
	return found
}

func TestVariablesAreEncryptedAtRest(t *testing.T) {
	dir := t.TempDir()
	clock := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	cfg := gcConfig(dir, clock)
	s := startGCServer(t, cfg)
	ctx := context.Background()
	canary := "plaintext-canary-7f3a9c"
	_, err := s.PutVariable(ctx, &structs.Variable{Path: "app/canary-path", Items: map[string]string{"secret-key-canary": canary}}, nil)
	require.NoError(t, err)
	v, err := s.Variable(ctx, "", "app/canary-path")
	require.NoError(t, err)
	require.Equal(t, canary, v.Items["secret-key-canary"])
	// A backup holds the whole state too.
	f, err := os.Create(filepath.Join(dir, "backup.snap"))
	require.NoError(t, err)
	_, err = s.Backup(ctx, f)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, s.Shutdown(sctx))

	require.True(t, dataDirHolds(t, dir, []byte("app/canary-path")), "the path is stored in the clear: the scan reads the raft store")
	require.False(t, dataDirHolds(t, dir, []byte(canary)), "a variable's value is never stored in the clear")
	require.False(t, dataDirHolds(t, dir, []byte("secret-key-canary")), "nor its keys")

	// The variable is readable again after a restart.
	s = startGCServer(t, cfg)
	defer func() {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		require.NoError(t, s.Shutdown(sctx))
	}()
	v, err = s.Variable(ctx, "", "app/canary-path")
	require.NoError(t, err)
	require.Equal(t, canary, v.Items["secret-key-canary"])

	// A backup restored into another cluster brings the keyring with it.
	other := startGCServer(t, gcConfig(t.TempDir(), clock))
	defer func() {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		require.NoError(t, other.Shutdown(sctx))
	}()
	f, err = os.Open(filepath.Join(dir, "backup.snap"))
	require.NoError(t, err)
	defer f.Close()
	_, err = other.Restore(ctx, f)
	require.NoError(t, err)
	v, err = other.Variable(ctx, "", "app/canary-path")
	require.NoError(t, err)
	require.Equal(t, canary, v.Items["secret-key-canary"])
}

func TestRootKeyRotationKeepsOldVariablesReadableAndGCReapsUnusedKeys(t *testing.T) {
	clock := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	cfg := gcConfig(t.TempDir(), clock)
	cfg.Keyring = KeyringConfig{RotationThreshold: 720 * time.Hour, GCThreshold: time.Hour, GCInterval: time.Hour,
		KeyEncryptionKey: bytes.Repeat([]byte{7}, 32)}
	s := startGCServer(t, cfg)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, s.Shutdown(ctx))
	}()
	ctx := context.Background()
	keys, err := s.RootKeys(ctx)
	require.NoError(t, err)
	require.Len(t, keys, 1)
	require.True(t, keys[0].Wrapped, "with a key-encryption key, root keys are stored wrapped")
	first := keys[0].KeyId

	_, err = s.PutVariable(ctx, &structs.Variable{Path: "old", Items: map[string]string{"k": "sealed by the first key"}}, nil)
	require.NoError(t, err)
	keys, err = s.RotateRootKey(ctx)
	require.NoError(t, err)
	require.Len(t, keys, 2)
	_, err = s.PutVariable(ctx, &structs.Variable{Path: "new", Items: map[string]string{"k": "sealed by the second"}}, nil)
	require.NoError(t, err)
	snap := s.state.Snapshot()
	require.Equal(t, first, snap.Variable("default", "old").KeyId)
	require.NotEqual(t, first, snap.Variable("default", "new").KeyId)
	v, err := s.Variable(ctx, "", "old")
	require.NoError(t, err, "a rotated key still opens what it sealed")
	require.Equal(t, "sealed by the first key", v.Items["k"])

	// Before the thresholds nothing changes.
	require.NoError(t, s.keyringMaintenance(ctx))
	keys, _ = s.RootKeys(ctx)
	require.Len(t, keys, 2)

	// Past rotation plus GC thresholds: the active key rotates; the first
	// key stays while a variable is sealed under it.
	clock.Advance(721*time.Hour + time.Minute)
	require.NoError(t, s.keyringMaintenance(ctx))
	keys, _ = s.RootKeys(ctx)
	require.Len(t, keys, 3, "rotated, nothing reaped: both older keys seal a variable")
	_, err = s.DeleteVariable(ctx, "", "old", nil)
	require.NoError(t, err)
	require.NoError(t, s.keyringMaintenance(ctx))
	keys, _ = s.RootKeys(ctx)
	require.Len(t, keys, 2, "the first key, unused, is reaped")
	for _, k := range keys {
		require.NotEqual(t, first, k.KeyId)
	}
	v, err = s.Variable(ctx, "", "new")
	require.NoError(t, err)
	require.Equal(t, "sealed by the second", v.Items["k"])
}

func TestServersWithoutTheKeyEncryptionKeyCannotOpenWrappedKeys(t *testing.T) {
	k1, err := newRootKeyring(bytes.Repeat([]byte{1}, 32))
	require.NoError(t, err)
	key, err := k1.newKey()
	require.NoError(t, err)
	_, err = k1.open(key)
	require.NoError(t, err)
	k2, err := newRootKeyring(bytes.Repeat([]byte{2}, 32))
	require.NoError(t, err)
	_, err = k2.open(key)
	require.Error(t, err, "another key-encryption key does not unwrap it")
	none, err := newRootKeyring(nil)
	require.NoError(t, err)
	_, err = none.open(key)
	require.Error(t, err)
	_, err = newRootKeyring([]byte("short"))
	require.Error(t, err)
}

// FuzzVariablePath checks that a path the validator accepts is one Nomad
// accepts: no empty segment, no leading or trailing slash, no dot
// segments, nothing outside its alphabet, nothing reserved.
func FuzzVariablePath(f *testing.F) {
	for _, p := range []string{"app/db", "nomad/jobs/web", "nomad", "nomad/x", "a//b", "/a", "a/", "../x", "a b", "x~y_z-1", ""} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if ValidateVariablePath(p) != nil {
			return
		}
		if len(p) == 0 || len(p) > 128 || strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.Contains(p, "//") {
			t.Fatalf("accepted %q", p)
		}
		for _, seg := range strings.Split(p, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("accepted a dot segment: %q", p)
			}
		}
		if p == "nomad" || strings.HasPrefix(p, "nomad/") && !strings.HasPrefix(p, "nomad/jobs") {
			t.Fatalf("accepted a reserved path: %q", p)
		}
	})
}
