package server

import (
	"context"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/server/acl"
	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

// Deployments: reads are served by whichever server receives them (see
// Job); writes run on the leader, where they are decided against the
// latest state and committed as one raft entry with the evaluation that
// acts on them. Reads need read-job in the deployment's namespace;
// promote, fail and pause need submit-job or Nomad's
// promote-deployment, fail-deployment and pause-deployment; setting
// allocation health needs submit-job.

// Deployment reads one deployment.
func (s *Server) Deployment(ctx context.Context, id string) (*structs.Deployment, error) {
	if _, err := s.authorize(ctx); err != nil {
		return nil, err
	}
	if err := s.readBarrier(ctx); err != nil {
		return nil, err
	}
	d := s.state.Snapshot().Deployment(id)
	if d == nil {
		return nil, fmt.Errorf("%w: deployment %s", ErrNotFound, structs.Quote(id))
	}
	// The deployment's own namespace decides, never the caller's.
	if err := s.allowNamespace(ctx, d.Namespace, acl.NamespaceCapabilityReadJob); err != nil {
		return nil, err
	}
	return d, nil
}

// Deployments lists the deployments of a namespace ("" for all) whose id
// has prefix, newest first.
func (s *Server) Deployments(ctx context.Context, namespace, prefix string) ([]*structs.Deployment, error) {
	a, err := s.authorizeList(ctx, namespace, acl.NamespaceCapabilityReadJob)
	if err != nil {
		return nil, err
	}
	if err := s.readBarrier(ctx); err != nil {
		return nil, err
	}
	return newestFirst(visible(a, acl.NamespaceCapabilityReadJob, s.state.Snapshot().Deployments(namespace, prefix))), nil
}

// JobDeployments lists a job's deployments, newest first: those of the
// job as it exists now (its create index), or with all, also those of
// earlier jobs of the same id.
func (s *Server) JobDeployments(ctx context.Context, namespace, jobID string, all bool) ([]*structs.Deployment, error) {
	namespace = orDefault(namespace)
	if err := s.allowNamespace(ctx, namespace, acl.NamespaceCapabilityReadJob); err != nil {
		return nil, err
	}
	if err := s.readBarrier(ctx); err != nil {
		return nil, err
	}
	snap := s.state.Snapshot()
	out := snap.DeploymentsByJob(namespace, jobID)
	if !all {
		job := snap.Job(namespace, jobID)
		out = slices.DeleteFunc(out, func(d *structs.Deployment) bool { return job == nil || d.JobCreateIndex != job.CreateIndex })
	}
	return newestFirst(out), nil
}

// LatestDeployment returns the most recent deployment of the job as it
// exists now, or nil (and no error) when it has none or there is no
// such job: `nomad job status` asks for every job.
func (s *Server) LatestDeployment(ctx context.Context, namespace, jobID string) (*structs.Deployment, error) {
	ds, err := s.JobDeployments(ctx, namespace, jobID, false)
	if err != nil || len(ds) == 0 {
		return nil, err
	}
	return ds[0], nil
}

// DeploymentAllocations lists the allocations placed (or updated in
// place) by a deployment.
func (s *Server) DeploymentAllocations(ctx context.Context, id string) ([]*structs.Allocation, error) {
	if _, err := s.Deployment(ctx, id); err != nil {
		return nil, err
	}
	return s.state.Snapshot().AllocsByDeployment(id), nil
}

func newestFirst(ds []*structs.Deployment) []*structs.Deployment {
	slices.SortStableFunc(ds, func(a, b *structs.Deployment) int {
		switch {
		case a.CreateIndex > b.CreateIndex:
			return -1
		case a.CreateIndex < b.CreateIndex:
			return 1
		}
		return 0
	})
	return ds
}

func orDefault(ns string) string {
	if ns == "" {
		return structs.DefaultNamespace
	}
	return ns
}

// deploymentWrite authorizes a write to a deployment in its namespace
// and runs it on the leader: build makes the raft entry from the
// leader's state, remote is the same call forwarded.
func (s *Server) deploymentWrite(ctx context.Context, id string, caps []string,
	build func(snap *state.Snapshot, d *structs.Deployment) (*structs.LogCommand, *structs.Evaluation, error),
	remote func(ctx context.Context, c structs.DroverClient) (*structs.DeploymentUpdateResponse, error),
) (*structs.DeploymentUpdateResponse, error) {
	d := s.state.Snapshot().Deployment(id)
	if d == nil {
		// This server may be behind the leader that created it.
		if err := s.readBarrier(ctx); err != nil {
			return nil, err
		}
		if d = s.state.Snapshot().Deployment(id); d == nil {
			return nil, fmt.Errorf("%w: deployment %s", ErrNotFound, structs.Quote(id))
		}
	}
	if err := s.allowNamespace(ctx, d.Namespace, caps...); err != nil {
		return nil, err
	}
	var resp *structs.DeploymentUpdateResponse
	err := s.leaderCall(ctx, func(ctx context.Context) error {
		snap := s.state.Snapshot()
		d := snap.Deployment(id)
		if d == nil {
			return fmt.Errorf("%w: deployment %s", ErrNotFound, structs.Quote(id))
		}
		cmd, eval, err := build(snap, d)
		if err != nil {
			return err
		}
		idx, err := s.raft.Propose(ctx, cmd)
		if err != nil {
			return err
		}
		resp = &structs.DeploymentUpdateResponse{DeploymentModifyIndex: idx, Meta: &structs.WriteMeta{Index: idx}}
		if eval != nil {
			resp.EvalId = eval.Id
		}
		if j := revertedJob(cmd); j != nil {
			v := snap.Job(j.Namespace, j.Id).GetVersion() + 1
			resp.RevertedJobVersion = &v
		}
		return nil
	}, func(ctx context.Context, c structs.DroverClient) (err error) {
		resp, err = remote(ctx, c)
		return err
	})
	return resp, err
}

// revertedJob is the job an entry registers again, or nil.
func revertedJob(cmd *structs.LogCommand) *structs.Job {
	switch c := cmd.Command.(type) {
	case *structs.LogCommand_DeploymentStatus:
		return c.DeploymentStatus.GetJob()
	case *structs.LogCommand_DeploymentAllocHealth:
		return c.DeploymentAllocHealth.GetJob()
	}
	return nil
}

// PromoteDeployment promotes the canaries of the named groups (all with
// all): once promoted, the rollout goes on. Every canary of those groups
// must be healthy.
func (s *Server) PromoteDeployment(ctx context.Context, id string, all bool, groups []string) (*structs.DeploymentUpdateResponse, error) {
	return s.deploymentWrite(ctx, id, []string{acl.NamespaceCapabilitySubmitJob, acl.NamespaceCapabilityPromoteDeployment},
		func(snap *state.Snapshot, d *structs.Deployment) (*structs.LogCommand, *structs.Evaluation, error) {
			eval := deploymentEval(snap, d)
			return &structs.LogCommand{Command: &structs.LogCommand_DeploymentPromote{DeploymentPromote: &structs.DeploymentPromote{
				DeploymentId: d.Id, All: all, Groups: groups, Eval: eval,
			}}}, eval, nil
		}, func(ctx context.Context, c structs.DroverClient) (*structs.DeploymentUpdateResponse, error) {
			return c.PromoteDeployment(ctx, &structs.DeploymentPromoteRequest{DeploymentId: id, All: all, Groups: groups})
		})
}

// FailDeployment marks a running or paused deployment failed; when a
// group has auto_revert, the job's latest stable version is registered
// again.
func (s *Server) FailDeployment(ctx context.Context, id string) (*structs.DeploymentUpdateResponse, error) {
	return s.deploymentWrite(ctx, id, []string{acl.NamespaceCapabilitySubmitJob, acl.NamespaceCapabilityFailDeployment},
		func(snap *state.Snapshot, d *structs.Deployment) (*structs.LogCommand, *structs.Evaluation, error) {
			if !d.Active() {
				return nil, nil, fmt.Errorf("%w: can't fail a deployment that is %s", ErrBadRequest, d.Status)
			}
			rollback := false
			for _, g := range d.TaskGroups {
				rollback = rollback || g.AutoRevert
			}
			cmd := s.failCommand(snap, d, structs.DeploymentDescFailedByUser, rollback)
			return cmd, cmd.GetDeploymentStatus().GetEval(), nil
		}, func(ctx context.Context, c structs.DroverClient) (*structs.DeploymentUpdateResponse, error) {
			return c.FailDeployment(ctx, &structs.DeploymentFailRequest{DeploymentId: id})
		})
}

// PauseDeployment pauses a running deployment (nothing more is replaced)
// or, with pause false, resumes a paused one.
func (s *Server) PauseDeployment(ctx context.Context, id string, pause bool) (*structs.DeploymentUpdateResponse, error) {
	return s.deploymentWrite(ctx, id, []string{acl.NamespaceCapabilitySubmitJob, acl.NamespaceCapabilityPauseDeployment},
		func(snap *state.Snapshot, d *structs.Deployment) (*structs.LogCommand, *structs.Evaluation, error) {
			if !d.Active() {
				verb := "pause"
				if !pause {
					verb = "resume"
				}
				return nil, nil, fmt.Errorf("%w: can't %s a deployment that is %s", ErrBadRequest, verb, d.Status)
			}
			u := &structs.DeploymentStatusUpdate{DeploymentId: d.Id, Status: structs.DeploymentStatusPaused,
				StatusDescription: structs.DeploymentDescPaused}
			var eval *structs.Evaluation
			if !pause {
				u.Status, u.StatusDescription = structs.DeploymentStatusRunning, runningDescription(d)
				eval = deploymentEval(snap, d)
			}
			return &structs.LogCommand{Command: &structs.LogCommand_DeploymentStatus{DeploymentStatus: &structs.DeploymentStatusCommand{
				Update: u, Eval: eval,
			}}}, eval, nil
		}, func(ctx context.Context, c structs.DroverClient) (*structs.DeploymentUpdateResponse, error) {
			return c.PauseDeployment(ctx, &structs.DeploymentPauseRequest{DeploymentId: id, Pause: pause})
		})
}

// SetAllocHealth sets the health of allocations of an active deployment,
// as an operator does for groups with health_check "manual": healthy
// ones let the rollout go on, an unhealthy one fails the deployment (and
// reverts the job when its group has auto_revert).
func (s *Server) SetAllocHealth(ctx context.Context, id string, healthy, unhealthy []string) (*structs.DeploymentUpdateResponse, error) {
	return s.deploymentWrite(ctx, id, []string{acl.NamespaceCapabilitySubmitJob},
		func(snap *state.Snapshot, d *structs.Deployment) (*structs.LogCommand, *structs.Evaluation, error) {
			if len(healthy)+len(unhealthy) == 0 {
				return nil, nil, fmt.Errorf("%w: no allocations given", ErrBadRequest)
			}
			c := &structs.DeploymentAllocHealth{DeploymentId: d.Id, HealthyIds: healthy, UnhealthyIds: unhealthy,
				Eval: deploymentEval(snap, d)}
			if len(unhealthy) > 0 && d.Active() {
				rollback := false
				for _, aid := range unhealthy {
					if a := snap.Alloc(aid); a != nil {
						rollback = rollback || d.TaskGroups[a.TaskGroup].GetAutoRevert()
					}
				}
				fc := s.failCommand(snap, d, structs.DeploymentDescFailedAllocations, rollback).GetDeploymentStatus()
				c.Update, c.Job, c.Eval, c.TrackedVersions = fc.Update, fc.Job, fc.Eval, fc.TrackedVersions
			}
			return &structs.LogCommand{Command: &structs.LogCommand_DeploymentAllocHealth{DeploymentAllocHealth: c}}, c.Eval, nil
		}, func(ctx context.Context, c structs.DroverClient) (*structs.DeploymentUpdateResponse, error) {
			return c.SetAllocHealth(ctx, &structs.DeploymentAllocHealthRequest{DeploymentId: id, HealthyIds: healthy, UnhealthyIds: unhealthy})
		})
}

// runningDescription is the description of a running deployment.
func runningDescription(d *structs.Deployment) string {
	switch {
	case d.RequiresPromotion() && d.HasAutoPromote():
		return structs.DeploymentDescRunningAutoPromotion
	case d.RequiresPromotion():
		return structs.DeploymentDescRunningNeedsPromotion
	}
	return structs.DeploymentDescRunning
}

// deploymentEval is an evaluation of a deployment's job, or nil when the
// job is gone.
func deploymentEval(snap *state.Snapshot, d *structs.Deployment) *structs.Evaluation {
	job := snap.Job(d.Namespace, d.JobId)
	if job == nil {
		return nil
	}
	e := newEval(job, structs.EvalTriggerDeploymentWatcher)
	e.DeploymentId = d.Id
	if d.EvalPriority > 0 {
		e.Priority = d.EvalPriority
	}
	return e
}

// failCommand is the raft entry that fails d with desc. With rollback,
// and while the job still is the version d rolls out, the job's latest
// stable version (older than d's) is registered again as a new version,
// and desc says so, as Nomad's does.
func (s *Server) failCommand(snap *state.Snapshot, d *structs.Deployment, desc string, rollback bool) *structs.LogCommand {
	job := snap.Job(d.Namespace, d.JobId)
	var revert *structs.Job
	if rollback && d.ForJob(job) {
		var stable *structs.Job
		for _, v := range snap.JobVersions(d.Namespace, d.JobId) {
			if v.Stable && v.Version < d.JobVersion {
				stable = v
				break
			}
		}
		switch {
		case stable == nil:
			desc += structs.DeploymentDescNoRollbackTargetSuffix
		case structs.SpecEqual(stable, job):
			desc += fmt.Sprintf(structs.DeploymentDescRollbackNoopSuffix, stable.Version)
		default:
			revert = revertable(stable)
			desc += fmt.Sprintf(structs.DeploymentDescRollbackSuffix, stable.Version)
		}
	}
	eval := deploymentEval(snap, d)
	if revert != nil && eval != nil {
		eval.TriggeredBy = structs.EvalTriggerJobRevert
	}
	return &structs.LogCommand{Command: &structs.LogCommand_DeploymentStatus{DeploymentStatus: &structs.DeploymentStatusCommand{
		Update: &structs.DeploymentStatusUpdate{DeploymentId: d.Id, Status: structs.DeploymentStatusFailed, StatusDescription: desc},
		Job:    revert, Eval: eval, TrackedVersions: s.trackedVersions(),
	}}}
}

// revertable is a kept version of a job as a registration of it again:
// the server-owned fields cleared, so the FSM makes it a new version.
func revertable(v *structs.Job) *structs.Job {
	j := proto.Clone(v).(*structs.Job)
	j.Status, j.Version, j.CreateIndex, j.ModifyIndex, j.JobModifyIndex = "", 0, 0, 0, 0
	j.Stable, j.SubmitTime, j.StatusUpdatedAt = false, 0, 0
	return j
}
