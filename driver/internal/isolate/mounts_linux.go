package isolate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// devices are bound from the host's /dev into the task's.
var devices = []string{"null", "zero", "full", "random", "urandom", "tty"}

// setUp builds the task's root and enters it. It runs in the init, as
// root of new mount and PID namespaces, before the task starts.
func setUp(spec *Spec) error {
	if !filepath.IsAbs(spec.Root) {
		return fmt.Errorf("task init: root %q is not absolute", spec.Root)
	}
	// Nothing mounted from here on may propagate to the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("task init: make mounts private: %w", err)
	}
	// The sources may lie under the root, which the tmpfs is about to
	// hide: hold them open and bind them from their descriptors.
	fds := make([]int, len(spec.Mounts))
	for i, m := range spec.Mounts {
		fds[i] = -1
		if m.Kind == KindSymlink {
			continue
		}
		fd, err := unix.Open(m.Source, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			closeAll(fds)
			return fmt.Errorf("task init: open %s: %w", m.Source, err)
		}
		fds[i] = fd
	}
	defer closeAll(fds)

	root := spec.Root
	if err := unix.Mount("tmpfs", root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755,size=1m"); err != nil {
		return fmt.Errorf("task init: mount the task's root: %w", err)
	}
	for i, m := range spec.Mounts {
		if err := mountOne(root, m, fds[i]); err != nil {
			return err
		}
	}
	if err := mountDev(root); err != nil {
		return err
	}
	if err := mkdir(root, "/proc"); err != nil {
		return err
	}
	if err := unix.Mount("proc", filepath.Join(root, "proc"), "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("task init: mount /proc: %w", err)
	}
	if err := unix.Mount("", root, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		return fmt.Errorf("task init: make the root read-only: %w", err)
	}
	for _, f := range spec.CgroupProcs {
		if err := os.WriteFile(f, []byte("0"), 0); err != nil {
			return fmt.Errorf("task init: join cgroup %s: %w", filepath.Dir(f), err)
		}
	}
	return pivot(root)
}

// mountOne makes one entry of the task's root.
func mountOne(root string, m Mount, fd int) error {
	target := filepath.Join(root, filepath.Clean("/"+m.Target))
	if err := mkdir(root, filepath.Dir(filepath.Clean("/"+m.Target))); err != nil {
		return err
	}
	switch m.Kind {
	case KindSymlink:
		if err := os.Symlink(m.Source, target); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("task init: link %s: %w", m.Target, err)
		}
		return nil
	case KindDir:
		if err := os.Mkdir(target, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("task init: %w", err)
		}
	case KindFile:
		f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return fmt.Errorf("task init: %w", err)
		}
		f.Close()
	default:
		return fmt.Errorf("task init: unknown mount kind %q", m.Kind)
	}
	src := "/proc/self/fd/" + strconv.Itoa(fd)
	if err := unix.Mount(src, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("task init: bind %s at %s: %w", m.Source, m.Target, err)
	}
	if err := restrict(target, m.ReadOnly); err != nil {
		return fmt.Errorf("task init: restrict %s: %w", m.Target, err)
	}
	return nil
}

// restrict makes a bind mount and its submounts nosuid and nodev, and
// read-only if asked: in one call where the kernel has mount_setattr
// (5.12), else the top mount alone.
func restrict(target string, readOnly bool) error {
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
	flags := uintptr(unix.MS_REMOUNT | unix.MS_BIND | unix.MS_NOSUID | unix.MS_NODEV)
	if readOnly {
		attr.Attr_set |= unix.MOUNT_ATTR_RDONLY
		flags |= unix.MS_RDONLY
	}
	err := unix.MountSetattr(-1, target, unix.AT_RECURSIVE, attr)
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.ENOSYS) {
		return err
	}
	return unix.Mount("", target, "", flags, "")
}

// mountDev gives the task a /dev of its own: a tmpfs with the host's
// harmless devices bound in, the usual links and a /dev/shm of its IPC
// namespace.
func mountDev(root string) error {
	dev := filepath.Join(root, "dev")
	if err := mkdir(root, "/dev"); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", dev, "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=0755,size=64k"); err != nil {
		return fmt.Errorf("task init: mount /dev: %w", err)
	}
	for _, d := range devices {
		target := filepath.Join(dev, d)
		f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY, 0o666)
		if err != nil {
			return fmt.Errorf("task init: %w", err)
		}
		f.Close()
		if err := unix.Mount("/dev/"+d, target, "", unix.MS_BIND, ""); err != nil {
			// A host without the device (no tty) leaves the task without it.
			os.Remove(target)
		}
	}
	for name, to := range map[string]string{
		"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2",
	} {
		if err := os.Symlink(to, filepath.Join(dev, name)); err != nil {
			return fmt.Errorf("task init: %w", err)
		}
	}
	shm := filepath.Join(dev, "shm")
	if err := os.Mkdir(shm, 0o755); err != nil {
		return fmt.Errorf("task init: %w", err)
	}
	if err := unix.Mount("shm", shm, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777,size=64m"); err != nil {
		return fmt.Errorf("task init: mount /dev/shm: %w", err)
	}
	// No device nodes but these: /dev itself is read-only.
	if err := unix.Mount("", dev, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("task init: make /dev read-only: %w", err)
	}
	return nil
}

// pivot makes root the root of the mount namespace and detaches the old
// one, so nothing of the host is reachable through it.
func pivot(root string) error {
	if err := unix.Chdir(root); err != nil {
		return fmt.Errorf("task init: %w", err)
	}
	// pivot_root(".", ".") stacks the old root on the new one; detaching
	// it leaves the new root alone (no directory for the old one needed).
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("task init: pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("task init: detach the host's root: %w", err)
	}
	return unix.Chdir("/")
}

// mkdir creates dir (a path inside the root) and its parents.
func mkdir(root, dir string) error {
	if err := os.MkdirAll(filepath.Join(root, filepath.Clean("/"+dir)), 0o755); err != nil {
		return fmt.Errorf("task init: %w", err)
	}
	return nil
}

func closeAll(fds []int) {
	for i, fd := range fds {
		if fd >= 0 {
			unix.Close(fd)
			fds[i] = -1
		}
	}
}
