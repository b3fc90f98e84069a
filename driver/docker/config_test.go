package docker

import (
	"context"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/internal/testing/dockertest"
	"github.com/droverhq/drover/structs"
)

// configured is a task with the given driver config, laid out on disk as
// the client lays it out; no engine is needed.
func configured(t *testing.T, conf map[string]any) *driver.TaskConfig {
	t.Helper()
	cfg := testTask(t, "web", "img:1")
	cfg.Config = conf
	return cfg
}

func TestTaskConfigsTheDriverOrThePluginRefuse(t *testing.T) {
	d := New(Config{})
	defer d.Close()
	for name, conf := range map[string]map[string]any{
		"no image":                 {},
		"unknown key":              {"image": "img:1", "cap_add": []any{"NET_ADMIN"}},
		"wrong type":               {"image": "img:1", "args": "not a list"},
		"privileged not allowed":   {"image": "img:1", "privileged": true},
		"host path without volume": {"image": "img:1", "volumes": []any{"/etc:/host-etc"}},
		"escaping relative path":   {"image": "img:1", "volumes": []any{"../../..:/up"}},
		"bad volume":               {"image": "img:1", "volumes": []any{"just-a-path"}},
		"relative target":          {"image": "img:1", "volumes": []any{"local:data"}},
		"named volume":             {"image": "img:1", "mount": []any{map[string]any{"type": "volume", "source": "v", "target": "/v"}}},
		"bind outside":             {"image": "img:1", "mount": map[string]any{"type": "bind", "source": "/var", "target": "/v"}},
		"mount type":               {"image": "img:1", "mount": map[string]any{"type": "npipe", "source": "x", "target": "/v"}},
		"unknown port":             {"image": "img:1", "ports": []any{"nope"}},
		"ports on host network":    {"image": "img:1", "ports": []any{"http"}, "network_mode": "host"},
		"bad pull timeout":         {"image": "img:1", "image_pull_timeout": "soon"},
		"two auth blocks":          {"image": "img:1", "auth": []any{map[string]any{}, map[string]any{}}},
		"auth key":                 {"image": "img:1", "auth": map[string]any{"token": "x"}},
	} {
		cfg := configured(t, conf)
		cfg.Ports = []driver.Port{{Label: "http", HostIP: "127.0.0.1", Value: 20000}}
		_, err := d.StartTask(context.Background(), cfg)
		require.ErrorIs(t, err, driver.ErrInvalidConfig, name)
	}
}

