package server

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/droverhq/drover/server/acl"
	"github.com/droverhq/drover/structs"
)

// ScaleRequest is a scale of one task group.
type ScaleRequest struct {
	Namespace, JobID, Group string
	// Count is the new count; nil records the event (Message, Error,
	// Meta) in the group's history without changing anything.
	Count   *int64
	Message string
	// Error marks the event as an autoscaler's error report.
	Error bool
	// Meta is free-form detail kept with the event.
	Meta map[string]any
	// EnforceIndex scales only if the job's JobModifyIndex is JobModifyIndex.
	EnforceIndex   bool
	JobModifyIndex uint64
}

// ScaleJob sets a group's count as a new version of the job, which rolls
// out like any change (through a deployment when the group has an update
// block), and records the event in the group's scaling history. A count
// outside the group's scaling bounds is refused with a
// *structs.ValidationError. It needs scale-job or submit-job.
func (s *Server) ScaleJob(ctx context.Context, req ScaleRequest) (*structs.JobRegisterResponse, error) {
	req.Namespace = orDefault(req.Namespace)
	if err := s.allowNamespace(ctx, req.Namespace, acl.NamespaceCapabilityScaleJob, acl.NamespaceCapabilitySubmitJob); err != nil {
		return nil, err
	}
	if req.Count != nil && req.Error {
		return nil, fmt.Errorf("%w: a scale that reports an error cannot set a count", ErrBadRequest)
	}
	var meta *structpb.Struct
	if len(req.Meta) > 0 {
		var err error
		if meta, err = structpb.NewStruct(req.Meta); err != nil {
			return nil, fmt.Errorf("%w: scale meta: %v", ErrBadRequest, err)
		}
	}
	var resp *structs.JobRegisterResponse
	err := s.leaderCall(ctx, func(ctx context.Context) error {
		job := s.job(req.Namespace, req.JobID)
		if job == nil {
			return fmt.Errorf("%w: job %s in namespace %s", ErrNotFound, structs.Quote(req.JobID), structs.Quote(req.Namespace))
		}
		if job.Stop && req.Count != nil {
			return fmt.Errorf("%w: job %s is stopped: register it again to scale it", ErrBadRequest, structs.Quote(req.JobID))
		}
		ev := &structs.ScalingEvent{Message: req.Message, Error: req.Error, Meta: meta}
		var eval *structs.Evaluation
		if req.Count != nil {
			if err := job.ValidateScale(req.Group, *req.Count); err != nil {
				return err
			}
			ev.Count, ev.HasCount = *req.Count, true
			eval = newEval(job, structs.EvalTriggerScaling)
		} else if !hasGroup(job, req.Group) {
			return &structs.ValidationError{Problems: []string{"scale of job " + structs.Quote(req.JobID) + ": group " + structs.Quote(req.Group) + " does not exist"}}
		}
		idx, err := s.raft.Propose(ctx, &structs.LogCommand{Command: &structs.LogCommand_JobScale{JobScale: &structs.JobScale{
			Namespace: req.Namespace, JobId: req.JobID, Group: req.Group, Event: ev, Eval: eval,
			TrackedVersions: s.trackedVersions(), EnforceIndex: req.EnforceIndex, JobModifyIndex: req.JobModifyIndex,
		}}})
		if err != nil {
			return err
		}
		resp = &structs.JobRegisterResponse{JobModifyIndex: idx, Meta: &structs.WriteMeta{Index: idx}}
		if eval != nil {
			resp.EvalId = eval.Id
		}
		return nil
	}, func(ctx context.Context, c structs.DroverClient) (err error) {
		resp, err = c.ScaleJob(ctx, &structs.JobScaleRequest{
			Namespace: req.Namespace, JobId: req.JobID, Group: req.Group, Count: req.Count, Message: req.Message,
			Error: req.Error, Meta: meta, EnforceIndex: req.EnforceIndex, JobModifyIndex: req.JobModifyIndex,
		})
		return err
	})
	return resp, err
}

func hasGroup(job *structs.Job, name string) bool {
	for _, g := range job.TaskGroups {
		if g.Name == name {
			return true
		}
	}
	return false
}

// GroupScaleStatus is what a scale status shows of one group.
type GroupScaleStatus struct {
	Desired, Placed, Running, Healthy, Unhealthy int
	Events                                       []*structs.ScalingEvent
}

// JobScaleStatus is the scale status of a job.
type JobScaleStatus struct {
	Job    *structs.Job
	Groups map[string]*GroupScaleStatus
}

// ScaleStatus reads the counts of a job's groups (desired, placed,
// running, healthy, unhealthy: of the current version's allocations that
// the servers want running) and their scaling histories. It needs
// read-job-scaling or read-job.
func (s *Server) ScaleStatus(ctx context.Context, namespace, jobID string) (*JobScaleStatus, error) {
	namespace = orDefault(namespace)
	if err := s.allowNamespace(ctx, namespace, acl.NamespaceCapabilityReadJobScaling, acl.NamespaceCapabilityReadJob); err != nil {
		return nil, err
	}
	if err := s.readBarrier(ctx); err != nil {
		return nil, err
	}
	snap := s.state.Snapshot()
	job := snap.Job(namespace, jobID)
	if job == nil {
		return nil, fmt.Errorf("%w: job %s in namespace %s", ErrNotFound, structs.Quote(jobID), structs.Quote(namespace))
	}
	out := &JobScaleStatus{Job: job, Groups: map[string]*GroupScaleStatus{}}
	for _, g := range job.TaskGroups {
		out.Groups[g.Name] = &GroupScaleStatus{Desired: int(g.Count)}
	}
	for _, a := range snap.AllocsByJob(namespace, jobID) {
		g := out.Groups[a.TaskGroup]
		if g == nil || a.DesiredStatus != structs.AllocDesiredRun || a.ClientTerminal() {
			continue
		}
		if a.GetJob().GetVersion() != job.Version {
			continue
		}
		g.Placed++
		if a.ClientStatus == structs.AllocClientRunning {
			g.Running++
		}
		if h := a.GetDeploymentStatus(); h != nil && h.Healthy != nil {
			if *h.Healthy {
				g.Healthy++
			} else {
				g.Unhealthy++
			}
		}
	}
	if ev := snap.ScalingEvents(namespace, jobID); ev != nil {
		for name, l := range ev.Groups {
			if g := out.Groups[name]; g != nil {
				g.Events = l.Events
			}
		}
	}
	return out, nil
}
