package api_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/api"
)

// TestAllocationsCarryTheirPlacementMetrics: `nomad alloc status -verbose`
// prints an allocation's Metrics without checking for nil, so every
// allocation read carries them, as the scheduler recorded them when it
// placed the allocation.
func TestAllocationsCarryTheirPlacementMetrics(t *testing.T) {
	c := newCluster(t, api.Options{})
	_, _, err := c.nomad.Jobs().Register(mockJob("web", 1), nil)
	require.NoError(t, err)
	stubs := waitAllocs(t, c, "web", running(1))
	alloc, _, err := c.nomad.Allocations().Info(stubs[0].ID, nil)
	require.NoError(t, err)
	require.NotNil(t, alloc.Metrics)
	require.Equal(t, 1, alloc.Metrics.NodesEvaluated, "the one node was looked at")
	require.Zero(t, alloc.Metrics.NodesFiltered)
	require.Zero(t, alloc.Metrics.NodesExhausted)
}
