package state

import (
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/droverhq/drover/structs"
)

func fullStore(t *testing.T) *Store {
	t.Helper()
	s := NewStore()
	tx := s.Begin()
	for v := uint64(0); v < 3; v++ {
		tx.UpsertJobVersion(&structs.Job{Id: "a", Namespace: "default", Version: v}, 6)
	}
	tx.UpsertJobVersion(&structs.Job{Id: "b", Namespace: "other"}, 6)
	tx.UpsertNode(&structs.Node{Id: "n1"})
	tx.UpsertNode(&structs.Node{Id: "n2"})
	tx.UpsertAlloc(alloc("x", "n1", "a"))
	tx.UpsertAlloc(alloc("y", "n2", "a"))
	tx.UpsertEval(&structs.Evaluation{Id: "e", Namespace: "default", JobId: "a"})
	tx.SetSchedulerConfig(&structs.SchedulerConfiguration{SchedulerAlgorithm: "spread", ModifyIndex: 4})
	tx.Commit(9)
	return s
}

func TestWalkAndRestorerRoundTrip(t *testing.T) {
	src := fullStore(t).Snapshot()
	r := NewRestorer()
	counts := map[protowire.Number]int{}
	require.NoError(t, src.Walk(func(field protowire.Number, m proto.Message) error {
		counts[field]++
		// Objects travel serialized, as a snapshot stream carries them.
		b, err := proto.Marshal(m)
		require.NoError(t, err)
		fresh := NewMessage(field)
		require.NoError(t, proto.Unmarshal(b, fresh))
		return r.Add(field, fresh)
	}))
	require.Equal(t, map[protowire.Number]int{
		FieldSchedulerConfig: 1, FieldJobs: 2, FieldJobVersions: 4, FieldNodes: 2, FieldAllocations: 2, FieldEvals: 1,
	}, counts)
	dst := NewStore()
	dst.Install(r, src.Index())
	got := dst.Snapshot()
	require.True(t, proto.Equal(src.Persist(), got.Persist()), "the restored state is the walked one")
	require.Len(t, got.JobVersions("default", "a"), 3)
	require.Len(t, got.AllocsByNode("n1"), 1)
	require.Len(t, got.EvalsByJob("default", "a"), 1)
}

func TestWalkStopsAtTheFirstError(t *testing.T) {
	src := fullStore(t).Snapshot()
	n := 0
	err := src.Walk(func(protowire.Number, proto.Message) error {
		n++
		if n == 3 {
			return structs.ErrShutdown
		}
		return nil
	})
	require.ErrorIs(t, err, structs.ErrShutdown)
	require.Equal(t, 3, n)
}

func TestRestorerRefusesMismatchedObjects(t *testing.T) {
	r := NewRestorer()
	require.ErrorIs(t, r.Add(FieldNodes, &structs.Job{}), structs.ErrBadRequest)
	require.ErrorIs(t, r.Add(77, &structs.Job{}), structs.ErrBadRequest)
	require.Nil(t, NewMessage(77))
}

func TestNewStoreFromIsIndependent(t *testing.T) {
	s := fullStore(t)
	fork := NewStoreFrom(s.Snapshot())
	tx := fork.Begin()
	tx.DeleteAlloc("x")
	tx.UpsertNode(&structs.Node{Id: "n3"})
	tx.Commit(10)
	require.NotNil(t, s.Snapshot().Alloc("x"), "writes to the fork do not show in the original")
	require.Nil(t, s.Snapshot().Node("n3"))
	require.Nil(t, fork.Snapshot().Alloc("x"))
	require.Len(t, fork.Snapshot().Nodes(), 3)
}

func TestJobVersionsKeepTheNewest(t *testing.T) {
	s := NewStore()
	tx := s.Begin()
	for v := uint64(0); v < 10; v++ {
		tx.UpsertJobVersion(&structs.Job{Id: "a", Namespace: "default", Version: v}, 4)
	}
	tx.Commit(1)
	var got []uint64
	for _, j := range s.Snapshot().JobVersions("default", "a") {
		got = append(got, j.Version)
	}
	require.Equal(t, []uint64{9, 8, 7, 6}, got)
	tx = s.Begin()
	tx.DeleteJob("default", "a")
	tx.Commit(2)
	require.Empty(t, s.Snapshot().JobVersions("default", "a"), "a purged job keeps no versions")
}

// TestCloneAllocCopiesEveryField sets every field of an allocation and
// checks the copy has them all: a field added to the message must be
// added to cloneAlloc.
func TestCloneAllocCopiesEveryField(t *testing.T) {
	a := &structs.Allocation{}
	m := a.ProtoReflect()
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		switch {
		case f.IsMap():
			mv := m.Mutable(f).Map()
			k := protoreflect.ValueOfString("k").MapKey()
			mv.Set(k, mv.NewValue())
		case f.IsList():
			l := m.Mutable(f).List()
			if f.Kind() == protoreflect.MessageKind {
				l.Append(l.NewElement())
			} else {
				l.Append(protoreflect.ValueOfString("v"))
			}
		case f.Kind() == protoreflect.MessageKind:
			m.Mutable(f)
		case f.Kind() == protoreflect.StringKind:
			m.Set(f, protoreflect.ValueOfString("v"))
		case f.Kind() == protoreflect.Uint64Kind:
			m.Set(f, protoreflect.ValueOfUint64(1))
		case f.Kind() == protoreflect.Int64Kind:
			m.Set(f, protoreflect.ValueOfInt64(1))
		default:
			t.Fatalf("field %s of kind %s: extend the test", f.Name(), f.Kind())
		}
	}
	c := cloneAlloc(a)
	require.True(t, proto.Equal(a, c), "cloneAlloc misses a field")
}

func TestJobsByTypeFollowsChanges(t *testing.T) {
	s := NewStore()
	tx := s.Begin()
	tx.UpsertJob(&structs.Job{Id: "a", Namespace: "default", Type: "system"})
	tx.UpsertJob(&structs.Job{Id: "b", Namespace: "default", Type: "service"})
	tx.Commit(1)
	require.Len(t, s.Snapshot().JobsByType("system"), 1)
	tx = s.Begin()
	tx.UpsertJob(&structs.Job{Id: "a", Namespace: "default", Type: "service"})
	tx.DeleteJob("default", "b")
	tx.Commit(2)
	require.Empty(t, s.Snapshot().JobsByType("system"), "a job changing type leaves the old index")
	got := s.Snapshot().JobsByType("service")
	require.Len(t, got, 1)
	require.Equal(t, "a", got[0].Id)
}
