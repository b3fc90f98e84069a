package server

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/scheduler"
	"github.com/droverhq/drover/server/acl"
	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

// SchedulingConfig is the part of Config about scheduling beyond the
// number of workers and their types.
type SchedulingConfig struct {
	// DefaultSchedulerConfig primes the cluster's scheduler configuration
	// when a leader finds none in the state; nil means scheduler.DefaultConfig.
	DefaultSchedulerConfig *structs.SchedulerConfiguration
	// Schedulers are the host's custom schedulers, by job type.
	Schedulers map[string]scheduler.Factory
	// JobTrackedVersions is how many versions of a job are kept; 0 keeps 6.
	JobTrackedVersions int
	// PlanRejection configures the plan rejection tracker.
	PlanRejection PlanRejectionConfig
	// EvalNackTimeout is the lease of an evaluation the leader's broker
	// hands to a worker on another server: without a renewal (sent every
	// third of it) or an answer within it, the evaluation is handed out
	// again. 0 means broker.DefaultUnackTimeout (one minute, Nomad's).
	EvalNackTimeout time.Duration
}

// PlanRejectionConfig is Nomad's plan_rejection_tracker block: the
// leader marks a node ineligible once the plan applier has refused
// placements on it too often.
type PlanRejectionConfig struct {
	// Enabled turns tracking on.
	Enabled bool
	// NodeThreshold is how many rejections within NodeWindow make a node
	// ineligible. Default 100.
	NodeThreshold int
	// NodeWindow is the window rejections are counted in. Default 5m.
	NodeWindow time.Duration
}

// DefaultPlanRejectionConfig returns Nomad's defaults: tracking off; when
// on, 100 rejections within 5m.
func DefaultPlanRejectionConfig() PlanRejectionConfig {
	return PlanRejectionConfig{NodeThreshold: 100, NodeWindow: 5 * time.Minute}
}

// WithDefaults returns c with every zero threshold and window set to
// DefaultPlanRejectionConfig's.
func (c PlanRejectionConfig) WithDefaults() PlanRejectionConfig {
	d := DefaultPlanRejectionConfig()
	if c.NodeThreshold == 0 {
		c.NodeThreshold = d.NodeThreshold
	}
	if c.NodeWindow == 0 {
		c.NodeWindow = d.NodeWindow
	}
	return c
}

// Validate reports every impossible setting, in field order. Every error
// it returns matches ErrInvalidConfig.
func (c PlanRejectionConfig) Validate() error {
	var errs []error
	if c.NodeThreshold < 1 {
		errs = append(errs, fmt.Errorf("%w: plan_rejection_tracker.node_threshold must be >= 1, got %d", ErrInvalidConfig, c.NodeThreshold))
	}
	if c.NodeWindow < 0 {
		errs = append(errs, fmt.Errorf("%w: plan_rejection_tracker.node_window must not be negative, got %v", ErrInvalidConfig, c.NodeWindow))
	}
	return errors.Join(errs...)
}

// cancelBatch bounds the folded evaluations canceled by one raft entry.
const cancelBatch = 1024

// schedulerFor returns the scheduler for an evaluation's job type: the
// host's, when it registered one, else the built-in.
func (s *Server) schedulerFor(jobType string) (scheduler.Scheduler, error) {
	if f := s.cfg.Scheduling.Schedulers[jobType]; f != nil {
		if sched := f(); sched != nil {
			return sched, nil
		}
		return nil, fmt.Errorf("scheduler factory for job type %q returned no scheduler", jobType)
	}
	return scheduler.Builtin(jobType)
}

// jobTypes lists the job types this server accepts: the built-in ones and
// the host's schedulers.
func (s *Server) jobTypes() []string {
	out := make([]string, 0, len(s.cfg.Scheduling.Schedulers))
	for t := range s.cfg.Scheduling.Schedulers {
		out = append(out, t)
	}
	return out
}

func (s *Server) trackedVersions() uint32 {
	if v := s.cfg.Scheduling.JobTrackedVersions; v > 0 {
		return uint32(v)
	}
	return 6
}

// SchedulerConfiguration returns the cluster's scheduler configuration as
// this server's state holds it (the defaults before a leader primed it).
func (s *Server) SchedulerConfiguration(ctx context.Context) (*structs.SchedulerConfiguration, error) {
	if err := s.allow(ctx, "operator read", (*acl.ACL).AllowOperatorRead); err != nil {
		return nil, err
	}
	if err := s.readBarrier(ctx); err != nil {
		return nil, err
	}
	if c := s.state.Snapshot().SchedulerConfig(); c != nil {
		return c, nil
	}
	return s.defaultSchedulerConfig(), nil
}

func (s *Server) defaultSchedulerConfig() *structs.SchedulerConfiguration {
	if c := s.cfg.Scheduling.DefaultSchedulerConfig; c != nil {
		return proto.Clone(c).(*structs.SchedulerConfiguration)
	}
	return scheduler.DefaultConfig()
}

