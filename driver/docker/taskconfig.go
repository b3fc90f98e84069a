package docker

import (
	"fmt"
	"strings"
	"time"

	"github.com/moby/moby/api/types/registry"

	"github.com/droverhq/drover/driver"
)

// taskKeys are the task config keys the driver reads, Nomad's names.
var taskKeys = []string{
	"image", "command", "args", "entrypoint", "ports", "labels", "volumes", "mount", "work_dir",
	"network_mode", "privileged", "force_pull", "image_pull_timeout", "auth",
}

// taskConfig is a docker task's driver config.
type taskConfig struct {
	image            string
	command          string
	args             []string
	entrypoint       []string
	ports            []string
	labels           map[string]string
	volumes          []string
	mounts           []mountSpec
	workDir          string
	networkMode      string
	privileged       bool
	forcePull        bool
	imagePullTimeout time.Duration
	auth             *registry.AuthConfig
}

// mountSpec is one mount block.
type mountSpec struct {
	typ, target, source string
	readonly            bool
	propagation         string
	tmpfsSize           int64
	tmpfsMode           int
	volumeNoCopy        bool
	volumeLabels        map[string]string
}

func parseTaskConfig(cfg map[string]any) (*taskConfig, error) {
	if err := driver.CheckKeys(cfg, taskKeys...); err != nil {
		return nil, err
	}
	c := &taskConfig{}
	var err error
	for key, dst := range map[string]*string{
		"image": &c.image, "command": &c.command, "work_dir": &c.workDir, "network_mode": &c.networkMode,
	} {
		if *dst, err = driver.ConfigString(cfg, key); err != nil {
			return nil, err
		}
	}
	if strings.TrimSpace(c.image) == "" {
		return nil, fmt.Errorf("%w: image is required", driver.ErrInvalidConfig)
	}
	for key, dst := range map[string]*[]string{
		"args": &c.args, "entrypoint": &c.entrypoint, "ports": &c.ports, "volumes": &c.volumes,
	} {
		if *dst, err = driver.ConfigStrings(cfg, key); err != nil {
			return nil, err
		}
	}
	for key, dst := range map[string]*bool{"privileged": &c.privileged, "force_pull": &c.forcePull} {
		if *dst, err = driver.ConfigBool(cfg, key); err != nil {
			return nil, err
		}
	}
	if c.imagePullTimeout, err = driver.ConfigDuration(cfg, "image_pull_timeout"); err != nil {
		return nil, err
	}
	if c.imagePullTimeout < 0 {
		return nil, fmt.Errorf("%w: image_pull_timeout must not be negative", driver.ErrInvalidConfig)
	}
	if c.imagePullTimeout == 0 {
		c.imagePullTimeout = DefaultImagePullTimeout
	}
	if c.labels, err = stringMap(cfg, "labels"); err != nil {
		return nil, err
	}
	if c.auth, err = parseAuth(cfg); err != nil {
		return nil, err
	}
	mounts, err := blocks(cfg, "mount")
	if err != nil {
		return nil, err
	}
	for i, m := range mounts {
		ms, err := parseMount(m)
		if err != nil {
			return nil, fmt.Errorf("mount %d: %w", i, err)
		}
		c.mounts = append(c.mounts, ms)
	}
	return c, nil
}

// blocks reads a block a job may give once or several times: a map, or a
// list of maps (as HCL blocks arrive in a job's JSON).
func blocks(cfg map[string]any, key string) ([]map[string]any, error) {
	switch v := cfg[key].(type) {
	case nil:
		return nil, nil
	case map[string]any:
		return []map[string]any{v}, nil
	case []any:
		out := make([]map[string]any, 0, len(v))
		for i, x := range v {
			m, ok := x.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%w: %s[%d] must be a block, got %T", driver.ErrInvalidConfig, key, i, x)
			}
			out = append(out, m)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("%w: %s must be a block, got %T", driver.ErrInvalidConfig, key, v)
	}
}

