package multihost

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	// label marks every container, network and image the tests create;
	// its value is the run's prefix.
	label = "io.drover.multihost"
	// createdLabel holds the Unix time a resource was created, so a later
	// run can remove what a killed run left behind.
	createdLabel = "io.drover.multihost.created"
	// staleAfter is the age past which a labelled resource is a leftover:
	// no run lives that long.
	staleAfter = 30 * time.Minute
	// dockerTimeout bounds each docker command.
	dockerTimeout = 2 * time.Minute
)

// docker runs the docker CLI and returns its trimmed standard output; the
// error carries standard error.
func docker(args ...string) (string, error) {
	return dockerRun(dockerTimeout, nil, args...)
}

// dockerIn is docker with stdin.
func dockerIn(stdin []byte, args ...string) (string, error) {
	return dockerRun(dockerTimeout, stdin, args...)
}

func dockerRun(timeout time.Duration, stdin []byte, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// mustDocker is docker that fails the test on error.
func mustDocker(t testing.TB, args ...string) string {
	t.Helper()
	out, err := docker(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// requireDocker skips the test unless a docker CLI talks to a running
// Linux engine, and returns the engine's architecture as GOARCH spells it.
func requireDocker(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("multi-host tests start Docker containers; skipped with -short")
	}
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("multi-host tests need the docker CLI: not found on PATH")
	}
	if _, err := dockerRun(30*time.Second, nil, "info", "--format", "{{.ID}}"); err != nil {
		t.Skipf("multi-host tests need a running Docker engine: %v", err)
	}
	platform, err := dockerRun(30*time.Second, nil, "version", "--format", "{{.Server.Os}}/{{.Server.Arch}}")
	if err != nil {
		t.Skipf("multi-host tests need a running Docker engine: %v", err)
	}
	goos, arch, _ := strings.Cut(platform, "/")
	if goos != "linux" {
		t.Skipf("multi-host tests need a Linux Docker engine, this one runs %s", platform)
	}
	return arch
}

// runPrefix names everything one run creates: unique per run, so runs
// sharing an engine never touch each other's resources.
func runPrefix(t testing.TB) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "drover-mh-" + hex.EncodeToString(b)
}

// labels are the docker flags marking a resource as this run's.
func labels(prefix string) []string {
	return []string{"--label", label + "=" + prefix, "--label", createdLabel + "=" + strconv.FormatInt(time.Now().Unix(), 10)}
}

// removeStale removes containers, networks and images that a run killed
// before its cleanup (a test binary's timeout, say) left behind.
func removeStale(t testing.TB) {
	t.Helper()
	kinds := []struct {
		kind   string
		list   []string
		labels string
		remove []string
	}{
		{"container", []string{"ps", "-aq"}, "{{index .Config.Labels %q}}", []string{"rm", "-f", "-v"}},
		{"network", []string{"network", "ls", "-q"}, "{{index .Labels %q}}", []string{"network", "rm"}},
		{"image", []string{"images", "-q"}, "{{index .Config.Labels %q}}", []string{"rmi", "-f"}},
	}
	for _, k := range kinds {
		ids, err := docker(append(k.list, "--filter", "label="+label)...)
		if err != nil || ids == "" {
			continue
		}
		for _, id := range strings.Fields(ids) {
			created, err := docker("inspect", "--type", k.kind, "--format", fmt.Sprintf(k.labels, createdLabel), id)
			if err != nil {
				continue
			}
			sec, err := strconv.ParseInt(created, 10, 64)
			if err != nil || time.Since(time.Unix(sec, 0)) < staleAfter {
				continue
			}
			if _, err := docker(append(k.remove, id)...); err == nil {
				t.Logf("removed %s %s left behind by an earlier run", k.kind, id)
			}
		}
	}
}

// goBuild builds a static Linux binary of pkg for the engine's arch.
func goBuild(t testing.TB, arch, out, pkg string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
}

// imageFile is one file or directory of an image.
type imageFile struct {
	path string
	mode int64
	// from is a host file to copy; data the contents otherwise. A path
	// ending in / is a directory.
	from string
	data string
}

// buildImage imports an image made of files only (no base image, so
// nothing is pulled) whose entrypoint is entry, and removes it when the
// test ends.
func buildImage(t *testing.T, name, prefix string, entry []string, files []imageFile) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		hdr := &tar.Header{Name: strings.TrimPrefix(f.path, "/"), Mode: f.mode, ModTime: time.Now()}
		body := []byte(f.data)
		switch {
		case strings.HasSuffix(f.path, "/"):
			hdr.Typeflag = tar.TypeDir
			body = nil
		case f.from != "":
			b, err := os.ReadFile(f.from)
			if err != nil {
				t.Fatal(err)
			}
			body = b
		}
		if hdr.Typeflag != tar.TypeDir {
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	entryJSON := `["` + strings.Join(entry, `","`) + `"]`
	args := []string{"import", "--change", "ENTRYPOINT " + entryJSON}
	for _, l := range []string{label + "=" + prefix, createdLabel + "=" + strconv.FormatInt(time.Now().Unix(), 10)} {
		args = append(args, "--change", "LABEL "+l)
	}
	t.Cleanup(func() {
		if _, err := docker("rmi", "-f", name); err != nil {
			t.Errorf("removing image: %v", err)
		}
	})
	if _, err := dockerIn(buf.Bytes(), append(args, "-", name)...); err != nil {
		t.Fatal(err)
	}
}

