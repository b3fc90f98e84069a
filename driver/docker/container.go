package docker

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/internal/cgroup"
)

// Labels the driver puts on its containers, besides the task's own.
const (
	LabelAllocID  = "drover.alloc_id"
	LabelTaskID   = "drover.task_id"
	LabelTaskName = "drover.task_name"
	LabelJobID    = "drover.job_id"
	LabelGroup    = "drover.task_group"
)

// ContainerName is the name of a task's container, Nomad's:
// <task>-<allocation id>.
func ContainerName(cfg *driver.TaskConfig) string {
	name := cfg.TaskName + "-" + cfg.AllocID
	if cfg.TaskName == "" || cfg.AllocID == "" {
		name = cfg.ID
	}
	// Docker allows [a-zA-Z0-9][a-zA-Z0-9_.-]*.
	b := []byte(name)
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || i > 0 && (c == '_' || c == '.' || c == '-')
		if !ok {
			b[i] = '_'
			if i == 0 {
				b[i] = 'x'
			}
		}
	}
	return string(b)
}

// createOptions is the container a task asks for, checked against what
// the plugin allows.
func (d *Driver) createOptions(cfg *driver.TaskConfig, tc *taskConfig) (client.ContainerCreateOptions, error) {
	var opts client.ContainerCreateOptions
	if tc.privileged && !d.cfg.AllowPrivileged {
		return opts, fmt.Errorf("%w: privileged containers are not allowed on this client (the docker plugin's allow_privileged)",
			driver.ErrInvalidConfig)
	}
	labels := map[string]string{}
	for k, v := range tc.labels {
		labels[k] = v
	}
	for k, v := range map[string]string{
		LabelAllocID: cfg.AllocID, LabelTaskID: cfg.ID, LabelTaskName: cfg.TaskName, LabelJobID: cfg.JobID, LabelGroup: cfg.TaskGroup,
	} {
		labels[k] = v
	}
	env := driver.EnvInOwnRoot(cfg.Env)
	envList := make([]string, 0, len(env))
	for k, v := range env {
		envList = append(envList, k+"="+v)
	}
	slices.Sort(envList)
	conf := &container.Config{
		Image: tc.image, Env: envList, Entrypoint: tc.entrypoint, WorkingDir: tc.workDir, Labels: labels,
		User: cfg.User, // "" keeps the image's
	}
	switch {
	case tc.command != "":
		conf.Cmd = append([]string{tc.command}, tc.args...)
	case len(tc.args) > 0:
		conf.Cmd = tc.args
	}
	mounts, err := d.mounts(cfg, tc)
	if err != nil {
		return opts, err
	}
	hard, soft := cgroup.Limits{MemoryMB: cfg.Resources.GetMemoryMb(), MemoryMaxMB: cfg.Resources.GetMemoryMaxMb()}.Memory()
	host := &container.HostConfig{
		Mounts:      mounts,
		NetworkMode: container.NetworkMode(tc.networkMode),
		Privileged:  tc.privileged,
		// The engine keeps a bounded copy; the task's log files are the logs.
		LogConfig: container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "10m", "max-file": "2"}},
		Resources: container.Resources{
			Memory: hard, MemoryReservation: soft, MemorySwap: hard,
		},
	}
	if mhz := cfg.Resources.GetCpuMhz(); mhz > 0 {
		host.CPUShares = cgroup.Shares(mhz)
	}
	if err := publishPorts(cfg, tc, conf, host); err != nil {
		return opts, err
	}
	return client.ContainerCreateOptions{Name: ContainerName(cfg), Config: conf, HostConfig: host}, nil
}

// publishPorts maps the task's port labels: each allocated port is
// published on the node's address at its value, to its to (or its
// value) in the container, for tcp and udp.
func publishPorts(cfg *driver.TaskConfig, tc *taskConfig, conf *container.Config, host *container.HostConfig) error {
	if len(tc.ports) == 0 {
		return nil
	}
	if mode := host.NetworkMode; mode.IsHost() || mode.IsContainer() || mode.IsNone() {
		return fmt.Errorf("%w: ports cannot be mapped with network_mode %q", driver.ErrInvalidConfig, tc.networkMode)
	}
	conf.ExposedPorts = network.PortSet{}
	host.PortBindings = network.PortMap{}
	for _, label := range tc.ports {
		i := slices.IndexFunc(cfg.Ports, func(p driver.Port) bool { return p.Label == label })
		if i < 0 {
			return fmt.Errorf("%w: port %q is not one of the group's network ports", driver.ErrInvalidConfig, label)
		}
		p := cfg.Ports[i]
		to := p.To
		if to <= 0 {
			to = p.Value
		}
		binding := network.PortBinding{HostPort: strconv.Itoa(p.Value)}
		if ip, err := netip.ParseAddr(p.HostIP); err == nil {
			binding.HostIP = ip
		}
		for _, proto := range []network.IPProtocol{network.TCP, network.UDP} {
			port, ok := network.PortFrom(uint16(to), proto)
			if !ok || to > 65535 {
				return fmt.Errorf("%w: port %q maps to %d", driver.ErrInvalidConfig, label, to)
			}
			conf.ExposedPorts[port] = struct{}{}
			host.PortBindings[port] = append(host.PortBindings[port], binding)
		}
	}
	return nil
}

