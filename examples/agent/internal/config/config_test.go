package config

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/driver/docker"
)

func TestParseNomadSpelledSettings(t *testing.T) {
	src := `
data_dir   = "/opt/drover"
name       = "edge-1"
region     = "eu"
datacenter = "fra1"
bind_addr  = "10.0.0.5"
log_level  = "debug"
leave_on_interrupt = true
ports {
  http = 5646
  rpc  = 5647
  serf = 5648
}
advertise {
  http = "192.0.2.10:5646"
  rpc  = "192.0.2.10:5647"
}
server {
  enabled                   = true
  bootstrap_expect          = 1
  authoritative_region      = "eu"
  enabled_schedulers        = ["service", "batch"]
  enable_event_broker       = false
  event_buffer_size         = 500
  node_gc_threshold         = "48h"
  job_gc_interval           = "10m"
  job_gc_threshold          = "8h"
  eval_gc_threshold         = "2h"
  batch_eval_gc_threshold   = "48h"
  deployment_gc_threshold   = "2h"
  heartbeat_grace           = "20s"
  min_heartbeat_ttl         = "15s"
  failover_heartbeat_ttl    = "10m"
  max_heartbeats_per_second = 100.5
  num_schedulers            = 3
  raft_multiplier           = 2
  raft_snapshot_threshold   = 100
  raft_snapshot_interval    = "30s"
  raft_trailing_logs        = 200
  raft_protocol             = 3
  job_max_priority          = 200
  job_max_count             = 0
  job_default_priority      = 60
  job_tracked_versions      = 3
  rejoin_after_leave        = true
  root_key_rotation_threshold = "360h"
  root_key_gc_threshold       = "2h"
  root_key_gc_interval        = "5m"
  raft_boltdb {
    no_freelist_sync = true
  }
  plan_rejection_tracker {
    enabled        = true
    node_threshold = 20
    node_window    = "1m"
  }
  default_scheduler_config {
    scheduler_algorithm = "spread"
    preemption_config {
      service_scheduler_enabled = true
    }
  }
  server_join {
    retry_join     = ["10.0.0.6", "10.0.0.7"]
    retry_max      = 3
    retry_interval = "15s"
  }
}
client {
  enabled    = true
  node_class = "edge"
  meta {
    rack = "r1"
    tier = 2
  }
  options = {
    "driver.raw_exec.enable" = "1"
  }
  drain_on_shutdown {
    deadline = "1m"
  }
}
telemetry {
  prometheus_metrics  = true
  collection_interval = "5s"
  disable_hostname    = true
}
`
	c, err := Parse([]byte(src), "agent.hcl")
	require.NoError(t, err)
	a, err := Build(Merge(Defaults(), c))
	require.NoError(t, err)

	require.True(t, a.ServerEnabled)
	require.True(t, a.ClientEnabled)
	require.True(t, a.RawExec)
	require.True(t, a.LeaveOnInterrupt)
	require.Equal(t, slog.LevelDebug, a.LogLevel)
	require.Equal(t, "10.0.0.5:5646", a.HTTPAddr)
	require.Equal(t, "192.0.2.10:5647", a.AdvertiseRPC)
	require.Equal(t, "1m", *a.DrainOnShutdown.Deadline)
	require.Contains(t, a.Warnings, "telemetry.disable_hostname is accepted but not applied by this agent")

	s := a.Server
	require.Equal(t, drover.ServerOptions{
		Name: "edge-1", Region: "eu", Datacenter: "fra1", AuthoritativeRegion: "eu",
		DataDir: "/opt/drover", BindAddr: "10.0.0.5:5647", AdvertiseAddr: "192.0.2.10:5647", SerfBindAddr: "10.0.0.5:5648", BootstrapExpect: 1, RejoinAfterLeave: true,
		ServerJoin:        drover.ServerJoin{RetryJoin: []string{"10.0.0.6", "10.0.0.7"}, RetryMax: 3, RetryInterval: 15 * time.Second},
		NumSchedulers:     3,
		EnabledSchedulers: []string{"service", "batch"},
		DefaultSchedulerConfig: &drover.SchedulerConfiguration{
			SchedulerAlgorithm: "spread",
			PreemptionConfig:   drover.PreemptionConfig{SystemSchedulerEnabled: true, SysBatchSchedulerEnabled: true, ServiceSchedulerEnabled: true},
		},
		DisableEventBroker: true, EventBufferSize: 500,
		GC: drover.GCConfig{
			NodeGCThreshold: 48 * time.Hour, JobGCInterval: 10 * time.Minute, JobGCThreshold: 8 * time.Hour,
			EvalGCThreshold: 2 * time.Hour, BatchEvalGCThreshold: 48 * time.Hour, DeploymentGCThreshold: 2 * time.Hour,
		},
		Heartbeat:            drover.HeartbeatConfig{Grace: 20 * time.Second, MinTTL: 15 * time.Second, MaxPerSecond: 100.5, FailoverTTL: 10 * time.Minute},
		PlanRejectionTracker: drover.PlanRejectionTracker{Enabled: true, NodeThreshold: 20, NodeWindow: time.Minute},
		Raft: drover.RaftConfig{
			Multiplier: 2, SnapshotThreshold: 100, SnapshotInterval: 30 * time.Second, TrailingLogs: 200, BoltNoFreelistSync: true,
		},
		JobDefaultPriority: 60, JobMaxPriority: 200, JobTrackedVersions: 3, JobMaxCount: -1,
		Keyring: drover.KeyringConfig{RotationThreshold: 360 * time.Hour, GCThreshold: 2 * time.Hour, GCInterval: 5 * time.Minute},
	}, s)

	require.Equal(t, "/opt/drover/server", a.EarlierServerDataDir, "where earlier agents kept the server's data")

	cl := a.Client
	require.Equal(t, "/opt/drover/client", cl.DataDir)
	require.Equal(t, "edge", cl.NodeClass)
	require.Equal(t, map[string]string{"rack": "r1", "tier": "2"}, cl.Meta)
	require.Empty(t, cl.Servers, "a client next to a server is pointed at it when the agent starts")
}