// network is a private Docker network whose containers get fixed
// addresses, so a restarted or reconnected container keeps its own.
type network struct {
	name   string
	prefix netip.Prefix
}

// newNetwork creates a bridge network on a subnet the engine considers
// free: it lets the engine pick one, then recreates the network with that
// subnet spelled out, which is what fixed addresses need. Another run
// taking the subnet in between is retried.
func newNetwork(t *testing.T, name, prefix string) *network {
	t.Helper()
	var lastErr error
	for range 5 {
		if _, err := docker(append(append([]string{"network", "create"}, labels(prefix)...), name)...); err != nil {
			t.Fatal(err)
		}
		subnet, err := docker("network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}} {{end}}", name)
		mustDocker(t, "network", "rm", name)
		if err != nil {
			t.Fatal(err)
		}
		p, err := netip.ParsePrefix(strings.Fields(subnet + " ")[0])
		if err != nil || !p.Addr().Is4() {
			t.Fatalf("network %s got subnet %q, want an IPv4 one", name, subnet)
		}
		_, lastErr = docker(append(append([]string{"network", "create", "--subnet", p.String()}, labels(prefix)...), name)...)
		if lastErr == nil {
			n := &network{name: name, prefix: p.Masked()}
			t.Cleanup(func() {
				if _, err := docker("network", "rm", name); err != nil {
					t.Errorf("removing network: %v", err)
				}
			})
			return n
		}
		if !strings.Contains(lastErr.Error(), "overlap") {
			break
		}
	}
	t.Fatalf("creating network %s: %v", name, lastErr)
	return nil
}

// addr is the network's i-th host address (i ≥ 2: .1 is the gateway).
func (n *network) addr(i int) string {
	a := n.prefix.Addr()
	for range i {
		a = a.Next()
	}
	return a.String()
}

// container is one Docker container on a network with a fixed address.
type container struct {
	name string
	ip   string
	net  *network
}

// createContainer creates (without starting) a container of image, labelled
// with the run's prefix, on n at
// ip, running args after the image's entrypoint, with files copied in
// (host path → container directory). It is removed, with its volumes, when
// the test ends; a failed test logs the end of its output first.
func createContainer(t *testing.T, prefix, name, image string, n *network, ip string, files map[string]string, args ...string) *container {
	t.Helper()
	return createContainerWith(t, prefix, name, image, n, ip, nil, files, args...)
}

// createContainerWith is createContainer with more flags for docker
// create (a mount, say).
func createContainerWith(t *testing.T, prefix, name, image string, n *network, ip string, flags []string, files map[string]string, args ...string) *container {
	t.Helper()
	create := append([]string{"create", "--name", name, "--hostname", name, "--network", n.name, "--ip", ip}, labels(prefix)...)
	create = append(append(append(create, flags...), image), args...)
	t.Cleanup(func() {
		if t.Failed() {
			if logs, err := dockerCombined("logs", "--tail", "150", name); err == nil {
				t.Logf("last output of %s:\n%s", name, logs)
			}
		}
		if _, err := docker("rm", "-f", "-v", name); err != nil {
			t.Errorf("removing container: %v", err)
		}
	})
	mustDocker(t, create...)
	for from, dir := range files {
		mustDocker(t, "cp", from, name+":"+dir)
	}
	return &container{name: name, ip: ip, net: n}
}

// dockerCombined runs docker and returns standard output and error
// together (docker logs replays a container's streams on both).
func dockerCombined(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), dockerTimeout)
	defer cancel()
	b, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	if err != nil {
		return "", errors.Join(err, errors.New(string(b)))
	}
	return string(b), nil
}

func (c *container) start(t testing.TB) { t.Helper(); mustDocker(t, "start", c.name) }

// kill stops the container hard: SIGKILL to every process in it.
func (c *container) kill(t testing.TB) { t.Helper(); mustDocker(t, "kill", c.name) }

// disconnect cuts the container off its network; connect puts it back
// on it at the same address.
func (c *container) disconnect(t testing.TB) {
	t.Helper()
	mustDocker(t, "network", "disconnect", c.net.name, c.name)
}

func (c *container) connect(t testing.TB) {
	t.Helper()
	mustDocker(t, "network", "connect", "--ip", c.ip, c.net.name, c.name)
}

// writeFile writes data to a new file in dir and returns its path.
func writeFile(t testing.TB, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
