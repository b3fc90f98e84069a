package storetest

import (
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/store"
)

const (
	modelSeeds = 4
	modelSteps = 250
)

// errPanicked stands for a call that panicked in raft.MemoryStorage: the
// store under test must return an error there instead.
var errPanicked = errors.New("raft.MemoryStorage panicked")

// testModel runs seeded random sequences of operations on the store and on
// a raft.MemoryStorage, and requires the same results and the same state
// after every step.
func testModel(t *testing.T, open func(t *testing.T) store.Store) {
	// MemoryStorage reports bad requests by logging a panic: keep the
	// expected ones out of the test output.
	raft.SetLogger(&raft.DefaultLogger{Logger: log.New(io.Discard, "", 0)})
	defer raft.ResetDefaultLogger()

	for seed := uint64(1); seed <= modelSeeds; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			m := &model{
				t:    t,
				seed: seed,
				rnd:  rand.New(rand.NewPCG(seed, 0x5eed)),
				ref:  raft.NewMemoryStorage(),
				s:    open(t),

				outcomes: map[string]int{},
			}
			for m.step = 0; m.step < modelSteps; m.step++ {
				m.do()
				m.compare()
			}
			t.Logf("outcomes: %v", m.outcomes)
		})
	}
}

type model struct {
	t    *testing.T
	seed uint64
	rnd  *rand.Rand
	ref  *raft.MemoryStorage
	s    store.Store
	step int
	op   string // the current operation, for failure messages

	outcomes map[string]int // operation and result: how well the run covered the cases
}

func (m *model) do() {
	switch n := m.rnd.IntN(20); {
	case n < 10:
		m.save()
	case n < 12:
		m.createSnapshot()
	case n < 13:
		m.compact()
	case n < 17:
		m.entries()
	default:
		m.term()
	}
}

// bounds returns the reference's base and last index.
func (m *model) bounds() (base, last uint64) {
	first, _ := m.ref.FirstIndex()
	last, _ = m.ref.LastIndex()
	return first - 1, last
}

func (m *model) snapIndex() uint64 {
	snap, _ := m.ref.Snapshot()
	return snap.GetMetadata().GetIndex()
}

// pick returns a number in [base-below, hi], not below 0; base-below when
// hi is lower.
func (m *model) pick(base, below, hi uint64) uint64 {
	lo := base - min(base, below)
	return lo + m.rnd.Uint64N(max(hi, lo)-lo+1)
}

func (m *model) save() {
	base, last := m.bounds()
	var snap *raftpb.Snapshot
	if m.rnd.IntN(8) == 0 {
		si := m.pick(m.snapIndex(), 1, last+5)
		snap = snapshot(si, m.rnd.Uint64N(6)+1, m.confState(), m.data())
		if si > m.snapIndex() {
			base, last = si, si
		}
	}
	var ents []*raftpb.Entry
	if m.rnd.IntN(5) != 0 {
		start := m.pick(base, 2, last+1)
		if snap == nil && m.rnd.IntN(15) == 0 {
			start = last + 2 // a gap
		}
		term := m.rnd.Uint64N(6) + 1
		for i := range uint64(m.rnd.IntN(7)) {
			if m.rnd.IntN(3) == 0 {
				term++
			}
			e := entry(start+i, term, m.data()...)
			if m.rnd.IntN(5) == 0 {
				e.Type = raftpb.EntryConfChange.Enum()
			}
			ents = append(ents, e)
		}
	}
	var hs *raftpb.HardState
	switch m.rnd.IntN(4) {
	case 0:
		hs = &raftpb.HardState{}
	case 1, 2:
		hs = hardState(m.rnd.Uint64N(10), m.rnd.Uint64N(4), m.rnd.Uint64N(50))
	}
	m.op = fmt.Sprintf("Save(%v, %v, %v)", hs, ents, snap)

	ref := m.refSave(hs, ents, snap)
	m.sameErr(ref, m.s.Save(hs, ents, snap))
}

// refSave applies a Save to the reference, one part after the other.
func (m *model) refSave(hs *raftpb.HardState, ents []*raftpb.Entry, snap *raftpb.Snapshot) (err error) {
	defer m.recover(&err)
	if !raft.IsEmptySnap(snap) {
		if err := m.ref.ApplySnapshot(proto.Clone(snap).(*raftpb.Snapshot)); err != nil {
			return err
		}
	}
	copied := make([]*raftpb.Entry, len(ents))
	for i, e := range ents {
		copied[i] = proto.Clone(e).(*raftpb.Entry)
	}
	if err := m.ref.Append(copied); err != nil {
		return err
	}
	if !raft.IsEmptyHardState(hs) {
		return m.ref.SetHardState(proto.Clone(hs).(*raftpb.HardState))
	}
	return nil
}

func (m *model) createSnapshot() {
	base, last := m.bounds()
	i := m.pick(base, 2, last+1)
	var cs *raftpb.ConfState
	if m.rnd.IntN(3) != 0 {
		cs = m.confState()
	}
	data := m.data()
	m.op = fmt.Sprintf("CreateSnapshot(%d, %v, %x)", i, cs, data)

	var want *raftpb.Snapshot
	ref := func() (err error) {
		if i > m.snapIndex() && i <= last && i < base {
			// MemoryStorage records the index before it fails to find the
			// compacted entry's term, and is left inconsistent.
			return store.ErrCompacted
		}
		defer m.recover(&err)
		want, err = m.ref.CreateSnapshot(i, cs, data)
		return err
	}()
	got, err := m.s.CreateSnapshot(i, cs, data)
	m.sameErr(ref, err)
	if ref == nil {
		require.True(m.t, snapshotEqual(want, got), "%s: want %v, got %v", m, want, got)
	}
}