// ValidateSchedulerConfiguration checks a scheduler configuration.
func ValidateSchedulerConfiguration(c *structs.SchedulerConfiguration) error {
	if c == nil {
		return &structs.ValidationError{Problems: []string{"scheduler configuration is missing"}}
	}
	switch c.SchedulerAlgorithm {
	case scheduler.AlgorithmBinpack, scheduler.AlgorithmSpread:
	default:
		return &structs.ValidationError{Problems: []string{
			fmt.Sprintf("scheduler_algorithm %s is not one of binpack, spread", structs.Quote(c.SchedulerAlgorithm))}}
	}
	return nil
}

// SetSchedulerConfiguration replaces the cluster's scheduler configuration
// through raft. With cas, the update only happens if the configuration's
// modify index is still casIndex; updated reports whether it did.
func (s *Server) SetSchedulerConfiguration(ctx context.Context, c *structs.SchedulerConfiguration, cas bool, casIndex uint64) (updated bool, index uint64, err error) {
	if err := s.allow(ctx, "operator write", (*acl.ACL).AllowOperatorWrite); err != nil {
		return false, 0, err
	}
	if c != nil && c.SchedulerAlgorithm == "" {
		c = proto.Clone(c).(*structs.SchedulerConfiguration)
		c.SchedulerAlgorithm = scheduler.AlgorithmBinpack
	}
	if err := ValidateSchedulerConfiguration(c); err != nil {
		return false, 0, err
	}
	c = proto.Clone(c).(*structs.SchedulerConfiguration)
	c.CreateIndex, c.ModifyIndex = 0, 0
	err = s.leaderCall(ctx, func(ctx context.Context) error {
		idx, err := s.raft.Propose(ctx, &structs.LogCommand{Command: &structs.LogCommand_SchedulerConfigSet{
			SchedulerConfigSet: &structs.SchedulerConfigSet{Config: c, Cas: cas, CasIndex: casIndex},
		}})
		switch {
		case errors.Is(err, errConfigCASMismatch):
			updated, index = false, s.state.Index()
			return nil
		case err != nil:
			return err
		}
		updated, index = true, idx
		return nil
	}, func(ctx context.Context, cl structs.DroverClient) error {
		resp, err := cl.SetSchedulerConfiguration(ctx, &structs.SchedulerSetConfigRequest{Config: c, Cas: cas, CasIndex: casIndex})
		if err != nil {
			return err
		}
		updated, index = resp.Updated, resp.GetMeta().GetIndex()
		return nil
	})
	if err != nil {
		return false, 0, err
	}
	return updated, index, nil
}

// primeSchedulerConfig writes the default scheduler configuration when the
// state has none: the first leader of a cluster does it once. It returns
// the configuration in force.
func (s *Server) primeSchedulerConfig(ctx context.Context) *structs.SchedulerConfiguration {
	if c := s.state.Snapshot().SchedulerConfig(); c != nil {
		return c
	}
	c := s.defaultSchedulerConfig()
	_, err := s.raft.Propose(ctx, &structs.LogCommand{Command: &structs.LogCommand_SchedulerConfigSet{
		SchedulerConfigSet: &structs.SchedulerConfigSet{Config: c, Cas: true, CasIndex: 0},
	}})
	if err != nil && !errors.Is(err, errConfigCASMismatch) {
		s.logger.Warn("priming the scheduler configuration failed", "error", err)
	}
	if cur := s.state.Snapshot().SchedulerConfig(); cur != nil {
		return cur
	}
	return c
}

// schedulerConfigChanged implements applyListener: the broker follows
// pause_eval_broker at once.
func (s *Server) schedulerConfigChanged(c *structs.SchedulerConfiguration) {
	if !s.raft.IsLeader() {
		return
	}
	s.broker.SetPaused(c.PauseEvalBroker)
}

// registrationRejected reports whether the scheduler configuration refuses
// job registrations.
func (s *Server) registrationRejected() bool {
	return s.state.Snapshot().SchedulerConfig().GetRejectJobRegistration()
}

// cancelFolded marks evaluations the broker folded into another as
// canceled, in batches, until ctx is done. Leader only.
func (s *Server) cancelFolded(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.broker.CancelWake():
		}
		for {
			batch := s.broker.TakeCancelable(cancelBatch)
			if len(batch) == 0 {
				break
			}
			upd := make([]*structs.Evaluation, 0, len(batch))
			snap := s.state.Snapshot()
			for _, e := range batch {
				cur := snap.Eval(e.Id)
				if cur == nil || cur.TerminalStatus() {
					continue
				}
				c := proto.Clone(cur).(*structs.Evaluation)
				c.Status = structs.EvalStatusCanceled
				c.StatusDescription = "folded into a pending evaluation of the same job"
				upd = append(upd, c)
			}
			if len(upd) == 0 {
				continue
			}
			pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			_, err := s.raft.Propose(pctx, &structs.LogCommand{
				Command: &structs.LogCommand_EvalUpsert{EvalUpsert: &structs.EvalUpsert{Evals: upd}},
			})
			cancel()
			if err != nil {
				if ctx.Err() == nil {
					s.logger.Warn("canceling folded evaluations failed", "count", len(upd), "error", err)
				}
				return
			}
		}
	}
}

