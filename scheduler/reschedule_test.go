package scheduler

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/droverhq/drover/structs"
)

func TestExponentialRescheduleDelay(t *testing.T) {
	p := &structs.ReschedulePolicy{Unlimited: true, Delay: durationpb.New(time.Second), DelayFunction: "exponential", MaxDelay: durationpb.New(5 * time.Second)}
	var events []*structs.RescheduleEvent
	var got []time.Duration
	for i := 0; i < 5; i++ {
		d := nextDelay(p, events)
		got = append(got, d)
		events = append(events, &structs.RescheduleEvent{DelayNs: int64(d)})
	}
	require.Equal(t, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}, got)
	p.DelayFunction = "fibonacci"
	events, got = nil, nil
	for i := 0; i < 6; i++ {
		d := nextDelay(p, events)
		got = append(got, d)
		events = append(events, &structs.RescheduleEvent{DelayNs: int64(d)})
	}
	require.Equal(t, []time.Duration{time.Second, time.Second, 2 * time.Second, 3 * time.Second, 5 * time.Second, 5 * time.Second}, got)
}
