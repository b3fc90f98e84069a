package fingerprint

import (
	"context"
	"fmt"
	"strconv"

	"github.com/droverhq/drover/structs"
)

// Disk fingerprints the volume holding dir, the client's data directory:
// unique.storage.volume (the device mounted there, or dir when it cannot
// be told), unique.storage.bytestotal and unique.storage.bytesfree (what
// an unprivileged user may still write), and the node's disk_mb, its free
// space.
func Disk(dir string) Fingerprinter { return diskFingerprint{dir: dir} }

type diskFingerprint struct{ dir string }

func (diskFingerprint) Name() string { return "disk" }

func (d diskFingerprint) Fingerprint(context.Context) (*Result, error) {
	if d.dir == "" {
		return nil, fmt.Errorf("no directory to fingerprint")
	}
	u, err := diskUsage(d.dir)
	if err != nil {
		return nil, fmt.Errorf("statfs %s: %w", d.dir, err)
	}
	volume := volumeOf(d.dir)
	if volume == "" {
		volume = d.dir
	}
	return &Result{
		Attributes: map[string]string{
			"unique.storage.volume":     volume,
			"unique.storage.bytestotal": strconv.FormatUint(u.total, 10),
			"unique.storage.bytesfree":  strconv.FormatUint(u.free, 10),
		},
		Resources: &structs.Resources{DiskMb: int64(min(u.free>>20, 1<<62))},
	}, nil
}

// usage is a volume's size and free space in bytes.
type usage struct{ total, free uint64 }
