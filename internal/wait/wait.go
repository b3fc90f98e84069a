// Package wait holds the one wait the agents share that is bounded by a
// context.
package wait

import (
	"context"
	"time"
)

// Sleep waits d or until ctx is done, and reports whether ctx is still
// live: true after the whole wait, false once ctx is done. A d of zero or
// less does not wait.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