func TestDeprecatedJoinFormsAreAcceptedWithAWarning(t *testing.T) {
	c, err := Parse([]byte(`
data_dir = "/var/lib/drover"
server {
  enabled        = true
  start_join     = ["10.0.0.1"]
  retry_join     = ["10.0.0.2"]
  retry_interval = "5s"
  retry_max      = 7
}`), "old.hcl")
	require.NoError(t, err)
	a, err := Build(Merge(Defaults(), c))
	require.NoError(t, err)
	require.Equal(t, drover.ServerJoin{RetryJoin: []string{"10.0.0.1", "10.0.0.2"}, RetryMax: 7, RetryInterval: 5 * time.Second}, a.Server.ServerJoin)
	for _, w := range []string{"retry_join", "retry_interval", "retry_max", "start_join"} {
		require.Contains(t, a.Warnings, "server."+w+" is deprecated: use the server_join block")
	}
}

func TestBadConfigurations(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"syntax", `server {`, "Unclosed configuration block"},
		{"unknown top-level", `data_dir = "/d"
frobnicate = true`, `Unsupported argument; An argument named "frobnicate"`},
		{"unknown server setting", `server {
  enabled = true
  bogus = 1
}`, `Unsupported argument; An argument named "bogus"`},
		{"unknown block", `nope {}`, `Unsupported block type; Blocks of type "nope" are not expected here`},
		{"wrong type", `server { bootstrap_expect = "three" }`, "a number is required"},
		{"bad duration", `data_dir = "/d"
server {
  enabled = true
  heartbeat_grace = "soon"
}`, `heartbeat_grace "soon" is not a duration`},
		{"relative data dir", `data_dir = "rel"
server { enabled = true }`, `data_dir "rel" must be an absolute path`},
		{"nothing enabled", `data_dir = "/d"`, "the agent would do nothing"},
		{"no data dir", `server { enabled = true }`, "data_dir is required"},
		{"bad log level", `data_dir = "/d"
log_level = "LOUD"
server { enabled = true }`, `log_level "LOUD" is not one of`},
		{"client alone without servers", `data_dir = "/d"
client { enabled = true }`, "client.servers is required"},
		{"raft protocol", `data_dir = "/d"
server {
  enabled = true
  raft_protocol = 2
}`, "raft_protocol must be 3"},
		{"server option validation", `data_dir = "/d"
server {
  enabled = true
  job_max_priority = 5
}`, "job_max_priority must be between 100 and 32766"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.src), "bad.hcl")
			if err == nil {
				_, err = Build(Merge(Defaults(), c))
			}
			require.ErrorIs(t, err, ErrConfig)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestFilesInADirectoryMergeInLexicalOrderAndFlagsWin(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(src), 0o600))
	}
	write("10-base.hcl", `data_dir = "/srv/drover"
log_level = "WARN"
region = "eu"
server {
  enabled = true
  num_schedulers = 2
}
client {
  enabled = true
  meta {
    rack = "r1"
  }
}`)
	write("20-override.hcl", `log_level = "ERROR"
server { num_schedulers = 4 }
client {
  meta {
    zone = "a"
  }
}`)
	write("30-extra.json", `{"datacenter": "fra1"}`)
	write("README.md", `not configuration`)

	f, err := ParseFlags([]string{"-config", dir, "-log-level", "debug", "-meta", "rack=r9", "-node", "n1"}, io.Discard)
	require.NoError(t, err)
	c, err := Resolve(f)
	require.NoError(t, err)
	require.Len(t, c.Files, 3)
	a, err := Build(c)
	require.NoError(t, err)
	require.Equal(t, slog.LevelDebug, a.LogLevel, "the flag beats both files")
	require.Equal(t, 4, a.Server.NumSchedulers, "the later file beats the earlier")
	require.Equal(t, "eu", a.Server.Region, "what only the earlier file sets stays")
	require.Equal(t, "fra1", a.Server.Datacenter)
	require.Equal(t, "n1", a.Client.Name)
	require.Equal(t, map[string]string{"rack": "r9", "zone": "a"}, a.Client.Meta, "maps merge key by key")
}

