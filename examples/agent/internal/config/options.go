package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/driver/docker"
)

// Default ports, as Nomad's.
const (
	DefaultHTTPPort = 4646
	DefaultRPCPort  = 4647
	DefaultSerfPort = 4648
)

// Defaults is the configuration every agent starts from.
func Defaults() *Config {
	return &Config{
		Region: ptr("global"), Datacenter: ptr("dc1"), BindAddr: ptr("0.0.0.0"), LogLevel: ptr("INFO"),
		Ports:     &Ports{HTTP: ptr(DefaultHTTPPort), RPC: ptr(DefaultRPCPort), Serf: ptr(DefaultSerfPort)},
		Telemetry: &Telemetry{PrometheusMetrics: ptr(true), CollectionInterval: ptr("1s")},
	}
}

// Dev is the -dev configuration: a server and a client in one agent on
// loopback, with raw_exec on, as Nomad's dev agent.
func Dev() *Config {
	c := Defaults()
	c.BindAddr = ptr("127.0.0.1")
	c.Server = &Server{Enabled: ptr(true), BootstrapExpect: ptr(1)}
	c.Client = &Client{Enabled: ptr(true)}
	c.Plugins = []*Plugin{{Name: "raw_exec", Config: &PluginConfig{Enabled: ptr(true)}}}
	return c
}

// Agent is a configuration turned into what the agent starts.
type Agent struct {
	ServerEnabled bool
	ClientEnabled bool
	Server        drover.ServerOptions
	Client        drover.ClientOptions
	// HTTPAddr is where the HTTP API listens.
	HTTPAddr string
	// AdvertiseHTTP and AdvertiseRPC are the addresses shown to others.
	AdvertiseHTTP, AdvertiseRPC string
	LogLevel                    slog.Level
	LogLevelName                string
	LeaveOnInterrupt            bool
	LeaveOnTerminate            bool
	// SerfAddr is the gossip listen address (bind_addr and ports.serf);
	// AdvertiseSerf the gossip address others are told (advertise.serf).
	SerfAddr, AdvertiseSerf string
	// DrainOnShutdown is set when the client asked to drain before stopping.
	DrainOnShutdown *DrainOnShutdown
	// RawExec turns raw_exec on (off unless asked, as in Nomad).
	RawExec bool
	// ExecEnabled and DockerEnabled keep exec and docker on (the
	// default; plugin "exec"/"docker" { config { enabled = false } }
	// turns them off). docker is detected where an engine answers.
	ExecEnabled, DockerEnabled bool
	// ChrootEnv is the client's chroot_env for exec; nil: the default.
	ChrootEnv map[string]string
	// Docker is the docker plugin's configuration.
	Docker            docker.Config
	PrometheusMetrics bool
	// Warnings lists settings read but not applied, and deprecated forms.
	Warnings []string
	// EarlierServerDataDir is the server's data dir as earlier versions of
	// the agent set it, <data_dir>/server, which put the server's files in
	// <data_dir>/server/server; "" when server.data_dir is set. The agent
	// runs the server on it when it finds data there and none at the
	// place Server.DataDir gives.
	EarlierServerDataDir string
}

