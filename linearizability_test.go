package drover_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/internal/testing/testcluster"
)

// The linearizability check: clients register, deregister and read jobs
// through random servers while a seeded schedule kills leaders and cuts
// servers off on the in-memory network; porcupine then checks that the
// history of what the clients saw is linearizable, per job.

type linOp int

const (
	opRegister linOp = iota
	opDeregister
	opRead
)

type linInput struct {
	op    linOp
	key   string
	value string // what a register writes
}

type linOutput struct {
	value    string // what a read saw; "" means no such job
	notFound bool   // a deregister found no job
	unknown  bool   // the call failed: it may or may not have taken effect
}

// jobModel is a register per job id: its value, or "" when absent.
var jobModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(linInput).key
			if _, ok := by[k]; !ok {
				keys = append(keys, k)
			}
			by[k] = append(by[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, by[k])
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		st, in, out := state.(string), input.(linInput), output.(linOutput)
		switch in.op {
		case opRegister:
			return true, in.value
		case opDeregister:
			switch {
			case out.unknown:
				return true, ""
			case out.notFound:
				return st == "", st
			default:
				return st != "", ""
			}
		default: // opRead
			return out.value == st, st
		}
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(linInput), output.(linOutput)
		switch in.op {
		case opRegister:
			return fmt.Sprintf("register(%s=%s) unknown=%v", in.key, in.value, out.unknown)
		case opDeregister:
			return fmt.Sprintf("deregister(%s) notFound=%v unknown=%v", in.key, out.notFound, out.unknown)
		}
		return fmt.Sprintf("read(%s) -> %q", in.key, out.value)
	},
}

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
	start := time.Now()
	var (
		mu      sync.Mutex
		history []porcupine.Operation
	)
	record := func(client int, in linInput, call time.Time, out linOutput) {
		ret := time.Since(start).Nanoseconds()
		mu.Lock()
		if out.unknown {
			// It may take effect at any later time, or never.
			ret = 1<<62 + int64(len(history))
		}
		history = append(history, porcupine.Operation{
			ClientId: client, Input: in, Output: out,
			Call: call.Sub(start).Nanoseconds(), Return: ret,
		})
		mu.Unlock()
	}

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
				in := linInput{op: linOp(rng.IntN(3)), key: fmt.Sprintf("job-%d", rng.IntN(keys))}
				opCtx, opCancel := context.WithTimeout(context.Background(), 10*time.Second)
				call := time.Now()
				var out linOutput
				switch in.op {
				case opRegister:
					in.value = fmt.Sprintf("c%d-%d", cl, seq)
					job := batchJob(in.key)
					job.Meta = map[string]string{"v": in.value}
					_, err := srv.RegisterJob(opCtx, job)
					out.unknown = err != nil
				case opDeregister:
					_, err := srv.DeregisterJob(opCtx, "", in.key, true)
					switch {
					case errors.Is(err, drover.ErrNotFound):
						out.notFound = true
					case err != nil:
						out.unknown = true
					}
				case opRead:
					j, err := srv.Job(opCtx, "", in.key)
					switch {
					case errors.Is(err, drover.ErrNotFound):
					case err != nil:
						opCancel()
						continue // a failed read constrains nothing
					default:
						out.value = j.Meta["v"]
					}
				}
				opCancel()
				record(cl, in, call, out)
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

	known := 0
	for _, op := range history {
		if !op.Output.(linOutput).unknown {
			known++
		}
	}
	t.Logf("%d operations (%d with a known outcome), %d faults", len(history), known, faults)
	require.Greater(t, known, 200, "the clients got work done through the faults")
	res, info := porcupine.CheckOperationsVerbose(jobModel, history, time.Minute)
	if res != porcupine.Ok {
		for _, part := range jobModel.Partition(history) {
			if !porcupine.CheckOperations(jobModel, part) {
				logViolation(t, part)
				break
			}
		}
		if f, err := os.CreateTemp("", "drover-linearizability-*.html"); err == nil {
			_ = porcupine.Visualize(jobModel, info, f)
			f.Close()
			t.Logf("visualization: %s", f.Name())
		}
	}
	require.Equal(t, porcupine.Ok, res, "the history is linearizable")
}

// logViolation logs the operations around the first point in time at which
// a partition's history stops being linearizable.
func logViolation(t *testing.T, part []porcupine.Operation) {
	sort.Slice(part, func(i, j int) bool { return part[i].Call < part[j].Call })
	upTo := func(end int64) []porcupine.Operation {
		var out []porcupine.Operation
		for _, op := range part {
			switch {
			case op.Return <= end:
				out = append(out, op)
			case op.Call <= end && op.Input.(linInput).op != opRead:
				op.Output, op.Return = linOutput{unknown: true}, 1<<62
				out = append(out, op)
			}
		}
		return out
	}
	lo, hi := int64(0), part[len(part)-1].Call+1
	for hi-lo > 1000 {
		mid := lo + (hi-lo)/2
		if porcupine.CheckOperations(jobModel, upTo(mid)) {
			lo = mid
		} else {
			hi = mid
		}
	}
	t.Logf("the history stops being linearizable at %.3f ms:", float64(hi)/1e6)
	for _, op := range part {
		if op.Call > hi || (op.Return < hi-300e6) {
			continue
		}
		ret := "?"
		if op.Return < 1<<62 {
			ret = fmt.Sprintf("%.3f", float64(op.Return)/1e6)
		}
		t.Logf("  c%d [%.3f, %s] %s", op.ClientId, float64(op.Call)/1e6, ret, jobModel.DescribeOperation(op.Input, op.Output))
	}
}
