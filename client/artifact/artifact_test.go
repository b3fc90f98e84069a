package artifact

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/droverhq/drover/structs"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// entry is one archive member.
type entry struct {
	name, body, link string
	dir, symlink     bool
	mode             int64
}

func tarball(t *testing.T, gz bool, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w *tar.Writer
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&buf)
		w = tar.NewWriter(zw)
	} else {
		w = tar.NewWriter(&buf)
	}
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg}
		if e.mode != 0 {
			h.Mode = e.mode
		}
		switch {
		case e.dir:
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
		case e.symlink:
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, e.link, 0
		}
		require.NoError(t, w.WriteHeader(h))
		if h.Typeflag == tar.TypeReg {
			_, err := w.Write([]byte(e.body))
			require.NoError(t, err)
		}
	}
	require.NoError(t, w.Close())
	if zw != nil {
		require.NoError(t, zw.Close())
	}
	return buf.Bytes()
}

func zipball(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		body := e.body
		switch {
		case e.dir:
			h.Name += "/"
			h.SetMode(0o755 | os.ModeDir)
		case e.symlink:
			h.SetMode(0o777 | os.ModeSymlink)
			body = e.link
		default:
			h.SetMode(0o755)
		}
		f, err := w.CreateHeader(h)
		require.NoError(t, err)
		_, err = f.Write([]byte(body))
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	return buf.Bytes()
}

// serve serves files by path and counts requests.
func serve(t *testing.T, files map[string][]byte) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return string(b)
}

func fetch(t *testing.T, a *structs.Artifact) (string, error) {
	t.Helper()
	dir := t.TempDir()
	f := &Fetcher{HTTP: &http.Client{}}
	defer f.HTTP.CloseIdleConnections()
	return dir, f.Fetch(context.Background(), a, dir)
}

func TestFileWithChecksum(t *testing.T) {
	body := []byte("#!/bin/sh\necho hi\n")
	srv := serve(t, map[string][]byte{"/tools/run.sh": body})

	dir, err := fetch(t, &structs.Artifact{Source: srv.URL + "/tools/run.sh", Options: map[string]string{"checksum": sha(body)}})
	require.NoError(t, err)
	require.Equal(t, string(body), read(t, filepath.Join(dir, "local", "run.sh")), "the default destination is local/")
	left, err := filepath.Glob(filepath.Join(dir, ".artifact-*"))
	require.NoError(t, err)
	require.Empty(t, left, "the temporary download is gone")

	dir, err = fetch(t, &structs.Artifact{Source: srv.URL + "/tools/run.sh", Destination: "bin",
		Options: map[string]string{"checksum": sha([]byte("something else"))}})
	require.ErrorIs(t, err, ErrChecksum)
	require.NoFileExists(t, filepath.Join(dir, "bin", "run.sh"), "nothing lands when the checksum fails")

	_, err = fetch(t, &structs.Artifact{Source: srv.URL + "/missing"})
	require.ErrorContains(t, err, "404")
}

func TestArchivesAreUnpacked(t *testing.T) {
	files := []entry{
		{name: "app/", dir: true},
		{name: "app/bin/server", body: "binary", mode: 0o755},
		{name: "app/README", body: "read me"},
		{name: "app/current", symlink: true, link: "bin/server"},
	}
	tgz := tarball(t, true, files...)
	srv := serve(t, map[string][]byte{
		"/app.tar.gz": tgz, "/app.tgz": tgz, "/app.tar": tarball(t, false, files...), "/app.zip": zipball(t, files...),
	})
	for _, name := range []string{"app.tar.gz", "app.tgz", "app.tar", "app.zip"} {
		dir, err := fetch(t, &structs.Artifact{Source: srv.URL + "/" + name, Destination: "local/x"})
		require.NoError(t, err, name)
		root := filepath.Join(dir, "local", "x", "app")
		require.Equal(t, "binary", read(t, filepath.Join(root, "bin", "server")), name)
		require.Equal(t, "read me", read(t, filepath.Join(root, "README")), name)
		fi, err := os.Stat(filepath.Join(root, "bin", "server"))
		require.NoError(t, err)
		require.NotZero(t, fi.Mode()&0o100, "%s: the executable bit survives", name)
		target, err := os.Readlink(filepath.Join(root, "current"))
		require.NoError(t, err)
		require.Equal(t, "bin/server", target, name)
	}

	dir, err := fetch(t, &structs.Artifact{Source: srv.URL + "/app.tar.gz", Options: map[string]string{"archive": "false", "checksum": sha(tgz)}})
	require.NoError(t, err)
	require.Equal(t, string(tgz), read(t, filepath.Join(dir, "local", "app.tar.gz")), "archive=false keeps it packed")
}