func TestDevDefaults(t *testing.T) {
	f, err := ParseFlags([]string{"-dev", "-data-dir", "/tmp/dev"}, io.Discard)
	require.NoError(t, err)
	c, err := Resolve(f)
	require.NoError(t, err)
	a, err := Build(c)
	require.NoError(t, err)
	require.True(t, a.ServerEnabled && a.ClientEnabled && a.RawExec)
	require.Equal(t, "127.0.0.1:4646", a.HTTPAddr)
	require.Equal(t, "127.0.0.1:4647", a.Server.BindAddr)
	require.Equal(t, "INFO", a.LogLevelName)
	require.Equal(t, "global", a.Server.Region)
}

func TestFlagErrors(t *testing.T) {
	for _, args := range [][]string{{"-nope"}, {"-meta", "novalue"}, {"extra"}} {
		_, err := ParseFlags(args, io.Discard)
		require.ErrorIs(t, err, ErrConfig, "%v", args)
	}
}

func TestMergeKeepsWhatOnlyOneSideSets(t *testing.T) {
	a := &Config{Name: ptr("a"), Server: &Server{NumSchedulers: ptr(1), EnabledSchedulers: []string{"service"}}}
	b := &Config{Region: ptr("eu"), Server: &Server{EnabledSchedulers: []string{"batch"}}}
	m := Merge(a, b)
	require.Equal(t, "a", *m.Name)
	require.Equal(t, "eu", *m.Region)
	require.Equal(t, 1, *m.Server.NumSchedulers)
	require.Equal(t, []string{"batch"}, m.Server.EnabledSchedulers, "lists are replaced")
	*m.Name = "changed"
	require.Equal(t, "a", *a.Name, "merging copies values")
}

