package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/droverhq/drover/internal/rpcerr"
	"github.com/droverhq/drover/structs"
)

// errUnreachable: a server could not be reached, so nothing was sent to it.
var errUnreachable = errors.New("server unreachable")

type ctxKey int

const (
	staleKey ctxKey = iota
	forwardedKey
)

// forwardedHeader marks a call one server forwarded to another: the
// receiver serves it or refuses it, and never forwards it again.
const forwardedHeader = "x-drover-forwarded"

// AllowStale returns a context under which reads are served from the
// local state of whichever server receives them, without asking the
// leader: faster, available without a quorum, and possibly behind the
// latest writes (Nomad's AllowStale). Without it a read on any server
// sees every write acknowledged before the read began.
func AllowStale(ctx context.Context) context.Context {
	return context.WithValue(ctx, staleKey, true)
}

func isStale(ctx context.Context) bool {
	v, _ := ctx.Value(staleKey).(bool)
	return v
}

// withForwarded marks ctx, on the receiving side, as a forwarded call.
func withForwarded(ctx context.Context) context.Context {
	return context.WithValue(ctx, forwardedKey, true)
}

func isForwarded(ctx context.Context) bool {
	v, _ := ctx.Value(forwardedKey).(bool)
	return v
}

// incomingForwarded reports whether an RPC's metadata marks it forwarded.
func incomingForwarded(ctx context.Context) bool {
	md, ok := metadata.FromIncomingContext(ctx)
	return ok && len(md.Get(forwardedHeader)) > 0
}

// leaderCall runs a write where it must run: local on the leader, remote
// against the leader from any other server. While there is no leader it
// waits, up to the leader wait, and then fails with ErrNoLeader. A call
// is retried only when it is certain it was not applied (this server or
// the one it reached was not the leader, or the leader could not be
// reached); once a request may have reached a leader that then failed, the
// caller gets ErrLeadershipLost.
func (s *Server) leaderCall(ctx context.Context, local func(context.Context) error, remote func(context.Context, structs.DroverClient) error) error {
	// The common case, a call on the leader, costs no timers.
	if s.raft.IsLeader() {
		if err := local(ctx); !notSent(err) {
			return err
		}
	}
	wctx, cancel := context.WithTimeout(ctx, s.cfg.leaderWait())
	defer cancel()
	retry := time.NewTimer(0)
	defer retry.Stop()
	for {
		if err := s.raft.Err(); err != nil {
			return err
		}
		changed := s.raft.LeaderChanged()
		if s.raft.IsLeader() {
			if err := local(ctx); !notSent(err) {
				return err
			}
		} else if isForwarded(ctx) {
			return fmt.Errorf("%w: %s", ErrNotLeader, s.cfg.Name)
		} else if addr := s.leaderAddr(); addr != "" {
			c, err := s.pool.ready(wctx, addr)
			if err == nil {
				// Bounded even if the leader hangs without closing the
				// connection: as long as the leader itself could take.
				rctx, rcancel := context.WithTimeout(ctx, proposeTimeout+s.cfg.leaderWait())
				err = remote(metadata.AppendToOutgoingContext(s.outgoingAuth(rctx, ""), forwardedHeader, s.cfg.Name), c)
				timedOut := rctx.Err() != nil && ctx.Err() == nil
				rcancel()
				if err == nil {
					return nil
				}
				if rpcerr.IsTransport(err) || timedOut {
					return fmt.Errorf("%w: leader %s: %v", ErrLeadershipLost, addr, err)
				}
				if err = rpcerr.From(err); !notSent(err) {
					return err
				}
			}
		}
		retry.Reset(s.cfg.retryInterval())
		select {
		case <-changed:
		case <-retry.C:
		case <-wctx.Done():
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%w: none within %s", ErrNoLeader, s.cfg.leaderWait())
		case <-s.stopCtx.Done():
			return ErrShutdown
		}
	}
}

// notSent reports whether err says a write was refused before anything was
// proposed (the server was not, or not yet, the leader): then it is safe
// to try again elsewhere.
func notSent(err error) bool {
	return errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrLeadershipLost)
}

// leaderAddr is the RPC address of the leader this server knows, or "".
func (s *Server) leaderAddr() string { return s.raft.LeaderAddr() }

// readBarrier makes this server's state at least as new as every write
// acknowledged before the call (raft ReadIndex, in a round shared with the
// reads arriving at the same time), unless ctx allows stale reads. Without
// a quorum it fails with ErrNoLeader after the leader wait.
func (s *Server) readBarrier(ctx context.Context) error {
	if isStale(ctx) {
		return nil
	}
	return s.sharedReadBarrier(ctx)
}

// waitLeaderAddr waits, up to the leader wait, until a leader is known and
// returns its RPC address.
func (s *Server) waitLeaderAddr(ctx context.Context) (string, error) {
	wctx, cancel := context.WithTimeout(ctx, s.cfg.leaderWait())
	defer cancel()
	for {
		changed := s.raft.LeaderChanged()
		if addr := s.leaderAddr(); addr != "" {
			return addr, nil
		}
		select {
		case <-changed:
		case <-wctx.Done():
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			return "", fmt.Errorf("%w: none within %s", ErrNoLeader, s.cfg.leaderWait())
		case <-s.stopCtx.Done():
			return "", ErrShutdown
		}
	}
}
