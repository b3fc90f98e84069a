package raft

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/droverhq/drover/clock"
	"github.com/droverhq/drover/internal/testing/leakcheck"
	boltstore "github.com/droverhq/drover/store/bolt"
	"github.com/droverhq/drover/store/inmem"
	"github.com/droverhq/drover/structs"
)

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

// jobFSM is an FSM whose state is the set of job ids upserted.
type jobFSM struct {
	mu       sync.Mutex
	jobs     map[string]bool
	busy     bool // Snapshot declines while set
	declined atomic.Int32
}

func newJobFSM() *jobFSM { return &jobFSM{jobs: map[string]bool{}} }

func (f *jobFSM) Apply(index uint64, cmd *structs.LogCommand) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	up := cmd.GetJobUpsert()
	if up == nil {
		return fmt.Errorf("unexpected command at %d", index)
	}
	if f.jobs[up.Job.GetId()] {
		return errors.New("duplicate job")
	}
	f.jobs[up.Job.GetId()] = true
	return nil
}

func (f *jobFSM) Snapshot() (*structs.StateSnapshot, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.busy {
		f.declined.Add(1)
		return nil, false
	}
	st := &structs.StateSnapshot{}
	for _, id := range f.ids() {
		st.Jobs = append(st.Jobs, &structs.Job{Id: id})
	}
	return st, true
}

func (f *jobFSM) Restore(st *structs.StateSnapshot) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.jobs = map[string]bool{}
	for _, j := range st.Jobs {
		f.jobs[j.Id] = true
	}
}

func (f *jobFSM) ids() []string {
	ids := make([]string, 0, len(f.jobs))
	for id := range f.jobs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (f *jobFSM) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.jobs)
}

// noPeers is the Dialer of a node that has no peers to reach.
type noPeers struct{}

func (noPeers) Dial(context.Context, string) (structs.DroverClient, error) {
	return nil, errUnreachable
}

const testID = 1<<32 | 7

func testConfig() NodeConfig {
	return NodeConfig{
		ID:   testID,
		Self: &structs.RaftPeer{Id: testID, Name: "n1", Addr: "127.0.0.1:1", Region: "global", Voter: true},
		// A short tick: a lone voter campaigns at once anyway.
		BaseTick: 10 * time.Millisecond, ElectionTicks: 10, HeartbeatTicks: 1,
		MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256,
		Config:         Config{SnapshotThreshold: 1 << 20, SnapshotInterval: time.Hour, TrailingLogs: 10240},
		ProposeTimeout: 30 * time.Second, LeaderWait: 5 * time.Second,
	}
}

