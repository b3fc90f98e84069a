package client

import (
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"

	"github.com/droverhq/drover/internal/fsperm"
)

// Permissions of what the client keeps in its data dir. Tasks run as the
// client's own user, so none of them needs another user's access; the
// modes are those of Nomad's layout where they do not grant more.
const (
	// dataDirMode: the data dir holds the node's secret and every task's
	// files; nobody else may enter it.
	dataDirMode fs.FileMode = 0o700
	// stateFileMode is that of the state file and the node identity.
	stateFileMode fs.FileMode = 0o600
	// allocsDirMode and allocDirMode: alloc/ and each allocation's
	// directory can be crossed but not listed by other users, so they
	// cannot find allocations or tasks by name.
	allocsDirMode fs.FileMode = 0o711
	allocDirMode  fs.FileMode = 0o711
	// sharedDirMode is that of the allocation's shared alloc/ and its
	// logs/, data/ and tmp/.
	sharedDirMode fs.FileMode = 0o755
	// taskDirMode is that of a task's directory and its local/: crossed,
	// not listed, by other users; secrets/ is the task's alone.
	taskDirMode    fs.FileMode = 0o711
	secretsDirMode fs.FileMode = 0o700
	// taskTmpMode: a task's tmp/ is a scratch dir like /tmp.
	taskTmpMode = fs.ModeSticky | 0o777
)

// identityFile holds the node's id and secret, in the data dir.
const identityFile = "node-identity.json"

// prepareDataDir creates the data dir and alloc/, and tightens the
// permissions of those and of the state and identity files when they
// exist with looser ones, saying so.
func prepareDataDir(dataDir string, logger *slog.Logger) error {
	for _, d := range []struct {
		path string
		mode fs.FileMode
	}{{dataDir, dataDirMode}, {allocsDir(dataDir), allocsDirMode}} {
		fixed, err := fsperm.Dir(d.path, d.mode)
		if err != nil {
			return fmt.Errorf("client data dir: %w", err)
		}
		logFixed(logger, fixed)
	}
	for _, f := range []string{stateFile, identityFile} {
		fixed, err := fsperm.File(filepath.Join(dataDir, f), stateFileMode)
		if err != nil {
			return fmt.Errorf("client data dir: %w", err)
		}
		logFixed(logger, fixed)
	}
	return nil
}

// makeDirMode creates dir with mode, or tightens an existing one's looser
// permissions (left by an older version), saying so.
func makeDirMode(dir string, mode fs.FileMode, logger *slog.Logger) error {
	fixed, err := fsperm.Dir(dir, mode)
	if err != nil {
		return err
	}
	logFixed(logger, fixed)
	return nil
}

func logFixed(logger *slog.Logger, f *fsperm.Fixed) {
	if f != nil {
		logger.Warn("permissions were looser than the client's; tightened", "path", f.Path,
			"was", fmt.Sprintf("%#o", f.Was), "now", fmt.Sprintf("%#o", f.Now))
	}
}
