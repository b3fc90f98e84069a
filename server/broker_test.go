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
	b.enqueue(ev("a2", "a", 99)) // waits behind "low": same job
	b.enqueue(ev("high", "b", 90))

	e, tok := dequeue(t, b)
	require.Equal(t, "high", e.Id)
	require.NoError(t, b.ack(e.Id, tok))
	e, tok = dequeue(t, b)
	require.Equal(t, "low", e.Id)
	ready, unacked := b.stats()
	require.Equal(t, 0, ready, "the job's next evaluation waits for the outstanding one")
	require.Equal(t, 1, unacked)
	require.NoError(t, b.ack(e.Id, tok))
	e, _ = dequeue(t, b)
	require.Equal(t, "a2", e.Id)
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
	ready, unacked := b.stats()
	require.Zero(t, ready+unacked)
}

func TestBrokerDisabledDropsAndUnblocksWaiters(t *testing.T) {
	b := newEvalBroker(3, time.Millisecond, nil)
	b.enqueue(ev("e1", "a", 50))
	ready, _ := b.stats()
	require.Zero(t, ready, "a follower's broker holds nothing")

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
	ready, _ := b.stats()
	require.Equal(t, 1, ready)
}
