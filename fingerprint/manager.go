package fingerprint

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/droverhq/drover/structs"
)

// Periodic is implemented by a Fingerprinter whose facts change while the
// client runs (network, a host's own dynamic facts): a Manager runs it
// again every Interval. Interval <= 0 means never again.
type Periodic interface {
	Interval() time.Duration
}

// Manager keeps the latest result of each of a client's fingerprinters:
// RunAll runs every one, RunDue the periodic ones whose interval has
// passed, and Facts merges the latest results in order, as Run does. It
// starts no goroutines and reads no clock: its caller says what time it is.
type Manager struct {
	fps     []Fingerprinter
	results []*Result
	next    []time.Time // zero: not periodic
}

// NewManager returns a manager of fps, none run yet.
func NewManager(fps []Fingerprinter) *Manager {
	return &Manager{fps: fps, results: make([]*Result, len(fps)), next: make([]time.Time, len(fps))}
}

// RunAll runs every fingerprinter at now. Errors are joined, each naming
// its fingerprinter; results are kept as Run keeps them.
func (m *Manager) RunAll(ctx context.Context, now time.Time) error {
	var errs []error
	for i := range m.fps {
		errs = append(errs, m.runAt(ctx, i, now, true))
	}
	return errors.Join(errs...)
}

// RunDue runs the periodic fingerprinters due at now and reports whether
// the merged facts changed. A periodic fingerprinter that fails without a
// result keeps its previous one: a passing error does not drop facts.
func (m *Manager) RunDue(ctx context.Context, now time.Time) (changed bool, err error) {
	before, beforeRes := m.Facts()
	var errs []error
	for i := range m.fps {
		if !m.next[i].IsZero() && !now.Before(m.next[i]) {
			errs = append(errs, m.runAt(ctx, i, now, false))
		}
	}
	after, afterRes := m.Facts()
	changed = !maps.Equal(before, after) || beforeRes.CpuMhz != afterRes.CpuMhz ||
		beforeRes.MemoryMb != afterRes.MemoryMb || beforeRes.DiskMb != afterRes.DiskMb
	return changed, errors.Join(errs...)
}

func (m *Manager) runAt(ctx context.Context, i int, now time.Time, first bool) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fingerprint: %w", err)
	}
	name, r, err := runOne(ctx, i, m.fps[i])
	if r != nil {
		err = errors.Join(err, merge(&structs.Resources{}, r.Resources))
	}
	if r != nil || first {
		m.results[i] = r
	}
	m.next[i] = time.Time{}
	if p, ok := m.fps[i].(Periodic); ok {
		if d := p.Interval(); d > 0 {
			m.next[i] = now.Add(d)
		}
	}
	if err != nil {
		return fmt.Errorf("fingerprint %s: %w", name, err)
	}
	return nil
}

// Due returns when the next periodic fingerprinter is due, and false when
// no fingerprinter is periodic.
func (m *Manager) Due() (time.Time, bool) {
	var due time.Time
	for _, t := range m.next {
		if !t.IsZero() && (due.IsZero() || t.Before(due)) {
			due = t
		}
	}
	return due, !due.IsZero()
}

// Facts merges the latest results: later fingerprinters' attributes win,
// positive resources replace earlier ones. The maps are the caller's.
func (m *Manager) Facts() (map[string]string, *structs.Resources) {
	attrs := map[string]string{}
	res := &structs.Resources{}
	for _, r := range m.results {
		if r == nil {
			continue
		}
		maps.Copy(attrs, r.Attributes)
		_ = merge(res, r.Resources) // negative values were reported when the result came in
	}
	return attrs, res
}
