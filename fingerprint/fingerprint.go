// Package fingerprint learns facts about a client's host: the attributes
// constraints match on, with Nomad's names (cpu.arch, kernel.name,
// unique.hostname, ...), and the resources the node offers to tasks.
//
// Builtins are the host's cpu, memory, operating system, architecture,
// control groups and network; Disk adds the volume of a data directory, and
// Static a host's own facts. A Manager keeps their latest results and runs
// the Periodic ones again on their intervals.
// The parsers behind them read Linux's /proc and /sys formats; on other
// systems some facts are missing and their fingerprinters report errors.
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
	// Name names the fingerprinter in errors.
	Name() string
	// Fingerprint returns what it found. It may return a partial Result
	// together with an error; Run keeps both.
	Fingerprint(ctx context.Context) (*Result, error)
}

// Result is what one fingerprinter found.
type Result struct {
	// Attributes join the node's attributes; a later fingerprinter's value
	// for a name replaces an earlier one's.
	Attributes map[string]string
	// Resources, where a field is positive, set the node's total of it.
	// May be nil.
	Resources *structs.Resources
}

// Builtins are the fingerprinters every client runs: cpu, memory, host
// (os.*, kernel.name, kernel.version, unique.hostname), arch (cpu.arch,
// kernel.arch), cgroup (unique.cgroup.*) and network (unique.network.ip-address,
// network.*; periodic). Disk is separate because it needs the data directory.
//
// The cpu fingerprinter offers cores × MHz of compute; when the host
// reports no frequency at all (in /proc/cpuinfo or cpufreq), as in some
// virtual machines, it assumes 1000 MHz per core, so a node never offers
// no cpu.
func Builtins() []Fingerprinter {
	return []Fingerprinter{CPU(), Memory(), Host(), Arch(), Cgroup(), Network()}
}

// Run runs every fingerprinter, in order, and merges their results. A
// fingerprinter that fails (or panics, or reports a negative resource) is
// reported in the joined error, which names it, but does not hide the
// others' results, nor its own partial result. Run stops early, reporting
// ctx's error, once ctx is done. The maps returned are never nil.
func Run(ctx context.Context, fps []Fingerprinter) (map[string]string, *structs.Resources, error) {
	attrs := map[string]string{}
	res := &structs.Resources{}
	var errs []error
	for i, fp := range fps {
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Errorf("fingerprint: %w", err))
			break
		}
		name, r, err := runOne(ctx, i, fp)
		if err != nil {
			errs = append(errs, fmt.Errorf("fingerprint %s: %w", name, err))
		}
		if r == nil {
			continue
		}
		maps.Copy(attrs, r.Attributes)
		if err := merge(res, r.Resources); err != nil {
			errs = append(errs, fmt.Errorf("fingerprint %s: %w", name, err))
		}
	}
	return attrs, res, errors.Join(errs...)
}

// runOne runs one fingerprinter, turning a panic into an error.
func runOne(ctx context.Context, i int, fp Fingerprinter) (name string, r *Result, err error) {
	name = fmt.Sprintf("#%d", i)
	defer func() {
		if p := recover(); p != nil {
			r, err = nil, fmt.Errorf("panic: %v", p)
		}
	}()
	if fp == nil {
		return name, nil, errors.New("nil fingerprinter")
	}
	if n := fp.Name(); n != "" {
		name = n
	}
	r, err = fp.Fingerprint(ctx)
	return name, r, err
}

// merge sets res's fields to the positive fields of from.
func merge(res, from *structs.Resources) error {
	if from == nil {
		return nil
	}
	var errs []error
	for _, f := range []struct {
		name     string
		dst      *int64
		from     int64
		negative bool
	}{
		{"cpu_mhz", &res.CpuMhz, from.CpuMhz, from.CpuMhz < 0},
		{"memory_mb", &res.MemoryMb, from.MemoryMb, from.MemoryMb < 0},
		{"disk_mb", &res.DiskMb, from.DiskMb, from.DiskMb < 0},
	} {
		switch {
		case f.negative:
			errs = append(errs, fmt.Errorf("negative %s %d ignored", f.name, f.from))
		case f.from > 0:
			*f.dst = f.from
		}
	}
	return errors.Join(errs...)
}

// Static returns a fingerprinter that reports fixed attributes: a host's
// own facts, such as a rack or a licence.
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
