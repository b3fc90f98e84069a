package fingerprint

import (
	"context"

	"github.com/droverhq/drover/internal/cgroup"
)

// Cgroup fingerprints the host's control groups with Nomad's attributes:
// unique.cgroup.version ("v2" when the unified hierarchy is mounted at
// /sys/fs/cgroup, "v1" when legacy hierarchies are, hybrid hosts
// included) and unique.cgroup.mountpoint. A host without control groups
// reports neither. Whether the exec driver can use them for limits is its
// own fingerprint's business (driver.exec.limits).
func Cgroup() Fingerprinter { return cgroupFingerprint{} }

type cgroupFingerprint struct{}

func (cgroupFingerprint) Name() string { return "cgroup" }

func (cgroupFingerprint) Fingerprint(context.Context) (*Result, error) {
	m := cgroup.Detect()
	attrs := map[string]string{}
	if m.Version != "" {
		attrs["unique.cgroup.version"] = m.Version
		attrs["unique.cgroup.mountpoint"] = m.Mountpoint
	}
	return &Result{Attributes: attrs}, nil
}
