package client

import (
	"math/rand/v2"
	"time"

	"github.com/droverhq/drover/structs"
)

// restartTracker applies a group's restart policy to one task: at most
// Attempts restarts within Interval, each after Delay plus up to 25%
// jitter (as Nomad adds, so that tasks failing together do not restart in
// lockstep); past that, mode "fail" gives up and mode "delay" waits for
// the interval to end.
type restartTracker struct {
	policy      *structs.RestartPolicy
	batch       bool
	windowStart time.Time
	count       int32
	// jitter returns the extra wait added to a delay d.
	jitter func(d time.Duration) time.Duration
}

// restartJitter is Nomad's: up to a quarter of the delay.
func restartJitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(d)/4 + 1))
}

// restartDecision says what to do after a task exits.
type restartDecision struct {
	restart bool
	wait    time.Duration
	reason  string
}

func newRestartTracker(p *structs.RestartPolicy, jobType string) *restartTracker {
	if p == nil {
		p = structs.DefaultRestartPolicy(jobType)
	}
	return &restartTracker{policy: p, batch: jobType == structs.JobTypeBatch || jobType == structs.JobTypeSysBatch, jitter: restartJitter}
}

// next decides after an exit at now; success is whether the task exited cleanly.
func (t *restartTracker) next(now time.Time, success bool) restartDecision {
	if success && t.batch {
		return restartDecision{reason: "task completed"}
	}
	interval := t.policy.GetInterval().AsDuration()
	if t.windowStart.IsZero() || (interval > 0 && now.Sub(t.windowStart) > interval) {
		t.windowStart = now
		t.count = 0
	}
	t.count++
	delay := t.policy.GetDelay().AsDuration()
	delay += t.jitter(delay)
	if t.count <= t.policy.GetAttempts() {
		return restartDecision{restart: true, wait: delay, reason: "restart within policy"}
	}
	if t.policy.GetMode() == structs.RestartModeDelay {
		wait := max(delay, t.windowStart.Add(interval).Sub(now))
		t.windowStart = time.Time{}
		return restartDecision{restart: true, wait: wait, reason: "exceeded attempts, waiting for the interval to end"}
	}
	return restartDecision{reason: "exceeded allowed attempts, applying a fail mode restart policy"}
}
