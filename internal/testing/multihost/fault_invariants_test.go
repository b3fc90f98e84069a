package multihost

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The invariant checked all along a scenario: no count-1 job ever has two
// allocations running at once on live nodes. It is read twice every
// second:
//
//   - as the servers see it: allocations that should run (desired status
//     run) and that their client reports running, on nodes the servers
//     hold ready;
//   - as the client hosts see it: the sleeper processes really running in
//     the containers of clients the scenario has not taken out of service
//     (docker top; each names its job and allocation). A process is given
//     one sample (about a second) to go: a replaced allocation's task is
//     stopped as its replacement starts elsewhere, so two copies seen in
//     two samples in a row are a duplicate, one sample a hand-over.

// duplicateWatch samples the invariant until stopped.
type duplicateWatch struct {
	fc     *faultCluster
	prefix string
	cancel context.CancelFunc
	done   chan struct{}

	mu sync.Mutex
	// samples counts the samples of each view that could be taken.
	serverSamples, hostSamples int
	violations                 []string
}

// watchDuplicates starts watching the jobs whose ids start with prefix.
func watchDuplicates(t *testing.T, fc *faultCluster, prefix string) *duplicateWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &duplicateWatch{fc: fc, prefix: prefix, cancel: cancel, done: make(chan struct{})}
	go w.run(ctx)
	t.Cleanup(w.stop)
	return w
}

func (w *duplicateWatch) stop() {
	w.cancel()
	<-w.done
}

func (w *duplicateWatch) run(ctx context.Context) {
	defer close(w.done)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	var prev map[string][]string
	for ctx.Err() == nil {
		w.sampleServers(rng)
		prev = w.sampleHosts(prev)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (w *duplicateWatch) violation(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.violations) < 20 {
		w.violations = append(w.violations, time.Now().Format("15:04:05.000 ")+fmt.Sprintf(format, args...))
	}
}

// sampleServers reads nodes and allocations from a live server, each read
// consistent.
func (w *duplicateWatch) sampleServers(rng *rand.Rand) {
	live := w.fc.liveServers()
	if len(live) == 0 {
		return
	}
	srv := live[rng.IntN(len(live))]
	nodes, _, err := srv.api.Nodes().List(nil)
	if err != nil {
		return
	}
	ready := map[string]bool{}
	for _, n := range nodes {
		ready[n.ID] = n.Status == "ready"
	}
	allocs, _, err := srv.api.Allocations().List(nil)
	if err != nil {
		return
	}
	running := map[string][]string{}
	for _, a := range allocs {
		if strings.HasPrefix(a.JobID, w.prefix) && a.DesiredStatus == "run" && a.ClientStatus == "running" && ready[a.NodeID] {
			running[a.JobID] = append(running[a.JobID], a.ID[:8]+"@"+a.NodeName)
		}
	}
	w.mu.Lock()
	w.serverSamples++
	w.mu.Unlock()
	for job, on := range running {
		if len(on) > 1 {
			w.violation("%s (asked): job %s has %d allocations running on ready nodes: %v", srv.node, job, len(on), on)
		}
	}
}

// sampleHosts lists the sleepers running in live client containers, by
// job, and reports a job that ran two or more allocations in this sample
// and the one before.
func (w *duplicateWatch) sampleHosts(prev map[string][]string) map[string][]string {
	now := map[string][]string{}
	for _, c := range w.fc.liveClients() {
		procs, err := sleepers(c)
		if err != nil {
			return nil // a container changing state: skip the sample
		}
		for job, allocs := range procs {
			for _, a := range allocs {
				now[job] = append(now[job], a+"@"+c.node)
			}
		}
	}
	w.mu.Lock()
	w.hostSamples++
	w.mu.Unlock()
	for job, on := range now {
		slices.Sort(on)
		if len(on) > 1 && len(prev[job]) > 1 {
			both := 0
			for _, a := range on {
				if slices.Contains(prev[job], a) {
					both++
				}
			}
			if both > 1 {
				w.violation("hosts: job %s runs %v, and ran %v a sample before", job, on, prev[job])
			}
		}
	}
	return now
}

// sleepers lists, by job, the allocations whose sleeper runs in c's
// container, from the processes' arguments (see testdata/sleeper).
func sleepers(c *agent) (map[string][]string, error) {
	out, err := docker("top", c.name, "-o", "pid,args")
	if err != nil {
		return nil, err
	}
	procs := map[string][]string{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line) // pid, then the arguments
		if len(f) != 4 || !strings.HasSuffix(f[1], "/sleeper") {
			continue
		}
		f = f[1:]
		job, okJob := strings.CutPrefix(f[1], "job=")
		alloc, okAlloc := strings.CutPrefix(f[2], "alloc=")
		if okJob && okAlloc {
			procs[job] = append(procs[job], alloc[:min(8, len(alloc))])
		}
	}
	return procs, nil
}

// check stops the watch and fails the test on any violation, or when
// neither view could ever be sampled.
func (w *duplicateWatch) check(t *testing.T) {
	t.Helper()
	w.stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	t.Logf("duplicate watch: %d samples of the servers' view, %d of the hosts'", w.serverSamples, w.hostSamples)
	if w.serverSamples == 0 || w.hostSamples == 0 {
		t.Errorf("the duplicate watch could not sample (servers %d, hosts %d)", w.serverSamples, w.hostSamples)
	}
	for _, v := range w.violations {
		t.Errorf("a count-1 job ran twice: %s", v)
	}
}

// runningOn lists the job's allocations that run, as the servers see it
// (desired run, client running), by node name.
func runningOn(a *agent, jobID string) (map[string][]string, error) {
	allocs, _, err := a.api.Jobs().Allocations(jobID, false, nil)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, al := range allocs {
		if al.DesiredStatus == "run" && al.ClientStatus == "running" {
			out[al.NodeName] = append(out[al.NodeName], al.ID)
		}
	}
	return out, nil
}

// nodesOf is the sorted names of the nodes in m.
func nodesOf(m map[string][]string) []string {
	return slices.Sorted(maps.Keys(m))
}
