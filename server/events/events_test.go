package events

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func jobEvent(index uint64, ns, id string) Event {
	return Event{Topic: TopicJob, Type: TypeJobRegistered, Key: id, Namespace: ns, Index: index}
}

func allocEvent(index uint64, id, job string) Event {
	return Event{Topic: TopicAllocation, Type: TypeAllocationUpdated, Key: id, Namespace: "default", FilterKeys: []string{job}, Index: index}
}

func nodeEvent(index uint64, id string) Event {
	return Event{Topic: TopicNode, Type: TypeNodeRegistration, Key: id, Index: index}
}

// next reads one batch, failing the test if none arrives promptly.
func next(t *testing.T, s *Subscription) Batch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, err := s.Next(ctx)
	require.NoError(t, err)
	return b
}

func TestSubscriberReadsBatchesInOrderFromAnIndex(t *testing.T) {
	b := New(10, 0)
	for i := uint64(1); i <= 5; i++ {
		b.Publish(i, []Event{jobEvent(i, "default", "web")})
	}
	s, err := b.Subscribe(SubscribeRequest{Index: 3})
	require.NoError(t, err)
	defer s.Close()
	for want := uint64(3); want <= 5; want++ {
		require.Equal(t, want, next(t, s).Index)
	}
	// The next batch is published while the reader waits.
	got := make(chan Batch, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		bt, _ := s.Next(ctx)
		got <- bt
	}()
	b.Publish(6, []Event{jobEvent(6, "default", "web")})
	require.Equal(t, uint64(6), (<-got).Index)
}

func TestIndexZeroStartsWithTheOldestBufferedBatch(t *testing.T) {
	b := New(3, 0)
	for i := uint64(1); i <= 5; i++ {
		b.Publish(i, []Event{jobEvent(i, "default", "web")})
	}
	s, err := b.Subscribe(SubscribeRequest{})
	require.NoError(t, err)
	defer s.Close()
	require.Equal(t, uint64(3), next(t, s).Index)
}

