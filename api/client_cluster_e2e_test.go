package api_test

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/api"
	"github.com/droverhq/drover/internal/testing/testcluster"
	"github.com/droverhq/drover/structs"
)

// TestClientCallsReachTheClientThroughAnotherServer: in a three-server
// cluster, the client is connected to one server and the operator talks
// to a follower that is another one; logs, files and exec reach the
// client through the server holding its connection. After the client
// restarts they reach it again.
func TestClientCallsReachTheClientThroughAnotherServer(t *testing.T) {
	cl := testcluster.New(t, testcluster.Options{Servers: 3})
	cl.WaitLeader(60 * time.Second)
	holder := cl.Member(0)
	var follower *testcluster.Member
	for _, m := range cl.Members()[1:] {
		if !m.Server().IsLeader() {
			follower = m
			break
		}
	}
	require.NotNil(t, follower)
	dir := t.TempDir()
	node := startClientNode(t, dir, holder.Addr)
	addr, _ := node.cli.ServerConnection()
	require.Equal(t, holder.Addr, addr)
	require.False(t, follower.Server().HoldsNodeConnection(node.cli.NodeID()))
	s := serveAPI(t, follower.Server().NewHTTPHandler(api.Options{}), "")
	alloc := runJob(t, s.nomad, shJob("far", `echo "hello from far away"; sleep 3600`))
	defer func() {
		stopJobs(t, s.nomad)
		node.stop(t)
	}()
	waitFor(t, "the holder to hold the connection", func() bool { return holder.Server().HoldsNodeConnection(node.cli.NodeID()) })

	check := func() {
		t.Helper()
		waitFor(t, "the task's output through the follower", func() bool {
			out, err := readLogs(s.nomad, alloc, false, nomad.OriginStart, 0)
			return err == nil && out == "hello from far away\n"
		})
		files, _, err := s.nomad.AllocFS().List(alloc, "alloc/logs", nil)
		require.NoError(t, err)
		require.NotEmpty(t, files)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		var out bytes.Buffer
		code, err := s.nomad.Allocations().Exec(ctx, alloc, "web", false, []string{"/bin/echo", "exec", "works"},
			strings.NewReader(""), &out, &out, nil, nil)
		require.NoError(t, err)
		require.Zero(t, code)
		require.Equal(t, "exec works\n", out.String())
	}
	check()

	// The client restarts (its task keeps running) and connects again.
	node.stop(t)
	waitFor(t, "the old connection to be dropped", func() bool { return !holder.Server().HoldsNodeConnection(node.cli.NodeID()) })
	_, _, err := s.nomad.AllocFS().List(alloc, "/", nil)
	require.Equal(t, http.StatusNotFound, statusOf(t, err), "no server holds the node's connection")
	node = startClientNode(t, dir, holder.Addr)
	waitFor(t, "the reattached task to run", func() bool {
		st, err := node.cli.AllocStats(context.Background(), alloc.ID, "web")
		return err == nil && st.Tasks["web"].GetNote() == ""
	})
	check()
}

// TestClientEndpointsNeedTheirCapabilities: with ACLs on, each endpoint
// is refused to a token without its capability in the allocation's
// namespace and allowed with it.
func TestClientEndpointsNeedTheirCapabilities(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, filepath.Join(dir, "server"), true)
	ctx := context.Background()
	boot, err := srv.ACLBootstrap(ctx, "")
	require.NoError(t, err)
	node := startClientNode(t, filepath.Join(dir, "client"), srv.Addr())
	s := serveAPI(t, srv.NewHTTPHandler(api.Options{}), boot.SecretId)
	alloc := runJob(t, s.nomad, shJob("guarded", `echo guarded; sleep 3600`))
	defer func() {
		stopJobs(t, s.nomad)
		node.stop(t)
	}()
	token := func(name, rules string) *nomad.Client {
		_, err := srv.UpsertACLPolicies(ctx, []*drover.ACLPolicy{{Name: name, Rules: rules}})
		require.NoError(t, err)
		toks, err := srv.UpsertACLTokens(ctx, []*drover.ACLToken{{Name: name, Type: structs.ACLTokenTypeClient, Policies: []string{name}}})
		require.NoError(t, err)
		return s.withToken(t, toks[0].SecretId)
	}
	readOnly := token("readonly", "namespace \"default\" {\n policy = \"read\"\n}")
	logsOnly := token("logs", `namespace "default" { capabilities = ["read-job", "read-logs"] }`)
	fsOnly := token("fs", `namespace "default" { capabilities = ["read-job", "read-fs"] }`)
	execOnly := token("exec", `namespace "default" { capabilities = ["read-job", "alloc-exec"] }`)
	execNode := token("exec-node", `namespace "default" { capabilities = ["read-job", "alloc-exec", "alloc-node-exec"] }`)
	life := token("life", `namespace "default" { capabilities = ["read-job", "alloc-lifecycle"] }`)
	other := token("other", `namespace "other" { policy = "write" }`)
	anonymous := s.withToken(t, "")

	logs := func(c *nomad.Client) error { _, err := readLogs(c, alloc, false, nomad.OriginStart, 0); return err }
	list := func(c *nomad.Client) error { _, _, err := c.AllocFS().List(alloc, "/", nil); return err }
	exec := func(c *nomad.Client) error {
		ectx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		var out bytes.Buffer
		_, err := c.Allocations().Exec(ectx, alloc, "web", false, []string{"/bin/true"}, strings.NewReader(""), &out, &out, nil, nil)
		return err
	}
	signal := func(c *nomad.Client) error { return c.Allocations().Signal(alloc, nil, "web", "SIGCONT") }
	for _, c := range []*nomad.Client{anonymous, readOnly, other, fsOnly, execNode} {
		if c != fsOnly {
			require.ErrorContains(t, list(c), "403")
		}
		require.ErrorContains(t, signal(c), "403")
	}
	require.ErrorContains(t, list(life), "403")
	for _, c := range []*nomad.Client{anonymous, other, execOnly, life} {
		require.ErrorContains(t, logs(c), "403")
		require.Error(t, exec(c), "exec needs alloc-exec and alloc-node-exec")
	}
	require.Error(t, exec(execOnly), "raw_exec does not isolate the file system: alloc-node-exec is needed too")
	require.NoError(t, logs(logsOnly))
	require.NoError(t, logs(fsOnly), "read-fs reads logs too, as in Nomad")
	require.NoError(t, list(fsOnly))
	require.ErrorContains(t, list(logsOnly), "403")
	require.NoError(t, exec(execNode))
	require.NoError(t, signal(life))
	_, err = other.Allocations().Stop(alloc, nil)
	require.ErrorContains(t, err, "403")
	_, err = life.Nodes().Stats(alloc.NodeID, nil)
	require.ErrorContains(t, err, "403", "node stats need node read")
}
