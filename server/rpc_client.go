package server

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/droverhq/drover/internal/rpcerr"
	"github.com/droverhq/drover/structs"
)

// The client endpoints over RPC: a caller with a token, or a server that
// forwards an operator's call because it does not hold the node's
// connection (see alloc_endpoints.go).

func (r *rpcServer) ClientFsList(ctx context.Context, req *structs.FsListRequest) (*structs.FsListResponse, error) {
	files, err := r.s.AllocFileList(callCtx(ctx, nil), req.GetAllocId(), req.GetPath())
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.FsListResponse{Files: files}, nil
}

func (r *rpcServer) ClientFsStat(ctx context.Context, req *structs.FsStatRequest) (*structs.FsStatResponse, error) {
	info, err := r.s.AllocFileStat(callCtx(ctx, nil), req.GetAllocId(), req.GetPath())
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.FsStatResponse{Info: info}, nil
}

func (r *rpcServer) ClientFsStream(req *structs.FsStreamRequest, stream structs.Drover_ClientFsStreamServer) error {
	return rpcerr.To(r.s.AllocFileStream(callCtx(stream.Context(), nil), req, stream.Send))
}

func (r *rpcServer) ClientLogs(req *structs.LogsRequest, stream structs.Drover_ClientLogsServer) error {
	return rpcerr.To(r.s.AllocLogs(callCtx(stream.Context(), nil), req, stream.Send))
}

func (r *rpcServer) ClientExec(stream structs.Drover_ClientExecServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	if first.GetStart() == nil {
		return rpcerr.To(fmt.Errorf("%w: an exec session must start with the command to run", ErrBadRequest))
	}
	ctx, cancel := context.WithCancel(callCtx(stream.Context(), nil))
	defer cancel()
	sess, err := r.s.AllocExec(ctx, first.Start)
	if err != nil {
		return rpcerr.To(err)
	}
	go func() {
		for {
			in, err := stream.Recv()
			if err != nil {
				_ = sess.CloseSend()
				return
			}
			if err := sess.Send(in); err != nil {
				return
			}
		}
	}()
	for {
		out, err := sess.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return rpcerr.To(err)
		}
		if err := stream.Send(out); err != nil {
			return err
		}
	}
}

func (r *rpcServer) ClientAllocRestart(ctx context.Context, req *structs.AllocRestartRequest) (*structs.GenericResponse, error) {
	if err := r.s.AllocRestart(callCtx(ctx, nil), req.GetAllocId(), req.GetTask(), req.GetAllTasks()); err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.GenericResponse{}, nil
}

func (r *rpcServer) ClientAllocSignal(ctx context.Context, req *structs.AllocSignalRequest) (*structs.GenericResponse, error) {
	if err := r.s.AllocSignal(callCtx(ctx, nil), req.GetAllocId(), req.GetTask(), req.GetSignal()); err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.GenericResponse{}, nil
}

func (r *rpcServer) ClientAllocStats(ctx context.Context, req *structs.AllocStatsRequest) (*structs.AllocResourceUsage, error) {
	u, err := r.s.AllocStats(callCtx(ctx, nil), req.GetAllocId(), req.GetTask())
	return u, rpcerr.To(err)
}

func (r *rpcServer) ClientNodeStats(ctx context.Context, req *structs.NodeStatsRequest) (*structs.HostStats, error) {
	st, err := r.s.NodeStats(callCtx(ctx, nil), req.GetNodeId())
	return st, rpcerr.To(err)
}

func (r *rpcServer) StopAllocation(ctx context.Context, req *structs.AllocStopRequest) (*structs.AllocStopResponse, error) {
	evalID, idx, err := r.s.StopAllocation(callCtx(ctx, nil), req.GetAllocId())
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.AllocStopResponse{EvalId: evalID, Index: idx}, nil
}
