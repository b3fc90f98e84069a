package broker

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/droverhq/drover/clock"
	"github.com/droverhq/drover/structs"
)

// TestBrokerTranscripts drives a broker and a blocked set on a fake clock.
//
//	enqueue id=e1 job=a [prio=50] [type=service] [wait=10s]
//	dequeue [types=service,batch]   take the best ready evaluation, if any
//	ack id=e1 | nack id=e1          with the token of its last delivery
//	pin job=a | unpin job=a id=e1
//	pause | resume
//	advance 2s                      step the clock; timers due fire
//	stats | cancelable
//	block id=e1 job=a [snapshot=5] [modify=5] [eligible=c1] [ineligible=c2] [escaped]
//	unblock index=7 classes=c1,c2   a capacity change; prints what wakes
func TestBrokerTranscripts(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		w := newBrokerWorld()
		defer w.b.SetEnabled(false)
		datadriven.RunTest(t, path, w.run)
	})
}

type brokerWorld struct {
	clock   *clock.Fake
	b       *Broker
	blocked *Blocked
	tokens  map[string]string
	failed  []string
}

func newBrokerWorld() *brokerWorld {
	w := &brokerWorld{clock: clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), tokens: map[string]string{}}
	w.b = New(Config{DeliveryLimit: 2, NackDelay: time.Second, CoreType: "_core", Clock: w.clock,
		OnFailed: func(e *structs.Evaluation) { w.failed = append(w.failed, e.Id) }})
	w.b.SetEnabled(true)
	w.blocked = NewBlocked()
	w.blocked.SetEnabled(true, 0)
	return w
}

func (w *brokerWorld) run(t *testing.T, d *datadriven.TestData) string {
	str := func(key, def string) string {
		if !d.HasArg(key) {
			return def
		}
		var v string
		d.ScanArgs(t, key, &v)
		return v
	}
	num := func(key string, def int) int {
		if !d.HasArg(key) {
			return def
		}
		var v int
		d.ScanArgs(t, key, &v)
		return v
	}
	switch d.Cmd {
	case "enqueue":
		e := &structs.Evaluation{Id: str("id", ""), Namespace: "default", JobId: str("job", ""),
			Priority: int32(num("prio", 50)), Type: str("type", "service"), Status: "pending"}
		if wait := str("wait", ""); wait != "" {
			dur, err := time.ParseDuration(wait)
			if err != nil {
				t.Fatal(err)
			}
			e.WaitUntil = w.clock.Now().Add(dur).UnixNano()
		}
		w.b.Enqueue(e)
		return ""
	case "dequeue":
		types := map[string]bool{}
		for _, ty := range strings.Split(str("types", "service,batch,system,sysbatch,_core"), ",") {
			types[ty] = true
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // take what is ready now, wait for nothing
		e, tok, err := w.b.Dequeue(ctx, types)
		if err != nil {
			return "nothing ready\n"
		}
		w.tokens[e.Id] = tok
		return fmt.Sprintf("%s (job %s, delivery %s)\n", e.Id, e.JobId, strings.SplitN(strings.TrimPrefix(tok, e.Id+"/"), "/", 2)[0])
	case "ack", "nack":
		id := str("id", "")
		var err error
		if d.Cmd == "ack" {
			err = w.b.Ack(id, w.tokens[id])
		} else {
			err = w.b.Nack(id, w.tokens[id])
		}
		if err != nil {
			return fmt.Sprintf("error: %v\n", err)
		}
		if len(w.failed) > 0 {
			out := fmt.Sprintf("failed: %v\n", w.failed)
			w.failed = nil
			return out
		}
		return ""
	case "pin":
		id, ok := w.b.Pin("default", str("job", ""))
		if !ok {
			return "not pinned\n"
		}
		return fmt.Sprintf("pinned %s\n", id)
	case "unpin":
		w.b.Unpin("default", str("job", ""), str("id", ""))
		return ""
	case "pause", "resume":
		w.b.SetPaused(d.Cmd == "pause")
		return ""
	case "advance":
		dur, err := time.ParseDuration(d.CmdArgs[0].Key)
		if err != nil {
			t.Fatal(err)
		}
		w.clock.Advance(dur)
		w.clock.Wait()
		return ""
	case "stats":
		s := w.b.Stats()
		return fmt.Sprintf("ready=%d unacked=%d waiting=%d delayed=%d folded=%d cancelable=%d blocked=%d\n",
			s.Ready, s.Unacked, s.Waiting, s.Delayed, s.Folded, s.Cancelable, w.blocked.Count())
	case "cancelable":
		var ids []string
		for _, e := range w.b.TakeCancelable(100) {
			ids = append(ids, e.Id)
		}
		return fmt.Sprintf("%v\n", ids)
	case "block":
		e := &structs.Evaluation{Id: str("id", ""), Namespace: "default", JobId: str("job", ""),
			SnapshotIndex: uint64(num("snapshot", 0)), ModifyIndex: uint64(num("modify", 0)),
			EscapedComputedClass: d.HasArg("escaped"), ClassEligibility: map[string]bool{}}
		for _, c := range strings.Split(str("eligible", ""), ",") {
			if c != "" {
				e.ClassEligibility[c] = true
			}
		}
		for _, c := range strings.Split(str("ineligible", ""), ",") {
			if c != "" {
				e.ClassEligibility[c] = false
			}
		}
		if !w.blocked.Block(e) {
			return "retry now: a capacity change it did not see may help it\n"
		}
		return "parked\n"
	case "unblock":
		classes := map[string]bool{}
		for _, c := range strings.Split(str("classes", ""), ",") {
			classes[c] = true
		}
		var ids []string
		for _, e := range w.blocked.Unblock(uint64(num("index", 0)), classes) {
			ids = append(ids, e.Id)
		}
		slices.Sort(ids)
		return fmt.Sprintf("woken: %v\n", ids)
	}
	t.Fatalf("unknown command %q", d.Cmd)
	return ""
}
