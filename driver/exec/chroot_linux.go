package exec

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/driver/internal/isolate"
)

// spec is what the init of an isolated task sets up: its user, and a root
// with the chroot environment (read-only) and the task's directories.
func (i *isolation) spec(cfg *driver.TaskConfig) (*isolate.Spec, error) {
	name := cfg.User
	if name == "" {
		name = DefaultUser
	}
	cred, err := lookupUser(name)
	if err != nil {
		return nil, err
	}
	spec := &isolate.Spec{Root: cfg.TaskDir, UID: cred.Uid, GID: cred.Gid, Groups: cred.Groups, Dir: "/"}
	mounts, err := chrootMounts(i.chrootEnv)
	if err != nil {
		return nil, err
	}
	for _, d := range []struct{ host, in string }{
		{filepath.Join(cfg.TaskDir, "local"), driver.LocalDirInTask},
		{filepath.Join(cfg.TaskDir, "secrets"), driver.SecretsDirInTask},
		{filepath.Join(cfg.TaskDir, "tmp"), "/tmp"},
		{cfg.AllocDir, driver.AllocDirInTask},
	} {
		if d.host == "" {
			continue
		}
		fi, err := os.Lstat(d.host)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("task directory %s is not a directory (%v)", d.host, err)
		}
		mounts = append(mounts, isolate.Mount{Kind: isolate.KindDir, Source: d.host, Target: d.in})
		// The task's own directories are its user's, as Nomad's are.
		if cred.Uid != 0 && d.in != driver.AllocDirInTask && d.in != "/tmp" {
			if err := os.Lchown(d.host, int(cred.Uid), int(cred.Gid)); err != nil {
				return nil, fmt.Errorf("give %s to the task's user: %w", d.host, err)
			}
		}
	}
	for _, m := range cfg.Mounts {
		target := filepath.Clean("/" + m.TaskPath)
		if target == "/" {
			return nil, fmt.Errorf("%w: volume %s cannot be mounted at the task's root", driver.ErrInvalidConfig, m.HostPath)
		}
		fi, err := os.Stat(m.HostPath)
		if err != nil {
			return nil, fmt.Errorf("volume: %w", err)
		}
		kind := isolate.KindDir
		if !fi.IsDir() {
			kind = isolate.KindFile
		}
		mounts = append(mounts, isolate.Mount{Kind: kind, Source: m.HostPath, Target: target, ReadOnly: m.ReadOnly})
	}
	spec.Mounts = mounts
	return spec, nil
}

// chrootMounts turns a chroot environment into mounts, parents first:
// host directories and files are bound read-only, symbolic links copied
// (so /bin -> usr/bin stays a link), missing paths left out.
func chrootMounts(env map[string]string) ([]isolate.Mount, error) {
	var out []isolate.Mount
	for host, in := range env {
		if !filepath.IsAbs(host) || !filepath.IsAbs(in) {
			return nil, fmt.Errorf("%w: chroot_env %q = %q: both paths must be absolute", driver.ErrInvalidConfig, host, in)
		}
		in = filepath.Clean(in)
		if in == "/" {
			return nil, fmt.Errorf("%w: chroot_env %q cannot be mounted at the task's root", driver.ErrInvalidConfig, host)
		}
		fi, err := os.Lstat(host)
		if err != nil {
			continue
		}
		m := isolate.Mount{Source: host, Target: in, ReadOnly: true}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			if m.Source, err = os.Readlink(host); err != nil {
				continue
			}
			m.Kind, m.ReadOnly = isolate.KindSymlink, false
		case fi.IsDir():
			m.Kind = isolate.KindDir
		case fi.Mode().IsRegular():
			m.Kind = isolate.KindFile
		default:
			continue
		}
		out = append(out, m)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Target < out[b].Target })
	return out, nil
}

// lookupUser resolves a task's user: a name known to the host, a uid, or
// uid:gid.
func lookupUser(name string) (*syscall.Credential, error) {
	if uidStr, gidStr, ok := strings.Cut(name, ":"); ok {
		uid, err1 := strconv.ParseUint(uidStr, 10, 32)
		gid, err2 := strconv.ParseUint(gidStr, 10, 32)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%w: user %q: want a name, a uid or uid:gid", driver.ErrInvalidConfig, name)
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{uint32(gid)}}, nil
	}
	var u *user.User
	var err error
	if _, nerr := strconv.ParseUint(name, 10, 32); nerr == nil {
		if u, err = user.LookupId(name); err != nil {
			// A uid the host does not name runs with the same gid.
			id, _ := strconv.ParseUint(name, 10, 32)
			return &syscall.Credential{Uid: uint32(id), Gid: uint32(id), Groups: []uint32{uint32(id)}}, nil
		}
	} else if u, err = user.Lookup(name); err != nil {
		return nil, fmt.Errorf("%w: user %q: %w", driver.ErrInvalidConfig, name, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("%w: user %q has ids %s:%s", driver.ErrInvalidConfig, name, u.Uid, u.Gid)
	}
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	gids, _ := u.GroupIds()
	for _, g := range append([]string{u.Gid}, gids...) {
		if n, err := strconv.ParseUint(g, 10, 32); err == nil && !slices.Contains(cred.Groups, uint32(n)) {
			cred.Groups = append(cred.Groups, uint32(n))
		}
	}
	return cred, nil
}

// credential is who a task without isolation runs as: the client's own
// user unless the task names one, which only a client running as root
// can switch to.
func credential(name string) (*syscall.Credential, error) {
	if name == "" {
		return nil, nil
	}
	cred, err := lookupUser(name)
	if err != nil {
		return nil, err
	}
	if uint32(os.Geteuid()) == cred.Uid {
		return nil, nil
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("%w: user %q: the client does not run as root and cannot run tasks as another user",
			driver.ErrInvalidConfig, name)
	}
	return cred, nil
}
