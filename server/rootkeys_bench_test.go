package server

import (
	"strings"
	"testing"
	"time"

	"github.com/droverhq/drover/clock"
	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

// BenchmarkVariableSealOpen seals and opens a variable of 1 KiB with an
// opened root key: the cost encryption adds to a variable write and read.
func BenchmarkVariableSealOpen(b *testing.B) {
	ring, err := newRootKeyring(nil)
	if err != nil {
		b.Fatal(err)
	}
	k, err := ring.newKey()
	if err != nil {
		b.Fatal(err)
	}
	key, err := ring.open(k)
	if err != nil {
		b.Fatal(err)
	}
	plain := []byte(strings.Repeat("x", 1024))
	aad := variableAAD("default", "app/db")
	b.SetBytes(int64(len(plain)))
	for b.Loop() {
		if _, err := unseal(key.aead, seal(key.aead, plain, aad), aad); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWorkloadIdentityVerify verifies a task's signed identity as a
// server does for each call that presents one.
func BenchmarkWorkloadIdentityVerify(b *testing.B) {
	ring, err := newRootKeyring(nil)
	if err != nil {
		b.Fatal(err)
	}
	s := &Server{cfg: Config{Region: "global", Clock: clock.NewFake(time.Unix(0, 2))}, rootKeys: ring}
	k, err := ring.newKey()
	if err != nil {
		b.Fatal(err)
	}
	st := state.NewStore()
	tx := st.Begin()
	tx.UpsertRootKey(k)
	alloc := &structs.Allocation{Id: "a", Namespace: "default", JobId: "j", TaskGroup: "g", NodeId: "n",
		ClientStatus: structs.AllocClientRunning, CreateTime: 1}
	tx.UpsertAlloc(alloc)
	tx.Commit(1)
	key, err := ring.open(k)
	if err != nil {
		b.Fatal(err)
	}
	tok, err := s.signWorkloadIdentity(key, alloc, "t")
	if err != nil {
		b.Fatal(err)
	}
	snap := st.Snapshot()
	for b.Loop() {
		if _, err := s.verifyWorkloadIdentity(snap, tok); err != nil {
			b.Fatal(err)
		}
	}
}
