package clock_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/clock"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestFakeTimersFireInDeadlineOrderWhenStepped(t *testing.T) {
	f := clock.NewFake(epoch)
	late := f.NewTimer(2 * time.Second)
	early := f.NewTimer(time.Second)
	f.Advance(999 * time.Millisecond)
	select {
	case <-early.C():
		t.Fatal("fired before its deadline")
	default:
	}
	f.Advance(time.Millisecond)
	require.Equal(t, epoch.Add(time.Second), <-early.C())
	require.True(t, late.Stop())
	f.Advance(time.Hour)
	select {
	case <-late.C():
		t.Fatal("a stopped timer fired")
	default:
	}
	require.Zero(t, f.Waiters())
	require.Equal(t, epoch.Add(time.Hour+time.Second), f.Now())
}

func TestFakeTickerTicksEveryPeriodAndDropsWhatIsNotRead(t *testing.T) {
	f := clock.NewFake(epoch)
	tk := f.NewTicker(100 * time.Millisecond)
	defer tk.Stop()
	f.Advance(100 * time.Millisecond)
	require.Equal(t, epoch.Add(100*time.Millisecond), <-tk.C())
	f.Advance(time.Second) // ten ticks due, one buffered
	require.Equal(t, epoch.Add(200*time.Millisecond), <-tk.C())
	select {
	case <-tk.C():
		t.Fatal("a slow reader gets one tick, not a backlog")
	default:
	}
	tk.Reset(time.Minute)
	f.Advance(59 * time.Second)
	select {
	case <-tk.C():
		t.Fatal("reset moved the period")
	default:
	}
	f.Advance(time.Second)
	<-tk.C()
}

func TestFakeAfterFuncRunsOnceDue(t *testing.T) {
	f := clock.NewFake(epoch)
	var ran atomic.Int32
	done := make(chan struct{})
	f.AfterFunc(time.Minute, func() { ran.Add(1); close(done) })
	stopped := f.AfterFunc(time.Minute, func() { ran.Add(10) })
	require.True(t, stopped.Stop())
	f.Advance(time.Minute)
	f.Wait()
	require.Equal(t, int32(1), ran.Load())
	<-done
}

func TestSleepOnAFakeClockWaitsForTheStep(t *testing.T) {
	f := clock.NewFake(epoch)
	woke := make(chan bool)
	added := f.WaiterAdded()
	go func() { woke <- clock.Sleep(context.Background(), f, time.Hour) }()
	<-added
	f.Advance(time.Hour)
	require.True(t, <-woke)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.False(t, clock.Sleep(ctx, f, time.Hour))
	require.True(t, clock.Sleep(context.Background(), clock.Real(), 0))
}

func TestRealClockIsTheSystemClock(t *testing.T) {
	c := clock.Real()
	before := time.Now()
	require.False(t, c.Now().Before(before))
	tm := c.NewTimer(time.Millisecond)
	<-tm.C()
	require.Equal(t, clock.Real(), clock.Or(nil))
	f := clock.NewFake(epoch)
	require.Equal(t, clock.Clock(f), clock.Or(f))
}
