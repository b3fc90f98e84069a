package server

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/droverhq/drover/internal/fsperm"
)

// Permissions of what a server keeps under <data_dir>/server: the raft
// log (raft.db), its snapshots and its metadata files hold the cluster's
// whole state, secrets of nodes included, and serf/ the gossip keyring,
// so they are the server's alone.
const (
	serverDirMode  fs.FileMode = 0o700
	serverFileMode fs.FileMode = 0o600
)

// privateServerDir creates <data_dir>/server and its snapshots/ with
// serverDirMode, and tightens the permissions of those, of serf/ when it
// exists, and of the files of the first two when they are looser (made by
// hand, or by an older version), logging each fix. It fails only when a
// permission cannot be changed. serf/'s files are serf's own (it writes
// the keyring 0600, its member snapshot 0644): the directory guards them.
func (s *Server) privateServerDir() error {
	dir := filepath.Join(s.cfg.DataDir, "server")
	type private struct {
		dir   string
		files bool
	}
	dirs := []private{{dir, true}, {filepath.Join(dir, "snapshots"), true}}
	if fi, err := os.Stat(filepath.Join(dir, "serf")); err == nil && fi.IsDir() {
		dirs = append(dirs, private{filepath.Join(dir, "serf"), false})
	}
	for _, pd := range dirs {
		d := pd.dir
		fixed, err := fsperm.Dir(d, serverDirMode)
		if err != nil {
			return fmt.Errorf("server data dir: %w", err)
		}
		s.logFixed(fixed)
		if !pd.files {
			continue
		}
		entries, err := os.ReadDir(d)
		if err != nil {
			return fmt.Errorf("server data dir: %w", err)
		}
		for _, e := range entries {
			if !e.Type().IsRegular() {
				continue
			}
			fixed, err := fsperm.File(filepath.Join(d, e.Name()), serverFileMode)
			if err != nil {
				return fmt.Errorf("server data dir: %w", err)
			}
			s.logFixed(fixed)
		}
	}
	return nil
}

func (s *Server) logFixed(f *fsperm.Fixed) {
	if f != nil {
		s.logger.Warn("permissions were looser than the server's; tightened", "path", f.Path,
			"was", fmt.Sprintf("%#o", f.Was), "now", fmt.Sprintf("%#o", f.Now))
	}
}
