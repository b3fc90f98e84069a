package broker

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/clock"
	"github.com/droverhq/drover/internal/testing/leakcheck"
	"github.com/droverhq/drover/structs"
)

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

var allTypes = map[string]bool{"service": true, "batch": true, "system": true, "sysbatch": true}

func ev(id, job string, prio int32) *structs.Evaluation {
	return &structs.Evaluation{Id: id, Namespace: "default", JobId: job, Priority: prio, Type: "service", Status: "pending"}
}

func dequeue(t *testing.T, b *Broker) (*structs.Evaluation, string) {
	t.Helper()
	return take(t, b.Dequeue)
}

// take dequeues one evaluation of any type with the broker's Dequeue or
// DequeueLeased, failing the test when none comes within 5 s.
func take(t *testing.T, from func(context.Context, map[string]bool) (*structs.Evaluation, string, error)) (*structs.Evaluation, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e, tok, err := from(ctx, allTypes)
	require.NoError(t, err)
	return e, tok
}

func TestBrokerPriorityOrderAndOnePerJob(t *testing.T) {
	b := New(Config{DeliveryLimit: 3, NackDelay: time.Millisecond})
	b.SetEnabled(true)
	defer b.SetEnabled(false)
	b.Enqueue(ev("low", "a", 10))
	b.Enqueue(ev("high", "b", 90))
	b.Enqueue(ev("a2", "a", 99)) // folded into "low": it has not been handed out
	b.Enqueue(ev("high", "b", 90))

	e, tok := dequeue(t, b)
	require.Equal(t, "high", e.Id)
	require.NoError(t, b.Ack(e.Id, tok))
	e, tok = dequeue(t, b)
	require.Equal(t, "low", e.Id)
	b.Enqueue(ev("a3", "a", 50)) // pending behind the outstanding "low"
	b.Enqueue(ev("a4", "a", 50)) // folded into "a3"
	st := b.Stats()
	require.Equal(t, 0, st.Ready, "the job's next evaluation waits for the outstanding one")
	require.Equal(t, 1, st.Unacked)
	require.Equal(t, 1, st.Waiting)
	require.Equal(t, 2, st.Folded)
	require.NoError(t, b.Ack(e.Id, tok))
	e, tok = dequeue(t, b)
	require.Equal(t, "a3", e.Id)
	require.NoError(t, b.Ack(e.Id, tok))
	require.Equal(t, Stats{Folded: 2, Cancelable: 2}, b.Stats())
	var canceled []string
	for _, c := range b.TakeCancelable(10) {
		canceled = append(canceled, c.Id)
	}
	require.Equal(t, []string{"a2", "a4"}, canceled, "folded evaluations are handed over for cancellation")
}

func TestBrokerPinHoldsThePendingEvaluation(t *testing.T) {
	b := New(Config{DeliveryLimit: 3, NackDelay: time.Millisecond})
	b.SetEnabled(true)
	defer b.SetEnabled(false)
	_, ok := b.Pin("default", "a")
	require.False(t, ok, "nothing pending to rely on")
	b.Enqueue(ev("e1", "a", 50))
	id, ok := b.Pin("default", "a")
	require.True(t, ok)
	require.Equal(t, "e1", id)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	_, _, err := b.Dequeue(ctx, allTypes)
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded, "a pinned evaluation is not handed out")

	b.Unpin("default", "a", id)
	e, _ := dequeue(t, b)
	require.Equal(t, "e1", e.Id)
	_, ok = b.Pin("default", "a")
	require.False(t, ok, "an outstanding evaluation cannot be relied on: its snapshot may be old")
}

func TestBrokerPinIsBounded(t *testing.T) {
	now := clock.NewFake(time.Unix(100, 0))
	b := New(Config{DeliveryLimit: 3, NackDelay: time.Millisecond, Clock: now})
	b.SetEnabled(true)
	defer b.SetEnabled(false)
	b.Enqueue(ev("e1", "a", 50))
	_, ok := b.Pin("default", "a")
	require.True(t, ok)
	now.Advance(b.maxPin / 2)
	_, ok = b.Pin("default", "a")
	require.True(t, ok, "overlapping pins within the bound")
	now.Advance(b.maxPin)
	_, ok = b.Pin("default", "a")
	require.False(t, ok, "past the bound new pins are refused, so the evaluation runs")
}

func TestBrokerPause(t *testing.T) {
	b := New(Config{DeliveryLimit: 3, NackDelay: time.Millisecond})
	b.SetEnabled(true)
	defer b.SetEnabled(false)
	b.SetPaused(true)
	b.Enqueue(ev("e1", "a", 50))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	_, _, err := b.Dequeue(ctx, allTypes)
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded, "a paused broker hands nothing out")
	require.Equal(t, 1, b.Stats().Ready, "but keeps queueing")
	b.SetPaused(false)
	e, _ := dequeue(t, b)
	require.Equal(t, "e1", e.Id)
}

func TestBrokerDelaysUntilWaitUntil(t *testing.T) {
	b := New(Config{DeliveryLimit: 3, NackDelay: time.Millisecond})
	b.SetEnabled(true)
	defer b.SetEnabled(false)
	later := ev("later", "a", 50)
	later.WaitUntil = time.Now().Add(50 * time.Millisecond).UnixNano()
	b.Enqueue(later)
	require.Equal(t, 1, b.Stats().Delayed)
	e, _ := dequeue(t, b)
	require.Equal(t, "later", e.Id)
	require.GreaterOrEqual(t, time.Now().UnixNano(), later.WaitUntil, "not handed out before its time")
}

