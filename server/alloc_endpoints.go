package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/droverhq/drover/internal/rpcerr"
	"github.com/droverhq/drover/server/acl"
	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

// The client endpoints: what an operator asks of the client holding an
// allocation. The server that receives the call checks the caller's
// rights in the allocation's own namespace, then calls the client
// through the connection it holds to it, or forwards the call to the
// server of the region that holds it (found with NodeConnHolder), which
// checks again and calls the client. Streams end with the caller's
// context, and when the server stops.

// holderTimeout bounds the question to each server about a node's connection.
const holderTimeout = 2 * time.Second

// clientAlloc reads an allocation for a client call: the caller must hold,
// in the allocation's namespace, one capability of each of needs.
func (s *Server) clientAlloc(ctx context.Context, id string, needs ...[]string) (*structs.Allocation, error) {
	if _, err := s.authorize(ctx); err != nil {
		return nil, err
	}
	if err := s.readBarrier(ctx); err != nil {
		return nil, err
	}
	var a *structs.Allocation
	s.state.View(func(v *state.Snapshot) { a = v.Alloc(id) })
	if a == nil {
		return nil, fmt.Errorf("%w: allocation %s", ErrNotFound, structs.Quote(id))
	}
	for _, anyOf := range needs {
		if err := s.allowNamespace(ctx, a.Namespace, anyOf...); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// nodeClient returns a client of a node's endpoints and the context to
// call it with: the node's own connection when this server holds it,
// otherwise the server of the region that does, with the caller's
// authority, marked forwarded (a forwarded call is never forwarded again).
func (s *Server) nodeClient(ctx context.Context, nodeID string) (context.Context, structs.DroverClient, error) {
	if nc := s.nodeConns.get(nodeID); nc != nil {
		return ctx, nc.client, nil
	}
	if isForwarded(ctx) {
		return nil, nil, noNodeConn(nodeID)
	}
	addr := s.findNodeConn(ctx, nodeID)
	if addr == "" {
		return nil, nil, noNodeConn(nodeID)
	}
	c, err := s.pool.ready(ctx, addr)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: the server holding it: %w", noNodeConn(nodeID), err)
	}
	return metadata.AppendToOutgoingContext(s.outgoingAuth(ctx, ""), forwardedHeader, s.cfg.Name), c, nil
}

func noNodeConn(nodeID string) error {
	return fmt.Errorf("%w %s: it is not connected to any server of the region", structs.ErrNoNodeConnection, structs.Quote(nodeID))
}

// findNodeConn asks every other server of the region whether it holds the
// node's connection and returns the address of the one holding the newest
// ("" when none does).
func (s *Server) findNodeConn(ctx context.Context, nodeID string) string {
	ctx, cancel := context.WithTimeout(ctx, holderTimeout)
	defer cancel()
	var (
		mu   sync.Mutex
		best *structs.NodeConnResponse
		addr string
		wg   sync.WaitGroup
	)
	for _, a := range s.Peers() {
		if a == s.self.Addr {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := s.pool.ready(ctx, a)
			if err != nil {
				return
			}
			resp, err := c.NodeConnHolder(ctx, &structs.NodeConnRequest{NodeId: nodeID})
			if err != nil || !resp.Held {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if best == nil || resp.StartedAt > best.StartedAt || resp.StartedAt == best.StartedAt && resp.Attempt > best.Attempt {
				best, addr = resp, a
			}
		}()
	}
	wg.Wait()
	return addr
}

// nodeErr maps an error of a call to a client: a connection that broke
// under the call means the node is no longer reachable.
func nodeErr(nodeID string, err error) error {
	if err == nil {
		return nil
	}
	if rpcerr.IsTransport(err) {
		return fmt.Errorf("%w: %v", noNodeConn(nodeID), err)
	}
	return rpcerr.From(err)
}

// untilStop is ctx, also cancelled when the server stops.
func (s *Server) untilStop(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.stopCtx, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}

// AllocFileList lists a directory of an allocation's directory on its
// client (read-fs).
func (s *Server) AllocFileList(ctx context.Context, allocID, path string) ([]*structs.AllocFileInfo, error) {
	a, err := s.clientAlloc(ctx, allocID, []string{acl.NamespaceCapabilityReadFS})
	if err != nil {
		return nil, err
	}
	cctx, c, err := s.nodeClient(ctx, a.NodeId)
	if err != nil {
		return nil, err
	}
	resp, err := c.ClientFsList(cctx, &structs.FsListRequest{AllocId: a.Id, Path: path})
	if err != nil {
		return nil, nodeErr(a.NodeId, err)
	}
	return resp.Files, nil
}

// AllocFileStat describes a file of an allocation's directory (read-fs).
func (s *Server) AllocFileStat(ctx context.Context, allocID, path string) (*structs.AllocFileInfo, error) {
	a, err := s.clientAlloc(ctx, allocID, []string{acl.NamespaceCapabilityReadFS})
	if err != nil {
		return nil, err
	}
	cctx, c, err := s.nodeClient(ctx, a.NodeId)
	if err != nil {
		return nil, err
	}
	resp, err := c.ClientFsStat(cctx, &structs.FsStatRequest{AllocId: a.Id, Path: path})
	if err != nil {
		return nil, nodeErr(a.NodeId, err)
	}
	return resp.Info, nil
}

// frameStream is a stream of frames from a client.
type frameStream interface {
	Recv() (*structs.StreamFrame, error)
}

// relay sends a client's frames on until the stream ends.
func relay(nodeID string, st frameStream, send func(*structs.StreamFrame) error) error {
	for {
		f, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return nodeErr(nodeID, err)
		}
		if err := send(f); err != nil {
			return err
		}
	}
}

// AllocFileStream sends a file of an allocation's directory to send,
// frame by frame (read-fs), until the file ends or, with req.Follow, ctx
// ends.
func (s *Server) AllocFileStream(ctx context.Context, req *structs.FsStreamRequest, send func(*structs.StreamFrame) error) error {
	a, err := s.clientAlloc(ctx, req.GetAllocId(), []string{acl.NamespaceCapabilityReadFS})
	if err != nil {
		return err
	}
	ctx, cancel := s.untilStop(ctx)
	defer cancel()
	cctx, c, err := s.nodeClient(ctx, a.NodeId)
	if err != nil {
		return err
	}
	st, err := c.ClientFsStream(cctx, req)
	if err != nil {
		return nodeErr(a.NodeId, err)
	}
	return relay(a.NodeId, st, send)
}

// AllocLogs sends a task's stdout or stderr to send, frame by frame
// (read-logs or read-fs), until the log ends or, with req.Follow, ctx ends.
func (s *Server) AllocLogs(ctx context.Context, req *structs.LogsRequest, send func(*structs.StreamFrame) error) error {
	a, err := s.clientAlloc(ctx, req.GetAllocId(), []string{acl.NamespaceCapabilityReadLogs, acl.NamespaceCapabilityReadFS})
	if err != nil {
		return err
	}
	ctx, cancel := s.untilStop(ctx)
	defer cancel()
	cctx, c, err := s.nodeClient(ctx, a.NodeId)
	if err != nil {
		return err
	}
	st, err := c.ClientLogs(cctx, req)
	if err != nil {
		return nodeErr(a.NodeId, err)
	}
	return relay(a.NodeId, st, send)
}

// AllocExec starts a command in a running task (alloc-exec and, since no
// drover driver isolates a task's file system, alloc-node-exec, as Nomad
// asks for such drivers) and returns the session, which lasts until the
// command exits, ctx ends, or the server stops.
func (s *Server) AllocExec(ctx context.Context, start *structs.ExecStart) (structs.ExecStream, error) {
	a, err := s.clientAlloc(ctx, start.GetAllocId(),
		[]string{acl.NamespaceCapabilityAllocExec}, []string{acl.NamespaceCapabilityAllocNodeExec})
	if err != nil {
		return nil, err
	}
	ctx, cancel := s.untilStop(ctx)
	cctx, c, err := s.nodeClient(ctx, a.NodeId)
	if err != nil {
		cancel()
		return nil, err
	}
	st, err := c.ClientExec(cctx)
	if err != nil {
		cancel()
		return nil, nodeErr(a.NodeId, err)
	}
	if err := st.Send(&structs.ExecInput{Start: start}); err != nil {
		cancel()
		return nil, nodeErr(a.NodeId, err)
	}
	return &execSession{st: st, nodeID: a.NodeId, cancel: cancel}, nil
}

// execSession is an exec session through a client's connection.
type execSession struct {
	st     structs.Drover_ClientExecClient
	nodeID string
	cancel context.CancelFunc
}

func (e *execSession) Send(in *structs.ExecInput) error { return e.st.Send(in) }

func (e *execSession) CloseSend() error { return e.st.CloseSend() }

func (e *execSession) Recv() (*structs.ExecOutput, error) {
	out, err := e.st.Recv()
	if err != nil {
		e.cancel()
		if errors.Is(err, io.EOF) {
			return nil, err
		}
		return nil, nodeErr(e.nodeID, err)
	}
	return out, nil
}

// AllocRestart restarts a running task of an allocation, or every running
// task with allTasks (alloc-lifecycle).
func (s *Server) AllocRestart(ctx context.Context, allocID, task string, allTasks bool) error {
	a, err := s.clientAlloc(ctx, allocID, []string{acl.NamespaceCapabilityAllocLifecycle})
	if err != nil {
		return err
	}
	cctx, c, err := s.nodeClient(ctx, a.NodeId)
	if err != nil {
		return err
	}
	_, err = c.ClientAllocRestart(cctx, &structs.AllocRestartRequest{AllocId: a.Id, Task: task, AllTasks: allTasks})
	return nodeErr(a.NodeId, err)
}

// AllocSignal sends signal to a running task of an allocation, or to
// every running task when task is empty (alloc-lifecycle).
func (s *Server) AllocSignal(ctx context.Context, allocID, task, signal string) error {
	a, err := s.clientAlloc(ctx, allocID, []string{acl.NamespaceCapabilityAllocLifecycle})
	if err != nil {
		return err
	}
	cctx, c, err := s.nodeClient(ctx, a.NodeId)
	if err != nil {
		return err
	}
	_, err = c.ClientAllocSignal(cctx, &structs.AllocSignalRequest{AllocId: a.Id, Task: task, Signal: signal})
	return nodeErr(a.NodeId, err)
}

// AllocStats measures an allocation's tasks (read-job), or one of them.
func (s *Server) AllocStats(ctx context.Context, allocID, task string) (*structs.AllocResourceUsage, error) {
	a, err := s.clientAlloc(ctx, allocID, []string{acl.NamespaceCapabilityReadJob})
	if err != nil {
		return nil, err
	}
	cctx, c, err := s.nodeClient(ctx, a.NodeId)
	if err != nil {
		return nil, err
	}
	u, err := c.ClientAllocStats(cctx, &structs.AllocStatsRequest{AllocId: a.Id, Task: task})
	if err != nil {
		return nil, nodeErr(a.NodeId, err)
	}
	return u, nil
}

// NodeStats measures a client's host (node read).
func (s *Server) NodeStats(ctx context.Context, nodeID string) (*structs.HostStats, error) {
	if err := s.allow(ctx, "node read", (*acl.ACL).AllowNodeRead); err != nil {
		return nil, err
	}
	if err := s.readBarrier(ctx); err != nil {
		return nil, err
	}
	if s.node(nodeID) == nil {
		return nil, fmt.Errorf("%w: node %s", ErrNotFound, structs.Quote(nodeID))
	}
	cctx, c, err := s.nodeClient(ctx, nodeID)
	if err != nil {
		return nil, err
	}
	st, err := c.ClientNodeStats(cctx, &structs.NodeStatsRequest{NodeId: nodeID})
	if err != nil {
		return nil, nodeErr(nodeID, err)
	}
	return st, nil
}

// StopAllocation stops an allocation for the scheduler to replace it
// (alloc-lifecycle): it is marked to migrate, with an evaluation of its
// job, in one raft entry; the scheduler places the replacement and stops
// the allocation in the same plan, as for a drained node. It returns the
// evaluation's id and the write's index.
func (s *Server) StopAllocation(ctx context.Context, allocID string) (string, uint64, error) {
	if _, err := s.clientAlloc(ctx, allocID, []string{acl.NamespaceCapabilityAllocLifecycle}); err != nil {
		return "", 0, err
	}
	var (
		evalID string
		index  uint64
	)
	err := s.leaderCall(ctx, func(ctx context.Context) error {
		var (
			a   *structs.Allocation
			job *structs.Job
		)
		s.state.View(func(v *state.Snapshot) {
			if a = v.Alloc(allocID); a != nil {
				job = v.Job(a.Namespace, a.JobId)
			}
		})
		if a == nil {
			return fmt.Errorf("%w: allocation %s", ErrNotFound, structs.Quote(allocID))
		}
		if job == nil {
			job = a.Job
		}
		if job == nil {
			return fmt.Errorf("%w: the job of allocation %s is gone", ErrNotFound, structs.Quote(allocID))
		}
		tr := &structs.DesiredTransition{Migrate: true}
		if cur := a.GetDesiredTransition(); cur != nil {
			tr.Reschedule, tr.ForceReschedule = cur.Reschedule, cur.ForceReschedule
		}
		e := newEval(job, structs.EvalTriggerAllocStop)
		idx, err := s.raft.Propose(ctx, &structs.LogCommand{Command: &structs.LogCommand_AllocTransition{
			AllocTransition: &structs.AllocTransitionUpdate{Transitions: map[string]*structs.DesiredTransition{a.Id: tr}, Evals: []*structs.Evaluation{e}},
		}})
		if err != nil {
			return err
		}
		evalID, index = e.Id, idx
		return nil
	}, func(ctx context.Context, c structs.DroverClient) error {
		resp, err := c.StopAllocation(ctx, &structs.AllocStopRequest{AllocId: allocID})
		evalID, index = resp.GetEvalId(), resp.GetIndex()
		return err
	})
	return evalID, index, err
}

// ConnectedClients is how many clients hold their connection to this
// server.
func (s *Server) ConnectedClients() int { return s.nodeConns.count() }

// HoldsNodeConnection reports whether this server holds the node's
// connection, through which it reaches the node's endpoints.
func (s *Server) HoldsNodeConnection(nodeID string) bool { return s.nodeConns.get(nodeID) != nil }
