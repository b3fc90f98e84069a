package multihost

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	nomad "github.com/hashicorp/nomad/api"

	"github.com/droverhq/drover/internal/testing/linmodel"
)

// The load generator: a few workers register, update, deregister and read
// count-1 jobs through servers picked at random, live or not, and record
// every call in a linearizability history.

// outcome is how a call ended.
type outcome int

const (
	// ok: the call was answered with success (or, for a read or a
	// deregistration, with a definite "no such job").
	ok outcome = iota
	// failed: the call certainly had no effect (refused before anything
	// was proposed: no server listening, no leader found, a bad request).
	failed
	// unknown: the call may or may not have taken effect (a timeout, or
	// leadership lost while the write was in flight).
	unknown
)

func (o outcome) String() string { return [...]string{"ok", "failed", "unknown"}[o] }

// classify tells how err ended a call. A 404 is ok: the answer "no such
// job" is definite.
func classify(err error) outcome {
	if err == nil {
		return ok
	}
	var ure nomad.UnexpectedResponseError
	if errors.As(err, &ure) && ure.HasStatusCode() {
		code := ure.StatusCode()
		switch {
		case code == http.StatusNotFound:
			return ok
		case code >= 400 && code < 500:
			return failed
		case code == http.StatusServiceUnavailable && definitelyNotProposed(ure.Body()):
			return failed
		}
		return unknown
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return failed // nothing was sent
	}
	return unknown
}

// definitelyNotProposed reports whether a server's "no leader" answer says
// the write never reached a leader (it waited for one in vain, or had
// not joined a cluster), as opposed to a leader lost mid-write.
func definitelyNotProposed(body string) bool {
	return strings.Contains(body, "none within") || strings.Contains(body, "has not joined a cluster")
}

func isNotFound(err error) bool {
	var ure nomad.UnexpectedResponseError
	return errors.As(err, &ure) && ure.StatusCode() == http.StatusNotFound
}

// loadOptions tune a load run.
type loadOptions struct {
	// workers is the number of concurrent clients (default 5).
	workers int
	// keys is the number of job ids they share (default 4).
	keys int
	// pause is each worker's pause between calls (default 150 ms): the
	// machine is shared, the load is modest on purpose.
	pause time.Duration
}

// load is one running load generator and what it recorded.
type load struct {
	fc     *faultCluster
	opts   loadOptions
	prefix string
	keys   []string
	hist   *linmodel.History
	start  time.Time

	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu sync.Mutex
	// counts of calls by outcome, for figures.
	counts [3]int
	// writeOK are the response times of the writes answered with
	// success, in order: the gaps between them are unavailability;
	// writeOKCall are their invocation times.
	writeOK, writeOKCall []time.Time
	// errs are a few sample error messages by outcome.
	errs map[outcome][]string
	// marks are named instants of the scenario (a fault, a heal).
	marks []mark
}

type mark struct {
	what string
	at   time.Time
	// outage marks a fault after which writes are expected to stop (a
	// quorum lost): it does not count for the time to recover.
	outage bool
}

// startLoad starts the workers; stop ends them.
func startLoad(t *testing.T, fc *faultCluster, jobPrefix string, opts loadOptions) *load {
	t.Helper()
	if opts.workers == 0 {
		opts.workers = 5
	}
	if opts.keys == 0 {
		opts.keys = 4
	}
	if opts.pause == 0 {
		opts.pause = 150 * time.Millisecond
	}
	l := &load{fc: fc, opts: opts, prefix: jobPrefix, hist: linmodel.NewHistory(), start: time.Now(), errs: map[outcome][]string{}}
	for i := range opts.keys {
		l.keys = append(l.keys, fmt.Sprintf("%s-%d", jobPrefix, i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	seed := uint64(time.Now().UnixNano())
	t.Logf("load: %d workers on %d jobs, seed %d", opts.workers, opts.keys, seed)
	for w := range opts.workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.work(ctx, w, rand.New(rand.NewPCG(seed, uint64(w))))
		}()
	}
	t.Cleanup(l.stop)
	return l
}

// stop ends the workers and waits for their calls to end.
func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
}

// mark records a named instant: a fault once injected, a heal (or a
// restart) as it is started. The time to recover is measured from each.
func (l *load) mark(what string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.marks = append(l.marks, mark{what: what, at: time.Now()})
}

// markOutage records the start of an outage the scenario means to cause.
func (l *load) markOutage(what string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.marks = append(l.marks, mark{what: what, at: time.Now(), outage: true})
}

// firstWriteAfter is when the first write invoked after at was
// acknowledged, or the zero time.
func (l *load) firstWriteAfter(at time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	var first time.Time
	for i, call := range l.writeOKCall {
		if call.After(at) && (first.IsZero() || l.writeOK[i].Before(first)) {
			first = l.writeOK[i]
		}
	}
	return first
}

