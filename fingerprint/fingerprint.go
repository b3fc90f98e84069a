// Package fingerprint learns facts about a client's host: attributes that
// constraints match on (with Nomad's names, such as cpu.arch and
// kernel.name) and the resources the node offers.
package fingerprint

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/droverhq/drover/structs"
)

// Fingerprinter learns some facts about the host.
type Fingerprinter interface {
	Name() string
	Fingerprint(ctx context.Context) (*Result, error)
}

// Result is what one fingerprinter found.
type Result struct {
	// Attributes join the node's attributes.
	Attributes map[string]string
	// Resources, where a field is non-zero, set the node's total of it.
	Resources *structs.Resources
}

// Builtins are the fingerprinters every client runs: cpu, memory, host and arch.
func Builtins() []Fingerprinter {
	return []Fingerprinter{cpuFingerprint{}, memoryFingerprint{}, hostFingerprint{}, archFingerprint{}}
}

// Run runs every fingerprinter and merges their results, later ones
// overriding earlier ones. A failing fingerprinter is reported in the joined
// error but does not hide the others' results.
func Run(ctx context.Context, fps []Fingerprinter) (map[string]string, *structs.Resources, error) {
	attrs := map[string]string{}
	res := &structs.Resources{}
	var errs []error
	for _, fp := range fps {
		r, err := fp.Fingerprint(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("fingerprint %s: %w", fp.Name(), err))
		}
		if r == nil {
			continue
		}
		maps.Copy(attrs, r.Attributes)
		if rr := r.Resources; rr != nil {
			if rr.CpuMhz != 0 {
				res.CpuMhz = rr.CpuMhz
			}
			if rr.MemoryMb != 0 {
				res.MemoryMb = rr.MemoryMb
			}
			if rr.DiskMb != 0 {
				res.DiskMb = rr.DiskMb
			}
		}
	}
	return attrs, res, errors.Join(errs...)
}

// Static returns a fingerprinter that reports fixed attributes: a host's
// own facts, such as a license count or a rack.
func Static(name string, attrs map[string]string) Fingerprinter {
	return staticFingerprint{name: name, attrs: maps.Clone(attrs)}
}

type staticFingerprint struct {
	name  string
	attrs map[string]string
}

func (s staticFingerprint) Name() string { return s.name }
func (s staticFingerprint) Fingerprint(context.Context) (*Result, error) {
	return &Result{Attributes: maps.Clone(s.attrs)}, nil
}
