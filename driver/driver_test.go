package driver

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestExitDeliversOnceToEveryWaiter(t *testing.T) {
	e := NewExit()
	require.Nil(t, e.Result())
	early := e.Wait(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	abandoned := e.Wait(ctx)
	cancel()
	select {
	case r, ok := <-abandoned:
		require.False(t, ok)
		require.Nil(t, r)
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled wait stayed open")
	}

	res := &ExitResult{ExitCode: 3}
	require.True(t, e.Set(res))
	require.False(t, e.Set(&ExitResult{}), "only the first result counts")
	require.Same(t, res, e.Result())
	for _, ch := range []<-chan *ExitResult{early, e.Wait(context.Background())} {
		select {
		case r := <-ch:
			require.Same(t, res, r)
		case <-time.After(10 * time.Second):
			t.Fatal("no result delivered")
		}
		_, ok := <-ch
		require.False(t, ok, "the channel is closed after the result")
	}
}

func TestSuccessful(t *testing.T) {
	require.True(t, (&ExitResult{}).Successful())
	require.False(t, (&ExitResult{ExitCode: 1}).Successful())
	require.False(t, (&ExitResult{Signal: 9}).Successful())
	require.False(t, (&ExitResult{Err: context.Canceled}).Successful())
	require.False(t, (*ExitResult)(nil).Successful())
}

func TestConfigHelpers(t *testing.T) {
	cfg := map[string]any{
		"s": "x", "n": 3.0, "frac": 1.5, "huge": math.MaxFloat64, "list": []any{"a", "b"}, "strs": []string{"c"},
		"mixed": []any{"a", 1.0}, "d": "1.5s", "badd": "soon", "null": nil,
	}
	s, err := ConfigString(cfg, "s")
	require.NoError(t, err)
	require.Equal(t, "x", s)
	s, err = ConfigString(cfg, "missing")
	require.NoError(t, err)
	require.Empty(t, s)
	_, err = ConfigString(cfg, "n")
	require.ErrorIs(t, err, ErrInvalidConfig)

	n, err := ConfigInt(cfg, "n")
	require.NoError(t, err)
	require.Equal(t, 3, n)
	n, err = ConfigInt(cfg, "null")
	require.NoError(t, err)
	require.Zero(t, n)
	for _, k := range []string{"frac", "huge", "s"} {
		_, err = ConfigInt(cfg, k)
		require.ErrorIs(t, err, ErrInvalidConfig, k)
	}

	l, err := ConfigStrings(cfg, "list")
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, l)
	l, err = ConfigStrings(cfg, "strs")
	require.NoError(t, err)
	require.Equal(t, []string{"c"}, l)
	_, err = ConfigStrings(cfg, "mixed")
	require.ErrorIs(t, err, ErrInvalidConfig)
	_, err = ConfigStrings(cfg, "s")
	require.ErrorIs(t, err, ErrInvalidConfig)

	dur, err := ConfigDuration(cfg, "d")
	require.NoError(t, err)
	require.Equal(t, 1500*time.Millisecond, dur)
	_, err = ConfigDuration(cfg, "badd")
	require.ErrorIs(t, err, ErrInvalidConfig)

	b, err := ConfigBool(map[string]any{"t": true}, "t")
	require.NoError(t, err)
	require.True(t, b)
	b, err = ConfigBool(cfg, "null")
	require.NoError(t, err)
	require.False(t, b)
	_, err = ConfigBool(cfg, "s")
	require.ErrorIs(t, err, ErrInvalidConfig)

	require.NoError(t, CheckKeys(map[string]any{"a": 1}, "a", "b"))
	err = CheckKeys(map[string]any{"a": 1, "z": 2, "y": 3}, "a")
	require.ErrorIs(t, err, ErrInvalidConfig)
	require.ErrorContains(t, err, "unknown key(s) y, z")
}

func TestValidate(t *testing.T) {
	require.ErrorIs(t, (*TaskConfig)(nil).Validate(), ErrInvalidConfig)
	require.ErrorIs(t, (&TaskConfig{}).Validate(), ErrInvalidConfig)
	require.NoError(t, (&TaskConfig{ID: "a/b", Env: map[string]string{"A": "1"}}).Validate())
	for _, env := range []map[string]string{{"": "x"}, {"A=B": "x"}, {"A\x00": "x"}, {"A": "x\x00"}} {
		require.ErrorIs(t, (&TaskConfig{ID: "a", Env: env}).Validate(), ErrInvalidConfig)
	}
	require.ErrorIs(t, (&TaskConfig{ID: "a", KillTimeout: -1}).Validate(), ErrInvalidConfig)

	require.Equal(t, DefaultKillTimeout, (&TaskConfig{}).KillTimeoutOrDefault())
	require.Equal(t, time.Second, (&TaskConfig{KillTimeout: time.Second}).KillTimeoutOrDefault())
}

func TestOpenLogAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	for _, s := range []string{"one\n", "two\n"} {
		f, err := OpenLog(path)
		require.NoError(t, err)
		_, err = f.WriteString(s)
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "one\ntwo\n", string(data))

	f, err := OpenLog("")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	_, err = OpenLog(filepath.Join(t.TempDir(), "no", "such", "dir", "log"))
	require.Error(t, err)
}
