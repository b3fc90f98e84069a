package drover_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/internal/testing/harness"
	"github.com/droverhq/drover/internal/testing/testcluster"
	"github.com/droverhq/drover/structs"
)

// TestACLsReplicateFromTheAuthoritativeRegion: policies and global tokens
// are written in the authoritative region and reach the others; a local
// token stays in its region.
func TestACLsReplicateFromTheAuthoritativeRegion(t *testing.T) {
	const rootSecret = "5a0c4f9e-1d2b-4c3a-8e7f-000000000001"
	east := testcluster.New(t, testcluster.Options{Servers: 1, Server: func(_ int, o *drover.ServerOptions) {
		o.Region, o.ACL = "east", drover.ACLOptions{Enabled: true}
	}})
	west := testcluster.New(t, testcluster.Options{Servers: 1, Server: func(_ int, o *drover.ServerOptions) {
		o.Region, o.AuthoritativeRegion = "west", "east"
		o.ACL = drover.ACLOptions{Enabled: true, ReplicationToken: rootSecret}
	}})
	e := east.WaitLeader(30 * time.Second).Server()
	w := west.WaitLeader(30 * time.Second).Server()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, err := e.ACLBootstrap(drover.WithToken(ctx, ""), rootSecret)
	require.NoError(t, err)
	_, err = w.Join(ctx, east.Member(0).GossipAddr)
	require.NoError(t, err)

	root := drover.WithToken(ctx, rootSecret)
	_, err = e.UpsertACLPolicies(root, []*structs.ACLPolicy{{Name: "reader", Rules: `namespace "default" { policy = "read" }`}})
	require.NoError(t, err)
	toks, err := e.UpsertACLTokens(root, []*structs.ACLToken{{Name: "global-reader", Policies: []string{"reader"}, Global: true}})
	require.NoError(t, err)
	globalReader := toks[0]

	harness.Eventually(t, time.Minute, "west to replicate the policy and the global tokens", func() bool {
		_, err := w.Jobs(drover.WithToken(drover.AllowStale(ctx), globalReader.SecretId), "default", "")
		return err == nil
	})
	_, err = w.RegisterJob(drover.WithToken(ctx, globalReader.SecretId), batchJob("nope"))
	require.ErrorIs(t, err, drover.ErrPermissionDenied, "the replicated policy reads only")
	_, err = w.RegisterJob(root, batchJob("west-job"))
	require.NoError(t, err, "the replicated bootstrap token manages west too")

	// A policy written through west lands in east and comes back.
	_, err = w.UpsertACLPolicies(root, []*structs.ACLPolicy{{Name: "writer", Rules: `namespace "default" { policy = "write" }`}})
	require.NoError(t, err)
	_, err = e.ACLPolicy(root, "writer")
	require.NoError(t, err, "the policy was written in the authoritative region")

	// A local token of west works in west only.
	local, err := w.UpsertACLTokens(root, []*structs.ACLToken{{Name: "west-writer", Policies: []string{"writer"}}})
	require.NoError(t, err)
	harness.Eventually(t, time.Minute, "west to have the writer policy", func() bool {
		_, err := w.RegisterJob(drover.WithToken(ctx, local[0].SecretId), batchJob("by-local"))
		return err == nil
	})
	_, err = e.Jobs(drover.WithToken(ctx, local[0].SecretId), "default", "")
	require.ErrorIs(t, err, drover.ErrTokenNotFound, "east does not know west's local token")

	// Deleting the global token in east revokes it in west.
	_, err = e.DeleteACLTokens(root, []string{globalReader.AccessorId})
	require.NoError(t, err)
	harness.Eventually(t, time.Minute, "west to drop the deleted token", func() bool {
		_, err := w.Jobs(drover.WithToken(drover.AllowStale(ctx), globalReader.SecretId), "default", "")
		return errors.Is(err, drover.ErrTokenNotFound)
	})
}

// TestACLsOnAFollowerAndAfterFailover: with ACLs on, a token created on
// the leader works at once on a follower, the host's own calls on a
// follower are forwarded with the region's server secret, and both keep
// working under the next leader.
func TestACLsOnAFollowerAndAfterFailover(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Servers: 3, Server: func(_ int, o *drover.ServerOptions) {
		o.ACL = drover.ACLOptions{Enabled: true}
	}})
	leader := c.WaitLeader(30 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	boot, err := leader.Server().ACLBootstrap(drover.WithToken(ctx, ""), "")
	require.NoError(t, err)
	root := drover.WithToken(ctx, boot.SecretId)
	_, err = leader.Server().UpsertACLPolicies(root, []*structs.ACLPolicy{{Name: "writer", Rules: `namespace "default" { policy = "write" }`}})
	require.NoError(t, err)
	toks, err := leader.Server().UpsertACLTokens(root, []*structs.ACLToken{{Policies: []string{"writer"}}})
	require.NoError(t, err)
	writer := drover.WithToken(ctx, toks[0].SecretId)
	f := follower(c)
	_, err = f.Server().RegisterJob(writer, batchJob("by-token-on-follower"))
	require.NoError(t, err, "a token created on the leader works on a follower at once")
	_, err = f.Server().RegisterJob(ctx, batchJob("by-host-on-follower"))
	require.NoError(t, err, "the host's call on a follower is forwarded with the server secret")
	_, err = f.Server().RegisterJob(drover.WithToken(ctx, ""), batchJob("anonymous"))
	require.ErrorIs(t, err, drover.ErrPermissionDenied)

	leader.Stop()
	next := c.WaitLeader(30 * time.Second)
	for _, m := range c.Running() {
		if m == next {
			continue
		}
		require.NoError(t, registerRetrying(writer, m.Server(), batchJob("after-"+m.Name)))
		require.NoError(t, registerRetrying(ctx, m.Server(), batchJob("host-after-"+m.Name)))
	}
}
