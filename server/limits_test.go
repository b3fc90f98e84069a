package server

import (
	"context"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/structs"
)

func TestRegistrationRefusesCountsOverJobMaxCount(t *testing.T) {
	ctx := context.Background()
	s := schedTestServer(t, nil)
	_, err := s.RegisterJob(ctx, mockJob("huge", math.MaxInt32))
	require.ErrorIs(t, err, structs.ErrValidation)
	require.ErrorContains(t, err, "job_max_count: 2147483647 > 50000")
	_, err = s.RegisterJob(ctx, mockJob("fine", 3))
	require.NoError(t, err)

	small := schedTestServer(t, func(c *Config) { c.JobMaxCount = 2 })
	_, err = small.RegisterJob(ctx, mockJob("three", 3))
	require.ErrorContains(t, err, "job_max_count: 3 > 2")
	_, err = small.RegisterJob(ctx, mockJob("two", 2))
	require.NoError(t, err)
}
