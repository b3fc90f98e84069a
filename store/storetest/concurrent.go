package storetest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/droverhq/drover/store"
)

// testConcurrent has readers call every read method while a writer
// appends, snapshots and compacts, as raft's node goroutine reads while the
// application saves. Run it with -race.
func testConcurrent(t *testing.T, s store.Store) {
	termOf := func(i uint64) uint64 { return i/7 + 1 }
	const readers = 3
	stop := make(chan struct{})
	errs := make(chan error, readers)
	var wg sync.WaitGroup
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- readLoop(s, stop, termOf)
		}()
	}

	var werr error
	for i := uint64(1); i <= 150 && werr == nil; i += 5 {
		var ents []*raftpb.Entry
		for j := i; j < i+5; j++ {
			ents = append(ents, entry(j, termOf(j), byte(j)))
		}
		werr = s.Save(hardState(termOf(i+4), 1, i+4), ents, nil)
		if werr == nil && i%25 == 1 && i > 25 {
			_, werr = s.CreateSnapshot(i, confState(1), []byte{byte(i)})
			if werr == nil {
				werr = s.Compact(i - 10)
			}
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	require.NoError(t, werr)
	for err := range errs {
		require.NoError(t, err)
	}
}

// readLoop reads until stop is closed and returns the first inconsistency.
func readLoop(s store.Store, stop <-chan struct{}, termOf func(uint64) uint64) error {
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		first, err := s.FirstIndex()
		if err != nil {
			return err
		}
		last, err := s.LastIndex()
		if err != nil {
			return err
		}
		if last < first {
			continue
		}
		term, err := s.Term(last)
		if err == store.ErrCompacted {
			continue // the writer compacted past last since LastIndex
		}
		if err != nil || term != termOf(last) {
			return fmt.Errorf("term of %d: %d, %v", last, term, err)
		}
		ents, err := s.Entries(first, last+1, noLimit)
		if err == store.ErrCompacted {
			continue // compacted since FirstIndex
		}
		if err != nil {
			return fmt.Errorf("entries [%d, %d): %w", first, last+1, err)
		}
		for k, e := range ents {
			if e.GetIndex() != first+uint64(k) || e.GetTerm() != termOf(e.GetIndex()) {
				return fmt.Errorf("entries [%d, %d): entry %d is %v", first, last+1, k, e)
			}
		}
		if _, _, err := s.InitialState(); err != nil {
			return err
		}
		snap, err := s.Snapshot()
		if err != nil {
			return err
		}
		if i := snap.GetMetadata().GetIndex(); i != 0 && (snap.GetMetadata().GetTerm() != termOf(i) || len(snap.GetData()) != 1 || snap.GetData()[0] != byte(i)) {
			return fmt.Errorf("snapshot %v does not match its index", snap)
		}
	}
}
