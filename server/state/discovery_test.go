package state

import (
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/structs"
)

// Service registrations, variables and root keys survive both forms of a
// snapshot (one message, and object by object), and a terminal or
// removed allocation takes its registrations with it.
func TestDiscoveryTablesSurviveSnapshotsAndFollowTheirAllocations(t *testing.T) {
	s := NewStore()
	tx := s.Begin()
	for _, id := range []string{"a1", "a2"} {
		tx.UpsertAlloc(&structs.Allocation{Id: id, NodeId: "n", Namespace: "default", JobId: "j", ClientStatus: structs.AllocClientRunning})
		tx.UpsertServiceRegistration(&structs.ServiceRegistration{Id: "_nomad-task-" + id + "-web", ServiceName: "web", Namespace: "default", AllocId: id})
	}
	tx.UpsertVariable(&structs.Variable{Namespace: "default", Path: "app/db", KeyId: "k", EncryptedItems: []byte{1, 2}})
	tx.UpsertRootKey(&structs.RootKey{KeyId: "k", State: structs.RootKeyActive, Material: []byte{3}})
	tx.Commit(1)

	check := func(snap *Snapshot) {
		t.Helper()
		require.Len(t, snap.ServiceRegistrationsByName("default", "web"), 2)
		require.Len(t, snap.AllocServiceRegistrations("a1"), 1)
		require.NotNil(t, snap.Variable("default", "app/db"))
		require.Equal(t, map[string]int{"k": 1}, snap.VariablesByKey())
		require.NotNil(t, snap.RootKey("k"))
	}
	persisted := NewStore()
	persisted.Restore(s.Snapshot().Persist())
	check(persisted.Snapshot())
	r := NewRestorer()
	require.NoError(t, s.Snapshot().Walk(func(f protowire.Number, m proto.Message) error {
		c := NewMessage(f)
		b, err := proto.Marshal(m)
		require.NoError(t, err)
		require.NoError(t, proto.Unmarshal(b, c))
		return r.Add(f, c)
	}))
	walked := NewStore()
	walked.Install(r, 1)
	check(walked.Snapshot())

	tx = s.Begin()
	done := CloneAlloc(tx.Alloc("a1"))
	done.ClientStatus = structs.AllocClientComplete
	tx.UpsertAlloc(done)
	tx.DeleteAlloc("a2")
	tx.Commit(2)
	require.Empty(t, s.Snapshot().ServiceRegistrations(""))
}
