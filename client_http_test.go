package drover_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/api"
	"github.com/droverhq/drover/driver/rawexec"
	"github.com/droverhq/drover/internal/testing/harness"
	"github.com/droverhq/drover/structs"
)

// TestClientServesItsOwnAllocations: a client's own HTTP API (an agent
// without a server) serves logs, files, exec and stats of its
// allocations, and /v1/agent/self with its client section, to Nomad's
// Go client.
func TestClientServesItsOwnAllocations(t *testing.T) {
	dir := t.TempDir()
	srv, err := drover.NewServer(drover.ServerOptions{DataDir: filepath.Join(dir, "server"), BindAddr: "127.0.0.1:0"})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	defer srv.Shutdown(context.Background())
	require.NoError(t, srv.WaitForLeader(ctx))
	cli, err := drover.NewClient(drover.ClientOptions{
		DataDir: filepath.Join(dir, "client"), Servers: []string{srv.Addr()}, Drivers: []drover.Driver{rawexec.New(nil)},
	})
	require.NoError(t, err)
	defer cli.Shutdown(context.Background())
	require.NoError(t, drover.ClientOf(cli).WaitServerConnection(ctx))

	job := &drover.Job{Id: "local", Type: structs.JobTypeService, TaskGroups: []*drover.TaskGroup{{
		Name: "g", Count: 1, Tasks: []*drover.Task{{
			Name: "web", Driver: "raw_exec", Resources: &drover.Resources{CpuMhz: 20, MemoryMb: 16},
			Config: mustStruct(map[string]any{"command": "/bin/sh", "args": []any{"-c", "echo local hello; sleep 3600"}}),
		}},
	}}}
	_, err = srv.RegisterJob(ctx, job)
	require.NoError(t, err)
	defer func() {
		_, _ = srv.DeregisterJob(context.Background(), "default", "local", false)
		harness.Eventually(t, time.Minute, "the allocation", func() bool { return drover.ClientOf(cli).AllocationCount() == 0 || allStopped(srv) })
	}()
	var allocID string
	harness.Eventually(t, time.Minute, "the allocation", func() bool {
		allocs, _ := srv.Allocations(ctx, "default", "local", "")
		for _, a := range allocs {
			if a.ClientStatus == structs.AllocClientRunning {
				allocID = a.Id
				return true
			}
		}
		return false
	})

	hs := httptest.NewServer(cli.NewHTTPHandler(api.Options{}))
	defer hs.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c, err := nomad.NewClient(&nomad.Config{Address: hs.URL, HttpClient: &http.Client{Transport: tr}})
	require.NoError(t, err)
	alloc := &nomad.Allocation{ID: allocID, NodeID: cli.NodeID()}

	cancelLogs := make(chan struct{})
	frames, errs := c.AllocFS().Logs(alloc, false, "web", "stdout", nomad.OriginStart, 0, cancelLogs, nil)
	var out bytes.Buffer
	for f := range frames {
		out.Write(f.Data)
	}
	close(cancelLogs)
	select {
	case err := <-errs:
		require.NoError(t, err)
	default:
	}
	require.Equal(t, "local hello\n", out.String())

	files, _, err := c.AllocFS().List(alloc, "/", nil)
	require.NoError(t, err)
	require.Len(t, files, 2)

	out.Reset()
	code, err := c.Allocations().Exec(ctx, alloc, "web", false, []string{"/bin/sh", "-c", "exit 4"}, strings.NewReader(""), &out, &out, nil, nil)
	require.NoError(t, err)
	require.Equal(t, 4, code)

	self, err := c.Agent().Self()
	require.NoError(t, err)
	require.Equal(t, cli.NodeID(), self.Stats["client"]["node_id"])
	host, err := c.Nodes().Stats(cli.NodeID(), nil)
	require.NoError(t, err)
	require.Positive(t, host.Memory.Total)
	_, _, err = c.Jobs().List(nil)
	require.Error(t, err, "the servers' endpoints are not the client's")
}

func mustStruct(m map[string]any) *structpb.Struct {
	s, err := structpb.NewStruct(m)
	if err != nil {
		panic(err)
	}
	return s
}

func allStopped(srv *drover.Server) bool {
	allocs, _ := srv.Allocations(context.Background(), "default", "local", "")
	for _, a := range allocs {
		if !a.ClientTerminal() {
			return false
		}
	}
	return true
}
