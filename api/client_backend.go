package api

import (
	"context"
	"net/http"
	"strconv"

	"github.com/droverhq/drover/structs"
)

// ClientBackend reaches the clients that hold allocations: their files,
// logs, exec sessions, task restarts and signals, and resource usage.
// A server implements it for every client of its region (reaching each
// through the connection the client keeps to the servers), a client for
// its own allocations. Implementations check the caller's rights.
type ClientBackend interface {
	// AllocFileList lists a directory of an allocation's directory.
	AllocFileList(ctx context.Context, allocID, path string) ([]*structs.AllocFileInfo, error)
	// AllocFileStat describes a file of an allocation's directory.
	AllocFileStat(ctx context.Context, allocID, path string) (*structs.AllocFileInfo, error)
	// AllocFileStream sends a file to send, frame by frame, until it ends
	// (or, following, until ctx ends); send must not keep a frame's data.
	AllocFileStream(ctx context.Context, req *structs.FsStreamRequest, send func(*structs.StreamFrame) error) error
	// AllocLogs sends a task's stdout or stderr as AllocFileStream does.
	AllocLogs(ctx context.Context, req *structs.LogsRequest, send func(*structs.StreamFrame) error) error
	// AllocExec starts a command in a running task; the session ends with
	// the command, or with ctx.
	AllocExec(ctx context.Context, start *structs.ExecStart) (structs.ExecStream, error)
	// AllocRestart restarts a running task, or all of them.
	AllocRestart(ctx context.Context, allocID, task string, allTasks bool) error
	// AllocSignal signals a running task, or (task empty) all of them.
	AllocSignal(ctx context.Context, allocID, task, signal string) error
	// AllocStats measures an allocation's tasks, or one of them.
	AllocStats(ctx context.Context, allocID, task string) (*structs.AllocResourceUsage, error)
	// NodeStats measures a client's host.
	NodeStats(ctx context.Context, nodeID string) (*structs.HostStats, error)
}

// AllocStopper stops allocations for the scheduler to replace them.
type AllocStopper interface {
	// StopAllocation returns the evaluation that replaces the allocation
	// and the index of the write.
	StopAllocation(ctx context.Context, allocID string) (evalID string, index uint64, err error)
}

// clientRoutes serves the /v1/client endpoints over a ClientBackend.
type clientRoutes struct {
	b ClientBackend
	// region is the region requests may name; meta writes the query
	// headers of a read.
	region func() string
	meta   func(w http.ResponseWriter)
	h      *Handler
}

// register adds the client endpoints to h.
func (c *clientRoutes) register(h *Handler) {
	c.h = h
	get := func(f handlerFunc) map[string]handlerFunc { return map[string]handlerFunc{http.MethodGet: f} }
	write := func(f handlerFunc) map[string]handlerFunc {
		return map[string]handlerFunc{http.MethodPut: f, http.MethodPost: f}
	}
	h.handle("/v1/client/fs/ls/:", get(c.fsList))
	h.handle("/v1/client/fs/stat/:", get(c.fsStat))
	h.handle("/v1/client/fs/cat/:", get(c.fsCat))
	h.handle("/v1/client/fs/readat/:", get(c.fsReadAt))
	h.handle("/v1/client/fs/stream/:", get(c.fsStream))
	h.handle("/v1/client/fs/logs/:", get(c.logs))
	h.handle("/v1/client/allocation/:/exec", get(c.exec))
	h.handle("/v1/client/allocation/:/restart", write(c.restart))
	h.handle("/v1/client/allocation/:/signal", write(c.signal))
	h.handle("/v1/client/allocation/:/stats", get(c.allocStats))
	h.handle("/v1/client/stats", get(c.nodeStats))
}

// checkRegion refuses a request for another region: client endpoints
// serve their own region only.
func (c *clientRoutes) checkRegion(r *http.Request) error {
	if region := r.URL.Query().Get("region"); region != "" && region != c.region() {
		return badRequest("no path to region %q: this endpoint serves region %q only", region, c.region())
	}
	return nil
}

// writeRead sends the answer of a read with the query headers.
func (c *clientRoutes) writeRead(w http.ResponseWriter, v any) error {
	c.meta(w)
	return writeJSON(w, v)
}

// int64Param reads an integer query parameter (def when absent).
func int64Param(r *http.Request, name string, def int64) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, badRequest("invalid %s %q: want an integer", name, s)
	}
	return n, nil
}
