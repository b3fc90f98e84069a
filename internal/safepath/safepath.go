// Package safepath joins names that come from outside (job and task
// names, allocation ids, artifact destinations) to a trusted base
// directory, and refuses any result that would lead outside it: through
// ".." components, an absolute name, a NUL byte, or a symbolic link
// already on disk that resolves outside the base. Every path the client
// builds from a name the servers sent goes through Join or JoinName.
//
// The check is made when the path is built; a directory that a task can
// write to could still be changed afterwards, so callers check again
// before each use that creates files.
package safepath

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/droverhq/drover/structs"
)

// ErrUnsafePath is what every *Error matches with errors.Is.
var ErrUnsafePath = errors.New("unsafe path")

// Error says why a path was refused.
type Error struct {
	// Base is the directory the path had to stay in.
	Base string
	// Path is the name or relative path asked for.
	Path string
	// Reason says what is wrong with it.
	Reason string
}

// Error quotes a bounded prefix of the refused path.
func (e *Error) Error() string {
	return fmt.Sprintf("unsafe path %s under %s: %s", structs.Quote(e.Path), e.Base, e.Reason)
}

// Is makes errors.Is(err, ErrUnsafePath) true.
func (e *Error) Is(target error) bool { return target == ErrUnsafePath }

// Join joins the relative path elems to base and returns the cleaned
// result, or an *Error when the result would not be inside base: an
// element is absolute or holds NUL, the elements climb above base once
// cleaned, or a component that exists on disk is a symbolic link that is
// dangling or resolves outside base. Components that do not exist yet
// are fine: the caller creates them. base itself is trusted.
func Join(base string, elems ...string) (string, error) {
	joined := filepath.Join(elems...)
	for _, e := range elems {
		switch {
		case strings.ContainsRune(e, 0):
			return "", &Error{Base: base, Path: joined, Reason: "it holds a NUL byte"}
		case filepath.IsAbs(e) || strings.HasPrefix(e, "/") || strings.HasPrefix(e, `\`):
			return "", &Error{Base: base, Path: e, Reason: "it is absolute"}
		}
	}
	rel := filepath.Clean(joined)
	if rel == "" {
		rel = "."
	}
	if !local(rel) {
		return "", &Error{Base: base, Path: joined, Reason: "it leads outside the directory"}
	}
	if err := checkLinks(base, rel); err != nil {
		return "", err
	}
	return filepath.Join(base, rel), nil
}

// JoinName is Join for a single path component, such as a task name or
// an allocation id: besides Join's rules, name must pass
// structs.CheckPathName (not empty, ".", "..", nor hold a separator).
func JoinName(base, name string) (string, error) {
	if err := structs.CheckPathName(name); err != nil {
		return "", &Error{Base: base, Path: name, Reason: strings.TrimPrefix(err.Error(), structs.ErrUnsafeName.Error()+": ")}
	}
	return Join(base, name)
}

// local reports whether the cleaned relative path rel stays below its base.
func local(rel string) bool {
	if filepath.IsAbs(rel) || filepath.VolumeName(rel) != "" {
		return false
	}
	return rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// within reports whether p is base or below it; both are resolved paths.
func within(base, p string) bool {
	rel, err := filepath.Rel(base, p)
	return err == nil && local(rel)
}

// checkLinks walks the components of rel that exist under base and
// refuses a symbolic link among them that is dangling or resolves
// outside base.
func checkLinks(base, rel string) error {
	if rel == "." {
		return nil
	}
	realBase, err := filepath.EvalSymlinks(base)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // nothing under it exists either
	}
	if err != nil {
		return fmt.Errorf("resolve %s: %w", base, err)
	}
	cur := base
	for _, comp := range strings.Split(rel, string(filepath.Separator)) {
		cur = filepath.Join(cur, comp)
		fi, err := os.Lstat(cur)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // the rest is created by the caller
		}
		if err != nil {
			return fmt.Errorf("check %s: %w", cur, err)
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			continue
		}
		target, err := filepath.EvalSymlinks(cur)
		if err != nil {
			return &Error{Base: base, Path: rel, Reason: fmt.Sprintf("%s is a symbolic link that does not resolve", cur)}
		}
		if !within(realBase, target) {
			return &Error{Base: base, Path: rel, Reason: fmt.Sprintf("%s is a symbolic link to %s, outside the directory", cur, target)}
		}
	}
	return nil
}
