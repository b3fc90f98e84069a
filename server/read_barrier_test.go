package server

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/heartbeat"
)

// TestConcurrentReadBarriersShareRounds: hundreds of linearizable reads at
// once, interleaved with writes, all pass their barrier and each sees the
// write its caller had acknowledged before; a caller that gives up is told so.
func TestConcurrentReadBarriersShareRounds(t *testing.T) {
	s := testServer(t, heartbeat.DefaultConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i := range 300 {
		wg.Go(func() {
			if i%10 == 0 {
				resp, err := s.RegisterNode(ctx, mockNode(fmt.Sprintf("n%d", i)))
				require.NoError(t, err)
				require.NoError(t, s.readBarrier(ctx))
				require.GreaterOrEqual(t, s.StateIndex(), resp.Meta.Index)
				return
			}
			require.NoError(t, s.readBarrier(ctx))
		})
	}
	wg.Wait()
	gone, stop := context.WithCancel(ctx)
	stop()
	require.ErrorIs(t, s.readBarrier(gone), context.Canceled)
}
