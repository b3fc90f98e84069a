package server

import (
	"context"
	"fmt"

	"github.com/droverhq/drover/server/acl"
	"github.com/droverhq/drover/structs"
)

// RevertJob registers a kept version of a job again, as its new version,
// with an evaluation that rolls it out. With enforcePrior set, the job
// must be at that version. It needs submit-job or revert-job.
func (s *Server) RevertJob(ctx context.Context, namespace, jobID string, version uint64, enforcePrior *uint64) (*structs.JobRegisterResponse, error) {
	namespace = orDefault(namespace)
	if err := s.allowNamespace(ctx, namespace, acl.NamespaceCapabilitySubmitJob, acl.NamespaceCapabilityRevertJob); err != nil {
		return nil, err
	}
	var resp *structs.JobRegisterResponse
	err := s.leaderCall(ctx, func(ctx context.Context) error {
		snap := s.state.Snapshot()
		cur := snap.Job(namespace, jobID)
		if cur == nil {
			return fmt.Errorf("%w: job %s in namespace %s", ErrNotFound, structs.Quote(jobID), structs.Quote(namespace))
		}
		if enforcePrior != nil && cur.Version != *enforcePrior {
			return fmt.Errorf("%w: the job is at version %d, not %d", ErrBadRequest, cur.Version, *enforcePrior)
		}
		if version == cur.Version {
			return fmt.Errorf("%w: can't revert to the current version %d", ErrBadRequest, version)
		}
		v := snap.JobVersion(namespace, jobID, version)
		if v == nil {
			return fmt.Errorf("%w: job %s has no version %d", ErrNotFound, structs.Quote(jobID), version)
		}
		job := revertable(v)
		eval := newEval(job, structs.EvalTriggerJobRevert)
		idx, err := s.raft.Propose(ctx, &structs.LogCommand{Command: &structs.LogCommand_JobUpsert{JobUpsert: &structs.JobUpsert{
			Job: job, Eval: eval, TrackedVersions: s.trackedVersions(),
		}}})
		if err != nil {
			return err
		}
		resp = &structs.JobRegisterResponse{EvalId: eval.Id, JobModifyIndex: idx, Meta: &structs.WriteMeta{Index: idx}}
		return nil
	}, func(ctx context.Context, c structs.DroverClient) (err error) {
		resp, err = c.RevertJob(ctx, &structs.JobRevertRequest{
			Namespace: namespace, JobId: jobID, JobVersion: version, EnforcePriorVersion: enforcePrior,
		})
		return err
	})
	return resp, err
}

// SetJobStability marks a kept version of a job stable (what auto_revert
// goes back to) or not. It needs submit-job or stable-job.
func (s *Server) SetJobStability(ctx context.Context, namespace, jobID string, version uint64, stable bool) (*structs.JobStabilityResponse, error) {
	namespace = orDefault(namespace)
	if err := s.allowNamespace(ctx, namespace, acl.NamespaceCapabilitySubmitJob, acl.NamespaceCapabilityStableJob); err != nil {
		return nil, err
	}
	var resp *structs.JobStabilityResponse
	err := s.leaderCall(ctx, func(ctx context.Context) error {
		idx, err := s.raft.Propose(ctx, &structs.LogCommand{Command: &structs.LogCommand_JobStability{JobStability: &structs.JobStability{
			Namespace: namespace, JobId: jobID, Version: version, Stable: stable,
		}}})
		if err != nil {
			return err
		}
		resp = &structs.JobStabilityResponse{JobModifyIndex: idx, Meta: &structs.WriteMeta{Index: idx}}
		return nil
	}, func(ctx context.Context, c structs.DroverClient) (err error) {
		resp, err = c.SetJobStability(ctx, &structs.JobStabilityRequest{
			Namespace: namespace, JobId: jobID, JobVersion: version, Stable: stable,
		})
		return err
	})
	return resp, err
}