// startNode starts a node in mode and waits until it leads, ready to
// propose; it is stopped at the end of the test.
func startNode(t *testing.T, cfg NodeConfig, logs LogStore, fsm FSM, snaps SnapshotStore, mode StartMode) *Node {
	t.Helper()
	n := NewNode(cfg, logs, fsm, snaps, noPeers{})
	t.Cleanup(n.Stop)
	require.NoError(t, n.Start(mode, []*structs.RaftPeer{cfg.Self}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for !n.IsLeader() {
		select {
		case <-n.LeaderChanged():
		case <-ctx.Done():
			t.Fatal("the lone voter did not elect itself")
		}
	}
	require.NoError(t, n.WaitLeaderReady(ctx))
	return n
}

func jobCmd(id string) *structs.LogCommand {
	return &structs.LogCommand{Command: &structs.LogCommand_JobUpsert{JobUpsert: &structs.JobUpsert{Job: &structs.Job{Id: id}}}}
}

func TestProposeAppliesAndReturnsTheFSMResult(t *testing.T) {
	fsm := newJobFSM()
	n := startNode(t, testConfig(), inmem.New(), fsm, MemSnapshots{}, StartBootstrap)
	ctx := context.Background()
	idx, err := n.Propose(ctx, jobCmd("a"))
	require.NoError(t, err)
	require.Positive(t, idx)
	require.GreaterOrEqual(t, n.Applied(), idx, "applied here before Propose returns")
	require.Equal(t, 1, fsm.count())
	_, err = n.Propose(ctx, jobCmd("a"))
	require.EqualError(t, err, "duplicate job", "the FSM's error reaches the proposer")

	read, err := n.ReadIndex(ctx)
	require.NoError(t, err)
	require.GreaterOrEqual(t, read, idx)
	require.Equal(t, []string{"127.0.0.1:1"}, n.Peers().Addrs())
	require.Equal(t, uint64(testID), n.LeaderID())
	require.Equal(t, "127.0.0.1:1", n.LeaderAddr())

	n.Stop()
	_, err = n.Propose(ctx, jobCmd("b"))
	require.ErrorIs(t, err, structs.ErrShutdown)
	require.NoError(t, n.Err(), "a stop is not a failure")
}

// countingStore counts the Saves that persist entries: one per Ready.
type countingStore struct {
	LogStore
	saves   atomic.Int64
	entries atomic.Int64
}

func (c *countingStore) Save(hs *raftpb.HardState, ents []*raftpb.Entry, snap *raftpb.Snapshot) error {
	if len(ents) > 0 {
		c.saves.Add(1)
		c.entries.Add(int64(len(ents)))
	}
	return c.LogStore.Save(hs, ents, snap)
}

func TestConcurrentProposalsShareReadiesAndFsyncs(t *testing.T) {
	bs, err := boltstore.Open(t.TempDir()+"/raft.db", boltstore.Options{})
	require.NoError(t, err)
	defer bs.Close()
	cs := &countingStore{LogStore: bs}
	cfg := testConfig()
	cfg.BaseTick = 100 * time.Millisecond
	n := startNode(t, cfg, cs, newJobFSM(), MemSnapshots{}, StartBootstrap)
	defer n.Stop() // before the store closes

	const writers = 256
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	savesBefore, entriesBefore := cs.saves.Load(), cs.entries.Load()
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range writers {
		wg.Go(func() {
			<-start
			_, err := n.Propose(ctx, jobCmd(fmt.Sprintf("job-%d", i)))
			require.NoError(t, err)
		})
	}
	close(start)
	wg.Wait()
	saves, entries := cs.saves.Load()-savesBefore, cs.entries.Load()-entriesBefore
	t.Logf("%d writes in %d entries and %d durable saves", writers, entries, saves)
	require.GreaterOrEqual(t, entries, int64(writers))
	require.Less(t, saves, int64(writers/4), "concurrent proposals coalesce into shared Readies, one fsync each")
}

func TestRaftSnapshotCompactsTheLogAndRestartRestoresIt(t *testing.T) {
	dir := t.TempDir()
	bs, err := boltstore.Open(dir+"/raft.db", boltstore.Options{})
	require.NoError(t, err)
	defer bs.Close()
	snaps, err := NewDirSnapshots(dir + "/snapshots")
	require.NoError(t, err)
	cfg := testConfig()
	cfg.SnapshotThreshold, cfg.SnapshotInterval, cfg.TrailingLogs = 20, time.Minute, 5
	c := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	cfg.Clock = c
	cfg.BaseTick = time.Hour // the node's own ticker stays quiet: only Tick ticks
	// A snapshot check: past the jittered interval (under twice it), a tick.
	check := func(n *Node) {
		c.Advance(2 * cfg.SnapshotInterval)
		n.Tick()
	}

	fsm := newJobFSM()
	fsm.busy = true // no raft snapshot while the FSM declines
	n := startNode(t, cfg, bs, fsm, snaps, StartBootstrap)
	defer n.Stop() // before the store closes
	ctx := context.Background()
	for i := range 50 {
		_, err := n.Propose(ctx, jobCmd(fmt.Sprintf("job-%02d", i)))
		require.NoError(t, err)
	}
	check(n)
	check(n)
	require.EqualValues(t, 2, fsm.declined.Load(), "a raft snapshot is due at each check")
	require.Zero(t, n.snapIndex.Load(), "the FSM declined every raft snapshot")
	fsm.mu.Lock()
	fsm.busy = false
	fsm.mu.Unlock()
	check(n)
	n.snapWG.Wait() // written in the background
	require.Positive(t, n.snapIndex.Load())
	snapIndex := n.snapIndex.Load()
	first, err := bs.FirstIndex()
	require.NoError(t, err)
	require.Equal(t, snapIndex-cfg.TrailingLogs+1, first, "the log keeps the trailing entries only")
	files, err := filepath.Glob(dir + "/snapshots/*.snap")
	require.NoError(t, err)
	require.Len(t, files, 1)

	for i := range 10 { // after the snapshot: replayed from the log
		_, err := n.Propose(ctx, jobCmd(fmt.Sprintf("late-%02d", i)))
		require.NoError(t, err)
	}
	applied := n.Applied()
	n.Stop()

	has, err := HasState(bs)
	require.NoError(t, err)
	require.True(t, has)
	again := newJobFSM()
	n2 := startNode(t, cfg, bs, again, snaps, StartRestart)
	defer n2.Stop() // before the store closes
	require.Eventually(t, func() bool { return n2.Applied() >= applied }, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, fsm.ids(), again.ids(), "the raft snapshot plus the log replay give back the state")
	require.Equal(t, snapIndex, n2.snapIndex.Load())
	require.Equal(t, 1, n2.Peers().Len(), "the peer set comes back from the raft snapshot")
}

func TestStepRefusesWhatIsNotFromAPeer(t *testing.T) {
	n := startNode(t, testConfig(), inmem.New(), newJobFSM(), MemSnapshots{}, StartBootstrap)
	ctx := context.Background()
	for _, m := range []*raftpb.Message{
		{Type: raftpb.MessageType_MsgHeartbeat.Enum(), To: ptr(uint64(testID + 1)), From: ptr(uint64(testID + 2))},
		{Type: raftpb.MessageType_MsgHeartbeat.Enum(), To: ptr(uint64(testID)), From: ptr(uint64(testID))},
		{Type: raftpb.MessageType_MsgHeartbeat.Enum(), To: ptr(uint64(testID)), From: ptr(uint64(testID + 2))},
	} {
		require.ErrorIs(t, n.Step(ctx, m, "127.0.0.1:2"), structs.ErrBadRequest)
	}
	err := n.ReceiveSnapshot(ctx, &raftpb.Message{Type: raftpb.MessageType_MsgApp.Enum()}, "127.0.0.1:2",
		func() ([]byte, error) { return nil, errors.New("not read") })
	require.ErrorIs(t, err, structs.ErrBadRequest)
	err = n.ReceiveSnapshot(ctx, &raftpb.Message{
		Type: raftpb.MessageType_MsgSnap.Enum(), To: ptr(uint64(testID)), From: ptr(uint64(testID + 2)),
		Snapshot: &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{Index: ptr(uint64(3))}},
	}, "127.0.0.1:2", chunks([]byte("DRVRSNP1 but not a stream")))
	require.ErrorIs(t, err, structs.ErrBadRequest, "a damaged stream never reaches raft")
	require.NoError(t, n.Err())
}

func TestSnapshotPolicy(t *testing.T) {
	t0 := time.Unix(1000, 0)
	p := snapshotPolicy{threshold: 10, interval: time.Minute}
	p.start(t0)
	require.False(t, p.due(t0, 100, 0), "not before the first check")
	require.True(t, p.next.Sub(t0) >= time.Minute && p.next.Sub(t0) < 2*time.Minute, "the interval is jittered in [d, 2d)")
	for _, tc := range []struct {
		applied, last uint64
		due           bool
	}{
		{applied: 9, last: 0, due: false},
		{applied: 10, last: 0, due: true},
		{applied: 25, last: 20, due: false},
		{applied: 20, last: 20, due: false},
		{applied: 5, last: 20, due: false}, // a newer raft snapshot came from the leader
	} {
		now := p.next
		require.Equal(t, tc.due, p.due(now, tc.applied, tc.last), "applied %d, last %d", tc.applied, tc.last)
		require.True(t, p.next.After(now), "each check schedules the next")
	}
}

func ptr[T any](v T) *T { return &v }

// chunks returns a next function handing out data, then io.EOF.
func chunks(data ...[]byte) func() ([]byte, error) {
	return func() ([]byte, error) {
		if len(data) == 0 {
			return nil, io.EOF
		}
		c := data[0]
		data = data[1:]
		return c, nil
	}
}
