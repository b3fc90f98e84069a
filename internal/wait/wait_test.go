package wait

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSleep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		start := time.Now()
		require.True(t, Sleep(ctx, time.Minute))
		require.Equal(t, time.Minute, time.Since(start))
		require.True(t, Sleep(ctx, 0), "no wait on a live context")

		time.AfterFunc(time.Second, cancel)
		require.False(t, Sleep(ctx, time.Hour), "a done context ends the wait")
		require.Equal(t, time.Minute+time.Second, time.Since(start))
		require.False(t, Sleep(ctx, -1))
	})
}
