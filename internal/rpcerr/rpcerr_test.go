package rpcerr

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/droverhq/drover/structs"
)

func TestRoundTripKeepsSentinels(t *testing.T) {
	for _, sentinel := range []error{
		structs.ErrNotFound, structs.ErrPermissionDenied, structs.ErrBadRequest,
		structs.ErrNotLeader, structs.ErrNoLeader, structs.ErrShutdown, structs.ErrLeadershipLost, structs.ErrUnknownRegion,
		context.DeadlineExceeded, context.Canceled,
	} {
		err := From(To(fmt.Errorf("%w: details", sentinel)))
		require.ErrorIs(t, err, sentinel)
		require.Contains(t, err.Error(), "details", "the server's message survives")
		require.False(t, IsTransport(To(err)), "a server's own error is not the transport's")
	}
	// ErrShutdown and ErrNoLeader share a status code but stay apart.
	require.NotErrorIs(t, From(To(structs.ErrShutdown)), structs.ErrNoLeader)
	require.NotErrorIs(t, From(To(structs.ErrLeadershipLost)), structs.ErrNotLeader)
}

func TestTransportErrorsMapByCode(t *testing.T) {
	err := status.Error(codes.Unavailable, "connection refused")
	require.True(t, IsTransport(err))
	require.ErrorIs(t, From(err), structs.ErrNoLeader, "an unreachable server reads as no leader")
	require.False(t, IsTransport(status.Error(codes.Internal, "boom")))
	require.False(t, IsTransport(errors.New("plain")))
}

func TestValidationProblemsSurviveOneByOne(t *testing.T) {
	in := &structs.ValidationError{Problems: []string{`job "a": count must be >= 0`, `job "a": driver is required`}}
	err := From(To(in))
	require.ErrorIs(t, err, structs.ErrValidation)
	var verr *structs.ValidationError
	require.True(t, errors.As(err, &verr))
	require.Equal(t, in.Problems, verr.Problems)
}

func TestNilAndPlainErrors(t *testing.T) {
	require.NoError(t, To(nil))
	require.NoError(t, From(nil))
	plain := errors.New("not a status")
	require.Equal(t, plain, From(plain))
	require.ErrorContains(t, From(To(errors.New("disk on fire"))), "disk on fire")
}