func TestTopicKeyAndNamespaceFilters(t *testing.T) {
	b := New(10, 0)
	b.Publish(1, []Event{jobEvent(1, "default", "web"), jobEvent(1, "default", "db"), nodeEvent(1, "n1")})
	b.Publish(2, []Event{allocEvent(2, "a1", "web"), allocEvent(2, "a2", "db")})
	b.Publish(3, []Event{jobEvent(3, "prod", "web")})

	cases := []struct {
		name string
		req  SubscribeRequest
		want [][]string // keys per batch delivered
	}{
		{"everything", SubscribeRequest{}, [][]string{{"web", "db", "n1"}, {"a1", "a2"}, {"web"}}},
		{"one topic", SubscribeRequest{Topics: map[Topic][]string{TopicNode: nil}}, [][]string{{"n1"}}},
		{"one key", SubscribeRequest{Topics: map[Topic][]string{TopicJob: {"web"}}}, [][]string{{"web"}, {"web"}}},
		{"filter keys", SubscribeRequest{Topics: map[Topic][]string{TopicAllocation: {"db"}}}, [][]string{{"a2"}}},
		{"star key", SubscribeRequest{Topics: map[Topic][]string{TopicJob: {"*"}}}, [][]string{{"web", "db"}, {"web"}}},
		{"all topics one key", SubscribeRequest{Topics: map[Topic][]string{TopicAll: {"web"}}}, [][]string{{"web"}, {"a1"}, {"web"}}},
		{"namespace", SubscribeRequest{Namespace: "prod"}, [][]string{{"n1"}, {"web"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := b.Subscribe(tc.req)
			require.NoError(t, err)
			defer s.Close()
			for _, keys := range tc.want {
				bt := next(t, s)
				var got []string
				for _, e := range bt.Events {
					got = append(got, e.Key)
				}
				require.Equal(t, keys, got)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			_, err = s.Next(ctx)
			require.ErrorIs(t, err, context.DeadlineExceeded, "nothing more matches")
		})
	}
}

func TestUnknownTopicIsRefused(t *testing.T) {
	_, err := New(1, 0).Subscribe(SubscribeRequest{Topics: map[Topic][]string{"Jobs": nil}})
	require.ErrorIs(t, err, ErrBadTopic)
}

func TestSlowSubscriberGetsLaggedNotAGap(t *testing.T) {
	b := New(3, 0)
	b.Publish(1, []Event{jobEvent(1, "default", "web")})
	s, err := b.Subscribe(SubscribeRequest{})
	require.NoError(t, err)
	defer s.Close()
	require.Equal(t, uint64(1), next(t, s).Index)
	for i := uint64(2); i <= 6; i++ { // 2 and 3 are evicted before they are read
		b.Publish(i, []Event{jobEvent(i, "default", "web")})
	}
	_, err = s.Next(context.Background())
	require.ErrorIs(t, err, ErrLagged)
	_, err = s.Next(context.Background())
	require.ErrorIs(t, err, ErrLagged, "the error sticks: the subscriber must resubscribe")
}

func TestSubscribingBelowTheBufferIsRefused(t *testing.T) {
	b := New(2, 0)
	for i := uint64(1); i <= 4; i++ {
		b.Publish(i, []Event{jobEvent(i, "default", "web")})
	}
	_, err := b.Subscribe(SubscribeRequest{Index: 2})
	require.ErrorIs(t, err, ErrLagged)
	s, err := b.Subscribe(SubscribeRequest{Index: 3})
	require.NoError(t, err)
	s.Close()

	restored := New(10, 100) // a server that restored a snapshot at 100
	_, err = restored.Subscribe(SubscribeRequest{Index: 50})
	require.ErrorIs(t, err, ErrLagged)
	s, err = restored.Subscribe(SubscribeRequest{Index: 101})
	require.NoError(t, err)
	s.Close()
}

func TestResetMakesReadersAcrossTheJumpLag(t *testing.T) {
	b := New(10, 0)
	b.Publish(1, []Event{jobEvent(1, "default", "web")})
	s, err := b.Subscribe(SubscribeRequest{Index: 2})
	require.NoError(t, err)
	defer s.Close()
	b.Reset(50)
	b.Publish(51, []Event{jobEvent(51, "default", "web")})
	_, err = s.Next(context.Background())
	require.ErrorIs(t, err, ErrLagged)

	fresh, err := b.Subscribe(SubscribeRequest{Index: 51})
	require.NoError(t, err)
	defer fresh.Close()
	require.Equal(t, uint64(51), next(t, fresh).Index)
}

func TestCloseEndsBlockedReaders(t *testing.T) {
	b := New(4, 0)
	s1, err := b.Subscribe(SubscribeRequest{})
	require.NoError(t, err)
	s2, err := b.Subscribe(SubscribeRequest{})
	require.NoError(t, err)
	errs := make(chan error, 2)
	for _, s := range []*Subscription{s1, s2} {
		go func() {
			_, err := s.Next(context.Background())
			errs <- err
		}()
	}
	s1.Close()
	require.ErrorIs(t, <-errs, ErrClosed)
	b.Close()
	require.ErrorIs(t, <-errs, ErrClosed)
	_, err = b.Subscribe(SubscribeRequest{})
	require.ErrorIs(t, err, ErrClosed)
	b.Publish(1, []Event{jobEvent(1, "default", "web")}) // no-op, no panic
}

func TestContextTimeoutKeepsTheCursor(t *testing.T) {
	b := New(4, 0)
	s, err := b.Subscribe(SubscribeRequest{})
	require.NoError(t, err)
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	_, err = s.Next(ctx)
	cancel()
	require.True(t, errors.Is(err, context.DeadlineExceeded))
	b.Publish(7, []Event{jobEvent(7, "default", "web")})
	require.Equal(t, uint64(7), next(t, s).Index)
}
