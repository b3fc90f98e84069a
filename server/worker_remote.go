package server

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/droverhq/drover/clock"
	"github.com/droverhq/drover/internal/rpcerr"
	"github.com/droverhq/drover/server/broker"
	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

// Every server runs its scheduler workers, as in Nomad. The leader's own
// workers take evaluations from its broker and hand plans to its applier
// in process. The workers of the other servers do the same over RPC: they
// long-poll the leader's broker (DequeueEval), schedule on their own
// replica of the state once it has caught up with the leader's at the time
// of the dequeue, and send the plan (SubmitPlan) and the evaluation's
// outcome (UpdateEvals) to the leader, which takes them only while the
// evaluation is still outstanding with the worker's token. The applier
// checks every plan against the leader's latest state, whoever made it.

// schedBackend is where a worker takes evaluations from and hands its
// work to: the leader's broker, plan applier and raft.
type schedBackend interface {
	// dequeue blocks until an evaluation of one of types is handed out,
	// or ctx is done.
	dequeue(ctx context.Context, types map[string]bool) (*structs.Evaluation, string, error)
	ack(ctx context.Context, id, token string) error
	nack(ctx context.Context, id, token string) error
	submit(ctx context.Context, plan *structs.Plan, token string) (*structs.PlanResult, error)
	// updateEvals records the outcome of evaluation evalID (evals[0]) and
	// the evaluations it creates.
	updateEvals(ctx context.Context, evalID, token string, evals []*structs.Evaluation) error
}

// localBackend is the leader's: its workers stop with its leadership.
type localBackend struct{ s *Server }

func (b localBackend) dequeue(ctx context.Context, types map[string]bool) (*structs.Evaluation, string, error) {
	return b.s.broker.Dequeue(ctx, types)
}

func (b localBackend) ack(_ context.Context, id, token string) error {
	return b.s.broker.Ack(id, token)
}

func (b localBackend) nack(_ context.Context, id, token string) error {
	return b.s.broker.Nack(id, token)
}

func (b localBackend) submit(ctx context.Context, plan *structs.Plan, _ string) (*structs.PlanResult, error) {
	return b.s.applier.submit(ctx, plan)
}

func (b localBackend) updateEvals(ctx context.Context, _, _ string, evals []*structs.Evaluation) error {
	_, err := b.s.raft.Propose(ctx, &structs.LogCommand{
		Command: &structs.LogCommand_EvalUpsert{EvalUpsert: &structs.EvalUpsert{Evals: evals}},
	})
	return err
}

// Remote scheduling timing.
const (
	// dequeuePoll is how long one DequeueEval call waits at the leader.
	dequeuePoll = 10 * time.Second
	// maxDequeuePoll bounds what a caller may ask for.
	maxDequeuePoll = 30 * time.Second
	// remoteBackoffMax bounds the wait between failed calls to the leader.
	remoteBackoffMax = 5 * time.Second
	// followerSyncWait bounds how long a follower's worker waits for its
	// replica to catch up with an evaluation (the lease is renewed
	// meanwhile) before it hands the evaluation back.
	followerSyncWait = 30 * time.Second
)

// remoteBackend is a follower worker's: the leader over RPC. It holds the
// leader that handed out the evaluation in hand, which every later call
// about it goes to, and renews the evaluation's lease there meanwhile.
type remoteBackend struct {
	s *Server
	// waitIndex is the leader's state index when it handed out the
	// evaluation in hand.
	waitIndex uint64

	leader structs.DroverClient
	addr   string
	// stopRenew ends the renewal of the lease of the evaluation in hand.
	stopRenew func()
}

// serverCallCtx marks a call from one server to another: the region's
// server secret authenticates it and the receiver never forwards it.
func (s *Server) serverCallCtx(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(s.outgoingAuth(ctx, ""), forwardedHeader, s.cfg.Name)
}

