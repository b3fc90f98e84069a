// Package linmodel is the model the linearizability checks share: each job
// id is a register holding the value a client last wrote into the job (a
// meta key), or nothing once the job is deregistered. Clients register
// (create or update), deregister and read jobs; a History records what
// they saw, with invocation and response times, and Check runs porcupine
// over it. The in-process check (linearizability_test.go at the module
// root) and the multi-host fault suite (internal/testing/multihost) both
// use it.
package linmodel

import (
	"fmt"

	"github.com/anishathalye/porcupine"
)

// Kind is what an operation does.
type Kind int

const (
	// Register creates the job or updates it with a new value.
	Register Kind = iota
	// Deregister removes the job (purged).
	Deregister
	// Read reads the job's value.
	Read
)

// Input is what a client asked.
type Input struct {
	Kind Kind
	// Key is the job id.
	Key string
	// Value is what a Register writes.
	Value string
}

// Output is what a client saw.
type Output struct {
	// Value is what a Read saw; "" means no such job.
	Value string
	// NotFound says a Deregister found no job.
	NotFound bool
	// Unknown says the call failed in a way that leaves open whether it
	// took effect: it may take effect at any later time, or never.
	Unknown bool
}

// Model is a register per job id: its value, or "" when absent.
var Model = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(Input).Key
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
		st, in, out := state.(string), input.(Input), output.(Output)
		switch in.Kind {
		case Register:
			return true, in.Value
		case Deregister:
			switch {
			case out.Unknown:
				return true, ""
			case out.NotFound:
				return st == "", st
			default:
				return st != "", ""
			}
		default: // Read
			return out.Value == st, st
		}
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(Input), output.(Output)
		switch in.Kind {
		case Register:
			return fmt.Sprintf("register(%s=%s) unknown=%v", in.Key, in.Value, out.Unknown)
		case Deregister:
			return fmt.Sprintf("deregister(%s) notFound=%v unknown=%v", in.Key, out.NotFound, out.Unknown)
		}
		return fmt.Sprintf("read(%s) -> %q", in.Key, out.Value)
	},
}
