package rpcerr

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/structs"
)

func TestRoundTripKeepsSentinels(t *testing.T) {
	for _, sentinel := range []error{
		structs.ErrNotFound, structs.ErrPermissionDenied, structs.ErrBadRequest,
		structs.ErrNotLeader, structs.ErrNoLeader, context.DeadlineExceeded, context.Canceled,
	} {
		err := From(To(fmt.Errorf("%w: details", sentinel)))
		require.ErrorIs(t, err, sentinel)
		require.Contains(t, err.Error(), "details", "the server's message survives")
	}
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
