package safepath

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestJoinKeepsPathsInsideTheBase(t *testing.T) {
	base := t.TempDir()
	for _, tc := range []struct {
		elems []string
		want  string
	}{
		{[]string{"a"}, "a"},
		{[]string{"a", "b/c"}, "a/b/c"},
		{[]string{"a/../b"}, "b"},
		{[]string{"."}, "."},
		{[]string{"..a"}, "..a"},
	} {
		got, err := Join(base, tc.elems...)
		require.NoError(t, err, tc.elems)
		require.Equal(t, filepath.Join(base, tc.want), got)
	}
	for _, elems := range [][]string{
		{".."}, {"../x"}, {"a/../../x"}, {"a", "..", ".."}, {"/etc"}, {"a", "/etc"}, {"a\x00b"},
	} {
		_, err := Join(base, elems...)
		require.ErrorIs(t, err, ErrUnsafePath, "%q", elems)
		var perr *Error
		require.True(t, errors.As(err, &perr))
	}
}

func TestJoinNameTakesOneComponent(t *testing.T) {
	base := t.TempDir()
	p, err := JoinName(base, "web")
	require.NoError(t, err)
	require.Equal(t, filepath.Join(base, "web"), p)
	for _, bad := range []string{"", ".", "..", "a/b", "../../x", `a\b`, "a\x00"} {
		_, err := JoinName(base, bad)
		require.ErrorIs(t, err, ErrUnsafePath, "%q", bad)
	}
}

func TestJoinRefusesSymlinksLeadingOutside(t *testing.T) {
	root := t.TempDir()
	base := filepath.Join(root, "base")
	outside := filepath.Join(root, "outside")
	require.NoError(t, os.MkdirAll(filepath.Join(base, "real"), 0o700))
	require.NoError(t, os.MkdirAll(outside, 0o700))
	require.NoError(t, os.Symlink(outside, filepath.Join(base, "out")))
	require.NoError(t, os.Symlink("real", filepath.Join(base, "in")))
	require.NoError(t, os.Symlink(filepath.Join(root, "missing"), filepath.Join(base, "dangling")))

	_, err := Join(base, "out", "x")
	require.ErrorIs(t, err, ErrUnsafePath)
	require.Contains(t, err.Error(), "outside the directory")
	_, err = Join(base, "out")
	require.ErrorIs(t, err, ErrUnsafePath, "the last component is checked too")
	_, err = Join(base, "dangling")
	require.ErrorIs(t, err, ErrUnsafePath, "a dangling link could be created through")

	p, err := Join(base, "in", "x")
	require.NoError(t, err, "a link that stays inside is fine")
	require.Equal(t, filepath.Join(base, "in", "x"), p)
	_, err = Join(base, "new", "deeper", "x")
	require.NoError(t, err, "components that do not exist yet are fine")

	// A base reached through a symlink is resolved before comparing.
	linkedBase := filepath.Join(root, "linked")
	require.NoError(t, os.Symlink(base, linkedBase))
	_, err = Join(linkedBase, "in", "x")
	require.NoError(t, err)
	_, err = Join(linkedBase, "out", "x")
	require.ErrorIs(t, err, ErrUnsafePath)
}