// oneBlock reads a block that may appear at most once.
func oneBlock(cfg map[string]any, key string) (map[string]any, error) {
	bs, err := blocks(cfg, key)
	if err != nil || len(bs) == 0 {
		return nil, err
	}
	if len(bs) > 1 {
		return nil, fmt.Errorf("%w: only one %s block is allowed", driver.ErrInvalidConfig, key)
	}
	return bs[0], nil
}

// stringMap reads a map of strings, written as a map or, as Nomad's JSON
// writes labels, a list of maps.
func stringMap(cfg map[string]any, key string) (map[string]string, error) {
	bs, err := blocks(cfg, key)
	if err != nil || len(bs) == 0 {
		return nil, err
	}
	out := map[string]string{}
	for _, b := range bs {
		for k, v := range b {
			s, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("%w: %s.%s must be a string, got %T", driver.ErrInvalidConfig, key, k, v)
			}
			out[k] = s
		}
	}
	return out, nil
}

func parseAuth(cfg map[string]any) (*registry.AuthConfig, error) {
	b, err := oneBlock(cfg, "auth")
	if err != nil || b == nil {
		return nil, err
	}
	if err := driver.CheckKeys(b, "username", "password", "email", "server_address"); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	a := &registry.AuthConfig{}
	var email string // accepted as Nomad does; the engine's API no longer carries it
	for key, dst := range map[string]*string{
		"username": &a.Username, "password": &a.Password, "email": &email, "server_address": &a.ServerAddress,
	} {
		if *dst, err = driver.ConfigString(b, key); err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
	}
	return a, nil
}

func parseMount(m map[string]any) (mountSpec, error) {
	var ms mountSpec
	err := driver.CheckKeys(m, "type", "target", "source", "readonly", "bind_options", "tmpfs_options", "volume_options")
	if err != nil {
		return ms, err
	}
	if ms.typ, err = driver.ConfigString(m, "type"); err != nil {
		return ms, err
	}
	if ms.typ == "" {
		ms.typ = "volume"
	}
	if ms.typ != "volume" && ms.typ != "bind" && ms.typ != "tmpfs" {
		return ms, fmt.Errorf("%w: type %q must be volume, bind or tmpfs", driver.ErrInvalidConfig, ms.typ)
	}
	if ms.target, err = driver.ConfigString(m, "target"); err != nil {
		return ms, err
	}
	if ms.target == "" {
		return ms, fmt.Errorf("%w: target is required", driver.ErrInvalidConfig)
	}
	if ms.source, err = driver.ConfigString(m, "source"); err != nil {
		return ms, err
	}
	if ms.source == "" && ms.typ != "tmpfs" {
		return ms, fmt.Errorf("%w: source is required for a %s mount", driver.ErrInvalidConfig, ms.typ)
	}
	if ms.readonly, err = driver.ConfigBool(m, "readonly"); err != nil {
		return ms, err
	}
	if b, err := oneBlock(m, "bind_options"); err != nil || b != nil {
		if err == nil {
			err = driver.CheckKeys(b, "propagation")
		}
		if err == nil {
			ms.propagation, err = driver.ConfigString(b, "propagation")
		}
		if err != nil {
			return ms, fmt.Errorf("bind_options: %w", err)
		}
	}
	if b, err := oneBlock(m, "tmpfs_options"); err != nil || b != nil {
		var size int
		if err == nil {
			err = driver.CheckKeys(b, "size", "mode")
		}
		if err == nil {
			size, err = driver.ConfigInt(b, "size")
		}
		if err == nil {
			ms.tmpfsSize = int64(size)
			ms.tmpfsMode, err = driver.ConfigInt(b, "mode")
		}
		if err != nil {
			return ms, fmt.Errorf("tmpfs_options: %w", err)
		}
	}
	if b, err := oneBlock(m, "volume_options"); err != nil || b != nil {
		if err == nil {
			err = driver.CheckKeys(b, "no_copy", "labels")
		}
		if err == nil {
			ms.volumeNoCopy, err = driver.ConfigBool(b, "no_copy")
		}
		if err == nil {
			ms.volumeLabels, err = stringMap(b, "labels")
		}
		if err != nil {
			return ms, fmt.Errorf("volume_options: %w", err)
		}
	}
	return ms, nil
}