func (l *load) work(ctx context.Context, worker int, rng *rand.Rand) {
	for seq := 0; ctx.Err() == nil; seq++ {
		srv := l.fc.anyServer(rng)
		in := linmodel.Input{Key: l.keys[rng.IntN(len(l.keys))]}
		switch r := rng.IntN(100); {
		case r < 45:
			in.Kind, in.Value = linmodel.Register, fmt.Sprintf("w%d-%d", worker, seq)
		case r < 60:
			in.Kind = linmodel.Deregister
		default:
			in.Kind = linmodel.Read
		}
		call := time.Now()
		out, res, err := l.do(srv, in)
		ret := time.Now()
		l.note(in, res, err, call, ret)
		if res != failed && !(in.Kind == linmodel.Read && res == unknown) {
			// A failed call had no effect and a failed read constrains
			// nothing: neither is part of the history.
			out.Unknown = res == unknown
			l.hist.Record(worker, in, call, ret, out)
		}
		select {
		case <-ctx.Done():
		case <-time.After(l.opts.pause):
		}
	}
}

// do makes one call through srv.
func (l *load) do(srv *agent, in linmodel.Input) (linmodel.Output, outcome, error) {
	var out linmodel.Output
	switch in.Kind {
	case linmodel.Register:
		_, _, err := srv.api.Jobs().Register(loadJob(in.Key, in.Value), nil)
		return out, classify(err), err
	case linmodel.Deregister:
		_, _, err := srv.api.Jobs().Deregister(in.Key, true, nil)
		out.NotFound = isNotFound(err)
		return out, classify(err), err
	default:
		job, _, err := srv.api.Jobs().Info(in.Key, nil)
		switch {
		case isNotFound(err):
			return out, ok, nil
		case err != nil:
			return out, classify(err), err
		}
		out.Value = job.Meta["v"]
		return out, ok, nil
	}
}

func (l *load) note(in linmodel.Input, res outcome, err error, call, ret time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.counts[res]++
	if res == ok && in.Kind != linmodel.Read {
		l.writeOK = append(l.writeOK, ret)
		l.writeOKCall = append(l.writeOKCall, call)
	}
	if err != nil && res != ok && len(l.errs[res]) < 3 {
		msg := err.Error()
		if !slices.Contains(l.errs[res], msg) {
			l.errs[res] = append(l.errs[res], msg)
		}
	}
}

// loadJob is a count-1 service job whose meta holds the value written.
func loadJob(id, value string) *nomad.Job {
	job := sleeperJob(id, 1)
	job.Meta = map[string]string{"v": value}
	return job
}

// figures are what a scenario reports.
type figures struct {
	ok, failed, unknown int
	// longestGap is the longest time without a successful write while
	// the load ran; recovery the longest time from a fault or heal mark
	// to the answer of the first successful write invoked after it.
	longestGap, recovery time.Duration
}

func (f figures) String() string {
	return fmt.Sprintf("operations ok %d, failed %d, unknown %d; longest unavailability %.1fs; time to recover %.1fs",
		f.ok, f.failed, f.unknown, f.longestGap.Seconds(), f.recovery.Seconds())
}

// figures summarises the run so far.
func (l *load) figures(end time.Time) figures {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := figures{ok: l.counts[ok], failed: l.counts[failed], unknown: l.counts[unknown]}
	prev := l.start
	for _, at := range append(append([]time.Time(nil), l.writeOK...), end) {
		f.longestGap = max(f.longestGap, at.Sub(prev))
		prev = at
	}
	for _, m := range l.marks {
		if m.outage {
			continue
		}
		first := end
		for i, call := range l.writeOKCall {
			if call.After(m.at) && l.writeOK[i].Before(first) {
				first = l.writeOK[i]
			}
		}
		f.recovery = max(f.recovery, first.Sub(m.at))
	}
	return f
}

// finish stops the load and checks what it recorded once the faults are
// healed: every job's final value, read consistently from the leader,
// keeps what was acknowledged, and the history (the final reads
// included) is linearizable. It logs and returns the figures.
func (l *load) finish(t *testing.T, scenario string) figures {
	t.Helper()
	l.stop()
	end := time.Now()
	leader := l.fc.currentLeader()
	final := map[string]string{}
	for _, key := range l.keys {
		in := linmodel.Input{Kind: linmodel.Read, Key: key}
		var out linmodel.Output
		var call time.Time
		waitFor(t, stepDeadline, "a consistent read of "+key, func() error {
			var err error
			call = time.Now()
			var res outcome
			out, res, err = l.do(leader, in)
			if res != ok {
				return err
			}
			return nil
		})
		l.hist.Record(1000, in, call, time.Now(), out)
		final[key] = out.Value
	}
	ops := l.hist.Operations()
	for _, err := range linmodel.Durable(ops, final) {
		t.Errorf("an acknowledged write was lost: %v", err)
	}
	f := l.figures(end)
	l.mu.Lock()
	for res, msgs := range l.errs {
		for _, m := range msgs {
			t.Logf("load: a call with outcome %s: %s", res, m)
		}
	}
	l.mu.Unlock()
	t.Logf("FIGURES %s: %s (%s)", scenario, f, loadNote())
	if f.ok < 20 {
		t.Errorf("only %d calls succeeded: the load did not get through", f.ok)
	}
	if res := linmodel.Check(t, ops, 2*time.Minute); res != porcupine.Ok {
		t.Errorf("the history of %d operations is not linearizable (%v)", len(ops), res)
	}
	return f
}

// loadNote is the machine's load average, to read figures against.
func loadNote() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return "load average " + strings.Join(f[:3], " ")
	}
	return "load average unknown"
}
