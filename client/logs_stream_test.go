package client

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/clock"
	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/structs"
)

// TestFollowerBehindARotationReadsTheRestFromTheCopy: a reader that has
// read only part of the live file when it is rotated (twice) gets the
// rest from the copies, then the new live file, each byte once.
func TestFollowerBehindARotationReadsTheRestFromTheCopy(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "alloc", "logs", "web.stdout.0")
	require.NoError(t, os.MkdirAll(filepath.Dir(live), 0o755))
	w, err := driver.OpenLog(live)
	require.NoError(t, err)
	defer w.Close()
	ws := newLogWatches()
	watch := ws.acquire(live, 5)
	rot := driver.NewLogRotator(live, 5, 1000)
	rot.Rotation = watch.rotation

	var want strings.Builder
	write := func(from, to int) {
		for i := from; i <= to; i++ {
			line := fmt.Sprintf("line %05d\n", i)
			want.WriteString(line)
			_, err := w.WriteString(line)
			require.NoError(t, err)
		}
	}
	write(1, 150) // 1650 bytes: over the limit

	// The reader takes one frame, then waits until the test lets it go on.
	gate := make(chan struct{})
	var (
		mu     sync.Mutex
		got    bytes.Buffer
		frames int
	)
	size := func() int { mu.Lock(); defer mu.Unlock(); return got.Len() }
	send := func(f *structs.StreamFrame) error {
		mu.Lock()
		got.Write(f.Data)
		frames++
		first := frames == 1
		mu.Unlock()
		if first {
			<-gate
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	lr := &logReader{w: watch, dir: dir, send: send, follow: true, clock: clock.Real()}
	go func() { done <- lr.run(ctx, structs.OriginStart, 0) }()
	// Hold the reader after its first frame; rotate twice under it.
	for size() == 0 {
		time.Sleep(time.Millisecond)
	}
	rotated, err := rot.Rotate()
	require.NoError(t, err)
	require.True(t, rotated)
	write(151, 300)
	rotated, err = rot.Rotate()
	require.NoError(t, err)
	require.True(t, rotated)
	write(301, 320)
	close(gate)
	deadline := time.Now().Add(30 * time.Second)
	for size() < want.Len() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	require.NoError(t, <-done)
	require.Equal(t, want.String(), got.String())
}
