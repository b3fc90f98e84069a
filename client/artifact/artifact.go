// Package artifact fetches the files a task needs before it starts: over
// http(s) or from the client's own file system, verified against a
// checksum, and unpacked when they are archives (tar, tar.gz, zip). Every
// write goes through an os.Root opened on the task directory, and entries
// whose names or link targets would leave it are refused, so an archive
// cannot write outside the destination it was given.
package artifact

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/droverhq/drover/structs"
)

// Errors callers branch on; every Fetch error wraps one of them, or a
// download or file system error.
var (
	// ErrInvalid: the artifact's source, destination or options are unusable.
	ErrInvalid = errors.New("artifact: invalid artifact")
	// ErrChecksum: the download does not match its checksum.
	ErrChecksum = errors.New("artifact: checksum mismatch")
	// ErrUnsafePath: an archive entry would be written outside its destination.
	ErrUnsafePath = errors.New("artifact: path leaves the destination")
	// ErrTooLarge: a download or an archive's content is over the size limit.
	ErrTooLarge = errors.New("artifact: too large")
)

// DefaultDestination is where an artifact goes when it names no destination.
const DefaultDestination = "local/"

// DefaultMaxBytes bounds a download, and separately an archive's unpacked
// content, when the Fetcher sets no limit.
const DefaultMaxBytes = 4 << 30

// Fetcher downloads artifacts. The zero value is ready to use.
type Fetcher struct {
	// HTTP fetches http and https sources; nil means http.DefaultClient.
	HTTP *http.Client
	// MaxBytes bounds a download and an archive's unpacked content; 0
	// means DefaultMaxBytes.
	MaxBytes int64
}

// Fetch downloads a into taskDir: an archive is unpacked into the
// destination directory, any other file is written there under its own
// name. The checksum, when given, is verified before anything is written
// to the destination.
func (f *Fetcher) Fetch(ctx context.Context, a *structs.Artifact, taskDir string) error {
	src, err := parseSource(a.GetSource())
	if err != nil {
		return err
	}
	dest, err := destination(a.GetDestination())
	if err != nil {
		return err
	}
	sum, err := parseChecksum(a.GetOptions()["checksum"])
	if err != nil {
		return err
	}
	kind := archiveKind(src.name)
	switch v := a.GetOptions()["archive"]; v {
	case "", "true":
	case "false":
		kind = ""
	default:
		return fmt.Errorf("%w: option archive must be true or false, got %q", ErrInvalid, v)
	}
	for k := range a.GetOptions() {
		if k != "checksum" && k != "archive" {
			return fmt.Errorf("%w: unknown option %q (known: archive, checksum)", ErrInvalid, k)
		}
	}

	root, err := os.OpenRoot(taskDir)
	if err != nil {
		return fmt.Errorf("artifact: open task dir: %w", err)
	}
	defer root.Close()
	if err := root.MkdirAll(dest, 0o755); err != nil {
		return fmt.Errorf("artifact: create %s: %w", dest, err)
	}
	tmp, tmpName, err := tempFile(root)
	if err != nil {
		return err
	}
	defer func() {
		tmp.Close()
		_ = root.Remove(tmpName)
	}()
	if err := f.download(ctx, src, tmp, sum); err != nil {
		return err
	}
	if kind != "" {
		sub, err := root.OpenRoot(dest)
		if err != nil {
			return fmt.Errorf("artifact: open %s: %w", dest, err)
		}
		defer sub.Close()
		return unpack(kind, tmp, sub, f.limit())
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("artifact: %w", err)
	}
	return root.Rename(tmpName, path.Join(dest, src.name))
}

func (f *Fetcher) limit() int64 {
	if f.MaxBytes > 0 {
		return f.MaxBytes
	}
	return DefaultMaxBytes
}

// source is a parsed artifact source.
type source struct {
	u    *url.URL
	file string // for local sources
	name string // the file name the artifact is saved as
}

