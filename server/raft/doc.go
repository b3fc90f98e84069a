// Package raft is a server's raft node. A Node owns an etcd raft.RawNode
// and its Ready loop: one goroutine ticks it, steps what peers send,
// proposes, persists every Ready to the LogStore in one durable batch,
// sends messages to the peers, applies committed entries to the FSM and
// hands each caller its result. The rest of the server talks to it only
// through Node's methods and the interfaces it is built with.
//
// Inputs:
//
//   - Propose: a command, on the leader; it returns once the entry is
//     applied on this server, with its index and the FSM's error.
//   - Step and ReceiveSnapshot: raft messages and snapshot streams from
//     peers (the server's gRPC raft handlers call them).
//   - Ticks: the node ticks itself every NodeConfig.BaseTick, and at each tick
//     asks its snapshot policy whether a raft snapshot is due.
//   - ReadIndex: a linearizable read barrier on any server;
//     WaitLeaderReady: a new leader's barrier before it decides anything.
//   - AddPeer, RemovePeer, TransferLeadership: membership changes, on the
//     leader.
//   - Start (restart, bootstrap or join) and Stop.
//
// Outputs:
//
//   - committed commands, applied to the FSM in log order (FSM.Apply);
//     raft snapshots captured from it (FSM.Snapshot) and restored into it
//     (FSM.Restore);
//   - every Ready persisted to the LogStore before its entries are
//     applied; a persistence error stops the node (Err, Done);
//   - messages to peers, queued per peer without blocking, over
//     connections from the Dialer;
//   - leadership changes and the caught-up signal to NodeConfig's callbacks
//     and the LeaderChanged channel; peer set changes to OnPeersChange;
//   - observations to Metrics.
//
// Four different things are called a snapshot around a server, and each
// has its own name:
//
//   - a raft snapshot: the point the log is compacted to, kept by a
//     SnapshotStore (a file of DirSnapshots, or MemSnapshots' bytes) and
//     referenced from the LogStore;
//   - its content, a state stream (package statestream), which is also
//     the format of operator backups;
//   - the snapshot policy: when the node takes a raft snapshot (applied
//     entries past Config.SnapshotThreshold, checked every
//     Config.SnapshotInterval);
//   - the state store's MVCC view (state.Snapshot), from which the
//     server's FSM captures a raft snapshot's state.
package raft

import "github.com/droverhq/drover/store"

// LogStore is where a node keeps its raft log, hard state and the metadata
// of its latest raft snapshot (package store: bbolt or in memory). It is
// not the FSM's state store.
type LogStore = store.Store
