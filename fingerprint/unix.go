//go:build unix

package fingerprint

import (
	"context"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/droverhq/drover/structs"
)

func kernelRelease() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", err
	}
	return unix.ByteSliceToString(u.Release[:]), nil
}

func machine() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", err
	}
	return unix.ByteSliceToString(u.Machine[:]), nil
}

// Disk fingerprints the volume holding dir: its free space is the disk the
// node offers to tasks.
func Disk(dir string) Fingerprinter { return diskFingerprint{dir: dir} }

type diskFingerprint struct{ dir string }

func (diskFingerprint) Name() string { return "disk" }

func (d diskFingerprint) Fingerprint(context.Context) (*Result, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(d.dir, &st); err != nil {
		return nil, err
	}
	total := st.Blocks * uint64(st.Bsize)
	free := st.Bavail * uint64(st.Bsize)
	return &Result{
		Attributes: map[string]string{
			"unique.storage.volume":     d.dir,
			"unique.storage.bytestotal": strconv.FormatUint(total, 10),
			"unique.storage.bytesfree":  strconv.FormatUint(free, 10),
		},
		Resources: &structs.Resources{DiskMb: int64(free / (1 << 20))},
	}, nil
}
