package client

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/structs"
)

// Host volumes. A client advertises its host volumes in its node (the
// scheduler places a group that asks for a host volume only on a node
// that has it, writable unless the group mounts it read-only); the volume
// hook turns a task's volume_mount blocks into driver mounts: the node's
// directory, where the task sees it, and read-only when the node's
// volume, the group's volume block or the mount says so. Drivers mount
// them their own way (see driver.Mount).

// checkHostVolumes refuses host volumes whose names or paths are unusable.
func checkHostVolumes(vols map[string]HostVolume) error {
	for name, v := range vols {
		if name == "" || strings.ContainsAny(name, "\x00/") {
			return fmt.Errorf("host volume %s: the name may not be empty or hold '/'", structs.Quote(name))
		}
		if !filepath.IsAbs(v.Path) {
			return fmt.Errorf("host volume %s: path %s must be absolute", structs.Quote(name), structs.Quote(v.Path))
		}
		fi, err := os.Stat(v.Path)
		if err != nil {
			return fmt.Errorf("host volume %s: %w", structs.Quote(name), err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("host volume %s: %s is not a directory", structs.Quote(name), v.Path)
		}
	}
	return nil
}

// volumeHook sets the task's mounts from its volume_mount blocks.
type volumeHook struct{}

func (volumeHook) name() string { return "volumes" }

func (volumeHook) prestart(_ context.Context, t *taskRunner, cfg *driver.TaskConfig) error {
	cfg.Mounts = nil
	for i, m := range t.task.GetVolumeMounts() {
		req := t.tg.GetVolumes()[m.GetVolume()]
		if req == nil {
			return &hookError{event: structs.TaskEventSetupFailure, err: fmt.Errorf("volume_mount %d: the group has no volume %s", i, structs.Quote(m.GetVolume()))}
		}
		hv, ok := t.ar.c.cfg.HostVolumes[req.Source]
		if req.Type != structs.VolumeTypeHost || !ok {
			return &hookError{event: structs.TaskEventSetupFailure, err: fmt.Errorf("volume %s: this node has no host volume %s", structs.Quote(m.GetVolume()), structs.Quote(req.Source))}
		}
		dest := t.vars.String(m.Destination)
		if dest == "" || strings.ContainsRune(dest, 0) {
			return &hookError{event: structs.TaskEventSetupFailure, err: fmt.Errorf("volume_mount %d: destination %s", i, structs.Quote(dest))}
		}
		cfg.Mounts = append(cfg.Mounts, driver.Mount{
			HostPath: hv.Path, TaskPath: dest, ReadOnly: hv.ReadOnly || req.ReadOnly || m.ReadOnly,
		})
	}
	return nil
}