func TestDockerPluginAndChrootEnv(t *testing.T) {
	src := `
data_dir = "/opt/drover"
client {
  enabled = true
  servers = ["10.0.0.1:4647"]
  # HCL 2 takes quoted keys in a map, not in a block.
  chroot_env = {
    "/usr"     = "/usr"
    "/etc/ssl" = "/etc/ssl"
  }
}
plugin "docker" {
  config {
    endpoint              = "unix:///run/docker.sock"
    allow_privileged      = true
    pull_activity_timeout = "5m"
    infra_image           = "pause:3"
    volumes {
      enabled      = true
      selinuxlabel = "z"
    }
    gc {
      image       = false
      image_delay = "1h"
      container   = false
      dangling_containers {
        enabled = true
      }
    }
  }
}
plugin "exec" {
  config {
    enabled = false
  }
}
`
	c, err := Parse([]byte(src), "agent.hcl")
	require.NoError(t, err)
	a, err := Build(Merge(Defaults(), c))
	require.NoError(t, err)
	require.True(t, a.DockerEnabled)
	require.False(t, a.ExecEnabled)
	require.Equal(t, docker.Config{
		Endpoint: "unix:///run/docker.sock", AllowPrivileged: true, PullActivityTimeout: 5 * time.Minute,
		Volumes: docker.VolumesConfig{Enabled: true},
		GC:      docker.GCConfig{KeepImages: true, ImageDelay: time.Hour, KeepContainers: true},
	}, a.Docker)
	require.Equal(t, map[string]string{"/usr": "/usr", "/etc/ssl": "/etc/ssl"}, a.ChrootEnv)
	for _, w := range []string{
		`plugin "docker" config.infra_image is accepted but not applied by this agent`,
		`plugin "docker" config.volumes.selinuxlabel is accepted but not applied by this agent`,
		`plugin "docker" config.gc.dangling_containers is accepted but not applied by this agent`,
	} {
		require.Contains(t, a.Warnings, w)
	}

	// The defaults: both on, Nomad's gc, the default chroot.
	c, err = Parse([]byte(`data_dir = "/opt/drover"
client {
  enabled = true
  servers = ["10.0.0.1:4647"]
}
plugin "docker" {
  config {
    gc { image_delay = "0s" }
  }
}`), "agent.hcl")
	require.NoError(t, err)
	a, err = Build(Merge(Defaults(), c))
	require.NoError(t, err)
	require.True(t, a.DockerEnabled)
	require.True(t, a.ExecEnabled)
	require.Nil(t, a.ChrootEnv)
	require.Negative(t, a.Docker.GC.ImageDelay, `"0s" removes unused images at once`)

	for src, want := range map[string]string{
		"plugin \"docker\" {\n config {\n no_such_setting = 1\n }\n}":               "no_such_setting",
		"plugin \"docker\" {\n config {\n gc {\n image_delay = \"soon\"\n }\n }\n}": "image_delay",
		"plugin \"docker\" {\n config {\n pull_activity_timeout = \"-1s\"\n }\n}":   "pull_activity_timeout",
		"client {\n chroot_env = { \"bin\" = \"/bin\" }\n}":                         "chroot_env",
	} {
		c, err := Parse([]byte(src), "agent.hcl")
		if err == nil {
			c.DataDir = ptr("/opt/drover")
			c.Client = &Client{Enabled: ptr(true), Servers: []string{"10.0.0.1:4647"}, ChrootEnv: clientChroot(c)}
			_, err = Build(Merge(Defaults(), c))
		}
		require.ErrorIs(t, err, ErrConfig, src)
		require.ErrorContains(t, err, want, src)
	}
}

func clientChroot(c *Config) *KeyValues {
	if c.Client == nil {
		return nil
	}
	return c.Client.ChrootEnv
}

func TestClientHostVolumes(t *testing.T) {
	src := `
data_dir = "/opt/drover"
client {
  enabled = true
  servers = ["10.0.0.1:4647"]
  host_volume "data" {
    path = "/srv/data"
  }
  host_volume "certs" {
    path      = "/etc/ssl/certs"
    read_only = true
  }
}
`
	c, err := Parse([]byte(src), "agent.hcl")
	require.NoError(t, err)
	a, err := Build(Merge(Defaults(), c))
	require.NoError(t, err)
	require.Equal(t, map[string]drover.HostVolume{
		"data": {Path: "/srv/data"}, "certs": {Path: "/etc/ssl/certs", ReadOnly: true},
	}, a.Client.HostVolumes)

	for _, bad := range []string{
		`host_volume "x" { path = "relative" }`,
		`host_volume "x" { path = "/a" }
  host_volume "x" { path = "/b" }`,
		`host_volume "x" { read_only = true }`,
	} {
		c, err := Parse([]byte("data_dir = \"/d\"\nclient {\n  enabled = true\n  servers = [\"a:1\"]\n  "+bad+"\n}\n"), "bad.hcl")
		if err == nil {
			_, err = Build(Merge(Defaults(), c))
		}
		require.Error(t, err, bad)
	}
}
