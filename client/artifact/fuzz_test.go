package artifact

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// checkContained fails when anything appeared next to the unpack root.
func checkContained(t *testing.T, parent string) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "root" {
		t.Fatalf("unpacking wrote outside its root: %v", entries)
	}
	_ = filepath.WalkDir(filepath.Join(parent, "root"), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type()&os.ModeSymlink != 0 {
			target, _ := os.Readlink(p)
			if filepath.IsAbs(target) || !strings.HasPrefix(filepath.Clean(filepath.Join(filepath.Dir(p), target)), parent+"/root") {
				t.Fatalf("link %s escapes to %s", p, target)
			}
		}
		return nil
	})
}

func FuzzUnpackTar(f *testing.F) {
	f.Add(tarball(&testing.T{}, false, entry{name: "a/b", body: "x"}, entry{name: "l", symlink: true, link: "a"}))
	f.Add(tarball(&testing.T{}, false, entry{name: "../x", body: "x"}))
	f.Fuzz(func(t *testing.T, data []byte) {
		parent := t.TempDir()
		dir := filepath.Join(parent, "root")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		root, err := os.OpenRoot(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer root.Close()
		_ = UnpackTar(bytes.NewReader(data), root, 1<<20)
		checkContained(t, parent)
	})
}

func FuzzUnpackZip(f *testing.F) {
	f.Add(zipball(&testing.T{}, entry{name: "a/b", body: "x"}, entry{name: "l", symlink: true, link: "a"}))
	f.Add(zipball(&testing.T{}, entry{name: "../x", body: "x"}))
	f.Fuzz(func(t *testing.T, data []byte) {
		parent := t.TempDir()
		dir := filepath.Join(parent, "root")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		root, err := os.OpenRoot(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer root.Close()
		_ = UnpackZip(bytes.NewReader(data), int64(len(data)), root, 1<<20)
		checkContained(t, parent)
	})
}
