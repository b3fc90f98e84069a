package drover_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/internal/testing/linmodel"
	"github.com/droverhq/drover/internal/testing/testcluster"
)

// The linearizability check: clients register, deregister and read jobs
// through random servers while a seeded schedule kills leaders and cuts
// servers off on the in-memory network; porcupine then checks that the
// history of what the clients saw is linearizable, per job.

// linSeed is the seed of the fault and operation schedule: DROVER_LIN_SEED
// repeats a run.
func linSeed(t *testing.T) uint64 {
	if s := os.Getenv("DROVER_LIN_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err)
		return v
	}
	return 20261201
}

func TestLinearizableUnderLeaderKillsAndPartitions(t *testing.T) {
	if testing.Short() {
		t.Skip("a 20-second run of faults")
	}
	seed := linSeed(t)
	t.Logf("seed %d (DROVER_LIN_SEED=%d repeats the schedule)", seed, seed)
	c := testcluster.New(t, testcluster.Options{Servers: 3, InMemory: true})
	c.WaitLeader(30 * time.Second)

	const (
		clients  = 6
		keys     = 4
		duration = 20 * time.Second
	)
	history := linmodel.NewHistory()

	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	var wg sync.WaitGroup
	for cl := range clients {
		rng := rand.New(rand.NewPCG(seed, uint64(cl)+1))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 0; ctx.Err() == nil; seq++ {
				members := c.Running()
				if len(members) == 0 {
					continue
				}
				srv := members[rng.IntN(len(members))].Server()
				if srv == nil {
					continue
				}
				in := linmodel.Input{Kind: linmodel.Kind(rng.IntN(3)), Key: fmt.Sprintf("job-%d", rng.IntN(keys))}
				opCtx, opCancel := context.WithTimeout(context.Background(), 10*time.Second)
				call := time.Now()
				var out linmodel.Output
				switch in.Kind {
				case linmodel.Register:
					in.Value = fmt.Sprintf("c%d-%d", cl, seq)
					job := batchJob(in.Key)
					job.Meta = map[string]string{"v": in.Value}
					_, err := srv.RegisterJob(opCtx, job)
					out.Unknown = err != nil
				case linmodel.Deregister:
					_, err := srv.DeregisterJob(opCtx, "", in.Key, true)
					switch {
					case errors.Is(err, drover.ErrNotFound):
						out.NotFound = true
					case err != nil:
						out.Unknown = true
					}
				case linmodel.Read:
					j, err := srv.Job(opCtx, "", in.Key)
					switch {
					case errors.Is(err, drover.ErrNotFound):
					case err != nil:
						opCancel()
						continue // a failed read constrains nothing
					default:
						out.Value = j.Meta["v"]
					}
				}
				opCancel()
				history.Record(cl, in, call, time.Now(), out)
			}
		}()
	}

	// The fault schedule: every 700 ms one fault starts or ends.
	rng := rand.New(rand.NewPCG(seed, 0))
	var killed *testcluster.Member
	var isolated *testcluster.Member
	faults := 0
	for tick := time.NewTicker(700 * time.Millisecond); ctx.Err() == nil; {
		select {
		case <-tick.C:
		case <-ctx.Done():
			continue
		}
		switch {
		case killed != nil:
			require.NoError(t, killed.Start())
			killed = nil
		case isolated != nil:
			isolated.Rejoin()
			isolated = nil
		case rng.IntN(2) == 0:
			if l := c.Leader(); l != nil {
				l.Stop()
				killed = l
				faults++
			}
		default:
			m := c.Members()[rng.IntN(len(c.Members()))]
			m.Isolate()
			isolated = m
			faults++
		}
	}
	wg.Wait()
	if killed != nil {
		require.NoError(t, killed.Start())
	}
	if isolated != nil {
		isolated.Rejoin()
	}

	ops := history.Operations()
	known := 0
	for _, op := range ops {
		if !op.Output.(linmodel.Output).Unknown {
			known++
		}
	}
	t.Logf("%d operations (%d with a known outcome), %d faults", len(ops), known, faults)
	require.Greater(t, known, 200, "the clients got work done through the faults")
	require.Equal(t, porcupine.Ok, linmodel.Check(t, ops, time.Minute), "the history is linearizable")
}
