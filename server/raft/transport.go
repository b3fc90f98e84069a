package raft

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	etcdraft "go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/clock"
	"github.com/droverhq/drover/structs"
)

// Dialer connects a node to its peers: Dial returns an RPC client of
// the server at addr once a connection to it is up, and fails without
// sending anything when the server cannot be reached. The server's
// connection pool implements it.
type Dialer interface {
	Dial(ctx context.Context, addr string) (structs.DroverClient, error)
}

// raftReporter is what the transport tells raft about delivery.
type raftReporter interface {
	ReportUnreachable(id uint64)
	ReportSnapshot(id uint64, status etcdraft.SnapshotStatus)
}

// raftTransport carries raft messages to the other servers: one sender
// goroutine and one bounded queue per peer, so send never blocks the Ready
// loop. A full queue or a broken stream is reported to raft as an
// unreachable peer; raft retransmits. Snapshots go separately, streamed in
// chunks, and every one is reported as finished or failed.
type raftTransport struct {
	selfID   uint64
	selfAddr string
	dialer   Dialer
	snaps    SnapshotStore
	logger   *slog.Logger
	clock    clock.Clock
	report   raftReporter
	// sent is called after each snapshot a follower received whole.
	sent func()

	mu      sync.Mutex
	senders map[uint64]*peerSender
	// learned holds addresses of senders not yet in the peer set (a server
	// that is joining learns the leader's address from its messages).
	learned map[uint64]string
	stopped bool
	wg      sync.WaitGroup
	ctx     context.Context
	cancel  context.CancelFunc
}

// Queue sizes per peer: messages beyond them are dropped and the peer is
// reported unreachable.
const (
	peerQueueSize = 4096
	snapshotChunk = 256 << 10
)

func newRaftTransport(selfID uint64, selfAddr string, dialer Dialer, snaps SnapshotStore, logger *slog.Logger, c clock.Clock) *raftTransport {
	ctx, cancel := context.WithCancel(context.Background())
	return &raftTransport{
		selfID: selfID, selfAddr: selfAddr, dialer: dialer, snaps: snaps, logger: logger, clock: clock.Or(c),
		senders: map[uint64]*peerSender{}, learned: map[uint64]string{},
		ctx: ctx, cancel: cancel,
	}
}

// learn records the address of a server that sent us a message.
func (t *raftTransport) learn(id uint64, addr string) {
	if id == 0 || addr == "" || id == t.selfID {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.learned[id] = addr
	if s := t.senders[id]; s != nil && s.addr != addr && !s.fromPeerSet {
		s.setAddr(addr)
	}
}

// learnedAddr is the address a server not in the peer set sent from, or "".
func (t *raftTransport) learnedAddr(id uint64) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.learned[id]
}

// setPeers makes the senders follow the peer set: one per peer but this
// server, with the address the set records.
func (t *raftTransport) setPeers(peers []*structs.RaftPeer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	keep := map[uint64]bool{}
	for _, p := range peers {
		if p.Id == t.selfID {
			continue
		}
		keep[p.Id] = true
		if s := t.senders[p.Id]; s != nil {
			s.fromPeerSet = true
			if s.addr != p.Addr && p.Addr != "" {
				s.setAddr(p.Addr)
			}
			continue
		}
		t.startSenderLocked(p.Id, p.Addr, true)
	}
	for id, s := range t.senders {
		if !keep[id] && s.fromPeerSet {
			s.stop()
			delete(t.senders, id)
		}
	}
}

func (t *raftTransport) startSenderLocked(id uint64, addr string, fromPeerSet bool) *peerSender {
	s := &peerSender{
		t: t, id: id, addr: addr, fromPeerSet: fromPeerSet,
		queue: make(chan *raftpb.Message, peerQueueSize),
		snapc: make(chan *raftpb.Message, 1),
		addrc: make(chan string, 1),
		stopc: make(chan struct{}),
	}
	t.senders[id] = s
	t.wg.Add(2)
	go s.run()
	go s.runSnapshots()
	return s
}

// send queues msgs for their peers without blocking.
func (t *raftTransport) send(msgs []*raftpb.Message) {
	for _, m := range msgs {
		to := m.GetTo()
		if to == t.selfID || to == 0 {
			continue
		}
		s := t.sender(to)
		if s == nil {
			t.report.ReportUnreachable(to)
			if m.GetType() == raftpb.MessageType_MsgSnap {
				t.report.ReportSnapshot(to, etcdraft.SnapshotFailure)
			}
			continue
		}
		s.pending.Add(1) // before the sender can take it
		if m.GetType() == raftpb.MessageType_MsgSnap {
			select {
			case s.snapc <- m:
			default:
				// One snapshot at a time per peer; raft asks again later.
				s.pending.Add(-1)
				t.report.ReportSnapshot(to, etcdraft.SnapshotFailure)
			}
			continue
		}
		select {
		case s.queue <- m:
		default:
			s.pending.Add(-1)
			t.report.ReportUnreachable(to)
		}
	}
}

// sender returns the sender for id, starting one for a server known only
// from its messages.
func (t *raftTransport) sender(id uint64) *peerSender {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return nil
	}
	if s := t.senders[id]; s != nil {
		return s
	}
	if addr := t.learned[id]; addr != "" {
		return t.startSenderLocked(id, addr, false)
	}
	return nil
}

// idle reports whether no message is queued for a peer or being sent to
// one: everything raft handed the transport has left it (or was dropped).
func (t *raftTransport) idle() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.senders {
		if s.pending.Load() > 0 {
			return false
		}
	}
	return true
}

