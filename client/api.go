package client

import (
	"context"
	"fmt"

	"github.com/droverhq/drover/structs"
)

// The client's own API over its allocations, for a host (or the client's
// HTTP API, see api.NewClientHandler) on the client's machine. The same
// calls on a server reach any client through its connection; here they
// are served locally. A call whose context carries a token (WithToken) is
// checked by the servers first, in the allocation's namespace, when the
// servers run with ACLs; a plain context acts with the host's authority.

// Capabilities the calls need, as Nomad names them.
const (
	capReadLogs       = "read-logs"
	capReadFS         = "read-fs"
	capReadJob        = "read-job"
	capAllocExec      = "alloc-exec"
	capAllocNodeExec  = "alloc-node-exec"
	capAllocLifecycle = "alloc-lifecycle"
)

type tokenKey struct{}

// WithToken returns a context under which the client's calls act as the
// caller whose ACL token secret is secret ("" is the anonymous caller).
func WithToken(ctx context.Context, secret string) context.Context {
	return context.WithValue(ctx, tokenKey{}, secret)
}

// authorize checks the caller of ctx against the servers: the allocation's
// namespace must grant capabilities (all of them, or one with anyOf), or
// with nodeRead the caller must read nodes.
func (c *Client) authorize(ctx context.Context, namespace string, anyOf, nodeRead bool, capabilities ...string) error {
	return c.authorizeReq(ctx, &structs.ClientAuthorizeRequest{
		Namespace: namespace, Capabilities: capabilities, AnyOf: anyOf, NodeRead: nodeRead,
	})
}

// AuthorizeAgentRead checks that the caller of ctx may read the agent.
func (c *Client) AuthorizeAgentRead(ctx context.Context) error {
	return c.authorizeReq(ctx, &structs.ClientAuthorizeRequest{AgentRead: true})
}

func (c *Client) authorizeReq(ctx context.Context, req *structs.ClientAuthorizeRequest) error {
	secret, ok := ctx.Value(tokenKey{}).(string)
	if !ok {
		return nil
	}
	if c.link.acked.Load() && !c.link.aclEnabled.Load() {
		return nil
	}
	req.NodeId, req.SecretId, req.Token = c.id.NodeID, c.id.SecretID, secret
	resp, err := call(ctx, c.servers, func(ctx context.Context, s structs.DroverClient) (*structs.ClientAuthorizeResponse, error) {
		return s.ClientAuthorize(ctx, req)
	})
	if err != nil {
		return err
	}
	c.link.aclEnabled.Store(resp.AclEnabled)
	return nil
}

// allocFor finds an allocation of this client and checks the caller.
func (c *Client) allocFor(ctx context.Context, id string, anyOf bool, capabilities ...string) (*structs.Allocation, error) {
	r, err := c.allocRunner(id)
	if err != nil {
		return nil, err
	}
	a := r.current()
	if err := c.authorize(ctx, a.Namespace, anyOf, false, capabilities...); err != nil {
		return nil, err
	}
	return a, nil
}

// AllocFileList lists a directory of an allocation's directory (read-fs).
func (c *Client) AllocFileList(ctx context.Context, allocID, path string) ([]*structs.AllocFileInfo, error) {
	if _, err := c.allocFor(ctx, allocID, false, capReadFS); err != nil {
		return nil, err
	}
	return c.fsList(allocID, path)
}

// AllocFileStat describes a file of an allocation's directory (read-fs).
func (c *Client) AllocFileStat(ctx context.Context, allocID, path string) (*structs.AllocFileInfo, error) {
	if _, err := c.allocFor(ctx, allocID, false, capReadFS); err != nil {
		return nil, err
	}
	return c.fsStat(allocID, path)
}

// AllocFileStream sends a file of an allocation's directory to send,
// frame by frame (read-fs); send must not keep a frame's data after it
// returns.
func (c *Client) AllocFileStream(ctx context.Context, req *structs.FsStreamRequest, send func(*structs.StreamFrame) error) error {
	if _, err := c.allocFor(ctx, req.GetAllocId(), false, capReadFS); err != nil {
		return err
	}
	return c.streamFile(ctx, req, send)
}

// AllocLogs sends a task's logs to send, frame by frame (read-logs or
// read-fs); send must not keep a frame's data after it returns.
func (c *Client) AllocLogs(ctx context.Context, req *structs.LogsRequest, send func(*structs.StreamFrame) error) error {
	if _, err := c.allocFor(ctx, req.GetAllocId(), true, capReadLogs, capReadFS); err != nil {
		return err
	}
	return c.streamLogs(ctx, req, send)
}

// AllocExec starts a command in a running task (alloc-exec, and
// alloc-node-exec since no drover driver isolates a task's file system)
// and returns the session; it ends with ctx.
func (c *Client) AllocExec(ctx context.Context, start *structs.ExecStart) (structs.ExecStream, error) {
	if _, err := c.allocFor(ctx, start.GetAllocId(), false, capAllocExec, capAllocNodeExec); err != nil {
		return nil, err
	}
	r, err := c.allocRunner(start.GetAllocId())
	if err != nil {
		return nil, err
	}
	if _, err := r.task(start.GetTask()); err != nil {
		return nil, err
	}
	return c.startLocalExec(ctx, start), nil
}

// AllocRestart restarts a running task of an allocation, or every running
// task with allTasks (alloc-lifecycle).
func (c *Client) AllocRestart(ctx context.Context, allocID, task string, allTasks bool) error {
	if _, err := c.allocFor(ctx, allocID, false, capAllocLifecycle); err != nil {
		return err
	}
	return c.restartTasks(ctx, allocID, task, allTasks)
}

// AllocSignal sends signal to a running task of an allocation, or to every
// running task when task is empty (alloc-lifecycle).
func (c *Client) AllocSignal(ctx context.Context, allocID, task, signal string) error {
	if _, err := c.allocFor(ctx, allocID, false, capAllocLifecycle); err != nil {
		return err
	}
	return c.signalTasks(ctx, allocID, task, signal)
}

// AllocStats measures an allocation's tasks (read-job).
func (c *Client) AllocStats(ctx context.Context, allocID, task string) (*structs.AllocResourceUsage, error) {
	if _, err := c.allocFor(ctx, allocID, false, capReadJob); err != nil {
		return nil, err
	}
	return c.allocStats(ctx, allocID, task)
}

// NodeStats measures this client's host (node read); nodeID must be this
// node's id, or empty.
func (c *Client) NodeStats(ctx context.Context, nodeID string) (*structs.HostStats, error) {
	if nodeID != "" && nodeID != c.id.NodeID {
		return nil, fmt.Errorf("%w: node %s is not this client's", structs.ErrNotFound, structs.Quote(nodeID))
	}
	if err := c.authorize(ctx, "", false, true); err != nil {
		return nil, err
	}
	return c.hostStats()
}

// KnownServers are the servers the client knows, the configured ones and
// those the servers told it of.
func (c *Client) KnownServers() []string {
	c.servers.mu.Lock()
	defer c.servers.mu.Unlock()
	return append([]string(nil), c.servers.servers...)
}

// AllocationCount is how many allocations the client holds.
func (c *Client) AllocationCount() int {
	c.allocs.mu.Lock()
	defer c.allocs.mu.Unlock()
	return len(c.allocs.runners)
}
