// Package dockertest gives tests of the docker driver an engine and an
// image: the tests skip where no engine answers, and run containers of an
// image built here from a static binary (taskbin), never pulled.
package dockertest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// Repository is the repository of the images this package makes.
const Repository = "drover-test-task"

// Engine returns a client of the host's engine, closed when the test
// ends, or skips the test when no engine answers.
func Engine(t testing.TB) *client.Client {
	t.Helper()
	c, err := client.New(client.FromEnv)
	if err != nil {
		t.Skipf("docker tests need a Docker Engine: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Info(ctx, client.InfoOptions{}); err != nil {
		c.Close()
		t.Skipf("docker tests need a Docker Engine; docker info failed: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

var (
	buildOnce sync.Once
	tarball   []byte
	digest    string
	buildErr  error
)

// build compiles taskbin, statically, once per test binary, and packs it
// as the only file of an image's file system, /task.
func build() ([]byte, string, error) {
	buildOnce.Do(func() {
		_, here, _, _ := runtime.Caller(0)
		dir, err := os.MkdirTemp("", "dockertest")
		if err != nil {
			buildErr = err
			return
		}
		defer os.RemoveAll(dir)
		bin := filepath.Join(dir, "task")
		goTool := "go"
		if root := os.Getenv("GOROOT"); root != "" {
			goTool = filepath.Join(root, "bin", "go")
		}
		cmd := exec.Command(goTool, "build", "-trimpath", "-o", bin, "./taskbin")
		cmd.Dir = filepath.Dir(here)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH, "GOFLAGS=-buildvcs=false")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build the test image's program: %v\n%s", err, out)
			return
		}
		data, err := os.ReadFile(bin)
		if err != nil {
			buildErr = err
			return
		}
		sum := sha256.Sum256(data)
		digest = hex.EncodeToString(sum[:6])
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, d := range []string{"tmp/", "etc/"} {
			_ = tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o1777, ModTime: time.Unix(0, 0)})
		}
		_ = tw.WriteHeader(&tar.Header{Name: "task", Mode: 0o755, Size: int64(len(data)), ModTime: time.Unix(0, 0)})
		_, _ = tw.Write(data)
		if err := tw.Close(); err != nil {
			buildErr = err
			return
		}
		tarball = buf.Bytes()
	})
	return tarball, digest, buildErr
}

// Image returns the test image (tag Repository:<digest of the program>),
// importing it into the engine unless it is there already. Its entry
// point is /task; its default command "sleep".
func Image(t testing.TB, c *client.Client) string {
	t.Helper()
	_, sum, err := build()
	if err != nil {
		t.Fatal(err)
	}
	return ImageTagged(t, c, sum)
}

// ImageTagged imports the test image under Repository:tag, unless an
// image of that name exists, and returns its name. A test that removes
// its image uses a tag of its own.
func ImageTagged(t testing.TB, c *client.Client, tag string) string {
	t.Helper()
	data, _, err := build()
	if err != nil {
		t.Fatal(err)
	}
	ref := Repository + ":" + tag
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.ImageInspect(ctx, ref); err == nil {
		return ref
	} else if !cerrdefs.IsNotFound(err) {
		t.Fatalf("inspect %s: %v", ref, err)
	}
	res, err := c.ImageImport(ctx, client.ImageImportSource{Source: bytes.NewReader(data), SourceName: "-"}, ref,
		client.ImageImportOptions{Changes: []string{`ENTRYPOINT ["/task"]`, `CMD ["sleep"]`}})
	if err != nil {
		t.Fatalf("import %s: %v", ref, err)
	}
	out, _ := readAll(res)
	if _, err := c.ImageInspect(ctx, ref); err != nil {
		t.Fatalf("import %s: %v (%s)", ref, err, strings.TrimSpace(out))
	}
	return ref
}

func readAll(rc interface {
	Read([]byte) (int, error)
	Close() error
}) (string, error) {
	defer rc.Close()
	var b bytes.Buffer
	_, err := b.ReadFrom(rc)
	return b.String(), err
}
