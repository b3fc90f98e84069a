package server

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/droverhq/drover/store"
	boltstore "github.com/droverhq/drover/store/bolt"
)

// countingStore counts the Saves that persist entries: one per Ready.
type countingStore struct {
	store.Store
	saves   atomic.Int64
	entries atomic.Int64
}

func (c *countingStore) Save(hs *raftpb.HardState, ents []*raftpb.Entry, snap *raftpb.Snapshot) error {
	if len(ents) > 0 {
		c.saves.Add(1)
		c.entries.Add(int64(len(ents)))
	}
	return c.Store.Save(hs, ents, snap)
}

func (c *countingStore) Meta(key string) ([]byte, error) { return c.Store.(store.Metadata).Meta(key) }
func (c *countingStore) SetMeta(key string, v []byte) error {
	return c.Store.(store.Metadata).SetMeta(key, v)
}

func TestConcurrentWritesShareReadiesAndFsyncs(t *testing.T) {
	dir := t.TempDir()
	bs, err := boltstore.Open(dir+"/raft.db", boltstore.Options{})
	require.NoError(t, err)
	defer bs.Close()
	cs := &countingStore{Store: bs}
	s, err := New(Config{
		Name: "s1", Region: "global", Datacenter: "dc1", Store: cs, BindAddr: "127.0.0.1:0",
		NumSchedulers: 0, RaftMultiplier: 1, RaftSnapshotThreshold: 1 << 20, RaftSnapshotInterval: time.Hour,
		RaftTrailingLogs: 10240, JobDefaultPriority: 50, JobMaxPriority: 100, Logger: testLogger(),
	})
	require.NoError(t, err)
	defer s.Shutdown(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, s.WaitForLeader(ctx))

	const writers = 256
	savesBefore, entriesBefore := cs.saves.Load(), cs.entries.Load()
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := s.RegisterJob(ctx, mockJob(fmt.Sprintf("job-%d", i), 1))
			require.NoError(t, err)
		}()
	}
	close(start)
	wg.Wait()
	saves, entries := cs.saves.Load()-savesBefore, cs.entries.Load()-entriesBefore
	t.Logf("%d writes in %d entries and %d durable saves", writers, entries, saves)
	require.GreaterOrEqual(t, entries, int64(writers))
	require.Less(t, saves, int64(writers/4), "concurrent proposals coalesce into shared Readies, one fsync each")
}
