package raft

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	boltstore "github.com/droverhq/drover/store/bolt"
)

// batchFSM is a jobFSM that takes commands in batches and counts them.
type batchFSM struct {
	*jobFSM
	batches atomic.Int64
	cmds    atomic.Int64
}

func (f *batchFSM) ApplyBatch(cmds []Command) []error {
	f.batches.Add(1)
	f.cmds.Add(int64(len(cmds)))
	errs := make([]error, len(cmds))
	for i, c := range cmds {
		errs[i] = f.Apply(c.Index, c.Cmd)
	}
	return errs
}

// TestCommittedEntriesApplyInBatches proposes concurrently to a node whose
// FSM applies batches: the commands arrive in far fewer calls than there
// are commands, and every proposer still gets its own command's result.
func TestCommittedEntriesApplyInBatches(t *testing.T) {
	bs, err := boltstore.Open(t.TempDir()+"/raft.db", boltstore.Options{})
	require.NoError(t, err)
	defer bs.Close()
	fsm := &batchFSM{jobFSM: newJobFSM()}
	cfg := testConfig()
	cfg.BaseTick = 100 * time.Millisecond
	n := startNode(t, cfg, bs, fsm, MemSnapshots{}, StartBootstrap)
	defer n.Stop()

	const writers = 256
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	batchesBefore, cmdsBefore := fsm.batches.Load(), fsm.cmds.Load()
	var wg sync.WaitGroup
	start := make(chan struct{})
	var dups atomic.Int64
	for i := range writers {
		wg.Go(func() {
			<-start
			// Every id is proposed twice: exactly one of the two is refused.
			id := fmt.Sprintf("job-%d", i/2)
			idx, err := n.Propose(ctx, jobCmd(id))
			if err != nil {
				require.EqualError(t, err, "duplicate job")
				dups.Add(1)
				return
			}
			require.GreaterOrEqual(t, n.Applied(), idx)
		})
	}
	close(start)
	wg.Wait()
	batches, cmds := fsm.batches.Load()-batchesBefore, fsm.cmds.Load()-cmdsBefore
	t.Logf("%d commands in %d batches", cmds, batches)
	require.Equal(t, int64(writers), cmds)
	require.Equal(t, int64(writers/2), dups.Load(), "each proposer hears its own command's result")
	require.Less(t, batches, int64(writers/4), "the commands of a Ready apply together")
	require.Equal(t, writers/2, fsm.count())
}
