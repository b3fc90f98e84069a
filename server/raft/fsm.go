package raft

import "github.com/droverhq/drover/structs"

// FSM is the state machine a node drives: it is how committed entries
// reach the server's state, and how that state goes into raft snapshots
// and comes back out of them. The node calls it only from its own
// goroutine, one call at a time, in log order; every server makes the same
// calls with the same entries, so an implementation must be deterministic.
type FSM interface {
	// Apply applies the command committed at index. The error is handed to
	// the proposer if it waits on this server (a command refused by the
	// state, such as deleting a job that does not exist); it does not stop
	// the node.
	Apply(index uint64, cmd *structs.LogCommand) error
	// Snapshot captures the state as of the last applied entry, for a raft
	// snapshot that the node writes out in the background: it must be cheap
	// and must not change with later entries. ok is false while no snapshot
	// may be taken (an operator restore is half applied and lives only in
	// the log); the node asks again at its next check.
	Snapshot() (st *structs.StateSnapshot, ok bool)
	// Restore replaces the whole state with the one a raft snapshot holds,
	// at st.Index.
	Restore(st *structs.StateSnapshot)
}

// Command is one committed command and its log index.
type Command struct {
	Index uint64
	Cmd   *structs.LogCommand
}

// BatchFSM is an FSM that applies consecutive committed commands together,
// as one change of its state where that is safe: the node hands it every
// command of a Ready up to the next membership change, in log order. The
// result must be the same as applying them one by one with Apply, and
// errs[i] is what Apply would have returned for cmds[i].
type BatchFSM interface {
	FSM
	ApplyBatch(cmds []Command) (errs []error)
}
