package events

import (
	"context"
	"testing"
)

// BenchmarkPublish measures appending one applied entry's events.
func BenchmarkPublish(b *testing.B) {
	br := New(100, 0)
	evs := []Event{jobEvent(1, "default", "web"), allocEvent(1, "a1", "web")}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		br.Publish(uint64(i+1), evs)
	}
}

// BenchmarkPublishAndRead measures one entry published and read by a
// subscriber filtering on one job.
func BenchmarkPublishAndRead(b *testing.B) {
	br := New(1024, 0)
	sub, err := br.Subscribe(SubscribeRequest{Topics: map[Topic][]string{TopicJob: {"web"}}})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	evs := []Event{jobEvent(1, "default", "web"), allocEvent(1, "a1", "web"), nodeEvent(1, "n1")}
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		br.Publish(uint64(i+1), evs)
		if _, err := sub.Next(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
