package drover_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/internal/testing/testcluster"
)

func follower(c *testcluster.Cluster) *testcluster.Member {
	l := c.Leader()
	for _, m := range c.Running() {
		if m != l {
			return m
		}
	}
	return nil
}

func TestBackupRestoresIntoAFreshCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a := testcluster.New(t, testcluster.Options{Servers: 3})
	a.WaitLeader(30 * time.Second)
	for i := range 40 {
		_, err := a.Member(i%3).Server().RegisterJob(ctx, batchJob(fmt.Sprintf("job-%02d", i)))
		require.NoError(t, err)
	}
	var backup bytes.Buffer
	idx, err := follower(a).Server().Backup(ctx, &backup)
	require.NoError(t, err)
	require.NotZero(t, idx)

	b := testcluster.New(t, testcluster.Options{Servers: 3})
	b.WaitLeader(30 * time.Second)
	_, err = b.Member(0).Server().RegisterJob(ctx, batchJob("replaced"))
	require.NoError(t, err)
	before, err := b.Member(0).Server().RaftConfiguration(ctx)
	require.NoError(t, err)

	// A damaged or truncated backup is refused and changes nothing.
	damaged := bytes.Clone(backup.Bytes())
	damaged[len(damaged)/2] ^= 0xff
	_, err = follower(b).Server().Restore(ctx, bytes.NewReader(damaged))
	require.ErrorIs(t, err, drover.ErrBadRequest)
	_, err = b.Leader().Server().Restore(ctx, bytes.NewReader(backup.Bytes()[:backup.Len()-3]))
	require.ErrorIs(t, err, drover.ErrBadRequest)
	_, err = b.Member(1).Server().Job(ctx, "", "replaced")
	require.NoError(t, err, "a refused restore leaves the state as it was")

	// Through a follower, which streams the backup to the leader.
	_, err = follower(b).Server().Restore(ctx, bytes.NewReader(backup.Bytes()))
	require.NoError(t, err)
	for _, m := range b.Members() {
		jobs, err := m.Server().Jobs(ctx, "", "")
		require.NoError(t, err)
		require.Len(t, jobs, 40, "%s holds the backup's jobs", m.Name)
		_, err = m.Server().Job(ctx, "", "replaced")
		require.ErrorIs(t, err, drover.ErrNotFound, "%s no longer holds what the backup lacks", m.Name)
	}
	after, err := b.Member(0).Server().RaftConfiguration(ctx)
	require.NoError(t, err)
	require.ElementsMatch(t, names(before), names(after), "the cluster keeps its own servers")

	// The restored cluster goes on: writes, and a restart of every server.
	_, err = b.Member(2).Server().RegisterJob(ctx, batchJob("after-restore"))
	require.NoError(t, err)
	b.Shutdown()
	for _, m := range b.Members() {
		require.NoError(t, m.Start())
	}
	b.WaitLeader(30 * time.Second)
	jobs, err := b.Member(1).Server().Jobs(ctx, "", "")
	require.NoError(t, err)
	require.Len(t, jobs, 41)
}

func names(peers []drover.RaftServer) []string {
	var out []string
	for _, p := range peers {
		out = append(out, p.Name)
	}
	return out
}