// JobVersions lists the kept versions of a job, newest first.
func (s *Server) JobVersions(ctx context.Context, namespace, jobID string) ([]*structs.Job, error) {
	if namespace == "" {
		namespace = structs.DefaultNamespace
	}
	if err := s.allowNamespace(ctx, namespace, acl.NamespaceCapabilityReadJob); err != nil {
		return nil, err
	}
	if err := s.readBarrier(ctx); err != nil {
		return nil, err
	}
	snap := s.state.Snapshot()
	if snap.Job(namespace, jobID) == nil {
		return nil, fmt.Errorf("%w: job %s in namespace %s", ErrNotFound, structs.Quote(jobID), structs.Quote(namespace))
	}
	versions := snap.JobVersions(namespace, jobID)
	if len(versions) == 0 {
		versions = []*structs.Job{snap.Job(namespace, jobID)}
	}
	return versions, nil
}

// nodeEventEvals returns the evaluations a change to a node needs: one for
// every job with work on the node and, when the node joins, every system
// job, except jobs that already have a pending evaluation not yet handed
// to a worker. Those are pinned (kept from being handed out) until release
// is called, after the change is committed: scheduled afterwards, the
// pending evaluation sees the change, so a burst of node events for a job
// costs one evaluation, not one per node.
func (s *Server) nodeEventEvals(nodeID string, joining bool) (evals []*structs.Evaluation, release func()) {
	type pin struct{ ns, job, eval string }
	var pins []pin
	seen := map[[2]string]bool{}
	add := func(job *structs.Job) {
		k := [2]string{job.Namespace, job.Id}
		if job.Stop || seen[k] {
			return
		}
		seen[k] = true
		if id, ok := s.broker.Pin(job.Namespace, job.Id); ok {
			pins = append(pins, pin{job.Namespace, job.Id, id})
			return
		}
		e := newEval(job, structs.EvalTriggerNodeUpdate)
		e.NodeId = nodeID
		evals = append(evals, e)
	}
	jobsForNode(s.state.Snapshot(), nodeID, joining, add)
	return evals, func() {
		for _, p := range pins {
			s.broker.Unpin(p.ns, p.job, p.eval)
		}
	}
}

// jobsForNode calls add for every job with work on the node and, when it
// joins, every system job.
func jobsForNode(snap *state.Snapshot, nodeID string, joining bool, add func(*structs.Job)) {
	snap.EachAllocOfNode(nodeID, func(a *structs.Allocation) bool {
		if !a.IsTerminal() {
			if job := snap.Job(a.Namespace, a.JobId); job != nil {
				add(job)
			}
		}
		return true
	})
	if joining {
		for _, t := range []string{structs.JobTypeSystem, structs.JobTypeSysBatch} {
			for _, job := range snap.JobsByType(t) {
				add(job)
			}
		}
	}
}

// newPlanApplier builds the leader's plan applier, with the rejection
// tracker when enabled.
func (s *Server) newPlanApplier() *planApplier {
	p := &planApplier{
		queue: make(chan pendingPlan), raft: s.raft, state: s.state,
		applied: s.metrics.plansApplied, rejected: s.metrics.plansRejected,
		nodesRejected: s.metrics.planNodesRejected, placed: s.metrics.placements, logger: s.logger,
	}
	if r := s.cfg.Scheduling.PlanRejection; r.Enabled {
		p.rejections = newRejectionTracker(r.NodeThreshold, r.NodeWindow, s.cfg.Clock.Now)
	}
	return p
}

// failedFollowUpDelay is how long a failed evaluation is parked before its
// job is evaluated again (plus up to as much again, at random, so a burst
// of failures does not come back at once).
const failedFollowUpDelay = time.Minute

// failedFollowUp is the delayed evaluation that retries the job of an
// evaluation that reached its delivery limit.
func failedFollowUp(e *structs.Evaluation, now time.Time) *structs.Evaluation {
	wait := failedFollowUpDelay + time.Duration(rand.Int64N(int64(failedFollowUpDelay)))
	return &structs.Evaluation{
		Id: newUUID(), Namespace: e.Namespace, Priority: e.Priority, Type: e.Type, JobId: e.JobId,
		TriggeredBy: structs.EvalTriggerFailedFollowUp, Status: structs.EvalStatusPending,
		PreviousEval: e.Id, WaitUntil: now.Add(wait).UnixNano(),
	}
}
