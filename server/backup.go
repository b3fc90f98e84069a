package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/google/uuid"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/internal/rpcerr"
	"github.com/droverhq/drover/server/statestream"
	"github.com/droverhq/drover/structs"
)

// restoreEntryBytes bounds the records one StateRestore raft entry carries.
const restoreEntryBytes = 512 << 10

// restoreChunk is the size of the chunks a follower streams a backup to
// the leader in.
const restoreChunk = 256 << 10

// Backup writes the whole cluster state to w as a state stream (package
// statestream) (the
// `nomad operator snapshot save` equivalent). By default the state is at
// least as new as every write acknowledged before the call; under
// AllowStale it is this server's own state. It returns the raft index the
// backup holds.
func (s *Server) Backup(ctx context.Context, w io.Writer) (uint64, error) {
	if err := s.allowManagement(ctx); err != nil {
		return 0, err
	}
	if err := s.readBarrier(ctx); err != nil {
		return 0, err
	}
	snap := s.state.Snapshot()
	peers, removed := s.raft.Peers().Contents()
	hdr := &structs.SnapshotHeader{
		Index: snap.Index(), Peers: peers, RemovedIds: removed,
		Region: s.cfg.Region, CreatedAt: s.cfg.Clock.Now().UnixNano(),
	}
	if err := statestream.Write(w, hdr, snap.Persist()); err != nil {
		return 0, err
	}
	return snap.Index(), nil
}

// Restore replaces the whole cluster state with a backup that Backup
// wrote (`nomad operator snapshot restore`). The backup's objects go
// through the raft log in bounded entries and take effect together, on
// every server, with the last one; a damaged backup changes nothing. The
// raft peer set is not part of what is restored: the cluster keeps its
// own servers. It runs on the leader (a follower streams the backup to it)
// and returns the raft index at which the restored state took effect.
func (s *Server) Restore(ctx context.Context, r io.Reader) (uint64, error) {
	if err := s.allowManagement(ctx); err != nil {
		return 0, err
	}
	if s.raft.IsLeader() || isForwarded(ctx) {
		return s.restoreLocal(ctx, r)
	}
	addr, err := s.waitLeaderAddr(ctx)
	if err != nil {
		return 0, err
	}
	if addr == s.self.Addr {
		return s.restoreLocal(ctx, r)
	}
	return s.restoreRemote(ctx, addr, r)
}

func (s *Server) restoreRemote(ctx context.Context, addr string, r io.Reader) (uint64, error) {
	c, err := s.pool.ready(ctx, addr)
	if err != nil {
		return 0, err
	}
	stream, err := c.Restore(metadata.AppendToOutgoingContext(ctx, forwardedHeader, s.cfg.Name))
	if err != nil {
		return 0, rpcerr.From(err)
	}
	buf := make([]byte, restoreChunk)
	for {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			if err := stream.Send(&structs.RestoreChunk{Data: buf[:n]}); err != nil {
				_, err = stream.CloseAndRecv()
				return 0, fmt.Errorf("restore through the leader %s: %w", addr, rpcerr.From(err))
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			_ = stream.CloseSend()
			return 0, fmt.Errorf("read backup: %w", rerr)
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return 0, rpcerr.From(err)
	}
	return resp.GetMeta().GetIndex(), nil
}

func (s *Server) restoreLocal(ctx context.Context, r io.Reader) (uint64, error) {
	// A leader just elected decides nothing until it has applied an entry
	// of its own term; the backup is a stream that cannot be sent again,
	// so wait for that rather than fail.
	wctx, cancel := context.WithTimeout(ctx, s.cfg.leaderWait())
	err := s.raft.WaitLeaderReady(wctx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, ErrNotLeader
	}
	sr, hdr, err := statestream.NewReader(r)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if hdr.Region != "" && hdr.Region != s.cfg.Region {
		return 0, fmt.Errorf("%w: the backup is of region %q, this cluster is %q", ErrBadRequest, hdr.Region, s.cfg.Region)
	}
	id := uuid.NewString()
	var (
		seq     uint64
		batch   []*structs.SnapshotRecord
		size    int
		started bool
	)
	flush := func(final bool) (uint64, error) {
		idx, err := s.raft.Propose(ctx, &structs.LogCommand{Command: &structs.LogCommand_StateRestore{
			StateRestore: &structs.StateRestore{RestoreId: id, Seq: seq, Records: batch, Final: final},
		}})
		seq++
		started = true
		batch, size = nil, 0
		return idx, err
	}
	abort := func(cause error) (uint64, error) {
		if started {
			// An entry out of sequence abandons the restore on every server.
			_, _ = s.raft.Propose(context.WithoutCancel(ctx), &structs.LogCommand{Command: &structs.LogCommand_StateRestore{
				StateRestore: &structs.StateRestore{RestoreId: id, Seq: math.MaxUint64},
			}})
		}
		return 0, cause
	}
	err = sr.Records(func(rec *structs.SnapshotRecord) error {
		batch = append(batch, proto.CloneOf(rec))
		size += len(rec.Data)
		if size >= s.restoreBatch {
			if _, err := flush(false); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, statestream.ErrBadStream) {
			err = fmt.Errorf("%w: %w", ErrBadRequest, err)
		}
		return abort(err)
	}
	idx, err := flush(true)
	if err != nil {
		return abort(err)
	}
	s.logger.Warn("cluster state replaced from a backup", "backup_index", hdr.Index, "index", idx)
	return idx, nil
}

// Restore receives a backup streamed by a follower's Restore.
func (r *rpcServer) Restore(stream structs.Drover_RestoreServer) error {
	ctx := callCtx(stream.Context(), nil)
	idx, err := r.s.restoreLocal(ctx, &chunkReader{recv: stream.Recv})
	if err != nil {
		return rpcerr.To(err)
	}
	return stream.SendAndClose(&structs.GenericResponse{Meta: &structs.WriteMeta{Index: idx}})
}

// chunkReader reads the bytes of a stream of RestoreChunks.
type chunkReader struct {
	recv func() (*structs.RestoreChunk, error)
	buf  []byte
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for len(c.buf) == 0 {
		ch, err := c.recv()
		if err != nil {
			return 0, err
		}
		c.buf = ch.GetData()
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	return n, nil
}

// abandonRestore ends a restore left unfinished by an earlier leader: an
// entry out of sequence abandons it on every server.
func (s *Server) abandonRestore(ctx context.Context) {
	s.logger.Warn("abandoning a state restore an earlier leader left unfinished")
	_, err := s.raft.Propose(ctx, &structs.LogCommand{Command: &structs.LogCommand_StateRestore{
		StateRestore: &structs.StateRestore{RestoreId: "abandoned", Seq: math.MaxUint64},
	}})
	if err != nil {
		s.logger.Warn("abandoning the unfinished restore failed", "error", err)
	}
}
