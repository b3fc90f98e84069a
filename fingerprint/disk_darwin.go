package fingerprint

import "golang.org/x/sys/unix"

// diskUsage statfs's the volume holding dir.
func diskUsage(dir string) (usage, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return usage{}, err
	}
	bs := uint64(st.Bsize)
	return usage{total: st.Blocks * bs, free: st.Bavail * bs}, nil
}

// volumeOf is the device mounted where dir is.
func volumeOf(dir string) string {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return ""
	}
	return unix.ByteSliceToString(st.Mntfromname[:])
}
