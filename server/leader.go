package server

import (
	"context"
	"errors"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/structs"
)

// leaderLoop starts and stops the leader's services as leadership changes.
func (s *Server) leaderLoop() {
	for {
		select {
		case <-s.stopCtx.Done():
			return
		case isLeader := <-s.leaderEvents:
			if isLeader {
				s.establishLeadership()
			} else {
				s.revokeLeadership()
			}
		}
	}
}

func (s *Server) establishLeadership() {
	ctx, cancel := context.WithCancel(context.Background())
	s.leaderCancel = cancel
	s.metrics.leader.Set(1)
	s.leaderWG.Add(1)
	go func() {
		defer s.leaderWG.Done()
		if err := s.raft.WaitLeaderReady(ctx); err != nil {
			s.logger.Warn("leadership not established", "error", err)
			return
		}
		if s.fsm.restoring() {
			// A restore whose leader was lost midway can never complete.
			s.abandonRestore(ctx)
		}
		config := s.primeSchedulerConfig(ctx)
		s.primeServerSecret(ctx)
		if err := s.primeRootKey(ctx); err != nil {
			s.logger.Warn("could not make the first root key", "error", err)
		}
		snap := s.state.Snapshot()
		s.broker.SetEnabled(true)
		s.broker.SetPaused(config.GetPauseEvalBroker())
		s.blocked.SetEnabled(true, snap.Index())
		var live, disconnected []string
		for _, n := range snap.Nodes() {
			switch n.Status {
			case structs.NodeStatusDown:
			case structs.NodeStatusDisconnected:
				disconnected = append(disconnected, n.Id)
			default:
				live = append(live, n.Id)
			}
		}
		s.ttl.enable(live)
		for _, id := range disconnected {
			// Their windows go on from the state, not from this election.
			s.armDisconnected(id)
		}
		for _, e := range snap.Evals() {
			s.routeEval(e)
		}
		s.startLeaderServices(ctx)
		s.logger.Info("leadership established", "index", snap.Index(), "nodes", len(live))
		s.readyOnce.Do(func() { close(s.ready) })
	}()
}

func (s *Server) startLeaderServices(ctx context.Context) {
	s.leaderWG.Add(5)
	go func() {
		defer s.leaderWG.Done()
		s.reconcileLoop(ctx)
	}()
	go func() {
		defer s.leaderWG.Done()
		s.gcLoop(ctx)
	}()
	go func() {
		defer s.leaderWG.Done()
		s.cancelFolded(ctx)
	}()
	go func() {
		defer s.leaderWG.Done()
		s.applier.run(ctx)
	}()
	go func() {
		defer s.leaderWG.Done()
		s.reapExpiredNodes(ctx)
	}()
	s.leaderWG.Add(3)
	go func() {
		defer s.leaderWG.Done()
		s.drainLoop(ctx)
	}()
	go func() {
		defer s.leaderWG.Done()
		s.keyringLoop(ctx)
	}()
	go func() {
		defer s.leaderWG.Done()
		newDeploymentWatcher(s, s.cfg.Clock).run(ctx)
	}()
	s.leaderWG.Add(1)
	go func() {
		defer s.leaderWG.Done()
		newPeriodicDispatcher(s, s.cfg.Clock).run(ctx)
	}()
	if s.cfg.ACL.Enabled && !s.authoritative() {
		s.leaderWG.Add(1)
		go func() {
			defer s.leaderWG.Done()
			s.replicateACLs(ctx)
		}()
	}
	types := map[string]bool{}
	for _, t := range s.cfg.EnabledSchedulers {
		types[t] = true
	}
	for i := 0; i < s.cfg.NumSchedulers; i++ {
		w := &worker{
			backend: localBackend{s}, state: s.state,
			types: types, schedulers: s.schedulerFor, core: s.runCoreEval,
			now: s.cfg.Clock.Now, logger: s.logger, role: "leader", stop: s.stopCtx,
		}
		w.observe = func(t string, d time.Duration) { s.metrics.observeEval(t, w.role, d) }
		s.leaderWG.Add(1)
		go func() {
			defer s.leaderWG.Done()
			w.run(ctx)
		}()
	}
}

func (s *Server) revokeLeadership() {
	if s.leaderCancel == nil {
		return
	}
	s.leaderCancel()
	s.leaderCancel = nil
	s.broker.SetEnabled(false)
	s.blocked.SetEnabled(false, 0)
	s.ttl.disable()
	s.leaderWG.Wait()
	s.metrics.leader.Set(0)
	s.logger.Info("leadership revoked")
}

// routeEval sends an evaluation to the broker or the blocked set by status.
func (s *Server) routeEval(e *structs.Evaluation) {
	switch e.Status {
	case structs.EvalStatusPending:
		s.broker.Enqueue(e)
	case structs.EvalStatusBlocked:
		if !s.blocked.Block(e) {
			s.broker.Enqueue(e)
		}
	default:
		s.blocked.Forget(e)
	}
}

// evalsApplied implements applyListener.
func (s *Server) evalsApplied(evals []*structs.Evaluation) {
	if !s.raft.IsLeader() {
		return
	}
	for _, e := range evals {
		s.routeEval(e)
	}
}

// capacityChanged implements applyListener: blocked evaluations that could
// use nodes of the classes concerned get another try.
func (s *Server) capacityChanged(index uint64, classes map[string]bool) {
	if !s.raft.IsLeader() {
		return
	}
	for _, e := range s.blocked.Unblock(index, classes) {
		s.broker.Enqueue(e)
	}
}

// evalFailed records an evaluation that reached the delivery limit.
func (s *Server) evalFailed(e *structs.Evaluation) {
	if e.Type == coreEvalType {
		// Core evaluations live only in the broker; the next interval retries.
		s.logger.Warn("core evaluation failed repeatedly", "kind", e.JobId)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	upd := proto.Clone(e).(*structs.Evaluation)
	upd.Status = structs.EvalStatusFailed
	upd.StatusDescription = "evaluation reached its delivery limit"
	_, err := s.raft.Propose(ctx, &structs.LogCommand{
		Command: &structs.LogCommand_EvalUpsert{EvalUpsert: &structs.EvalUpsert{
			Evals: []*structs.Evaluation{upd, failedFollowUp(e, s.cfg.Clock.Now())},
		}},
	})
	if err != nil && !errors.Is(err, ErrShutdown) {
		s.logger.Warn("recording failed evaluation", "eval", e.Id, "error", err)
	}
}

// restartLeaderServices makes the leader's services start over from the
// state, after an operator restore replaced it.
func (s *Server) restartLeaderServices() {
	if !s.raft.IsLeader() {
		return
	}
	for _, ev := range []bool{false, true} {
		select {
		case s.leaderEvents <- ev:
		case <-s.stopCtx.Done():
			return
		}
	}
}