// Build checks the merged configuration and turns it into options.
func Build(c *Config) (*Agent, error) {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...))
	}
	a := &Agent{}
	warn := func(format string, args ...any) { a.Warnings = append(a.Warnings, fmt.Sprintf(format, args...)) }
	for _, w := range c.Ignored {
		warn("%s is accepted but not applied by this agent", w)
	}
	a.Warnings = append(a.Warnings, c.Deprecated...)
	sec := buildSecurity(c, bad, warn)

	level, err := ParseLogLevel(deref(c.LogLevel))
	if err != nil {
		bad("%v", err)
	}
	a.LogLevel, a.LogLevelName = level, strings.ToUpper(deref(c.LogLevel))
	a.LeaveOnInterrupt, a.LeaveOnTerminate = deref(c.LeaveOnInterrupt), deref(c.LeaveOnTerminate)

	ports := c.Ports
	if ports == nil {
		ports = &Ports{}
	}
	bind := deref(c.BindAddr)
	a.HTTPAddr = net.JoinHostPort(bind, strconv.Itoa(deref(ports.HTTP)))
	rpcAddr := net.JoinHostPort(bind, strconv.Itoa(deref(ports.RPC)))
	a.SerfAddr = net.JoinHostPort(bind, strconv.Itoa(deref(ports.Serf)))
	a.AdvertiseHTTP, a.AdvertiseRPC = a.HTTPAddr, rpcAddr
	if adv := c.Advertise; adv != nil {
		if adv.HTTP != nil {
			a.AdvertiseHTTP = *adv.HTTP
		}
		if adv.RPC != nil {
			a.AdvertiseRPC = *adv.RPC
		}
		if adv.Serf != nil {
			a.AdvertiseSerf = *adv.Serf
		}
	}

	dataDir := deref(c.DataDir)
	if dataDir != "" && !filepath.IsAbs(dataDir) {
		bad("data_dir %q must be an absolute path", dataDir)
	}
	a.ServerEnabled = c.Server != nil && deref(c.Server.Enabled)
	a.ClientEnabled = c.Client != nil && deref(c.Client.Enabled)
	if !a.ServerEnabled && !a.ClientEnabled {
		bad("neither server.enabled nor client.enabled is set: the agent would do nothing")
	}
	if dataDir == "" && (a.ServerEnabled || a.ClientEnabled) {
		bad("data_dir is required (or run with -dev)")
	}
	buildPlugins(c, a, bad, warn)
	if t := c.Telemetry; t != nil {
		a.PrometheusMetrics = deref(t.PrometheusMetrics)
		if iv := t.CollectionInterval; iv != nil {
			if d, err := time.ParseDuration(*iv); err != nil || d <= 0 {
				bad("telemetry.collection_interval %q is not a positive duration", *iv)
			}
		}
	}
	if a.ServerEnabled {
		if err := buildServer(c, a, dataDir, rpcAddr, sec); err != nil {
			errs = append(errs, err)
		}
	}
	if a.ClientEnabled {
		if err := buildClient(c, a, dataDir, sec); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return a, nil
}

