package linmodel

import (
	"fmt"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// never is the response time of an operation whose outcome is unknown:
// later than anything else, so porcupine may place its effect anywhere
// after its invocation, or nowhere.
const never = int64(1) << 62

// History records operations from concurrent clients. The zero value is
// not ready: use NewHistory.
type History struct {
	start time.Time
	mu    sync.Mutex
	ops   []porcupine.Operation
}

// NewHistory starts an empty history; times are recorded relative to now.
func NewHistory() *History { return &History{start: time.Now()} }

// Record adds one operation of client, invoked at call and answered at
// ret. An Unknown outcome is recorded as never answered.
func (h *History) Record(client int, in Input, call, ret time.Time, out Output) {
	h.mu.Lock()
	defer h.mu.Unlock()
	op := h.Operation(client, in, call, ret, out)
	if out.Unknown {
		op.Return += int64(len(h.ops))
	}
	h.ops = append(h.ops, op)
}

// Operation is the operation Record would record, without recording it:
// for a history doctored on purpose.
func (h *History) Operation(client int, in Input, call, ret time.Time, out Output) porcupine.Operation {
	r := ret.Sub(h.start).Nanoseconds()
	if out.Unknown {
		r = never
	}
	return porcupine.Operation{
		ClientId: client, Input: in, Output: out,
		Call: call.Sub(h.start).Nanoseconds(), Return: r,
	}
}

// Operations is a copy of what was recorded so far.
func (h *History) Operations() []porcupine.Operation {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]porcupine.Operation(nil), h.ops...)
}

// Check runs porcupine over ops within timeout. On anything but Ok it
// logs the operations around the first point the history stops being
// linearizable and writes porcupine's visualization to a temporary file.
func Check(t testing.TB, ops []porcupine.Operation, timeout time.Duration) porcupine.CheckResult {
	t.Helper()
	res, info := porcupine.CheckOperationsVerbose(Model, ops, timeout)
	if res == porcupine.Ok {
		return res
	}
	for _, part := range Model.Partition(ops) {
		if !porcupine.CheckOperations(Model, part) {
			logViolation(t, part)
			break
		}
	}
	if f, err := os.CreateTemp("", "drover-linearizability-*.html"); err == nil {
		_ = porcupine.Visualize(Model, info, f)
		_ = f.Close()
		t.Logf("visualization: %s", f.Name())
	}
	return res
}

// logViolation logs the operations around the first point in time at which
// a partition's history stops being linearizable.
func logViolation(t testing.TB, part []porcupine.Operation) {
	t.Helper()
	sort.Slice(part, func(i, j int) bool { return part[i].Call < part[j].Call })
	upTo := func(end int64) []porcupine.Operation {
		var out []porcupine.Operation
		for _, op := range part {
			switch {
			case op.Return <= end:
				out = append(out, op)
			case op.Call <= end && op.Input.(Input).Kind != Read:
				op.Output, op.Return = Output{Unknown: true}, never
				out = append(out, op)
			}
		}
		return out
	}
	lo, hi := int64(0), part[len(part)-1].Call+1
	for hi-lo > 1000 {
		mid := lo + (hi-lo)/2
		if porcupine.CheckOperations(Model, upTo(mid)) {
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
		if op.Return < never {
			ret = fmt.Sprintf("%.3f", float64(op.Return)/1e6)
		}
		t.Logf("  c%d [%.3f, %s] %s", op.ClientId, float64(op.Call)/1e6, ret, Model.DescribeOperation(op.Input, op.Output))
	}
}

// Durable checks that the final state of every key (final[key], "" for
// no job) keeps what was acknowledged: it must be the value of a write
// (a register, or "" for a deregister) that no acknowledged write
// superseded, that is one that had not returned before an acknowledged
// write on the key was invoked. Writes with an unknown outcome count as
// possible; failed ones are not in the history. In particular a key whose
// last acknowledged write is a register must still hold a job. It returns
// one error per key that breaks this.
func Durable(ops []porcupine.Operation, final map[string]string) []error {
	type write struct {
		value     string
		call, ret int64
		acked     bool
	}
	writes := map[string][]write{}
	for _, op := range ops {
		in, out := op.Input.(Input), op.Output.(Output)
		switch in.Kind {
		case Register:
			writes[in.Key] = append(writes[in.Key], write{in.Value, op.Call, op.Return, !out.Unknown})
		case Deregister:
			if !out.NotFound {
				writes[in.Key] = append(writes[in.Key], write{"", op.Call, op.Return, !out.Unknown})
			}
		}
	}
	var errs []error
	keys := make([]string, 0, len(final))
	for k := range final {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ws := writes[k]
		if len(ws) == 0 {
			if final[k] != "" {
				errs = append(errs, fmt.Errorf("%s holds %q, which nobody wrote", k, final[k]))
			}
			continue
		}
		var possible []string
		for _, w := range ws {
			superseded := false
			for _, v := range ws {
				if v.acked && v.call > w.ret {
					superseded = true
					break
				}
			}
			if !superseded {
				possible = append(possible, w.value)
			}
		}
		ok := false
		for _, v := range possible {
			if v == final[k] {
				ok = true
				break
			}
		}
		if !ok {
			errs = append(errs, fmt.Errorf("%s holds %q after the faults healed; the last writes leave only %q possible", k, final[k], possible))
		}
	}
	return errs
}
