package server

import (
	"context"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/scheduler"
	"github.com/droverhq/drover/structs"
)

func TestRegistrationRefusesCountsOverJobMaxCount(t *testing.T) {
	ctx := context.Background()
	s := schedTestServer(t, nil)
	_, err := s.RegisterJob(ctx, mockJob("huge", math.MaxInt32))
	require.ErrorIs(t, err, structs.ErrValidation)
	require.ErrorContains(t, err, "job_max_count: 2147483647 > 50000")
	_, err = s.RegisterJob(ctx, mockJob("fine", 3))
	require.NoError(t, err)

	small := schedTestServer(t, func(c *Config) { c.JobMaxCount = 2 })
	_, err = small.RegisterJob(ctx, mockJob("three", 3))
	require.ErrorContains(t, err, "job_max_count: 3 > 2")
	_, err = small.RegisterJob(ctx, mockJob("two", 2))
	require.NoError(t, err)
}

// pausingScheduler runs the generic scheduler, but its pass pauses at its
// first Interrupt question until released, so a test can change the
// world while a pass is under way.
type pausingScheduler struct {
	started chan struct{}
	release chan struct{}
	result  chan error
}

func newPausingScheduler() *pausingScheduler {
	return &pausingScheduler{started: make(chan struct{}), release: make(chan struct{}), result: make(chan error, 1)}
}

func (p *pausingScheduler) Schedule(st scheduler.State, in scheduler.Input) (*scheduler.Decision, error) {
	sched, _ := scheduler.Builtin(structs.JobTypeService)
	interrupt := in.Interrupt
	first := true
	in.Interrupt = func() bool {
		if first {
			first = false
			close(p.started)
			<-p.release
		}
		return interrupt()
	}
	d, err := sched.Schedule(st, in)
	p.result <- err
	return d, err
}

func pausingServer(t *testing.T) (*Server, *pausingScheduler) {
	p := newPausingScheduler()
	var handedOut atomic.Bool // the first evaluation gets p, later ones the plain scheduler
	s := schedTestServer(t, func(c *Config) {
		c.JobMaxCount = -1 // the pass is over a count registration would refuse
		c.EnabledSchedulers = append(c.EnabledSchedulers, "paused")
		c.Scheduling.Schedulers = map[string]scheduler.Factory{"paused": func() scheduler.Scheduler {
			if handedOut.CompareAndSwap(false, true) {
				return p
			}
			s, _ := scheduler.Builtin(structs.JobTypeService)
			return s
		}}
	})
	return s, p
}

func waitChan[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func TestAPassIsCanceledWhenItsJobChangesUnderIt(t *testing.T) {
	s, p := pausingServer(t)
	ctx := context.Background()
	j := mockJob("huge", math.MaxInt32)
	j.Type = "paused"
	first, err := s.RegisterJob(ctx, j)
	require.NoError(t, err)
	<-p.started

	// The job is changed while its first evaluation is being scheduled.
	j.TaskGroups[0].Count = 1
	second, err := s.RegisterJob(ctx, j)
	require.NoError(t, err)
	waitState(t, s, "the new version applied", func() bool {
		return s.state.Snapshot().Job("default", "huge").GetJobModifyIndex() == second.JobModifyIndex
	})
	close(p.release)
	require.ErrorIs(t, waitChan(t, p.result, "the pass"), scheduler.ErrInterrupted)

	waitState(t, s, "both evaluations finished", func() bool {
		a, b := s.state.Snapshot().Eval(first.EvalId), s.state.Snapshot().Eval(second.EvalId)
		return a.TerminalStatus() && b.TerminalStatus()
	})
	e := s.state.Snapshot().Eval(first.EvalId)
	require.Equal(t, structs.EvalStatusCanceled, e.Status)
	require.Contains(t, e.StatusDescription, "job changed")
	require.Empty(t, e.QueuedAllocations, "nothing of the interrupted pass is recorded")
	require.Equal(t, structs.EvalStatusComplete, s.state.Snapshot().Eval(second.EvalId).Status)
}

func TestShutdownInterruptsAPass(t *testing.T) {
	s, p := pausingServer(t)
	j := mockJob("huge", math.MaxInt32)
	j.Type = "paused"
	_, err := s.RegisterJob(context.Background(), j)
	require.NoError(t, err)
	<-p.started

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		done <- s.Shutdown(ctx)
	}()
	<-s.stopCtx.Done()
	close(p.release)
	require.ErrorIs(t, waitChan(t, p.result, "the pass"), scheduler.ErrInterrupted)
	require.NoError(t, waitChan(t, done, "shutdown"))
}