func parseSource(s string) (*source, error) {
	if s == "" {
		return nil, fmt.Errorf("%w: source is required", ErrInvalid)
	}
	if filepath.IsAbs(s) {
		return &source{file: s, name: filepath.Base(s)}, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%w: source %q: %v", ErrInvalid, s, err)
	}
	switch u.Scheme {
	case "http", "https":
	case "file":
		if u.Host != "" && u.Host != "localhost" || !path.IsAbs(u.Path) {
			return nil, fmt.Errorf("%w: source %q: a file URL needs an absolute local path", ErrInvalid, s)
		}
		return &source{file: filepath.FromSlash(u.Path), name: path.Base(u.Path)}, nil
	default:
		return nil, fmt.Errorf("%w: source %q: scheme must be http, https or file", ErrInvalid, s)
	}
	name := path.Base(u.Path)
	if name == "/" || name == "." || name == "" {
		name = "artifact"
	}
	return &source{u: u, name: name}, nil
}

// destination checks that d is a relative path inside the task directory.
func destination(d string) (string, error) {
	if d == "" {
		d = DefaultDestination
	}
	clean := path.Clean(filepath.ToSlash(d))
	if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("%w: destination %q must be inside the task directory", ErrInvalid, d)
	}
	return clean, nil
}

// checksum is a parsed "type:hex" checksum.
type checksum struct {
	kind string
	want []byte
	h    hash.Hash
}

func parseChecksum(s string) (*checksum, error) {
	if s == "" {
		return nil, nil
	}
	kind, hexSum, ok := strings.Cut(s, ":")
	if !ok {
		return nil, fmt.Errorf("%w: checksum %q must be type:hex, such as sha256:<64 hex digits>", ErrInvalid, s)
	}
	want, err := hex.DecodeString(hexSum)
	if err != nil {
		return nil, fmt.Errorf("%w: checksum %q: %v", ErrInvalid, s, err)
	}
	c := &checksum{kind: kind, want: want}
	switch kind {
	case "sha256":
		c.h = sha256.New()
	case "sha512":
		c.h = sha512.New()
	default:
		return nil, fmt.Errorf("%w: checksum type %q (supported: sha256, sha512)", ErrInvalid, kind)
	}
	if len(want) != c.h.Size() {
		return nil, fmt.Errorf("%w: %s checksum has %d bytes, want %d", ErrInvalid, kind, len(want), c.h.Size())
	}
	return c, nil
}

func tempFile(root *os.Root) (*os.File, string, error) {
	for i := 0; ; i++ {
		name := fmt.Sprintf(".artifact-%d-%d", os.Getpid(), i)
		f, err := root.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			return f, name, nil
		}
		if !errors.Is(err, os.ErrExist) || i > 1000 {
			return nil, "", fmt.Errorf("artifact: temporary file: %w", err)
		}
	}
}

// download copies the source into tmp, verifying the checksum.
func (f *Fetcher) download(ctx context.Context, src *source, tmp *os.File, sum *checksum) error {
	var body io.Reader
	if src.file != "" {
		in, err := os.Open(src.file)
		if err != nil {
			return fmt.Errorf("artifact: %w", err)
		}
		defer in.Close()
		if fi, err := in.Stat(); err == nil && fi.IsDir() {
			return fmt.Errorf("%w: source %s is a directory", ErrInvalid, src.file)
		}
		body = in
	} else {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, src.u.String(), nil)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		client := f.HTTP
		if client == nil {
			client = http.DefaultClient
		}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("artifact: download %s: %w", redacted(src.u), err)
		}
		defer resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("artifact: download %s: %s", redacted(src.u), resp.Status)
		}
		body = resp.Body
	}
	w := io.Writer(tmp)
	if sum != nil {
		w = io.MultiWriter(tmp, sum.h)
	}
	limit := f.limit()
	n, err := io.Copy(w, io.LimitReader(readerCtx{ctx, body}, limit+1))
	if err != nil {
		return fmt.Errorf("artifact: download: %w", err)
	}
	if n > limit {
		return fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	if sum != nil {
		if got := sum.h.Sum(nil); !bytes.Equal(got, sum.want) {
			return fmt.Errorf("%w: %s is %x, want %x", ErrChecksum, sum.kind, got, sum.want)
		}
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("artifact: %w", err)
	}
	return nil
}

// redacted drops a URL's credentials for messages.
func redacted(u *url.URL) string { return u.Redacted() }

// readerCtx stops a copy once ctx is done.
type readerCtx struct {
	ctx context.Context
	r   io.Reader
}

func (r readerCtx) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}
