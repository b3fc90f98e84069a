package linmodel

import (
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// at builds an operation from millisecond times; ret < 0 is unknown.
func at(client int, in Input, call, ret int64, out Output) porcupine.Operation {
	r := ret * 1e6
	if ret < 0 {
		r = never
	}
	return porcupine.Operation{ClientId: client, Input: in, Output: out, Call: call * 1e6, Return: r}
}

func reg(k, v string) Input { return Input{Kind: Register, Key: k, Value: v} }
func dereg(k string) Input  { return Input{Kind: Deregister, Key: k} }
func read(k string) Input   { return Input{Kind: Read, Key: k} }

// A history that is fine: overlapping writes, an unknown write, reads
// that see either order.
var good = []porcupine.Operation{
	at(0, reg("a", "1"), 0, 10, Output{}),
	at(1, read("a"), 12, 14, Output{Value: "1"}),
	at(0, reg("a", "2"), 20, 30, Output{}),
	at(1, reg("a", "3"), 22, -1, Output{Unknown: true}),
	at(2, read("a"), 31, 33, Output{Value: "2"}),
	at(2, read("a"), 40, 42, Output{Value: "3"}),
	at(0, dereg("a"), 50, 55, Output{}),
	at(1, read("a"), 56, 57, Output{Value: ""}),
	at(1, dereg("a"), 58, 59, Output{NotFound: true}),
	at(0, reg("b", "x"), 0, 5, Output{}),
}

func TestModelAcceptsALinearizableHistory(t *testing.T) {
	if res := Check(t, good, 10*time.Second); res != porcupine.Ok {
		t.Fatalf("porcupine says %v for a linearizable history", res)
	}
}

// A read served from a follower that had not yet applied an acknowledged
// write (a stale read passed off as a consistent one) is caught.
func TestModelCatchesAStaleRead(t *testing.T) {
	bad := append(append([]porcupine.Operation(nil), good...),
		// After "2" was acknowledged (30 ms) and read back (33 ms), a
		// read starting at 35 ms sees "1" again.
		at(3, read("a"), 35, 36, Output{Value: "1"}))
	if res := porcupine.CheckOperations(Model, bad); res {
		t.Fatal("porcupine accepted a read of a value overwritten before the read began")
	}
}

// A deregistration reported done that did not happen is caught.
func TestModelCatchesALostDeregistration(t *testing.T) {
	bad := []porcupine.Operation{
		at(0, reg("a", "1"), 0, 10, Output{}),
		at(0, dereg("a"), 11, 12, Output{}),
		at(1, read("a"), 13, 14, Output{Value: "1"}),
	}
	if porcupine.CheckOperations(Model, bad) {
		t.Fatal("porcupine accepted a read of a job acknowledged deregistered")
	}
}

func TestDurable(t *testing.T) {
	ops := []porcupine.Operation{
		at(0, reg("a", "1"), 0, 10, Output{}),
		at(0, reg("a", "2"), 20, 30, Output{}),
		at(1, reg("a", "3"), 25, -1, Output{Unknown: true}),
		at(0, reg("b", "1"), 0, 10, Output{}),
		at(0, dereg("b"), 20, 30, Output{}),
		at(0, reg("c", "1"), 0, 10, Output{}),
		at(1, dereg("c"), 5, 15, Output{}),
	}
	cases := []struct {
		final map[string]string
		bad   int
	}{
		{map[string]string{"a": "2", "b": "", "c": "1"}, 0},
		{map[string]string{"a": "3", "b": "", "c": ""}, 0},
		// An acknowledged registration lost.
		{map[string]string{"a": "", "b": "", "c": "1"}, 1},
		// An overwritten value back; a deregistered job back.
		{map[string]string{"a": "1", "b": "1", "c": "1"}, 2},
		// A job nobody wrote.
		{map[string]string{"a": "2", "b": "", "c": "1", "d": "z"}, 1},
	}
	for i, c := range cases {
		if errs := Durable(ops, c.final); len(errs) != c.bad {
			t.Errorf("case %d: %d errors %v, want %d", i, len(errs), errs, c.bad)
		}
	}
}
