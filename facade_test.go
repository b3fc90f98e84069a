package drover_test

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/internal/testing/harness"
)

// TestFacadeKeepsTheNodeProtocolInternal: what clients say to servers is
// not part of the host's API.
func TestFacadeKeepsTheNodeProtocolInternal(t *testing.T) {
	srv := reflect.TypeFor[*drover.Server]()
	for _, m := range []string{"RegisterNode", "Heartbeat", "NodeAllocations", "UpdateAllocations", "CallerACL", "ConsistentRead"} {
		_, ok := srv.MethodByName(m)
		require.False(t, ok, "drover.Server has %s", m)
	}
	for _, f := range reflect.VisibleFields(srv.Elem()) {
		require.False(t, f.Anonymous, "drover.Server embeds %s", f.Type)
	}
	for _, f := range reflect.VisibleFields(reflect.TypeFor[drover.Client]()) {
		require.False(t, f.Anonymous, "drover.Client embeds %s", f.Type)
	}
}

func TestOperatorEligibilityAndDrain(t *testing.T) {
	dir := t.TempDir()
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server")})
	cli := harness.StartClient(t, clientOptions(filepath.Join(dir, "client"), srv))
	defer harness.Shutdown(t, cli, srv)
	ctx := context.Background()
	node := func() *drover.Node {
		n, err := srv.Node(ctx, cli.NodeID())
		require.NoError(t, err)
		return n
	}

	index, _, err := srv.UpdateNodeEligibility(ctx, cli.NodeID(), false)
	require.NoError(t, err)
	require.NotZero(t, index)
	require.Equal(t, "ineligible", node().SchedulingEligibility)
	_, _, err = srv.UpdateNodeEligibility(ctx, cli.NodeID(), true)
	require.NoError(t, err)
	require.Equal(t, "eligible", node().SchedulingEligibility)

	_, err = srv.UpdateNodeDrain(ctx, cli.NodeID(), &drover.NodeDrain{Deadline: time.Minute, IgnoreSystemJobs: true}, false)
	require.NoError(t, err)
	n := node()
	require.True(t, n.DrainStrategy.GetIgnoreSystemJobs())
	require.Equal(t, "ineligible", n.SchedulingEligibility)
	_, _, err = srv.UpdateNodeEligibility(ctx, cli.NodeID(), true)
	require.ErrorIs(t, err, drover.ErrBadRequest, "a draining node is made eligible by ending the drain")
	_, err = srv.UpdateNodeDrain(ctx, cli.NodeID(), nil, true)
	require.NoError(t, err)
	n = node()
	require.Nil(t, n.DrainStrategy)
	require.Equal(t, "eligible", n.SchedulingEligibility)
}
