package config

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"

	"github.com/droverhq/drover/driver/docker"
)

// Settings of Nomad's docker plugin the agent reads without applying.
var (
	ignoredDocker = []string{
		"auth", "tls", "allow_caps", "allow_runtimes", "nvidia_runtime", "infra_image", "infra_image_pull_timeout",
		"image_pull_timeout", "logging", "extra_labels", "disable_log_collection", "container_exists_attempts",
		"oom_score_adj", "pids_limit", "windows_allow_insecure_container_admin", "allowed_modes",
	}
	ignoredDockerVolumes = []string{"selinuxlabel"}
	ignoredDockerGC      = []string{"dangling_containers"}
)

// DockerConfig is the config block of plugin "docker", as far as the
// agent applies it.
type DockerConfig struct {
	Endpoint            *string        `hcl:"endpoint,optional"`
	AllowPrivileged     *bool          `hcl:"allow_privileged,optional"`
	PullActivityTimeout *string        `hcl:"pull_activity_timeout,optional"`
	Volumes             *DockerVolumes `hcl:"volumes,block"`
	GC                  *DockerGC      `hcl:"gc,block"`
	Rest                hcl.Body       `hcl:",remain"`
}

// DockerVolumes is the docker plugin's volumes block.
type DockerVolumes struct {
	Enabled *bool    `hcl:"enabled,optional"`
	Rest    hcl.Body `hcl:",remain"`
}

// DockerGC is the docker plugin's gc block.
type DockerGC struct {
	Image      *bool    `hcl:"image,optional"`
	ImageDelay *string  `hcl:"image_delay,optional"`
	Container  *bool    `hcl:"container,optional"`
	Rest       hcl.Body `hcl:",remain"`
}

// readPlugin reads a plugin block's config: raw_exec and exec take
// enabled alone (anything else is accepted and ignored), docker its own
// settings.
func (c *Config) readPlugin(p *Plugin) error {
	if p.Config == nil {
		return nil
	}
	if p.Name != "docker" {
		attrs, diags := p.Config.Rest.JustAttributes()
		if diags.HasErrors() {
			return fmt.Errorf("%w: %s", ErrConfig, diags.Error())
		}
		for name := range attrs {
			c.Ignored = append(c.Ignored, fmt.Sprintf("plugin %q config.%s", p.Name, name))
		}
		return nil
	}
	d := &DockerConfig{}
	if diags := gohcl.DecodeBody(p.Config.Rest, nil, d); diags.HasErrors() {
		return fmt.Errorf("%w: %s", ErrConfig, diags.Error())
	}
	p.Docker = d
	for _, part := range []struct {
		body   hcl.Body
		prefix string
		known  []string
	}{
		{d.Rest, `plugin "docker" config.`, ignoredDocker},
		{restOf(d.Volumes), `plugin "docker" config.volumes.`, ignoredDockerVolumes},
		{restOfGC(d.GC), `plugin "docker" config.gc.`, ignoredDockerGC},
	} {
		more, err := leftovers(part.body, part.prefix, part.known)
		if err != nil {
			return err
		}
		c.Ignored = append(c.Ignored, more...)
	}
	return nil
}

func restOf(v *DockerVolumes) hcl.Body {
	if v == nil {
		return nil
	}
	return v.Rest
}

func restOfGC(g *DockerGC) hcl.Body {
	if g == nil {
		return nil
	}
	return g.Rest
}

// applyDocker lays a docker plugin block's settings over cfg.
func applyDocker(d *DockerConfig, cfg *docker.Config, bad func(string, ...any)) {
	if d.Endpoint != nil {
		cfg.Endpoint = *d.Endpoint
	}
	if d.AllowPrivileged != nil {
		cfg.AllowPrivileged = *d.AllowPrivileged
	}
	if v := d.PullActivityTimeout; v != nil {
		t, err := time.ParseDuration(*v)
		if err != nil || t <= 0 {
			bad(`plugin "docker" config.pull_activity_timeout %q is not a positive duration`, *v)
		}
		cfg.PullActivityTimeout = t
	}
	if v := d.Volumes; v != nil && v.Enabled != nil {
		cfg.Volumes.Enabled = *v.Enabled
	}
	if g := d.GC; g != nil {
		if g.Image != nil {
			cfg.GC.KeepImages = !*g.Image
		}
		if g.Container != nil {
			cfg.GC.KeepContainers = !*g.Container
		}
		if v := g.ImageDelay; v != nil {
			t, err := time.ParseDuration(*v)
			switch {
			case err != nil || t < 0:
				bad(`plugin "docker" config.gc.image_delay %q is not a duration`, *v)
			case t == 0:
				cfg.GC.ImageDelay = -1 // Nomad's "0s": at once
			default:
				cfg.GC.ImageDelay = t
			}
		}
	}
}

// buildPlugins applies the plugin blocks in order (a later block wins
// setting by setting) and the client's chroot_env.
func buildPlugins(c *Config, a *Agent, bad, warn func(string, ...any)) {
	a.Docker, a.DockerEnabled, a.ExecEnabled = docker.Config{}, true, true
	for _, p := range c.Plugins {
		switch p.Name {
		case "raw_exec":
			if p.Config != nil {
				a.RawExec = deref(p.Config.Enabled)
			}
		case "exec":
			if p.Config != nil && p.Config.Enabled != nil {
				a.ExecEnabled = *p.Config.Enabled
			}
		case "docker":
			if p.Config != nil && p.Config.Enabled != nil {
				a.DockerEnabled = *p.Config.Enabled
			}
			if p.Docker != nil {
				applyDocker(p.Docker, &a.Docker, bad)
			}
		default:
			warn("plugin %q is not known to this agent and is ignored", p.Name)
		}
	}
	if cl := c.Client; cl != nil && cl.ChrootEnv != nil {
		a.ChrootEnv = map[string]string{}
		for host, in := range cl.ChrootEnv.Values {
			if !filepath.IsAbs(host) || !filepath.IsAbs(in) {
				bad("client.chroot_env %q = %q: both paths must be absolute", host, in)
			}
			a.ChrootEnv[host] = in
		}
	}
}
