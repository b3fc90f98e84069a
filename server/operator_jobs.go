package server

import (
	"context"
	"fmt"

	"github.com/droverhq/drover/server/acl"
	"github.com/droverhq/drover/structs"
)

// EvaluateJob creates a new evaluation of a job (nomad job eval), so the
// scheduler looks at it again. With forceReschedule, the job's failed
// allocations that were not replaced yet are rescheduled at once, even
// if their reschedule policy would wait or give up.
func (s *Server) EvaluateJob(ctx context.Context, namespace, jobID string, forceReschedule bool) (evalID string, index uint64, err error) {
	if namespace == "" {
		namespace = structs.DefaultNamespace
	}
	if err := s.allowNamespace(ctx, namespace, acl.NamespaceCapabilitySubmitJob, acl.NamespaceCapabilityEvaluateJob); err != nil {
		return "", 0, err
	}
	err = s.leaderCall(ctx, func(ctx context.Context) error {
		job := s.job(namespace, jobID)
		if job == nil {
			return fmt.Errorf("%w: job %s in namespace %s", ErrNotFound, structs.Quote(jobID), structs.Quote(namespace))
		}
		eval := newEval(job, structs.EvalTriggerJobRegister)
		eval.JobModifyIndex = job.JobModifyIndex
		marks := map[string]*structs.DesiredTransition{}
		if forceReschedule {
			for _, a := range s.state.Snapshot().AllocsByJob(namespace, jobID) {
				if a.ClientStatus == structs.AllocClientFailed && a.NextAllocation == "" && a.DesiredStatus == structs.AllocDesiredRun {
					tr := &structs.DesiredTransition{ForceReschedule: true}
					if cur := a.GetDesiredTransition(); cur != nil {
						tr.Migrate, tr.Reschedule = cur.Migrate, cur.Reschedule
					}
					marks[a.Id] = tr
				}
			}
		}
		idx, err := s.raft.Propose(ctx, &structs.LogCommand{Command: &structs.LogCommand_AllocTransition{
			AllocTransition: &structs.AllocTransitionUpdate{Transitions: marks, Evals: []*structs.Evaluation{eval}},
		}})
		if err != nil {
			return err
		}
		evalID, index = eval.Id, idx
		return nil
	}, func(ctx context.Context, c structs.DroverClient) error {
		resp, err := c.EvaluateJob(ctx, &structs.JobEvaluateRequest{Namespace: namespace, JobId: jobID, ForceReschedule: forceReschedule})
		evalID, index = resp.GetEvalId(), resp.GetMeta().GetIndex()
		return err
	})
	return evalID, index, err
}

// ReconcileJobSummaries rebuilds every job summary from the allocations
// and evaluations, through raft (nomad system reconcile summaries). It
// needs a management token.
func (s *Server) ReconcileJobSummaries(ctx context.Context) (uint64, error) {
	if err := s.allowManagement(ctx); err != nil {
		return 0, err
	}
	var index uint64
	err := s.leaderCall(ctx, func(ctx context.Context) (err error) {
		index, err = s.raft.Propose(ctx, &structs.LogCommand{Command: &structs.LogCommand_SummariesReconcile{
			SummariesReconcile: &structs.SummariesReconcile{},
		}})
		return err
	}, func(ctx context.Context, c structs.DroverClient) error {
		resp, err := c.ReconcileJobSummaries(ctx, &structs.Empty{})
		index = resp.GetMeta().GetIndex()
		return err
	})
	return index, err
}
