package client

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/droverhq/drover/internal/safepath"
	"github.com/droverhq/drover/structs"
)

// Sticky ephemeral disks. When a group's ephemeral_disk is sticky, the
// scheduler places an allocation's replacement on the same node when it
// can; the replacement's runner then waits for the previous allocation's
// tasks to end and moves its alloc/data and each task's local/ into its
// own directory before any task starts. A replacement on another node
// starts empty (migrate is refused by the servers).

// takeStickyData moves the previous allocation's data into this one's
// directory; it does nothing when the group's disk is not sticky or the
// previous allocation is not on this client.
func (r *allocRunner) takeStickyData(ctx context.Context, a *structs.Allocation, tg *structs.TaskGroup) {
	if !tg.GetEphemeralDisk().GetSticky() || a.PreviousAllocation == "" {
		return
	}
	prev, err := r.c.allocRunner(a.PreviousAllocation)
	if err != nil || prev.dir == "" {
		return
	}
	select {
	case <-prev.done:
	case <-r.stopCh:
		return
	case <-ctx.Done():
		return
	}
	moves := [][2]string{{"alloc/data", "alloc/data"}}
	for _, t := range tg.Tasks {
		if structs.CheckPathName(t.Name) == nil && t.Name != structs.ReservedTaskName {
			moves = append(moves, [2]string{t.Name + "/local", t.Name + "/local"})
		}
	}
	for _, m := range moves {
		from, err := safepath.Join(prev.dir, m[0])
		if err != nil {
			continue
		}
		to, err := safepath.Join(r.dir, m[1])
		if err != nil {
			continue
		}
		if _, err := os.Lstat(from); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(to), allocDirMode); err != nil {
			r.c.logger.Warn("sticky disk: preparing the new directory", "alloc", a.Id, "error", err)
			continue
		}
		// The new directory is empty yet: it gives way to the old one.
		_ = os.Remove(to)
		if err := os.Rename(from, to); err != nil {
			r.c.logger.Warn("sticky disk: moving the previous allocation's data", "alloc", a.Id, "from", from, "error", err)
			continue
		}
		r.c.logger.Info("sticky disk: took over the previous allocation's data", "alloc", a.Id, "previous", prev.current().Id, "dir", m[1])
	}
}