func TestArchivesCannotWriteOutsideTheirDestination(t *testing.T) {
	for name, entries := range map[string][]entry{
		"parent":          {{name: "../evil", body: "x"}},
		"deep parent":     {{name: "a/../../evil", body: "x"}},
		"absolute":        {{name: "/etc/evil", body: "x"}},
		"absolute link":   {{name: "l", symlink: true, link: "/etc"}},
		"escaping link":   {{name: "a/l", symlink: true, link: "../../.."}},
		"write via link":  {{name: "l", symlink: true, link: "."}, {name: "l/../../evil", body: "x"}},
		"backslash climb": {{name: `..\evil`, body: "x"}},
	} {
		for _, kind := range []string{"tar", "zip"} {
			parent := t.TempDir()
			taskDir := filepath.Join(parent, "task")
			require.NoError(t, os.Mkdir(taskDir, 0o755))
			var data []byte
			if kind == "tar" {
				data = tarball(t, true, entries...)
			} else {
				data = zipball(t, entries...)
			}
			src := filepath.Join(parent, "a."+map[string]string{"tar": "tar.gz", "zip": "zip"}[kind])
			require.NoError(t, os.WriteFile(src, data, 0o644))
			err := (&Fetcher{}).Fetch(context.Background(), &structs.Artifact{Source: src, Destination: "local"}, taskDir)
			require.ErrorIs(t, err, ErrUnsafePath, "%s (%s)", name, kind)
			require.NoFileExists(t, filepath.Join(parent, "evil"), name)
			require.NoFileExists(t, filepath.Join(taskDir, "evil"), name)
		}
	}
}

func TestLocalSourcesAndLimits(t *testing.T) {
	src := filepath.Join(t.TempDir(), "config.json")
	require.NoError(t, os.WriteFile(src, []byte(`{"a":1}`), 0o644))
	for _, s := range []string{src, "file://" + src} {
		dir, err := fetch(t, &structs.Artifact{Source: s, Destination: "local/conf"})
		require.NoError(t, err, s)
		require.Equal(t, `{"a":1}`, read(t, filepath.Join(dir, "local", "conf", "config.json")))
	}
	dir := t.TempDir()
	err := (&Fetcher{MaxBytes: 3}).Fetch(context.Background(), &structs.Artifact{Source: src}, dir)
	require.ErrorIs(t, err, ErrTooLarge)

	big := tarball(t, false, entry{name: "big", body: "0123456789"})
	bigSrc := filepath.Join(t.TempDir(), "big.tar")
	require.NoError(t, os.WriteFile(bigSrc, big, 0o644))
	err = (&Fetcher{MaxBytes: int64(len(big))}).Fetch(context.Background(), &structs.Artifact{Source: bigSrc}, t.TempDir())
	require.NoError(t, err)
	err = (&Fetcher{MaxBytes: int64(len(big))}).Fetch(context.Background(), &structs.Artifact{Source: bigSrc}, t.TempDir())
	require.NoError(t, err)
	bomb := tarball(t, false, entry{name: "a", body: string(make([]byte, 600))}, entry{name: "b", body: string(make([]byte, 600))})
	bombSrc := filepath.Join(t.TempDir(), "bomb.tar")
	require.NoError(t, os.WriteFile(bombSrc, bomb, 0o644))
	err = (&Fetcher{MaxBytes: int64(len(bomb))}).Fetch(context.Background(), &structs.Artifact{Source: bombSrc}, t.TempDir())
	require.NoError(t, err, "the archive itself fits, and so does its content")
	err = UnpackTar(bytes.NewReader(bomb), mustRoot(t), 1000)
	require.ErrorIs(t, err, ErrTooLarge, "unpacked content is bounded on its own")
}

func mustRoot(t *testing.T) *os.Root {
	r, err := os.OpenRoot(t.TempDir())
	require.NoError(t, err)
	t.Cleanup(func() { r.Close() })
	return r
}

func TestBadArtifactsAreRefusedBeforeAnyDownload(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer srv.Close()
	for name, a := range map[string]*structs.Artifact{
		"no source":       {},
		"relative source": {Source: "some/file"},
		"ftp":             {Source: "ftp://example.com/x"},
		"remote file URL": {Source: "file://elsewhere/etc/passwd"},
		"escaping dest":   {Source: srv.URL + "/x", Destination: "../.."},
		"absolute dest":   {Source: srv.URL + "/x", Destination: "/etc"},
		"checksum form":   {Source: srv.URL + "/x", Options: map[string]string{"checksum": "abc"}},
		"checksum type":   {Source: srv.URL + "/x", Options: map[string]string{"checksum": "md5:d41d8cd98f00b204e9800998ecf8427e"}},
		"checksum length": {Source: srv.URL + "/x", Options: map[string]string{"checksum": "sha256:abcd"}},
		"checksum hex":    {Source: srv.URL + "/x", Options: map[string]string{"checksum": "sha256:zz"}},
		"archive option":  {Source: srv.URL + "/x", Options: map[string]string{"archive": "maybe"}},
		"unknown option":  {Source: srv.URL + "/x", Options: map[string]string{"mode": "file"}},
	} {
		_, err := fetch(t, a)
		require.ErrorIs(t, err, ErrInvalid, name)
	}
	require.Zero(t, hits)
	_, err := fetch(t, &structs.Artifact{Source: t.TempDir()})
	require.ErrorIs(t, err, ErrInvalid, "a directory is not a file to fetch")
}

func TestFetchHonoursItsContext(t *testing.T) {
	srv := serve(t, map[string][]byte{"/x": []byte("x")})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := (&Fetcher{}).Fetch(ctx, &structs.Artifact{Source: srv.URL + "/x"}, t.TempDir())
	require.ErrorIs(t, err, context.Canceled)
}
