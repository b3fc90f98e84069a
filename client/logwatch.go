package client

import (
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// A task's live log file is rotated by copy and truncate (see
// driver.LogRotator): its content moves to a copy and the live file
// starts again from zero, under the same name and inode. A reader that
// follows the live file must learn of each rotation before it reads the
// truncated file at its old offset, and must find the rest of what it was
// reading in the copy. logWatches gives it both: each rotation of a live
// file ends a generation of it, recorded (with the copy's identity and
// size) while readers are held off the file, so a reader never mixes two
// generations and loses or repeats nothing but the bytes the rotator
// itself could not copy.

// logWatches keeps one logWatch per live log file that a rotator or a
// reader uses.
type logWatches struct {
	mu      sync.Mutex
	watches map[string]*logWatch
}

// logWatch tracks the generations of one live log file.
type logWatch struct {
	path     string
	maxFiles int
	refs     int

	// mu is held for writing while a rotation truncates the live file, and
	// for reading while a reader checks its generation and reads.
	mu  sync.RWMutex
	gen *logGen
}

// logGen is one generation of a live log file: from a truncation (or the
// file's creation) to the next rotation.
type logGen struct {
	// done is closed when the generation ends; then end, copyInfo and
	// next are set.
	done chan struct{}
	// end is the number of bytes of the generation the copy holds.
	end int64
	// copyInfo identifies the copy (nil: none was kept); renames keep it,
	// so a reader finds the copy however many rotations followed.
	copyInfo os.FileInfo
	next     *logGen
}

func newLogWatches() *logWatches { return &logWatches{watches: map[string]*logWatch{}} }

// acquire returns the watch of path, creating it; release gives it back.
func (ws *logWatches) acquire(path string, maxFiles int) *logWatch {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	w := ws.watches[path]
	if w == nil {
		w = &logWatch{path: path, gen: &logGen{done: make(chan struct{})}}
		ws.watches[path] = w
	}
	if maxFiles > w.maxFiles {
		w.maxFiles = maxFiles
	}
	w.refs++
	return w
}

func (ws *logWatches) release(w *logWatch) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	w.refs--
	if w.refs == 0 && ws.watches[w.path] == w {
		delete(ws.watches, w.path)
	}
}

// rotation is the driver.LogRotator hook: it ends the current generation
// and holds readers off the live file until it is truncated.
func (w *logWatch) rotation(copyPath string, copied int64) func() {
	w.mu.Lock()
	g := w.gen
	g.end = copied
	if copyPath != "" {
		if fi, err := os.Stat(copyPath); err == nil {
			g.copyInfo = fi
		}
	}
	g.next = &logGen{done: make(chan struct{})}
	return func() {
		w.gen = g.next
		close(g.done)
		w.mu.Unlock()
	}
}

// openCopy finds the copy of generation g among the live file's copies
// (path.1 is the newest), through root, the logs directory; nil when it
// is gone.
func (w *logWatch) openCopy(root *os.Root, g *logGen) *os.File {
	if g.copyInfo == nil || root == nil {
		return nil
	}
	for n := 1; n < max(w.maxFiles, 2)+1; n++ {
		f, err := root.Open(filepath.Base(w.path) + "." + strconv.Itoa(n))
		if err != nil {
			continue
		}
		if fi, err := f.Stat(); err == nil && os.SameFile(fi, g.copyInfo) {
			return f
		}
		f.Close()
	}
	return nil
}
