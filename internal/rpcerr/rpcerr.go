// Package rpcerr carries drover's typed errors across gRPC: a server
// turns them into status codes, with the sentinel named in an ErrorKind
// detail and validation problems as details, and a caller turns them back,
// so errors.Is works on both sides.
package rpcerr

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/droverhq/drover/structs"
)

// sentinels names every error that crosses the wire with its identity,
// most specific first, and the status code it travels as.
var sentinels = []struct {
	name string
	err  error
	code codes.Code
}{
	{"unknown_region", structs.ErrUnknownRegion, codes.NotFound},
	{"token_not_found", structs.ErrTokenNotFound, codes.PermissionDenied},
	{"acl_disabled", structs.ErrACLDisabled, codes.InvalidArgument},
	{"acl_bootstrapped", structs.ErrACLBootstrapped, codes.InvalidArgument},
	{"no_node_connection", structs.ErrNoNodeConnection, codes.NotFound},
	{"not_found", structs.ErrNotFound, codes.NotFound},
	{"permission_denied", structs.ErrPermissionDenied, codes.PermissionDenied},
	{"bad_request", structs.ErrBadRequest, codes.InvalidArgument},
	{"leadership_lost", structs.ErrLeadershipLost, codes.Aborted},
	{"registration_rejected", structs.ErrRegistrationRejected, codes.FailedPrecondition},
	{"not_leader", structs.ErrNotLeader, codes.FailedPrecondition},
	{"no_leader", structs.ErrNoLeader, codes.Unavailable},
	{"shutdown", structs.ErrShutdown, codes.Unavailable},
}

// To turns a server error into a gRPC status the remote side can map back.
func To(err error) error {
	if err == nil {
		return nil
	}
	var verr *structs.ValidationError
	if errors.As(err, &verr) {
		st := status.New(codes.InvalidArgument, err.Error())
		if d, derr := st.WithDetails(&structs.ValidationProblems{Problems: verr.Problems}); derr == nil {
			st = d
		}
		return st.Err()
	}
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			st := status.New(s.code, err.Error())
			if d, derr := st.WithDetails(&structs.ErrorKind{Sentinel: s.name}); derr == nil {
				st = d
			}
			return st.Err()
		}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

// From turns a gRPC status back into the matching sentinel error, keeping
// the server's message. A status without a drover detail (one made by the
// gRPC layer, such as an unreachable server) maps by its code alone.
func From(err error) error {
	st, ok := status.FromError(err)
	if !ok || err == nil {
		return err
	}
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *structs.ValidationProblems:
			return &structs.ValidationError{Problems: d.Problems}
		case *structs.ErrorKind:
			for _, s := range sentinels {
				if s.name == d.Sentinel {
					return &rpcError{msg: st.Message(), sentinel: s.err}
				}
			}
		}
	}
	var sentinel error
	switch st.Code() {
	case codes.InvalidArgument:
		sentinel = structs.ErrBadRequest
	case codes.NotFound:
		sentinel = structs.ErrNotFound
	case codes.PermissionDenied:
		sentinel = structs.ErrPermissionDenied
	case codes.FailedPrecondition:
		sentinel = structs.ErrNotLeader
	case codes.Aborted:
		sentinel = structs.ErrLeadershipLost
	case codes.Unavailable:
		sentinel = structs.ErrNoLeader
	case codes.DeadlineExceeded:
		sentinel = context.DeadlineExceeded
	case codes.Canceled:
		sentinel = context.Canceled
	default:
		return err
	}
	return &rpcError{msg: st.Message(), sentinel: sentinel}
}

// IsTransport reports whether err is a gRPC status made by the transport
// rather than by a drover server: the request may not have been handled.
func IsTransport(err error) bool {
	st, ok := status.FromError(err)
	if !ok || err == nil {
		return false
	}
	for _, d := range st.Details() {
		switch d.(type) {
		case *structs.ValidationProblems, *structs.ErrorKind:
			return false
		}
	}
	return st.Code() == codes.Unavailable
}

// rpcError carries a remote message and matches its sentinel with errors.Is.
type rpcError struct {
	msg      string
	sentinel error
}

func (e *rpcError) Error() string { return e.msg }
func (e *rpcError) Unwrap() error { return e.sentinel }
