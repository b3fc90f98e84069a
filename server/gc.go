package server

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/droverhq/drover/gc"
	"github.com/droverhq/drover/structs"
)

// Core evaluations: the leader's own maintenance work, handed to workers
// through the broker like any evaluation (so a server whose
// enabled_schedulers lacks _core does none of it), never written to raft.
const (
	coreEvalType = "_core"
	coreJobEval  = "eval-gc"
	coreJobJob   = "job-gc"
	coreJobNode  = "node-gc"
	coreJobToken = "token-gc"
	// coreJobDeployment collects finished deployments.
	coreJobDeployment = "deployment-gc"
	// corePriority puts maintenance ahead of user jobs of any priority.
	corePriority = 1 << 30
)

// Fixed collection intervals for the kinds without a setting of their own,
// as in Nomad.
const (
	evalGCInterval = 3 * time.Minute
	nodeGCInterval = 5 * time.Minute
	// tokenGCInterval is how often expired ACL tokens are looked for.
	tokenGCInterval = 5 * time.Minute
	// deploymentGCInterval is Nomad's deployment_gc_interval.
	deploymentGCInterval = 5 * time.Minute
	// gcBatchSize bounds the objects removed by one raft entry.
	gcBatchSize = 4096
)

// gcLoop enqueues a core evaluation for each kind of collection on its
// interval, until ctx is done (leadership lost or shutdown).
func (s *Server) gcLoop(ctx context.Context) {
	jobInterval := s.gcSettings().jobInterval
	jobs := s.cfg.Clock.NewTicker(jobInterval)
	defer jobs.Stop()
	evals := s.cfg.Clock.NewTicker(evalGCInterval)
	defer evals.Stop()
	nodes := s.cfg.Clock.NewTicker(nodeGCInterval)
	defer nodes.Stop()
	tokens := s.cfg.Clock.NewTicker(tokenGCInterval)
	defer tokens.Stop()
	deployments := s.cfg.Clock.NewTicker(deploymentGCInterval)
	defer deployments.Stop()
	for {
		var kind string
		select {
		case <-ctx.Done():
			return
		case <-jobs.C():
			kind = coreJobJob
			if iv := s.gcSettings().jobInterval; iv != jobInterval {
				jobInterval = iv // reloaded: from the next collection on
				jobs.Reset(iv)
			}
		case <-evals.C():
			kind = coreJobEval
		case <-nodes.C():
			kind = coreJobNode
		case <-tokens.C():
			if !s.cfg.ACL.Enabled {
				continue
			}
			kind = coreJobToken
		case <-deployments.C():
			kind = coreJobDeployment
		}
		s.broker.Enqueue(&structs.Evaluation{
			Id: uuid.NewString(), Type: coreEvalType, JobId: kind, Priority: corePriority,
			TriggeredBy: "scheduled", Status: structs.EvalStatusPending,
		})
	}
}

// runCoreEval performs one core evaluation on the current state.
func (s *Server) runCoreEval(ctx context.Context, eval *structs.Evaluation) error {
	var kinds gc.Kinds
	switch eval.JobId {
	case coreJobEval:
		kinds.Evals = true
	case coreJobJob:
		kinds.Jobs = true
	case coreJobNode:
		kinds.Nodes = true
	case coreJobToken:
		kinds.LocalACLTokens, kinds.GlobalACLTokens = true, s.authoritative()
	case coreJobDeployment:
		kinds.Deployments = true
	default:
		return fmt.Errorf("unknown core evaluation %q", eval.JobId)
	}
	_, err := s.collect(ctx, s.gcSettings().cfg, kinds)
	return err
}

// GarbageCollect collects, now, every terminal node, job, evaluation and
// deployment (the `nomad system gc` equivalent): thresholds are ignored,
// but nothing still running is removed, the latest evaluation of a batch
// job is kept, and so is a deployment an allocation refers to. It runs on the leader (a call elsewhere is forwarded) and returns
// how many objects were removed.
func (s *Server) GarbageCollect(ctx context.Context) (int, error) {
	if err := s.allowManagement(ctx); err != nil {
		return 0, err
	}
	var n int
	err := s.leaderCall(ctx, func(ctx context.Context) (err error) {
		kinds := gc.All
		kinds.GlobalACLTokens = s.authoritative()
		n, err = s.collect(ctx, s.gcSettings().cfg.Force(), kinds)
		return err
	}, func(ctx context.Context, c structs.DroverClient) error {
		resp, err := c.GarbageCollect(ctx, &structs.GarbageCollectRequest{})
		n = int(resp.GetRemoved())
		return err
	})
	return n, err
}

// collect runs the GC policy on a snapshot and commits the result in
// batches of at most gcBatchSize objects.
func (s *Server) collect(ctx context.Context, cfg gc.Config, kinds gc.Kinds) (int, error) {
	res := gc.Collect(s.state.Snapshot(), cfg, s.cfg.Clock.Now(), kinds)
	removed := 0
	for _, b := range gc.Batches(res, s.gcBatchSize) {
		reap := &structs.GCReap{NodeIds: b.Nodes, EvalIds: b.Evals, AllocIds: b.Allocs, AclTokenAccessors: b.ACLTokens,
			DeploymentIds: b.Deployments}
		for _, j := range b.Jobs {
			reap.Jobs = append(reap.Jobs, &structs.JobRef{Namespace: j.Namespace, Id: j.ID})
		}
		if _, err := s.raft.Propose(ctx, &structs.LogCommand{Command: &structs.LogCommand_GcReap{GcReap: reap}}); err != nil {
			return removed, fmt.Errorf("commit garbage collection: %w", err)
		}
		removed += b.Len()
		s.metrics.gcReaped.WithLabelValues("node").Add(float64(len(b.Nodes)))
		s.metrics.gcReaped.WithLabelValues("job").Add(float64(len(b.Jobs)))
		s.metrics.gcReaped.WithLabelValues("eval").Add(float64(len(b.Evals)))
		s.metrics.gcReaped.WithLabelValues("alloc").Add(float64(len(b.Allocs)))
		s.metrics.gcReaped.WithLabelValues("acl_token").Add(float64(len(b.ACLTokens)))
		s.metrics.gcReaped.WithLabelValues("deployment").Add(float64(len(b.Deployments)))
	}
	if removed > 0 {
		s.logger.Info("garbage collected", "nodes", len(res.Nodes), "jobs", len(res.Jobs), "evals", len(res.Evals), "allocs", len(res.Allocs),
			"acl_tokens", len(res.ACLTokens), "deployments", len(res.Deployments))
	}
	return removed, nil
}
