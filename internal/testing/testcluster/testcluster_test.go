package testcluster

import (
	"net"
	"testing"
	"time"

	"github.com/droverhq/drover/internal/testing/harness"
	"github.com/stretchr/testify/require"
)

func TestFreeAddrNeverHandsOutAnAddressTwice(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		addr := freeAddr(t, 0)
		require.False(t, seen[addr], "address %s handed out twice", addr)
		seen[addr] = true
	}
}

// A port taken between picking and binding is picked again on a first
// start, and the cluster forms on the new address.
func TestFirstStartPicksNewAddressesWhenThePortIsTaken(t *testing.T) {
	c := &Cluster{tb: t, opts: Options{Servers: 1, Logger: harness.Logger(t)}, dir: t.TempDir()}
	m := c.newMember(0)
	taken, err := net.Listen("tcp", m.GossipAddr)
	require.NoError(t, err)
	defer taken.Close()
	c.members = append(c.members, m)
	t.Cleanup(c.Shutdown)

	require.NoError(t, m.startFresh())
	require.NotEqual(t, taken.Addr().String(), m.GossipAddr)
	c.WaitLeader(30 * time.Second)
}