func TestBrokerNackRedeliversThenFails(t *testing.T) {
	var mu sync.Mutex
	var failed []string
	b := New(Config{DeliveryLimit: 2, NackDelay: time.Millisecond, OnFailed: func(e *structs.Evaluation) {
		mu.Lock()
		defer mu.Unlock()
		failed = append(failed, e.Id)
	}})
	b.SetEnabled(true)
	defer b.SetEnabled(false)
	b.Enqueue(ev("e1", "a", 50))
	e, tok := dequeue(t, b)
	require.Error(t, b.Ack(e.Id, "wrong-token"))
	require.NoError(t, b.Nack(e.Id, tok))
	e, tok = dequeue(t, b)
	require.Equal(t, "e1", e.Id, "a nacked evaluation is delivered again")
	require.NoError(t, b.Nack(e.Id, tok))
	mu.Lock()
	require.Equal(t, []string{"e1"}, failed, "past the delivery limit it is failed")
	mu.Unlock()
	st := b.Stats()
	require.Zero(t, st.Ready+st.Unacked)
}

func TestBrokerDisabledDropsAndUnblocksWaiters(t *testing.T) {
	b := New(Config{DeliveryLimit: 3, NackDelay: time.Millisecond})
	b.Enqueue(ev("e1", "a", 50))
	require.Zero(t, b.Stats().Ready, "a follower's broker holds nothing")

	b.SetEnabled(true)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, _, err := b.Dequeue(ctx, allTypes)
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
	b := New(Config{DeliveryLimit: 3, NackDelay: time.Millisecond})
	b.SetEnabled(true)
	defer b.SetEnabled(false)
	sys := ev("sys", "s", 90)
	sys.Type = "system"
	b.Enqueue(sys)
	b.Enqueue(ev("svc", "a", 10))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e, _, err := b.Dequeue(ctx, map[string]bool{"service": true})
	require.NoError(t, err)
	require.Equal(t, "svc", e.Id, "a worker only takes the types it is enabled for")
	require.Equal(t, 1, b.Stats().Ready)
}

func dequeueLeased(t *testing.T, b *Broker) (*structs.Evaluation, string) {
	t.Helper()
	return take(t, b.DequeueLeased)
}

// TestBrokerLeaseOfARemoteWorker: an evaluation handed out with a lease
// is nacked for its worker when the lease runs out unrenewed, counts as a
// delivery, and fails at the delivery limit; a renewal keeps it; the
// expired token is refused afterwards.
func TestBrokerLeaseOfARemoteWorker(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var mu sync.Mutex
	var failed []string
	b := New(Config{DeliveryLimit: 2, NackDelay: time.Second, UnackTimeout: time.Minute, Clock: fake,
		OnFailed: func(e *structs.Evaluation) { mu.Lock(); failed = append(failed, e.Id); mu.Unlock() }})
	b.SetEnabled(true)
	defer b.SetEnabled(false)
	b.Enqueue(ev("e1", "a", 50))

	e, tok := dequeueLeased(t, b)
	require.Equal(t, "e1", e.Id)
	fake.Advance(40 * time.Second)
	fake.Wait()
	require.NoError(t, b.OutstandingReset(e.Id, tok), "the worker is still at it")
	fake.Advance(40 * time.Second)
	fake.Wait()
	_, ok := b.Outstanding(e.Id, tok)
	require.True(t, ok, "renewed 40s ago: still outstanding")

	fake.Advance(21 * time.Second) // the lease runs out
	fake.Wait()
	_, ok = b.Outstanding(e.Id, tok)
	require.False(t, ok)
	require.Error(t, b.Ack(e.Id, tok), "the expired token is refused")
	fake.Advance(time.Second) // the nack delay of one delivery
	fake.Wait()
	e2, tok2 := dequeueLeased(t, b)
	require.Equal(t, "e1", e2.Id)
	require.NotEqual(t, tok, tok2)

	fake.Advance(time.Minute) // the second lease runs out: the delivery limit
	fake.Wait()
	mu.Lock()
	require.Equal(t, []string{"e1"}, failed)
	mu.Unlock()
	require.Equal(t, 0, b.Stats().Unacked)
}

// TestBrokerLeasedDequeueFailsWhileDisabled: a remote worker is told at
// once that the broker is off, and when it is turned off during the wait;
// a token of before the broker was turned off and on again never matches.
func TestBrokerLeasedDequeueFailsWhileDisabled(t *testing.T) {
	b := New(Config{DeliveryLimit: 3, NackDelay: time.Millisecond})
	_, _, err := b.DequeueLeased(context.Background(), allTypes)
	require.ErrorIs(t, err, ErrDisabled)

	b.SetEnabled(true)
	b.Enqueue(ev("e1", "a", 50))
	e, tok := dequeueLeased(t, b)
	done := make(chan error, 1)
	go func() {
		_, _, err := b.DequeueLeased(context.Background(), allTypes)
		done <- err
	}()
	b.SetEnabled(false) // leadership lost, whether the call waits yet or not
	require.ErrorIs(t, <-done, ErrDisabled)

	b.SetEnabled(true) // leadership won again: the evaluation is enqueued anew
	defer b.SetEnabled(false)
	b.Enqueue(ev("e1", "a", 50))
	e2, tok2 := dequeueLeased(t, b)
	require.Equal(t, e.Id, e2.Id)
	require.NotEqual(t, tok, tok2, "the first delivery of each leadership has its own token")
	require.Error(t, b.Ack(e.Id, tok), "the former leadership's token is refused")
	require.NoError(t, b.Ack(e2.Id, tok2))
}
