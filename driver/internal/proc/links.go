package proc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/internal/safepath"
)

// linkMounts gives a task without a root of its own (raw_exec) its
// volume mounts as symbolic links in its directory: TaskPath, relative to
// the task's directory, links to the host directory. Such a task runs
// with the client's rights, so nothing can make a link read-only: a
// read-only mount is refused rather than handed over writable.
func linkMounts(name string, cfg *driver.TaskConfig) error {
	for _, m := range cfg.Mounts {
		if m.ReadOnly {
			return fmt.Errorf("%w: %s cannot mount volume %s read-only: its tasks run without isolation (use exec or docker)",
				driver.ErrInvalidConfig, name, m.HostPath)
		}
		rel := strings.TrimLeft(m.TaskPath, "/")
		link, err := safepath.Join(cfg.TaskDir, rel)
		if err != nil || filepath.Clean(link) == filepath.Clean(cfg.TaskDir) {
			return fmt.Errorf("%w: volume destination %q must be inside the task's directory", driver.ErrInvalidConfig, m.TaskPath)
		}
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			return err
		}
		err = os.Symlink(m.HostPath, link)
		if errors.Is(err, fs.ErrExist) {
			if target, rerr := os.Readlink(link); rerr == nil && target == m.HostPath {
				continue // from an earlier start
			}
			return fmt.Errorf("%w: volume destination %q exists in the task's directory", driver.ErrInvalidConfig, m.TaskPath)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
