// Package fsperm keeps the permissions of the agents' own directories and
// state files tight: a directory or file that already exists with looser
// permission bits (say a data dir created 0755 by hand, or a state file
// left 0644 by an older version) has the extra bits removed, and the
// caller logs that it did; only a path whose bits cannot be changed (it
// belongs to another user) is refused.
package fsperm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Fixed describes a path whose permission bits were tightened.
type Fixed struct {
	Path string
	// Was and Now are the permission bits before and after.
	Was, Now fs.FileMode
}

// Dir creates dir and its missing parents with mode (subject to the
// umask, as os.MkdirAll), then makes sure dir itself grants nothing
// beyond mode: extra bits are removed and reported in fixed (nil when
// nothing changed). It fails when dir is not a directory or its bits
// cannot be changed.
func Dir(dir string, mode fs.FileMode) (fixed *Fixed, err error) {
	if err := os.MkdirAll(dir, mode); err != nil {
		return nil, err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	return tighten(dir, fi.Mode(), mode)
}

// File makes sure the existing file path grants nothing beyond mode,
// removing extra bits and reporting them in fixed (nil when nothing
// changed). A missing file is not an error: nothing is to be fixed.
func File(path string, mode fs.FileMode) (fixed *Fixed, err error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("%s is a directory", path)
	}
	return tighten(path, fi.Mode(), mode)
}

// tighten removes from path the permission bits of cur that mode does
// not grant; special bits (setgid, sticky) are kept.
func tighten(path string, cur, mode fs.FileMode) (*Fixed, error) {
	was := cur.Perm()
	if was&^mode.Perm() == 0 {
		return nil, nil
	}
	now := was & mode.Perm()
	if err := os.Chmod(path, now|cur&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
		return nil, fmt.Errorf("%s has mode %#o, looser than %#o, and cannot be changed: %w", path, was, mode.Perm(), err)
	}
	return &Fixed{Path: path, Was: was, Now: now}, nil
}
