package drover

import (
	"context"
	"iter"

	"github.com/droverhq/drover/server"
	"github.com/droverhq/drover/structs"
)

// Batch platforms, under the names a user of the package writes (see
// docs/batch.md).
type (
	// PeriodicConfig is a job's periodic block: the crons its children
	// are launched on.
	PeriodicConfig = structs.PeriodicConfig
	// ParameterizedJobConfig is a job's parameterized block: what a
	// dispatch must and may give.
	ParameterizedJobConfig = structs.ParameterizedJobConfig
	// DispatchPayloadConfig is a task's dispatch_payload block: where the
	// payload of a dispatched child is written.
	DispatchPayloadConfig = structs.DispatchPayloadConfig
	// ScalingPolicy is a group's scaling block: the bounds of its count.
	ScalingPolicy = structs.ScalingPolicy
	// ScalingEvent is one entry of a group's scaling history.
	ScalingEvent = structs.ScalingEvent
	// JobChildrenSummary counts a parent job's children by status.
	JobChildrenSummary = structs.JobChildrenSummary
)

// Values of ParameterizedJobConfig.Payload and its size limit.
const (
	DispatchPayloadOptional  = structs.DispatchPayloadOptional
	DispatchPayloadRequired  = structs.DispatchPayloadRequired
	DispatchPayloadForbidden = structs.DispatchPayloadForbidden
	// DispatchPayloadSizeLimit bounds a dispatched payload (16 KiB).
	DispatchPayloadSizeLimit = structs.DispatchPayloadSizeLimit
)

// Dispatch is one dispatch of a parameterized job.
type Dispatch struct {
	// Namespace ("" is the default) and JobID name the parameterized job.
	Namespace, JobID string
	// Payload is written into each task's local/ directory where its
	// dispatch_payload block says; at most DispatchPayloadSizeLimit bytes.
	Payload []byte
	// Meta is merged over the job's meta; its keys must be declared by
	// the job's MetaRequired or MetaOptional.
	Meta map[string]string
	// IdempotencyToken, when set, makes a repeated dispatch with the same
	// token return the child the first one created instead of a new one.
	IdempotencyToken string
	// IDPrefix, when set, goes into the child's id:
	// <parent>/dispatch-<prefix>-<unix time>-<8 hex>.
	IDPrefix string
	// Priority, when set, replaces the job's priority for the child.
	Priority int32
}

// Dispatched is the child job a dispatch created.
type Dispatched struct {
	// JobID is the child's id: <parent>/dispatch-<unix time>-<8 hex>.
	JobID string
	// EvalID is the evaluation that places the child.
	EvalID string
	// Index is the raft index of the write.
	Index uint64
}

// DispatchJob creates a child of a parameterized job that runs once, with
// a payload and meta. A dispatch that breaks the job's rules (a missing
// required meta key, an undeclared key, a payload the job forbids or
// requires, a payload over the limit) is refused whole with a
// *ValidationError naming each problem, and changes nothing.
func (s *Server) DispatchJob(ctx context.Context, d Dispatch) (Dispatched, error) {
	resp, err := s.srv.DispatchJob(ctx, server.DispatchRequest{
		Namespace: d.Namespace, JobID: d.JobID, Payload: d.Payload, Meta: d.Meta, IdempotencyToken: d.IdempotencyToken,
		IDPrefix: d.IDPrefix, Priority: d.Priority,
	})
	if err != nil {
		return Dispatched{}, err
	}
	return Dispatched{JobID: resp.DispatchedJobId, EvalID: resp.EvalId, Index: resp.GetMeta().GetIndex()}, nil
}

// ForcePeriodicLaunch launches a child of a periodic job now, whatever
// its schedule, and returns the child's id (<parent>/periodic-<unix time>)
// and the evaluation that places it.
func (s *Server) ForcePeriodicLaunch(ctx context.Context, namespace, jobID string) (childID, evalID string, err error) {
	resp, err := s.srv.ForcePeriodic(ctx, namespace, jobID)
	if err != nil {
		return "", "", err
	}
	return resp.ChildId, resp.EvalId, nil
}

// JobChildren lists the children of a periodic or parameterized job, in
// id order (for periodic children: launch order).
func (s *Server) JobChildren(ctx context.Context, namespace, jobID string) ([]*Job, error) {
	return s.srv.JobChildren(ctx, namespace, jobID)
}

// Scale is a scale of one task group.
type Scale struct {
	Namespace, JobID, Group string
	// Count is the new count; nil records only the event (Message, Error,
	// Meta) in the group's history.
	Count *int64
	// Message says why, for the history.
	Message string
	// Error marks the event as an autoscaler's error report (no Count).
	Error bool
	// Meta is free-form detail kept with the event.
	Meta map[string]any
}

// ScaleJob sets a group's count. The scale is a new version of the job
// that rolls out like any change (through a deployment when the group has
// an update block) and is recorded in the group's scaling history. A
// count outside the group's scaling block [Min, Max] is refused with a
// *ValidationError. It returns the evaluation that applies the scale
// ("" for an event without a count) and the write's index.
func (s *Server) ScaleJob(ctx context.Context, sc Scale) (evalID string, index uint64, err error) {
	resp, err := s.srv.ScaleJob(ctx, server.ScaleRequest{
		Namespace: sc.Namespace, JobID: sc.JobID, Group: sc.Group, Count: sc.Count,
		Message: sc.Message, Error: sc.Error, Meta: sc.Meta,
	})
	if err != nil {
		return "", 0, err
	}
	return resp.EvalId, resp.GetMeta().GetIndex(), nil
}

// GroupScaleStatus is one group's counts and scaling history.
type GroupScaleStatus struct {
	// Desired is the group's count; Placed, Running, Healthy and Unhealthy
	// count the current version's allocations the servers want running.
	Desired, Placed, Running, Healthy, Unhealthy int
	// Events is the scaling history, oldest first (the latest 20).
	Events []*ScalingEvent
}

// ScaleStatus reads the counts and scaling history of a job's groups, by
// group name.
func (s *Server) ScaleStatus(ctx context.Context, namespace, jobID string) (map[string]GroupScaleStatus, error) {
	st, err := s.srv.ScaleStatus(ctx, namespace, jobID)
	if err != nil {
		return nil, err
	}
	out := make(map[string]GroupScaleStatus, len(st.Groups))
	for name, g := range st.Groups {
		out[name] = GroupScaleStatus{Desired: g.Desired, Placed: g.Placed, Running: g.Running, Healthy: g.Healthy,
			Unhealthy: g.Unhealthy, Events: g.Events}
	}
	return out, nil
}

// WatchJobChildren yields the children of a periodic or parameterized job
// at once, and again each time one of them is added or changes (its
// status, say). It blocks between changes and ends as WatchJob does.
func (s *Server) WatchJobChildren(ctx context.Context, namespace, jobID string) iter.Seq2[[]*Job, error] {
	return watch(ctx, s, func(ctx context.Context) ([]*Job, error) {
		return s.JobChildren(ctx, namespace, jobID)
	}, func(a, b []*Job) bool {
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			if a[i].Id != b[i].Id || a[i].ModifyIndex != b[i].ModifyIndex {
				return false
			}
		}
		return true
	})
}
