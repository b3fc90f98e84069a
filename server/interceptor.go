package server

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/droverhq/drover/internal/rpcerr"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Every RPC passes through the interceptors: a panic in a handler is
// recovered, logged and answered as an internal error (it never takes the
// host program down), the peer's certificate is checked against the role
// the method needs, and the caller's token becomes the context's caller.

func (s *Server) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer s.recoverRPC(info.FullMethod, &err)
	if err := s.checkPeer(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	ctx, release := s.untilStopped(ctx)
	defer release()
	return handler(s.incomingAuth(ctx), req)
}

func (s *Server) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	defer s.recoverRPC(info.FullMethod, &err)
	if err := s.checkPeer(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	ctx, release := s.untilStopped(ss.Context())
	defer release()
	return handler(srv, &authStream{ServerStream: ss, ctx: s.incomingAuth(ctx)})
}

// untilStopped returns a context that also ends when the server begins
// to shut down, so that no call in flight (a blocking query, a wait for
// raft or for a leader) holds the shutdown up.
func (s *Server) untilStopped(ctx context.Context) (context.Context, func()) {
	s.inflight.Add(1)
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.stopCtx, cancel)
	return ctx, func() {
		stop()
		cancel()
		s.inflight.Add(-1)
	}
}

// inflightRPCs is how many RPCs the server is handling.
func (s *Server) inflightRPCs() int64 { return s.inflight.Load() }

// recoverRPC turns a handler's panic into an internal error.
func (s *Server) recoverRPC(method string, err *error) {
	if p := recover(); p != nil {
		s.logger.Error("RPC handler panicked", "method", method, "panic", p, "stack", string(debug.Stack()))
		*err = status.Error(codes.Internal, "internal error")
	}
}

// authStream is a server stream whose context carries the caller.
type authStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (a *authStream) Context() context.Context { return a.ctx }

// statusDenied is a PermissionDenied status that names the sentinel, so
// the caller's errors.Is(err, ErrPermissionDenied) holds.
func statusDenied(msg string) error {
	return rpcerr.To(fmt.Errorf("%w: %s", ErrPermissionDenied, msg))
}
