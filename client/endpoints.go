package client

import (
	"context"

	"github.com/droverhq/drover/internal/rpcerr"
	"github.com/droverhq/drover/structs"
)

// clientEndpoints serves the client endpoints to the server holding the
// client's connection (see link.go). The server checked the caller's
// rights; these only ever touch this client's own allocations.
type clientEndpoints struct {
	structs.UnimplementedDroverServer
	c *Client
}

func (e *clientEndpoints) ClientFsList(_ context.Context, req *structs.FsListRequest) (*structs.FsListResponse, error) {
	files, err := e.c.fsList(req.GetAllocId(), req.GetPath())
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.FsListResponse{Files: files}, nil
}

func (e *clientEndpoints) ClientFsStat(_ context.Context, req *structs.FsStatRequest) (*structs.FsStatResponse, error) {
	info, err := e.c.fsStat(req.GetAllocId(), req.GetPath())
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.FsStatResponse{Info: info}, nil
}

func (e *clientEndpoints) ClientFsStream(req *structs.FsStreamRequest, stream structs.Drover_ClientFsStreamServer) error {
	return rpcerr.To(e.c.streamFile(stream.Context(), req, stream.Send))
}

func (e *clientEndpoints) ClientLogs(req *structs.LogsRequest, stream structs.Drover_ClientLogsServer) error {
	return rpcerr.To(e.c.streamLogs(stream.Context(), req, stream.Send))
}

func (e *clientEndpoints) ClientExec(stream structs.Drover_ClientExecServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	if first.GetStart() == nil {
		return rpcerr.To(errNoExecStart)
	}
	return rpcerr.To(e.c.runExec(stream.Context(), first.Start, stream.Recv, stream.Send))
}

func (e *clientEndpoints) ClientAllocRestart(ctx context.Context, req *structs.AllocRestartRequest) (*structs.GenericResponse, error) {
	if err := e.c.restartTasks(ctx, req.GetAllocId(), req.GetTask(), req.GetAllTasks()); err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.GenericResponse{}, nil
}

func (e *clientEndpoints) ClientAllocSignal(ctx context.Context, req *structs.AllocSignalRequest) (*structs.GenericResponse, error) {
	if err := e.c.signalTasks(ctx, req.GetAllocId(), req.GetTask(), req.GetSignal()); err != nil {
		return nil, rpcerr.To(err)
	}
	return &structs.GenericResponse{}, nil
}

func (e *clientEndpoints) ClientAllocStats(ctx context.Context, req *structs.AllocStatsRequest) (*structs.AllocResourceUsage, error) {
	u, err := e.c.allocStats(ctx, req.GetAllocId(), req.GetTask())
	return u, rpcerr.To(err)
}

func (e *clientEndpoints) ClientNodeStats(context.Context, *structs.NodeStatsRequest) (*structs.HostStats, error) {
	st, err := e.c.hostStats()
	return st, rpcerr.To(err)
}