func buildServer(c *Config, a *Agent, dataDir, rpcAddr string, sec security) error {
	s := c.Server
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: server: "+format, append([]any{ErrConfig}, args...)...))
	}
	dur := func(name string, v *string) time.Duration {
		if v == nil {
			return 0
		}
		d, err := time.ParseDuration(*v)
		if err != nil {
			bad("%s %q is not a duration (like \"30s\" or \"1h\")", name, *v)
		}
		return d
	}
	o := drover.ServerOptions{
		Name: deref(c.Name), Region: deref(c.Region), Datacenter: deref(c.Datacenter),
		AuthoritativeRegion: deref(s.AuthoritativeRegion), BindAddr: rpcAddr,
		BootstrapExpect: deref(s.BootstrapExpect), NonVotingServer: deref(s.NonVotingServer),
		RejoinAfterLeave: deref(s.RejoinAfterLeave), Encrypt: deref(s.Encrypt),
		EnabledSchedulers: s.EnabledSchedulers, EventBufferSize: deref(s.EventBufferSize),
		GC: drover.GCConfig{
			NodeGCThreshold: dur("node_gc_threshold", s.NodeGCThreshold), JobGCInterval: dur("job_gc_interval", s.JobGCInterval),
			JobGCThreshold: dur("job_gc_threshold", s.JobGCThreshold), EvalGCThreshold: dur("eval_gc_threshold", s.EvalGCThreshold),
			BatchEvalGCThreshold:  dur("batch_eval_gc_threshold", s.BatchEvalGCThreshold),
			DeploymentGCThreshold: dur("deployment_gc_threshold", s.DeploymentGCThreshold),
			ACLTokenGCThreshold:   dur("acl_token_gc_threshold", s.ACLTokenGCThreshold),
		},
		Heartbeat: drover.HeartbeatConfig{
			Grace: dur("heartbeat_grace", s.HeartbeatGrace), MinTTL: dur("min_heartbeat_ttl", s.MinHeartbeatTTL),
			FailoverTTL:  dur("failover_heartbeat_ttl", s.FailoverHeartbeatTTL),
			MaxPerSecond: deref(s.MaxHeartbeatsPerSecond),
		},
		Raft: drover.RaftConfig{
			Multiplier: deref(s.RaftMultiplier), TrailingLogs: uint64(max(deref(s.RaftTrailingLogs), 0)),
			SnapshotThreshold: uint64(max(deref(s.RaftSnapshotThreshold), 0)),
			SnapshotInterval:  dur("raft_snapshot_interval", s.RaftSnapshotInterval),
		},
		JobMaxPriority: deref(s.JobMaxPriority), JobDefaultPriority: deref(s.JobDefaultPriority),
		JobTrackedVersions: deref(s.JobTrackedVersions),
		TLS:                sec.copyTLS(), ACL: sec.acl, Limits: sec.limits,
		Keyring: drover.KeyringConfig{
			RotationThreshold: dur("root_key_rotation_threshold", s.RootKeyRotationThreshold),
			GCThreshold:       dur("root_key_gc_threshold", s.RootKeyGCThreshold),
			GCInterval:        dur("root_key_gc_interval", s.RootKeyGCInterval),
		},
	}
	if s.DataDir != nil {
		o.DataDir = *s.DataDir
	} else if dataDir != "" {
		// The server keeps its files in <data_dir>/server.
		o.DataDir = dataDir
		a.EarlierServerDataDir = filepath.Join(dataDir, "server")
	}
	if s.EnableEventBroker != nil {
		o.DisableEventBroker = !*s.EnableEventBroker
	}
	if s.JobMaxCount != nil {
		// Nomad spells "no limit" 0; drover's zero value is the default.
		o.JobMaxCount = *s.JobMaxCount
		if o.JobMaxCount == 0 {
			o.JobMaxCount = -1
		}
	}
	if s.NumSchedulers != nil {
		o.NumSchedulers = *s.NumSchedulers
		if o.NumSchedulers == 0 {
			o.NumSchedulers = drover.NoSchedulers
		}
	}
	if p := s.RaftProtocol; p != nil && *p != 3 {
		bad("raft_protocol must be 3, got %d", *p)
	}
	if r := s.RaftBoltDB; r != nil {
		o.Raft.BoltNoFreelistSync = deref(r.NoFreelistSync)
	}
	if t := s.PlanRejectionTracker; t != nil {
		o.PlanRejectionTracker = drover.PlanRejectionTracker{
			Enabled: deref(t.Enabled), NodeThreshold: deref(t.NodeThreshold), NodeWindow: dur("plan_rejection_tracker.node_window", t.NodeWindow),
		}
	}
	if d := s.DefaultSchedulerConfig; d != nil {
		sc := drover.DefaultSchedulerConfiguration()
		setIf(&sc.SchedulerAlgorithm, d.SchedulerAlgorithm)
		setIf(&sc.MemoryOversubscriptionEnabled, d.MemoryOversubscriptionEnabled)
		setIf(&sc.RejectJobRegistration, d.RejectJobRegistration)
		setIf(&sc.PauseEvalBroker, d.PauseEvalBroker)
		if p := d.PreemptionConfig; p != nil {
			setIf(&sc.PreemptionConfig.BatchSchedulerEnabled, p.BatchSchedulerEnabled)
			setIf(&sc.PreemptionConfig.SystemSchedulerEnabled, p.SystemSchedulerEnabled)
			setIf(&sc.PreemptionConfig.ServiceSchedulerEnabled, p.ServiceSchedulerEnabled)
			setIf(&sc.PreemptionConfig.SysBatchSchedulerEnabled, p.SysBatchSchedulerEnabled)
		}
		o.DefaultSchedulerConfig = sc
	}
	// server_join, with the deprecated forms folded in.
	join := drover.ServerJoin{}
	if j := s.ServerJoin; j != nil {
		join = drover.ServerJoin{RetryJoin: j.RetryJoin, RetryMax: deref(j.RetryMax), RetryInterval: dur("server_join.retry_interval", j.RetryInterval)}
	}
	if len(join.RetryJoin) == 0 {
		join.RetryJoin = append(append([]string(nil), s.StartJoin...), s.RetryJoin...)
	}
	if join.RetryMax == 0 && s.RetryMax != nil {
		join.RetryMax = *s.RetryMax
	}
	if join.RetryInterval == 0 && s.RetryInterval != nil {
		join.RetryInterval = dur("retry_interval", s.RetryInterval)
	}
	o.ServerJoin = join
	o.SerfBindAddr, o.SerfAdvertiseAddr = a.SerfAddr, a.AdvertiseSerf
	if c.Advertise != nil && c.Advertise.RPC != nil {
		o.AdvertiseAddr = *c.Advertise.RPC
	}
	a.Server = o
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := o.Validate(); err != nil {
		return fmt.Errorf("%w: server: %w", ErrConfig, err)
	}
	return nil
}