func (b *remoteBackend) dequeue(ctx context.Context, types map[string]bool) (*structs.Evaluation, string, error) {
	s := b.s
	want := make([]string, 0, len(types))
	for t := range types {
		want = append(want, t)
	}
	retry := newBackoff(s)
	defer retry.stop()
	for {
		if err := ctx.Err(); err != nil {
			return nil, "", err
		}
		changed := s.raft.LeaderChanged()
		addr := s.leaderAddr()
		if s.raft.IsLeader() || addr == "" {
			// The leader's own workers schedule while this server leads.
			select {
			case <-changed:
				continue
			case <-ctx.Done():
				return nil, "", ctx.Err()
			}
		}
		e, token, err := b.dequeueFrom(ctx, addr, want)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil, "", ctx.Err()
			}
			s.logger.Debug("dequeue from the leader failed; backing off", "leader", addr, "error", err)
			if err := retry.wait(ctx, changed); err != nil {
				return nil, "", err
			}
		case e == nil:
			retry.reset()
		default:
			return e, token, nil
		}
	}
}

// dequeueFrom asks the leader at addr for an evaluation, once.
func (b *remoteBackend) dequeueFrom(ctx context.Context, addr string, types []string) (*structs.Evaluation, string, error) {
	s := b.s
	c, err := s.pool.ready(ctx, addr)
	if err != nil {
		return nil, "", err
	}
	rctx, cancel := context.WithTimeout(ctx, dequeuePoll+s.cfg.leaderWait())
	defer cancel()
	resp, err := c.DequeueEval(s.serverCallCtx(rctx), &structs.EvalDequeueRequest{
		Types: types, TimeoutMs: dequeuePoll.Milliseconds(), Server: s.cfg.Name,
	})
	if err != nil {
		return nil, "", rpcerr.From(err)
	}
	e := resp.GetEval()
	if e == nil {
		return nil, "", nil
	}
	b.leader, b.addr, b.waitIndex = c, addr, resp.GetWaitIndex()
	b.stopRenew = b.renew(e.Id, resp.GetToken(), time.Duration(resp.GetLeaseMs())*time.Millisecond)
	return e, resp.GetToken(), nil
}

// renew keeps the lease of an evaluation alive at its leader, a third of
// the lease at a time, until the returned function is called.
func (b *remoteBackend) renew(id, token string, lease time.Duration) func() {
	if lease <= 0 {
		lease = broker.DefaultUnackTimeout
	}
	s, c := b.s, b.leader
	ctx, cancel := context.WithCancel(s.stopCtx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := s.cfg.Clock.NewTicker(lease / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C():
			}
			rctx, rcancel := context.WithTimeout(ctx, lease/3)
			_, err := c.RenewEvalLease(s.serverCallCtx(rctx), &structs.EvalTokenRequest{EvalId: id, Token: token})
			rcancel()
			if err != nil && ctx.Err() == nil {
				s.logger.Debug("renewing an evaluation's lease failed", "eval", id, "error", err)
			}
		}
	}()
	return func() {
		cancel()
		wg.Wait()
	}
}

// done ends what the backend holds for the evaluation in hand.
func (b *remoteBackend) done() {
	if b.stopRenew != nil {
		b.stopRenew()
		b.stopRenew = nil
	}
}

// call runs one request about the evaluation in hand at the leader that
// handed it out, bounded as a forwarded write is.
func (b *remoteBackend) call(ctx context.Context, f func(context.Context, structs.DroverClient) error) error {
	if b.leader == nil {
		return fmt.Errorf("%w: no evaluation in hand", ErrBadRequest)
	}
	rctx, cancel := context.WithTimeout(ctx, proposeTimeout+b.s.cfg.leaderWait())
	defer cancel()
	if err := f(b.s.serverCallCtx(rctx), b.leader); err != nil {
		return fmt.Errorf("leader %s: %w", b.addr, rpcerr.From(err))
	}
	return nil
}

func (b *remoteBackend) ack(ctx context.Context, id, token string) error {
	b.done()
	return b.call(ctx, func(ctx context.Context, c structs.DroverClient) error {
		_, err := c.AckEval(ctx, &structs.EvalTokenRequest{EvalId: id, Token: token})
		return err
	})
}

func (b *remoteBackend) nack(ctx context.Context, id, token string) error {
	b.done()
	if ctx.Err() != nil {
		// The server is stopping: hand the evaluation back at once rather
		// than leave it to its lease, but without holding the stop up.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
	}
	return b.call(ctx, func(ctx context.Context, c structs.DroverClient) error {
		_, err := c.NackEval(ctx, &structs.EvalTokenRequest{EvalId: id, Token: token})
		return err
	})
}

