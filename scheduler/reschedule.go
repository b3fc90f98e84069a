package scheduler

import (
	"time"

	"github.com/droverhq/drover/structs"
)

// Default reschedule policies, Nomad's: service allocations are replaced
// without limit after an exponentially growing delay; a batch allocation
// is replaced once a day.
func defaultReschedulePolicy(jobType string) *structs.ReschedulePolicy {
	switch jobType {
	case structs.JobTypeService:
		return &structs.ReschedulePolicy{
			Unlimited: true, DelayFunction: "exponential",
			Delay: durationOf(30 * time.Second), MaxDelay: durationOf(time.Hour),
		}
	case structs.JobTypeBatch:
		return &structs.ReschedulePolicy{
			Attempts: 1, Interval: durationOf(24 * time.Hour), DelayFunction: "constant",
			Delay: durationOf(5 * time.Second),
		}
	}
	return nil
}

// reschedulePolicy is the group's policy or its job type's default.
func reschedulePolicy(job *structs.Job, tg *structs.TaskGroup) *structs.ReschedulePolicy {
	if tg.ReschedulePolicy != nil {
		return tg.ReschedulePolicy
	}
	return defaultReschedulePolicy(job.Type)
}

// rescheduleAt decides whether a failed allocation may be replaced and
// when: eligible is false once the policy's attempts in its interval are
// used up.
func rescheduleAt(a *structs.Allocation, p *structs.ReschedulePolicy, now time.Time) (when time.Time, eligible bool) {
	if p == nil || (!p.Unlimited && p.Attempts <= 0) {
		return time.Time{}, false
	}
	events := a.GetRescheduleTracker().GetEvents()
	if !p.Unlimited {
		since := now.Add(-p.Interval.AsDuration()).UnixNano()
		n := int32(0)
		for _, e := range events {
			if e.RescheduleTime >= since {
				n++
			}
		}
		if n >= p.Attempts {
			return time.Time{}, false
		}
	}
	return failTime(a).Add(nextDelay(p, events)), true
}

// nextDelay is the delay before the next rescheduling under the policy's
// delay function, given the history so far.
func nextDelay(p *structs.ReschedulePolicy, events []*structs.RescheduleEvent) time.Duration {
	base := p.Delay.AsDuration()
	var d time.Duration
	switch p.DelayFunction {
	case "exponential":
		d = base
		if n := len(events); n > 0 {
			d = time.Duration(events[n-1].DelayNs) * 2
		}
	case "fibonacci":
		switch n := len(events); {
		case n == 0:
			d = base
		case n == 1:
			d = time.Duration(events[0].DelayNs)
		default:
			d = time.Duration(events[n-1].DelayNs + events[n-2].DelayNs)
		}
	default:
		d = base
	}
	if m := p.MaxDelay.AsDuration(); m > 0 && d > m {
		d = m
	}
	return d
}

// failTime is when the allocation's last task finished, or its last change.
func failTime(a *structs.Allocation) time.Time {
	var last int64
	for _, ts := range a.TaskStates {
		last = max(last, ts.GetFinishedAt())
	}
	if last == 0 {
		last = a.ModifyTime
	}
	return time.Unix(0, last)
}

// appendReschedule is the reschedule history of prev's replacement.
func appendReschedule(prev *structs.Allocation, now time.Time) *structs.RescheduleTracker {
	var events []*structs.RescheduleEvent
	events = append(events, prev.GetRescheduleTracker().GetEvents()...)
	p := reschedulePolicy(prev.Job, groupOf(prev.Job, prev.TaskGroup))
	delay := time.Duration(0)
	if p != nil {
		delay = nextDelay(p, prev.GetRescheduleTracker().GetEvents())
	}
	events = append(events, &structs.RescheduleEvent{
		RescheduleTime: now.UnixNano(), PrevAllocId: prev.Id, PrevNodeId: prev.NodeId, DelayNs: int64(delay),
	})
	return &structs.RescheduleTracker{Events: events}
}
