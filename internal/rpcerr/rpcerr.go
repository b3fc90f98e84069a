// Package rpcerr carries drover's typed errors across gRPC: a server
// turns them into status codes (with validation problems as details) and a
// caller turns them back, so errors.Is works on both sides.
package rpcerr

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/droverhq/drover/structs"
)

// To turns a server error into a gRPC status the remote side can map back.
func To(err error) error {
	if err == nil {
		return nil
	}
	var verr *structs.ValidationError
	switch {
	case errors.As(err, &verr):
		st := status.New(codes.InvalidArgument, err.Error())
		if d, derr := st.WithDetails(&structs.ValidationProblems{Problems: verr.Problems}); derr == nil {
			st = d
		}
		return st.Err()
	case errors.Is(err, structs.ErrRegistrationRejected):
		return withReason(codes.FailedPrecondition, err, reasonRegistrationRejected)
	case errors.Is(err, structs.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, structs.ErrPermissionDenied):
		return status.Error(codes.PermissionDenied, err.Error())
	case errors.Is(err, structs.ErrBadRequest):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, structs.ErrNotLeader):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, structs.ErrNoLeader), errors.Is(err, structs.ErrShutdown):
		return status.Error(codes.Unavailable, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

// From turns a gRPC status back into the matching sentinel error,
// keeping the server's message.
func From(err error) error {
	st, ok := status.FromError(err)
	if !ok || err == nil {
		return err
	}
	var sentinel error
	switch st.Code() {
	case codes.InvalidArgument:
		for _, d := range st.Details() {
			if p, ok := d.(*structs.ValidationProblems); ok {
				return &structs.ValidationError{Problems: p.Problems}
			}
		}
		sentinel = structs.ErrBadRequest
	case codes.NotFound:
		sentinel = structs.ErrNotFound
	case codes.PermissionDenied:
		sentinel = structs.ErrPermissionDenied
	case codes.FailedPrecondition:
		sentinel = structs.ErrNotLeader
		if hasReason(st, reasonRegistrationRejected) {
			sentinel = structs.ErrRegistrationRejected
		}
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

// rpcError carries a remote message and matches its sentinel with errors.Is.
type rpcError struct {
	msg      string
	sentinel error
}

func (e *rpcError) Error() string { return e.msg }
func (e *rpcError) Unwrap() error { return e.sentinel }

// Reasons told apart within one status code by an ErrorReason detail.
const reasonRegistrationRejected = "registration_rejected"

func withReason(code codes.Code, err error, reason string) error {
	st := status.New(code, err.Error())
	if d, derr := st.WithDetails(&structs.ErrorReason{Reason: reason}); derr == nil {
		st = d
	}
	return st.Err()
}

func hasReason(st *status.Status, reason string) bool {
	for _, d := range st.Details() {
		if r, ok := d.(*structs.ErrorReason); ok && r.Reason == reason {
			return true
		}
	}
	return false
}