func (b *remoteBackend) submit(ctx context.Context, plan *structs.Plan, token string) (*structs.PlanResult, error) {
	var res *structs.PlanResult
	restore := planForWire(plan)
	defer restore()
	err := b.call(ctx, func(ctx context.Context, c structs.DroverClient) error {
		resp, err := c.SubmitPlan(ctx, &structs.PlanSubmitRequest{Plan: plan, Token: token})
		if err != nil {
			return err
		}
		res = resp.GetResult()
		return nil
	})
	if err == nil && res == nil {
		err = fmt.Errorf("leader %s: the plan result is missing", b.addr)
	}
	return res, err
}

// planForWire strips the placements of plan of the plan's job, which
// travels once, in the plan (the leader puts it back), until the returned
// function restores them: the plan is the worker's own meanwhile.
func planForWire(plan *structs.Plan) (restore func()) {
	if plan.Job == nil {
		return func() {}
	}
	orig := plan.NodeAllocation
	stripped := make([]*structs.Allocation, len(orig))
	for i, a := range orig {
		if a.Job == plan.Job {
			a = state.CloneAlloc(a)
			a.Job = nil
		}
		stripped[i] = a
	}
	plan.NodeAllocation = stripped
	return func() { plan.NodeAllocation = orig }
}

// planFromWire undoes planForWire.
func planFromWire(plan *structs.Plan) {
	j := plan.Job
	if j == nil {
		return
	}
	for _, a := range plan.NodeAllocation {
		if a.Job == nil && a.JobId == j.Id && a.Namespace == j.Namespace {
			a.Job = j
		}
	}
}

func (b *remoteBackend) updateEvals(ctx context.Context, evalID, token string, evals []*structs.Evaluation) error {
	return b.call(ctx, func(ctx context.Context, c structs.DroverClient) error {
		_, err := c.UpdateEvals(ctx, &structs.EvalUpdateRequest{EvalId: evalID, Token: token, Evals: evals})
		return err
	})
}

// retryBackoff waits between failed calls to the leader: from the retry
// interval, doubling up to remoteBackoffMax, on the server's clock; a
// change of leader ends a wait at once.
type retryBackoff struct {
	s     *Server
	next  time.Duration
	timer clock.Timer
}

func newBackoff(s *Server) *retryBackoff {
	b := &retryBackoff{s: s}
	b.reset()
	return b
}

func (b *retryBackoff) reset() { b.next = max(b.s.cfg.retryInterval(), time.Millisecond) }

func (b *retryBackoff) wait(ctx context.Context, changed <-chan struct{}) error {
	if b.timer == nil {
		b.timer = b.s.cfg.Clock.NewTimer(b.next)
	} else {
		b.timer.Reset(b.next)
	}
	b.next = min(2*b.next, remoteBackoffMax)
	select {
	case <-b.timer.C():
		return nil
	case <-changed:
		b.timer.Stop()
		b.reset()
		return nil
	case <-ctx.Done():
		b.timer.Stop()
		return ctx.Err()
	}
}

func (b *retryBackoff) stop() {
	if b.timer != nil {
		b.timer.Stop()
	}
}

// startFollowerWorkers starts the server's workers that schedule while
// another server leads: NumSchedulers of them, for the enabled types
// except _core (the leader's state alone serves its housekeeping). They
// idle while this server leads (its leader workers take over) and stop
// with the server.
func (s *Server) startFollowerWorkers() {
	types := map[string]bool{}
	for _, t := range s.cfg.EnabledSchedulers {
		if t != coreEvalType {
			types[t] = true
		}
	}
	if len(types) == 0 {
		return
	}
	for i := 0; i < s.cfg.NumSchedulers; i++ {
		rb := &remoteBackend{s: s}
		w := &worker{
			backend: rb, state: s.state, types: types, schedulers: s.schedulerFor,
			now: s.cfg.Clock.Now, logger: s.logger, role: "follower", stop: s.stopCtx, syncWait: followerSyncWait,
			waitIndex: func() uint64 { return rb.waitIndex },
		}
		w.observe = func(t string, d time.Duration) { s.metrics.observeEval(t, w.role, d) }
		s.background(func() { w.run(s.stopCtx) })
	}
}

// errNotOutstanding: a follower's worker called about an evaluation the
// leader's broker no longer holds with its token (handed out again after
// its lease ran out, or the leader changed since).
var errNotOutstanding = errors.New("the evaluation is not outstanding with this token")
