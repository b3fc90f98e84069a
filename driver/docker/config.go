package docker

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/droverhq/drover/clock"
)

// Defaults of Config, Nomad's.
const (
	// DefaultImageDelay is how long an image no task uses any more is kept.
	DefaultImageDelay = 3 * time.Minute
	// DefaultPullActivityTimeout cancels a pull that made no progress for
	// that long.
	DefaultPullActivityTimeout = 2 * time.Minute
	// DefaultImagePullTimeout bounds a pull when a task sets no
	// image_pull_timeout.
	DefaultImagePullTimeout = 5 * time.Minute
)

// Config is the docker driver's configuration: the plugin "docker"
// block's config of Nomad's agent. Its zero value is Nomad's defaults:
// the engine from DOCKER_HOST (or the default socket), no privileged
// containers, no host volumes, images and containers collected.
type Config struct {
	// Endpoint is the engine's address, such as
	// unix:///var/run/docker.sock (endpoint); "" takes DOCKER_HOST and its
	// companions (DOCKER_API_VERSION, DOCKER_CERT_PATH, DOCKER_TLS_VERIFY),
	// or the default socket.
	Endpoint string
	// AllowPrivileged lets tasks set privileged = true (allow_privileged).
	AllowPrivileged bool
	// Volumes is the volumes block.
	Volumes VolumesConfig
	// GC is the gc block.
	GC GCConfig
	// PullActivityTimeout cancels an image pull that made no progress for
	// this long (pull_activity_timeout). 0 means
	// DefaultPullActivityTimeout.
	PullActivityTimeout time.Duration
	// Logger may be nil.
	Logger *slog.Logger
	// Clock times the collection of images no task uses (GC.ImageDelay).
	// Default clock.Real(); a test passes a *clock.Fake and steps it.
	Clock clock.Clock
}

// VolumesConfig is the plugin's volumes block.
type VolumesConfig struct {
	// Enabled lets tasks mount host paths outside their allocation
	// directory and named volumes (volumes { enabled = true }).
	Enabled bool
}

// GCConfig is the plugin's gc block; its zero value collects both, as
// Nomad's defaults do.
type GCConfig struct {
	// KeepImages keeps images no task uses any more (gc { image = false }).
	KeepImages bool
	// ImageDelay is how long an image no task uses is kept before it is
	// removed (gc { image_delay }); 0 means DefaultImageDelay, a negative
	// delay removes it at once.
	ImageDelay time.Duration
	// KeepContainers leaves a task's container behind when the task is
	// done (gc { container = false }), for debugging.
	KeepContainers bool
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if c.PullActivityTimeout < 0 {
		return fmt.Errorf("docker: pull_activity_timeout must not be negative, got %s", c.PullActivityTimeout)
	}
	return nil
}

func (c Config) pullActivityTimeout() time.Duration {
	if c.PullActivityTimeout <= 0 {
		return DefaultPullActivityTimeout
	}
	return c.PullActivityTimeout
}

func (c Config) imageDelay() time.Duration {
	switch {
	case c.GC.ImageDelay == 0:
		return DefaultImageDelay
	case c.GC.ImageDelay < 0:
		return 0
	}
	return c.GC.ImageDelay
}