// mounts are the task's directories (local/ at /local, secrets/ at
// /secrets, the allocation's at /alloc), its volumes and its mount
// blocks.
func (d *Driver) mounts(cfg *driver.TaskConfig, tc *taskConfig) ([]mount.Mount, error) {
	var out []mount.Mount
	for _, m := range []struct{ host, in string }{
		{cfg.AllocDir, driver.AllocDirInTask},
		{dirIn(cfg.TaskDir, "local"), driver.LocalDirInTask},
		{dirIn(cfg.TaskDir, "secrets"), driver.SecretsDirInTask},
	} {
		if m.host == "" {
			continue
		}
		if _, err := os.Stat(m.host); err != nil {
			continue
		}
		out = append(out, mount.Mount{Type: mount.TypeBind, Source: m.host, Target: m.in})
	}
	for _, v := range tc.volumes {
		m, err := d.volume(cfg, v)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	for _, ms := range tc.mounts {
		m, err := d.mount(cfg, ms)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	// The group's host volumes (volume_mount blocks): the client checked
	// them against the node's host volumes.
	for _, v := range cfg.Mounts {
		m := mount.Mount{Type: mount.TypeBind, Source: v.HostPath, Target: v.TaskPath, ReadOnly: v.ReadOnly}
		if err := checkTarget(m.Target); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func dirIn(dir, sub string) string {
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, sub)
}

// volume reads "source:target[:ro|rw]".
func (d *Driver) volume(cfg *driver.TaskConfig, spec string) (mount.Mount, error) {
	parts := strings.Split(spec, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" {
		return mount.Mount{}, fmt.Errorf("%w: volume %q must be source:target[:ro]", driver.ErrInvalidConfig, spec)
	}
	m := mount.Mount{Type: mount.TypeBind, Target: parts[1]}
	if len(parts) == 3 {
		switch parts[2] {
		case "ro":
			m.ReadOnly = true
		case "rw":
		default:
			return m, fmt.Errorf("%w: volume %q: mode must be ro or rw", driver.ErrInvalidConfig, spec)
		}
	}
	src, err := d.hostPath(cfg, parts[0])
	if err != nil {
		return m, fmt.Errorf("volume %q: %w", spec, err)
	}
	m.Source = src
	return m, checkTarget(m.Target)
}

// mount turns a mount block into the engine's mount.
func (d *Driver) mount(cfg *driver.TaskConfig, ms mountSpec) (mount.Mount, error) {
	m := mount.Mount{Type: mount.Type(ms.typ), Target: ms.target, ReadOnly: ms.readonly}
	switch ms.typ {
	case "bind":
		src, err := d.hostPath(cfg, ms.source)
		if err != nil {
			return m, fmt.Errorf("mount of %s: %w", ms.target, err)
		}
		m.Source = src
		if ms.propagation != "" {
			m.BindOptions = &mount.BindOptions{Propagation: mount.Propagation(ms.propagation)}
		}
	case "volume":
		if !d.cfg.Volumes.Enabled {
			return m, fmt.Errorf("%w: volume mount of %s: volumes are not enabled on this client (the docker plugin's volumes.enabled)",
				driver.ErrInvalidConfig, ms.target)
		}
		m.Source = ms.source
		m.VolumeOptions = &mount.VolumeOptions{NoCopy: ms.volumeNoCopy, Labels: ms.volumeLabels}
	case "tmpfs":
		if ms.tmpfsSize != 0 || ms.tmpfsMode != 0 {
			m.TmpfsOptions = &mount.TmpfsOptions{SizeBytes: ms.tmpfsSize, Mode: os.FileMode(ms.tmpfsMode)}
		}
	}
	return m, checkTarget(m.Target)
}

// hostPath resolves a bind source: relative to the task directory, and
// outside the allocation's directory only with volumes enabled.
func (d *Driver) hostPath(cfg *driver.TaskConfig, src string) (string, error) {
	p := src
	if !filepath.IsAbs(p) {
		if cfg.TaskDir == "" {
			return "", fmt.Errorf("%w: relative source %q without a task directory", driver.ErrInvalidConfig, src)
		}
		p = filepath.Join(cfg.TaskDir, p)
	}
	p = filepath.Clean(p)
	if d.cfg.Volumes.Enabled {
		return p, nil
	}
	if cfg.TaskDir != "" {
		allocDir := filepath.Dir(cfg.TaskDir)
		if rel, err := filepath.Rel(allocDir, p); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: host path %s is outside the allocation and volumes are not enabled on this client (the docker plugin's volumes.enabled)",
		driver.ErrInvalidConfig, p)
}

func checkTarget(target string) error {
	if !strings.HasPrefix(target, "/") {
		return fmt.Errorf("%w: mount target %q must be an absolute path", driver.ErrInvalidConfig, target)
	}
	return nil
}