func buildClient(c *Config, a *Agent, dataDir string, sec security) error {
	cl := c.Client
	o := drover.ClientOptions{
		Name: deref(c.Name), Region: deref(c.Region), Datacenter: deref(c.Datacenter),
		NodeClass: deref(cl.NodeClass), Servers: cl.Servers, TLS: sec.copyTLS(),
	}
	switch {
	case cl.StateDir != nil:
		o.DataDir = *cl.StateDir
	case dataDir != "":
		o.DataDir = filepath.Join(dataDir, "client")
	}
	if cl.Meta != nil {
		o.Meta = cl.Meta.Values
	}
	for _, v := range cl.HostVolumes {
		if o.HostVolumes == nil {
			o.HostVolumes = map[string]drover.HostVolume{}
		}
		if !filepath.IsAbs(v.Path) {
			return fmt.Errorf("%w: client.host_volume %q: path %q must be absolute", ErrConfig, v.Name, v.Path)
		}
		if _, dup := o.HostVolumes[v.Name]; dup {
			return fmt.Errorf("%w: client.host_volume %q is defined more than once", ErrConfig, v.Name)
		}
		o.HostVolumes[v.Name] = drover.HostVolume{Path: v.Path, ReadOnly: deref(v.ReadOnly)}
	}
	if j := cl.ServerJoin; j != nil && len(o.Servers) == 0 {
		o.Servers = j.RetryJoin
	}
	if cl.Options != nil {
		if v, ok := cl.Options.Values["driver.raw_exec.enable"]; ok {
			on, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("%w: client.options driver.raw_exec.enable %q is not a boolean", ErrConfig, v)
			}
			a.RawExec = a.RawExec || on
		}
	}
	if d := cl.DrainOnShutdown; d != nil {
		drain := &drover.DrainOnShutdown{Force: deref(d.Force), IgnoreSystemJobs: deref(d.IgnoreSystemJobs)}
		if d.Deadline != nil {
			deadline, err := time.ParseDuration(*d.Deadline)
			if err != nil {
				return fmt.Errorf("%w: client.drain_on_shutdown.deadline %q is not a duration", ErrConfig, *d.Deadline)
			}
			drain.Deadline = deadline
		}
		a.DrainOnShutdown = d
		o.DrainOnShutdown = drain
	}
	o.LeaveOnInterrupt, o.LeaveOnTerminate = a.LeaveOnInterrupt, a.LeaveOnTerminate
	if len(o.Servers) == 0 && !a.ServerEnabled {
		return fmt.Errorf("%w: client.servers is required when this agent runs no server", ErrConfig)
	}
	a.Client = o
	return nil
}

// ParseLogLevel reads Nomad's log levels (TRACE, DEBUG, INFO, WARN, ERROR).
func ParseLogLevel(s string) (slog.Level, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "TRACE":
		return slog.LevelDebug - 4, nil
	case "DEBUG":
		return slog.LevelDebug, nil
	case "", "INFO":
		return slog.LevelInfo, nil
	case "WARN", "WARNING":
		return slog.LevelWarn, nil
	case "ERR", "ERROR":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("log_level %q is not one of TRACE, DEBUG, INFO, WARN, ERROR", s)
}

func ptr[T any](v T) *T { return &v }

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func setIf[T any](dst *T, src *T) {
	if src != nil {
		*dst = *src
	}
}