// stop ends every sender and waits for them.
func (t *raftTransport) stop() {
	t.mu.Lock()
	t.stopped = true
	for id, s := range t.senders {
		s.stop()
		delete(t.senders, id)
	}
	t.mu.Unlock()
	t.cancel()
	t.wg.Wait()
}

// peerSender owns the stream of raft messages to one peer.
type peerSender struct {
	t           *raftTransport
	id          uint64
	addr        string // guarded by t.mu
	fromPeerSet bool   // guarded by t.mu
	queue       chan *raftpb.Message
	snapc       chan *raftpb.Message
	addrc       chan string
	stopc       chan struct{}
	stopOnce    sync.Once
	// pending counts the messages and snapshots queued for the peer or
	// being sent: raised before one is queued, lowered once it was
	// handed to the stream, failed or dropped.
	pending atomic.Int64
}

func (s *peerSender) stop() { s.stopOnce.Do(func() { close(s.stopc) }) }

// setAddr points the sender at a new address; called with t.mu held.
func (s *peerSender) setAddr(addr string) {
	s.addr = addr
	select {
	case <-s.addrc:
	default:
	}
	s.addrc <- addr
}

func (s *peerSender) currentAddr() string {
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	return s.addr
}

func (s *peerSender) run() {
	defer s.t.wg.Done()
	ctx, cancel := context.WithCancel(s.t.ctx)
	defer cancel()
	go func() {
		select {
		case <-s.stopc:
			cancel()
		case <-ctx.Done():
		}
	}()
	var (
		stream structs.Drover_RaftClient
		addr   string
		buf    []byte
	)
	closeStream := func() {
		if stream != nil {
			_, _ = stream.CloseAndRecv()
			stream = nil
		}
	}
	defer closeStream()
	for {
		select {
		case <-ctx.Done():
			return
		case a := <-s.addrc:
			if a != addr {
				closeStream()
			}
		case m := <-s.queue:
			if stream == nil {
				addr = s.currentAddr()
				var err error
				stream, err = s.open(ctx, addr)
				if err != nil {
					s.pending.Add(-1)
					s.t.report.ReportUnreachable(s.id)
					s.drain()
					s.backoff(ctx)
					continue
				}
			}
			var err error
			buf, err = proto.MarshalOptions{}.MarshalAppend(buf[:0], m)
			if err == nil {
				err = stream.Send(&structs.RaftMessage{Data: buf, FromAddr: s.t.selfAddr})
			}
			s.pending.Add(-1)
			if err != nil {
				if ctx.Err() == nil {
					s.t.logger.Debug("raft stream to peer broke", "peer", fmt.Sprintf("%x", s.id), "addr", addr, "error", err)
				}
				closeStream()
				s.t.report.ReportUnreachable(s.id)
			}
		}
	}
}

// open starts a raft stream to addr, failing fast when it is unreachable.
func (s *peerSender) open(ctx context.Context, addr string) (structs.Drover_RaftClient, error) {
	if addr == "" {
		return nil, errUnreachable
	}
	dctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	client, err := s.t.dialer.Dial(dctx, addr)
	if err != nil {
		return nil, err
	}
	return client.Raft(ctx)
}

// drain drops what is queued for an unreachable peer: raft resends.
func (s *peerSender) drain() {
	for {
		select {
		case <-s.queue:
			s.pending.Add(-1)
		default:
			return
		}
	}
}

func (s *peerSender) backoff(ctx context.Context) {
	clock.Sleep(ctx, s.t.clock, 100*time.Millisecond)
}

func (s *peerSender) runSnapshots() {
	defer s.t.wg.Done()
	for {
		select {
		case <-s.stopc:
			return
		case <-s.t.ctx.Done():
			return
		case m := <-s.snapc:
			err := s.sendSnapshot(m)
			status := etcdraft.SnapshotFinish
			if err != nil {
				status = etcdraft.SnapshotFailure
				s.t.logger.Warn("sending raft snapshot failed", "peer", fmt.Sprintf("%x", s.id),
					"index", m.GetSnapshot().GetMetadata().GetIndex(), "error", err)
				s.t.report.ReportUnreachable(s.id)
			} else {
				s.t.sent()
				s.t.logger.Info("raft snapshot sent", "peer", fmt.Sprintf("%x", s.id), "index", m.GetSnapshot().GetMetadata().GetIndex())
			}
			s.t.report.ReportSnapshot(s.id, status)
			s.pending.Add(-1)
		}
	}
}

// sendSnapshot streams the snapshot m refers to: first the message without
// its data, then the stream in chunks.
func (s *peerSender) sendSnapshot(m *raftpb.Message) error {
	ctx, cancel := context.WithCancel(s.t.ctx)
	defer cancel()
	go func() {
		select {
		case <-s.stopc:
			cancel()
		case <-ctx.Done():
		}
	}()
	r, err := s.t.snaps.Open(m.GetSnapshot().GetData())
	if err != nil {
		return err
	}
	defer r.Close()
	dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
	client, err := s.t.dialer.Dial(dctx, s.currentAddr())
	dcancel()
	if err != nil {
		return err
	}
	stream, err := client.InstallSnapshot(ctx)
	if err != nil {
		return err
	}
	head := proto.CloneOf(m)
	head.Snapshot.Data = nil
	hb, err := proto.Marshal(head)
	if err != nil {
		return err
	}
	if err := stream.Send(&structs.SnapshotChunk{Message: hb, FromAddr: s.t.selfAddr}); err != nil {
		return err
	}
	buf := make([]byte, snapshotChunk)
	for {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			if err := stream.Send(&structs.SnapshotChunk{Data: buf[:n]}); err != nil {
				return err
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return rerr
		}
	}
	_, err = stream.CloseAndRecv()
	return err
}
