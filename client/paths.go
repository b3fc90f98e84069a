package client

import (
	"path/filepath"

	"github.com/droverhq/drover/internal/safepath"
	"github.com/droverhq/drover/structs"
)

// Every path the client builds from what the servers send (an
// allocation's id, a task's name) is joined to the data dir through
// safepath, so that a name the servers should have refused, or a symbolic
// link left in an allocation's directory, cannot make the client create
// or remove anything outside the data dir. Such a path fails the
// allocation or the task, with a task event that says why.

// allocsDir is the directory holding one directory per allocation.
func allocsDir(dataDir string) string { return filepath.Join(dataDir, "alloc") }

// allocDirFor is the directory of the allocation with id under dataDir.
func allocDirFor(dataDir, id string) (string, error) {
	base := allocsDir(dataDir)
	if !structs.ValidID(id) {
		return "", &safepath.Error{Base: base, Path: id, Reason: "it is not a valid allocation id"}
	}
	return safepath.JoinName(base, id)
}

// taskPaths are where one task's files are.
type taskPaths struct {
	// dir is the task's directory, named after the task.
	dir string
	// stdout and stderr are its log files in the allocation's alloc/logs.
	stdout, stderr string
}

// taskPathsFor checks the task's name and builds its paths under the
// allocation's directory.
func taskPathsFor(allocDir, task string) (taskPaths, error) {
	if task == structs.ReservedTaskName {
		return taskPaths{}, &safepath.Error{Base: allocDir, Path: task, Reason: "the name is the allocation's shared directory"}
	}
	dir, err := safepath.JoinName(allocDir, task)
	if err != nil {
		return taskPaths{}, err
	}
	stdout, err := safepath.Join(allocDir, "alloc", "logs", task+".stdout.0")
	if err != nil {
		return taskPaths{}, err
	}
	stderr, err := safepath.Join(allocDir, "alloc", "logs", task+".stderr.0")
	if err != nil {
		return taskPaths{}, err
	}
	return taskPaths{dir: dir, stdout: stdout, stderr: stderr}, nil
}