func (m *model) compact() {
	base, last := m.bounds()
	i := m.pick(base, 2, last+1)
	m.op = fmt.Sprintf("Compact(%d)", i)
	ref := func() (err error) {
		defer m.recover(&err)
		return m.ref.Compact(i)
	}()
	m.sameErr(ref, m.s.Compact(i))
}

func (m *model) entries() {
	base, last := m.bounds()
	// Mostly a valid range, sometimes one raft would not ask for.
	lo, hi := m.pick(base+1, 0, last+1), m.pick(base+1, 0, last+1)
	if m.rnd.IntN(4) == 0 {
		lo, hi = m.pick(base, 1, last+2), m.pick(base, 1, last+2)
	}
	if lo > hi && m.rnd.IntN(8) != 0 {
		lo, hi = hi, lo
	}
	maxSize := [...]uint64{0, 1, m.rnd.Uint64N(200), m.rnd.Uint64N(1000), noLimit}[m.rnd.IntN(5)]
	m.op = fmt.Sprintf("Entries(%d, %d, %d)", lo, hi, maxSize)
	var want []*raftpb.Entry
	ref := func() (err error) {
		defer m.recover(&err)
		want, err = m.ref.Entries(lo, hi, maxSize)
		return err
	}()
	got, err := m.s.Entries(lo, hi, maxSize)
	m.sameErr(ref, err)
	if ref == nil {
		require.True(m.t, entriesEqual(want, got), "%s: want %v, got %v", m, want, got)
	}
}

func (m *model) term() {
	base, last := m.bounds()
	i := m.pick(base, 2, last+2)
	m.op = fmt.Sprintf("Term(%d)", i)
	want, ref := m.ref.Term(i)
	got, err := m.s.Term(i)
	m.sameErr(ref, err)
	require.Equal(m.t, want, got, "%s", m)
}

// compare requires the store's whole state to be the reference's.
func (m *model) compare() {
	t := m.t
	base, last := m.bounds()
	requireBounds(t, m.s, base+1, last)
	for i := base; i <= last; i++ {
		want, _ := m.ref.Term(i)
		got, err := m.s.Term(i)
		require.NoError(t, err, "after %s: term %d", m, i)
		require.Equal(t, want, got, "after %s: term %d", m, i)
	}
	if last > base {
		want, _ := m.ref.Entries(base+1, last+1, noLimit)
		got, err := m.s.Entries(base+1, last+1, noLimit)
		require.NoError(t, err, "after %s", m)
		require.True(t, entriesEqual(want, got), "after %s: entries: want %v, got %v", m, want, got)
	}
	wantHS, wantCS, _ := m.ref.InitialState()
	gotHS, gotCS, err := m.s.InitialState()
	require.NoError(t, err, "after %s", m)
	require.True(t, hardStateEqual(wantHS, gotHS), "after %s: hard state: want %v, got %v", m, wantHS, gotHS)
	require.True(t, confStateEqual(wantCS, gotCS), "after %s: conf state: want %v, got %v", m, wantCS, gotCS)
	wantSnap, _ := m.ref.Snapshot()
	gotSnap, err := m.s.Snapshot()
	require.NoError(t, err, "after %s", m)
	require.True(t, snapshotEqual(wantSnap, gotSnap), "after %s: snapshot: want %v, got %v", m, wantSnap, gotSnap)
}

// sameErr requires the store's error to be the reference's: the same
// sentinel, or any error where the reference panicked.
func (m *model) sameErr(ref, got error) {
	name, _, _ := strings.Cut(m.op, "(")
	switch ref {
	case nil:
		m.outcomes[name+":ok"]++
	case errPanicked:
		m.outcomes[name+":panic"]++
	case store.ErrCompacted:
		m.outcomes[name+":compacted"]++
	case store.ErrUnavailable:
		m.outcomes[name+":unavailable"]++
	case store.ErrSnapOutOfDate:
		m.outcomes[name+":out-of-date"]++
	default:
		m.outcomes[name+":"+ref.Error()]++
	}
	switch {
	case ref == errPanicked:
		require.Error(m.t, got, "%s", m)
	case ref == nil:
		require.NoError(m.t, got, "%s", m)
	default:
		require.Same(m.t, ref, got, "%s: want %v, got %v", m, ref, got)
	}
}

func (m *model) recover(err *error) {
	if r := recover(); r != nil {
		*err = errPanicked
	}
}

func (m *model) confState() *raftpb.ConfState {
	cs := &raftpb.ConfState{}
	for id := uint64(1); id <= 5; id++ {
		switch m.rnd.IntN(3) {
		case 0:
			cs.Voters = append(cs.Voters, id)
		case 1:
			cs.Learners = append(cs.Learners, id)
		}
	}
	return cs
}

func (m *model) data() []byte {
	n := m.rnd.IntN(40)
	if n == 0 {
		return nil
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(m.rnd.Uint32())
	}
	return b
}

// String describes the current step, for failure messages.
func (m *model) String() string {
	return fmt.Sprintf("seed %d, step %d: %s", m.seed, m.step, m.op)
}
