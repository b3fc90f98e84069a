package structs

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// Names that reach a client's file system. An allocation's directory is
// named after its id, a task's directory and log files after the task's
// name, and an artifact lands at its destination under the task's
// directory: none of them may lead outside the directory they are joined
// to. The servers refuse such jobs at registration (Job.Validate); the
// client checks every path it builds again, so that a job registered by
// an older server or an allocation crafted by hand cannot escape either.

// MaxNameLength bounds group and task names: a task's name is a directory
// name and the start of its log files' names, which file systems limit to
// 255 bytes.
const MaxNameLength = 128

// ReservedTaskName is the name of the directory an allocation's tasks
// share; no task may be named after it.
const ReservedTaskName = "alloc"

// ErrUnsafeName is what CheckPathName's errors match with errors.Is.
var ErrUnsafeName = errors.New("unsafe name")

// CheckPathName returns an error (matching ErrUnsafeName) when name cannot
// be used as one component of a path: it is empty or longer than
// MaxNameLength, holds '/', '\' or NUL, or is "." or "..".
func CheckPathName(name string) error {
	var why string
	switch {
	case name == "":
		why = "is empty"
	case len(name) > MaxNameLength:
		why = fmt.Sprintf("is longer than %d bytes", MaxNameLength)
	case strings.ContainsAny(name, `/\`):
		why = `may not contain '/' or '\'`
	case strings.ContainsRune(name, 0):
		why = "may not contain a NUL byte"
	case name == "." || name == "..":
		why = `may not be "." or ".."`
	default:
		return nil
	}
	return fmt.Errorf("%w: %s", ErrUnsafeName, why)
}

// ValidID reports whether id is usable as an object id that also names a
// directory, such as an allocation's: 1 to 128 letters, digits, '_', '-'
// and '.', starting with a letter or digit (the rule job ids follow;
// generated ids are UUIDs).
func ValidID(id string) bool {
	return len(id) <= maxJobIDLength && validJobID.MatchString(id)
}

// checkRelativePath returns why p, a path relative to a directory, could
// lead outside it, or "": it must not hold NUL, be absolute (with either
// kind of slash) or climb above its base once cleaned.
func checkRelativePath(p string) string {
	if strings.ContainsRune(p, 0) {
		return "may not contain a NUL byte"
	}
	clean := path.Clean(strings.ReplaceAll(p, `\`, "/"))
	if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
		return "must be inside the task directory"
	}
	return ""
}
