package server

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/structs"
)

var allTypes = map[string]bool{"service": true, "batch": true, "system": true, "sysbatch": true}

func ev(id, job string, prio int32) *structs.Evaluation {
	return &structs.Evaluation{Id: id, Namespace: "default", JobId: job, Priority: prio, Type: "service", Status: "pending"}
}

func dequeue(t *testing.T, b *evalBroker) (*structs.Evaluation, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e, tok, err := b.dequeue(ctx, allTypes)
	require.NoError(t, err)
	return e, tok
}

func TestBrokerPriorityOrderAndOnePerJob(t *testing.T) {
	b := newEvalBroker(3, time.Millisecond, nil)
	b.setEnabled(true)
	defer b.setEnabled(false)
	b.enqueue(ev("low", "a", 10))
	b.enqueue(ev("high", "b", 90))
	b.enqueue(ev("a2", "a", 99)) // folded into "low": it has not been handed out
	b.enqueue(ev("high", "b", 90))

	e, tok := dequeue(t, b)
	require.Equal(t, "high", e.Id)
	require.NoError(t, b.ack(e.Id, tok))
	e, tok = dequeue(t, b)
	require.Equal(t, "low", e.Id)
	b.enqueue(ev("a3", "a", 50)) // pending behind the outstanding "low"
	b.enqueue(ev("a4", "a", 50)) // folded into "a3"
	st := b.stats()
	require.Equal(t, 0, st.ready, "the job's next evaluation waits for the outstanding one")
	require.Equal(t, 1, st.unacked)
	require.Equal(t, 1, st.waiting)
	require.Equal(t, 2, st.folded)
	require.NoError(t, b.ack(e.Id, tok))
	e, tok = dequeue(t, b)
	require.Equal(t, "a3", e.Id)
	require.NoError(t, b.ack(e.Id, tok))
	require.Equal(t, brokerStats{folded: 2, cancelable: 2}, b.stats())
	var canceled []string
	for _, c := range b.takeCancelable(10) {
		canceled = append(canceled, c.Id)
	}
	require.Equal(t, []string{"a2", "a4"}, canceled, "folded evaluations are handed over for cancellation")
}

func TestBrokerPinHoldsThePendingEvaluation(t *testing.T) {
	b := newEvalBroker(3, time.Millisecond, nil)
	b.setEnabled(true)
	defer b.setEnabled(false)
	_, ok := b.pin("default", "a")
	require.False(t, ok, "nothing pending to rely on")
	b.enqueue(ev("e1", "a", 50))
	id, ok := b.pin("default", "a")
	require.True(t, ok)
	require.Equal(t, "e1", id)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	_, _, err := b.dequeue(ctx, allTypes)
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded, "a pinned evaluation is not handed out")

	b.unpin("default", "a", id)
	e, _ := dequeue(t, b)
	require.Equal(t, "e1", e.Id)
	_, ok = b.pin("default", "a")
	require.False(t, ok, "an outstanding evaluation cannot be relied on: its snapshot may be old")
}

func TestBrokerPinIsBounded(t *testing.T) {
	now := time.Unix(100, 0)
	b := newEvalBroker(3, time.Millisecond, nil)
	b.now = func() time.Time { return now }
	b.setEnabled(true)
	defer b.setEnabled(false)
	b.enqueue(ev("e1", "a", 50))
	_, ok := b.pin("default", "a")
	require.True(t, ok)
	now = now.Add(b.maxPin / 2)
	_, ok = b.pin("default", "a")
	require.True(t, ok, "overlapping pins within the bound")
	now = now.Add(b.maxPin)
	_, ok = b.pin("default", "a")
	require.False(t, ok, "past the bound new pins are refused, so the evaluation runs")
}

func TestBrokerPause(t *testing.T) {
	b := newEvalBroker(3, time.Millisecond, nil)
	b.setEnabled(true)
	defer b.setEnabled(false)
	b.setPaused(true)
	b.enqueue(ev("e1", "a", 50))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	_, _, err := b.dequeue(ctx, allTypes)
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded, "a paused broker hands nothing out")
	require.Equal(t, 1, b.stats().ready, "but keeps queueing")
	b.setPaused(false)
	e, _ := dequeue(t, b)
	require.Equal(t, "e1", e.Id)
}

func TestBrokerDelaysUntilWaitUntil(t *testing.T) {
	b := newEvalBroker(3, time.Millisecond, nil)
	b.setEnabled(true)
	defer b.setEnabled(false)
	later := ev("later", "a", 50)
	later.WaitUntil = time.Now().Add(50 * time.Millisecond).UnixNano()
	b.enqueue(later)
	require.Equal(t, 1, b.stats().delayed)
	e, _ := dequeue(t, b)
	require.Equal(t, "later", e.Id)
	require.GreaterOrEqual(t, time.Now().UnixNano(), later.WaitUntil, "not handed out before its time")
}

func TestBrokerNackRedeliversThenFails(t *testing.T) {
	var mu sync.Mutex
	var failed []string
	b := newEvalBroker(2, time.Millisecond, func(e *structs.Evaluation) {
		mu.Lock()
		defer mu.Unlock()
		failed = append(failed, e.Id)
	})
	b.setEnabled(true)
	defer b.setEnabled(false)
	b.enqueue(ev("e1", "a", 50))
	e, tok := dequeue(t, b)
	require.Error(t, b.ack(e.Id, "wrong-token"))
	require.NoError(t, b.nack(e.Id, tok))
	e, tok = dequeue(t, b)
	require.Equal(t, "e1", e.Id, "a nacked evaluation is delivered again")
	require.NoError(t, b.nack(e.Id, tok))
	mu.Lock()
	require.Equal(t, []string{"e1"}, failed, "past the delivery limit it is failed")
	mu.Unlock()
	st := b.stats()
	require.Zero(t, st.ready+st.unacked)
}

func TestBrokerDisabledDropsAndUnblocksWaiters(t *testing.T) {
	b := newEvalBroker(3, time.Millisecond, nil)
	b.enqueue(ev("e1", "a", 50))
	require.Zero(t, b.stats().ready, "a follower's broker holds nothing")

	b.setEnabled(true)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, _, err := b.dequeue(ctx, allTypes)
		errc <- err
	}()
	cancel()
	select {
	case err := <-errc:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(5 * time.Second):
		t.Fatal("dequeue did not return on cancel")
	}
}

func TestBrokerFiltersByType(t *testing.T) {
	b := newEvalBroker(3, time.Millisecond, nil)
	b.setEnabled(true)
	defer b.setEnabled(false)
	sys := ev("sys", "s", 90)
	sys.Type = "system"
	b.enqueue(sys)
	b.enqueue(ev("svc", "a", 10))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e, _, err := b.dequeue(ctx, map[string]bool{"service": true})
	require.NoError(t, err)
	require.Equal(t, "svc", e.Id, "a worker only takes the types it is enabled for")
	require.Equal(t, 1, b.stats().ready)
}