func TestContainerOptionsFollowTheTaskConfig(t *testing.T) {
	d := New(Config{Volumes: VolumesConfig{Enabled: true}, AllowPrivileged: true})
	defer d.Close()
	cfg := configured(t, map[string]any{
		"image": "img:1", "command": "/bin/app", "args": []any{"-v"}, "entrypoint": []any{"/init"},
		"work_dir": "/work", "network_mode": "bridge", "privileged": true, "ports": []any{"http", "raw"},
		"labels":  map[string]any{"a": "b"},
		"volumes": []any{"local/data:/data:ro", "/srv:/srv"},
		"mount": []any{
			map[string]any{"type": "tmpfs", "target": "/scratch", "tmpfs_options": map[string]any{"size": 1048576.0}},
			map[string]any{"type": "volume", "source": "cache", "target": "/cache", "readonly": true},
		},
		"auth": []any{map[string]any{"username": "u", "password": "p", "server_address": "r.example"}},
	})
	cfg.Ports = []driver.Port{
		{Label: "http", HostIP: "10.0.0.5", Value: 23456, To: 8080},
		{Label: "raw", HostIP: "10.0.0.5", Value: 23457},
	}
	cfg.Resources = &structs.Resources{CpuMhz: 500, MemoryMb: 100}
	tc, err := parseTaskConfig(cfg.Config)
	require.NoError(t, err)
	require.Equal(t, "u", tc.auth.Username)
	require.Equal(t, DefaultImagePullTimeout, tc.imagePullTimeout)
	opts, err := d.createOptions(cfg, tc)
	require.NoError(t, err)

	require.Equal(t, []string{"/bin/app", "-v"}, opts.Config.Cmd)
	require.Equal(t, []string{"/init"}, opts.Config.Entrypoint)
	require.Equal(t, "/work", opts.Config.WorkingDir)
	require.Equal(t, "b", opts.Config.Labels["a"])
	require.True(t, opts.HostConfig.Privileged)
	require.Equal(t, int64(100<<20), opts.HostConfig.Memory)
	require.Equal(t, int64(500), opts.HostConfig.CPUShares)
	http := network.MustParsePort("8080/tcp")
	require.Contains(t, opts.Config.ExposedPorts, http)
	require.Equal(t, "23456", opts.HostConfig.PortBindings[http][0].HostPort)
	require.Equal(t, "10.0.0.5", opts.HostConfig.PortBindings[http][0].HostIP.String())
	require.Contains(t, opts.HostConfig.PortBindings, network.MustParsePort("23457/udp"), "a port without to maps to its value")

	byTarget := map[string]mount.Mount{}
	for _, m := range opts.HostConfig.Mounts {
		byTarget[m.Target] = m
	}
	require.Equal(t, filepath.Join(cfg.TaskDir, "local"), byTarget["/local"].Source)
	require.Equal(t, filepath.Join(cfg.TaskDir, "secrets"), byTarget["/secrets"].Source)
	require.Equal(t, cfg.AllocDir, byTarget["/alloc"].Source)
	require.Equal(t, filepath.Join(cfg.TaskDir, "local", "data"), byTarget["/data"].Source, "relative to the task dir")
	require.True(t, byTarget["/data"].ReadOnly)
	require.Equal(t, "/srv", byTarget["/srv"].Source)
	require.Equal(t, mount.TypeTmpfs, byTarget["/scratch"].Type)
	require.Equal(t, int64(1<<20), byTarget["/scratch"].TmpfsOptions.SizeBytes)
	require.Equal(t, "cache", byTarget["/cache"].Source)
	require.True(t, byTarget["/cache"].ReadOnly)

	// Without volumes, a path inside the allocation is still allowed.
	plain := New(Config{})
	defer plain.Close()
	cfg.Config = map[string]any{"image": "img:1", "volumes": []any{"../alloc/data:/shared"}}
	tc, err = parseTaskConfig(cfg.Config)
	require.NoError(t, err)
	_, err = plain.createOptions(cfg, tc)
	require.NoError(t, err)
}

func TestContainerNames(t *testing.T) {
	require.Equal(t, "web-0123", ContainerName(&driver.TaskConfig{TaskName: "web", AllocID: "0123"}))
	require.Equal(t, "xweb_1", ContainerName(&driver.TaskConfig{ID: "/web/1"}))
}

// TestAnEngineThatGoesAwayMakesTheDriverUnhealthy puts a proxy in front of
// the engine and takes it away and back.
func TestAnEngineThatGoesAwayMakesTheDriverUnhealthy(t *testing.T) {
	dockertest.Engine(t)
	sock := filepath.Join(t.TempDir(), "docker.sock")
	toEngine := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", engineSocket())
	}}
	defer toEngine.CloseIdleConnections()
	proxy := &httputil.ReverseProxy{
		Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(&url.URL{Scheme: "http", Host: "docker"}) },
		Transport: toEngine,
	}
	serve := func() *http.Server {
		l, err := net.Listen("unix", sock)
		require.NoError(t, err)
		srv := &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(l) }()
		return srv
	}
	d := New(Config{Endpoint: "unix://" + sock})
	defer d.Close()
	fp := d.Fingerprint(context.Background())
	require.False(t, fp.Detected, "never answered: not detected")

	srv := serve()
	fp = d.Fingerprint(context.Background())
	require.True(t, fp.Detected)
	require.True(t, fp.Healthy, fp.HealthDescription)

	require.NoError(t, srv.Close())
	os.Remove(sock)
	fp = d.Fingerprint(context.Background())
	require.True(t, fp.Detected, "an engine that answered before stays detected")
	require.False(t, fp.Healthy)
	require.Contains(t, fp.HealthDescription, "Docker is unavailable")

	srv = serve()
	defer srv.Close()
	fp = d.Fingerprint(context.Background())
	require.True(t, fp.Healthy, "healthy again once the engine answers: %s", fp.HealthDescription)
}

// engineSocket is the engine's unix socket, from DOCKER_HOST or the default.
func engineSocket() string {
	if h := os.Getenv("DOCKER_HOST"); len(h) > len("unix://") && h[:7] == "unix://" {
		return h[7:]
	}
	return "/var/run/docker.sock"
}
