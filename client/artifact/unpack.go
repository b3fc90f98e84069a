package artifact

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
)

// Archive kinds.
const (
	kindTar   = "tar"
	kindTarGz = "tar.gz"
	kindZip   = "zip"
)

// archiveKind tells an archive from its file name.
func archiveKind(name string) string {
	n := strings.ToLower(name)
	switch {
	case strings.HasSuffix(n, ".tar.gz"), strings.HasSuffix(n, ".tgz"):
		return kindTarGz
	case strings.HasSuffix(n, ".tar"):
		return kindTar
	case strings.HasSuffix(n, ".zip"):
		return kindZip
	}
	return ""
}

// unpack extracts the archive in f into root, writing at most limit bytes.
func unpack(kind string, f *os.File, root *os.Root, limit int64) error {
	switch kind {
	case kindTarGz:
		zr, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("artifact: gzip: %w", err)
		}
		defer zr.Close()
		return UnpackTar(zr, root, limit)
	case kindTar:
		return UnpackTar(f, root, limit)
	case kindZip:
		fi, err := f.Stat()
		if err != nil {
			return fmt.Errorf("artifact: %w", err)
		}
		return UnpackZip(f, fi.Size(), root, limit)
	}
	return fmt.Errorf("%w: unknown archive kind %q", ErrInvalid, kind)
}

// entryName checks an archive entry's name and returns it cleaned and
// relative; "" for the archive's root directory.
func entryName(name string) (string, error) {
	n := strings.ReplaceAll(name, `\`, "/")
	if path.IsAbs(n) {
		return "", fmt.Errorf("%w: %q is absolute", ErrUnsafePath, name)
	}
	for _, part := range strings.Split(n, "/") {
		if part == ".." {
			return "", fmt.Errorf("%w: %q climbs out", ErrUnsafePath, name)
		}
	}
	if strings.ContainsRune(n, 0) {
		return "", fmt.Errorf("%w: %q holds a NUL byte", ErrUnsafePath, name)
	}
	clean := path.Clean(n)
	if clean == "." {
		return "", nil
	}
	return clean, nil
}

// checkLink refuses a symbolic link whose target leaves the root.
func checkLink(name, target string) error {
	t := strings.ReplaceAll(target, `\`, "/")
	if target == "" || path.IsAbs(t) {
		return fmt.Errorf("%w: link %q points to %q", ErrUnsafePath, name, target)
	}
	joined := path.Join(path.Dir(name), t)
	if joined == ".." || strings.HasPrefix(joined, "../") {
		return fmt.Errorf("%w: link %q points to %q", ErrUnsafePath, name, target)
	}
	return nil
}

// budget counts what unpacking has written against the limit.
type budget struct{ left int64 }

func (b *budget) copy(dst io.Writer, src io.Reader) error {
	n, err := io.Copy(dst, io.LimitReader(src, b.left+1))
	b.left -= n
	if err != nil {
		return fmt.Errorf("artifact: %w", err)
	}
	if b.left < 0 {
		return fmt.Errorf("%w: unpacked content over the limit", ErrTooLarge)
	}
	return nil
}

func writeFile(root *os.Root, name string, mode fs.FileMode, r io.Reader, b *budget) error {
	if dir := path.Dir(name); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("artifact: %w", err)
		}
	}
	// An existing link of that name is replaced, never written through.
	if fi, err := root.Lstat(name); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		if err := root.Remove(name); err != nil {
			return fmt.Errorf("artifact: %w", err)
		}
	}
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode.Perm()|0o200)
	if err != nil {
		return fmt.Errorf("artifact: %w", err)
	}
	if err := b.copy(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("artifact: %w", err)
	}
	return nil
}

func symlink(root *os.Root, name, target string) error {
	if err := checkLink(name, target); err != nil {
		return err
	}
	if dir := path.Dir(name); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("artifact: %w", err)
		}
	}
	_ = root.Remove(name)
	if err := root.Symlink(target, name); err != nil {
		return fmt.Errorf("artifact: %w", err)
	}
	return nil
}

// UnpackTar extracts a tar stream into root, writing at most limit bytes
// of file content. Names and link targets that would leave root fail with
// ErrUnsafePath; device and fifo entries are refused.
func UnpackTar(r io.Reader, root *os.Root, limit int64) error {
	tr := tar.NewReader(r)
	b := &budget{left: limit}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("artifact: tar: %w", err)
		}
		name, err := entryName(h.Name)
		if err != nil {
			return err
		}
		if name == "" {
			continue
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, fs.FileMode(h.Mode).Perm()|0o700); err != nil {
				return fmt.Errorf("artifact: %w", err)
			}
		case tar.TypeReg:
			if err := writeFile(root, name, fs.FileMode(h.Mode), tr, b); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := symlink(root, name, h.Linkname); err != nil {
				return err
			}
		case tar.TypeLink:
			old, err := entryName(h.Linkname)
			if err != nil {
				return err
			}
			if old == "" {
				return fmt.Errorf("%w: hard link %q to the root", ErrUnsafePath, h.Name)
			}
			_ = root.Remove(name)
			if err := root.Link(old, name); err != nil {
				return fmt.Errorf("artifact: %w", err)
			}
		case tar.TypeXGlobalHeader, tar.TypeXHeader, tar.TypeGNULongName, tar.TypeGNULongLink:
			// Metadata the reader has already applied.
		default:
			return fmt.Errorf("%w: tar entry %q has unsupported type %q", ErrInvalid, h.Name, h.Typeflag)
		}
	}
}

// UnpackZip extracts a zip archive of the given size into root, as UnpackTar.
func UnpackZip(r io.ReaderAt, size int64, root *os.Root, limit int64) error {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return fmt.Errorf("artifact: zip: %w", err)
	}
	b := &budget{left: limit}
	for _, zf := range zr.File {
		name, err := entryName(zf.Name)
		if err != nil {
			return err
		}
		if name == "" {
			continue
		}
		mode := zf.Mode()
		switch {
		case mode.IsDir():
			if err := root.MkdirAll(name, mode.Perm()|0o700); err != nil {
				return fmt.Errorf("artifact: %w", err)
			}
		case mode&fs.ModeSymlink != 0:
			target, err := readSmall(zf, 4096)
			if err != nil {
				return err
			}
			if err := symlink(root, name, target); err != nil {
				return err
			}
		case mode.IsRegular():
			rc, err := zf.Open()
			if err != nil {
				return fmt.Errorf("artifact: zip: %w", err)
			}
			err = writeFile(root, name, mode, rc, b)
			rc.Close()
			if err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: zip entry %q has unsupported mode %v", ErrInvalid, zf.Name, mode)
		}
	}
	return nil
}

func readSmall(zf *zip.File, max int64) (string, error) {
	rc, err := zf.Open()
	if err != nil {
		return "", fmt.Errorf("artifact: zip: %w", err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return "", fmt.Errorf("artifact: zip: %w", err)
	}
	if int64(len(data)) > max {
		return "", fmt.Errorf("%w: link %q target is too long", ErrInvalid, zf.Name)
	}
	return string(data), nil
}
