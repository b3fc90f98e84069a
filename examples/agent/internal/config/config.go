// Package config reads the reference agent's configuration: HCL (or JSON)
// files spelled as Nomad spells its agent configuration, merged in order,
// with command-line flags on top, and turns it into drover's options.
package config

import (
	"github.com/hashicorp/hcl/v2"
)

// Config is one agent configuration file, or the merge of several. Every
// setting is a pointer (or a nil slice or map) so that a merge can tell a
// setting that is absent from one set to its zero value.
type Config struct {
	DataDir          *string    `hcl:"data_dir,optional"`
	Name             *string    `hcl:"name,optional"`
	Region           *string    `hcl:"region,optional"`
	Datacenter       *string    `hcl:"datacenter,optional"`
	BindAddr         *string    `hcl:"bind_addr,optional"`
	LogLevel         *string    `hcl:"log_level,optional"`
	LeaveOnInterrupt *bool      `hcl:"leave_on_interrupt,optional"`
	LeaveOnTerminate *bool      `hcl:"leave_on_terminate,optional"`
	Ports            *Ports     `hcl:"ports,block"`
	Advertise        *Advertise `hcl:"advertise,block"`
	Server           *Server    `hcl:"server,block"`
	Client           *Client    `hcl:"client,block"`
	Telemetry        *Telemetry `hcl:"telemetry,block"`
	TLS              *TLS       `hcl:"tls,block"`
	ACL              *ACL       `hcl:"acl,block"`
	Limits           *Limits    `hcl:"limits,block"`
	Plugins          []*Plugin  `hcl:"plugin,block"`
	Rest             hcl.Body   `hcl:",remain"`
	Ignored          []string   // settings read but not applied, for warnings
	Deprecated       []string   // deprecated forms used, for warnings
	Files            []string   // the files merged, in order
}

// Ports are the agent's listening ports.
type Ports struct {
	HTTP *int `hcl:"http,optional"`
	RPC  *int `hcl:"rpc,optional"`
	Serf *int `hcl:"serf,optional"`
}

// Advertise are the addresses the agent tells others to reach it on.
type Advertise struct {
	HTTP *string `hcl:"http,optional"`
	RPC  *string `hcl:"rpc,optional"`
	Serf *string `hcl:"serf,optional"`
}

// Server is the server block: every parameter of drover's ServerOptions.
type Server struct {
	Enabled                  *bool                 `hcl:"enabled,optional"`
	BootstrapExpect          *int                  `hcl:"bootstrap_expect,optional"`
	DataDir                  *string               `hcl:"data_dir,optional"`
	AuthoritativeRegion      *string               `hcl:"authoritative_region,optional"`
	EnabledSchedulers        []string              `hcl:"enabled_schedulers,optional"`
	EnableEventBroker        *bool                 `hcl:"enable_event_broker,optional"`
	Encrypt                  *string               `hcl:"encrypt,optional"`
	EventBufferSize          *int                  `hcl:"event_buffer_size,optional"`
	NodeGCThreshold          *string               `hcl:"node_gc_threshold,optional"`
	JobGCInterval            *string               `hcl:"job_gc_interval,optional"`
	JobGCThreshold           *string               `hcl:"job_gc_threshold,optional"`
	EvalGCThreshold          *string               `hcl:"eval_gc_threshold,optional"`
	BatchEvalGCThreshold     *string               `hcl:"batch_eval_gc_threshold,optional"`
	DeploymentGCThreshold    *string               `hcl:"deployment_gc_threshold,optional"`
	DefaultSchedulerConfig   *SchedulerConfig      `hcl:"default_scheduler_config,block"`
	HeartbeatGrace           *string               `hcl:"heartbeat_grace,optional"`
	MinHeartbeatTTL          *string               `hcl:"min_heartbeat_ttl,optional"`
	FailoverHeartbeatTTL     *string               `hcl:"failover_heartbeat_ttl,optional"`
	MaxHeartbeatsPerSecond   *float64              `hcl:"max_heartbeats_per_second,optional"`
	NonVotingServer          *bool                 `hcl:"non_voting_server,optional"`
	NumSchedulers            *int                  `hcl:"num_schedulers,optional"`
	PlanRejectionTracker     *PlanRejectionTracker `hcl:"plan_rejection_tracker,block"`
	RaftBoltDB               *RaftBoltDB           `hcl:"raft_boltdb,block"`
	RaftProtocol             *int                  `hcl:"raft_protocol,optional"`
	RaftMultiplier           *int                  `hcl:"raft_multiplier,optional"`
	RaftSnapshotThreshold    *int                  `hcl:"raft_snapshot_threshold,optional"`
	RaftSnapshotInterval     *string               `hcl:"raft_snapshot_interval,optional"`
	RaftTrailingLogs         *int                  `hcl:"raft_trailing_logs,optional"`
	RejoinAfterLeave         *bool                 `hcl:"rejoin_after_leave,optional"`
	ServerJoin               *ServerJoin           `hcl:"server_join,block"`
	JobMaxPriority           *int                  `hcl:"job_max_priority,optional"`
	JobMaxCount              *int                  `hcl:"job_max_count,optional"`
	JobDefaultPriority       *int                  `hcl:"job_default_priority,optional"`
	JobTrackedVersions       *int                  `hcl:"job_tracked_versions,optional"`
	ACLTokenGCThreshold      *string               `hcl:"acl_token_gc_threshold,optional"`
	RootKeyRotationThreshold *string               `hcl:"root_key_rotation_threshold,optional"`
	RootKeyGCThreshold       *string               `hcl:"root_key_gc_threshold,optional"`
	RootKeyGCInterval        *string               `hcl:"root_key_gc_interval,optional"`
	// Deprecated forms of server_join.
	RetryJoin     []string `hcl:"retry_join,optional"`
	RetryInterval *string  `hcl:"retry_interval,optional"`
	RetryMax      *int     `hcl:"retry_max,optional"`
	StartJoin     []string `hcl:"start_join,optional"`
}

// SchedulerConfig is default_scheduler_config.
type SchedulerConfig struct {
	SchedulerAlgorithm            *string           `hcl:"scheduler_algorithm,optional"`
	MemoryOversubscriptionEnabled *bool             `hcl:"memory_oversubscription_enabled,optional"`
	RejectJobRegistration         *bool             `hcl:"reject_job_registration,optional"`
	PauseEvalBroker               *bool             `hcl:"pause_eval_broker,optional"`
	PreemptionConfig              *PreemptionConfig `hcl:"preemption_config,block"`
}

// PreemptionConfig is default_scheduler_config's preemption_config.
type PreemptionConfig struct {
	BatchSchedulerEnabled    *bool `hcl:"batch_scheduler_enabled,optional"`
	SystemSchedulerEnabled   *bool `hcl:"system_scheduler_enabled,optional"`
	ServiceSchedulerEnabled  *bool `hcl:"service_scheduler_enabled,optional"`
	SysBatchSchedulerEnabled *bool `hcl:"sysbatch_scheduler_enabled,optional"`
}

// PlanRejectionTracker is plan_rejection_tracker.
type PlanRejectionTracker struct {
	Enabled       *bool   `hcl:"enabled,optional"`
	NodeThreshold *int    `hcl:"node_threshold,optional"`
	NodeWindow    *string `hcl:"node_window,optional"`
}

// RaftBoltDB is raft_boltdb.
type RaftBoltDB struct {
	NoFreelistSync *bool `hcl:"no_freelist_sync,optional"`
}

// ServerJoin is server_join.
type ServerJoin struct {
	RetryJoin     []string `hcl:"retry_join,optional"`
	RetryMax      *int     `hcl:"retry_max,optional"`
	RetryInterval *string  `hcl:"retry_interval,optional"`
}

// Client is the client block.
type Client struct {
	Enabled   *bool    `hcl:"enabled,optional"`
	Servers   []string `hcl:"servers,optional"`
	StateDir  *string  `hcl:"state_dir,optional"`
	NodeClass *string  `hcl:"node_class,optional"`
	// Meta, Options and ChrootEnv are read from Rest: each may be written as a block
	// (meta { rack = "r1" }) or as a map (options = { "a.b" = "1" }).
	Meta    *KeyValues
	Options *KeyValues
	// ChrootEnv is the chroot_env block (or map): host paths and where
	// exec tasks see them.
	ChrootEnv       *KeyValues
	ServerJoin      *ServerJoin      `hcl:"server_join,block"`
	DrainOnShutdown *DrainOnShutdown `hcl:"drain_on_shutdown,block"`
	HostVolumes     []*HostVolume    `hcl:"host_volume,block"`
	Rest            hcl.Body         `hcl:",remain"`
}

// HostVolume is the client's host_volume "name" block.
type HostVolume struct {
	Name     string `hcl:"name,label"`
	Path     string `hcl:"path"`
	ReadOnly *bool  `hcl:"read_only,optional"`
}

// KeyValues is a set of free-form string settings, like client meta.
type KeyValues struct {
	Values map[string]string
}

// DrainOnShutdown is the client's drain_on_shutdown block.
type DrainOnShutdown struct {
	Deadline         *string `hcl:"deadline,optional"`
	Force            *bool   `hcl:"force,optional"`
	IgnoreSystemJobs *bool   `hcl:"ignore_system_jobs,optional"`
}

// TLS is the tls block: mutual TLS on the RPC port and HTTPS on the HTTP
// API, for the server and the client alike.
type TLS struct {
	HTTP                        *bool   `hcl:"http,optional"`
	RPC                         *bool   `hcl:"rpc,optional"`
	CAFile                      *string `hcl:"ca_file,optional"`
	CertFile                    *string `hcl:"cert_file,optional"`
	KeyFile                     *string `hcl:"key_file,optional"`
	VerifyServerHostname        *bool   `hcl:"verify_server_hostname,optional"`
	VerifyHTTPSClient           *bool   `hcl:"verify_https_client,optional"`
	RPCUpgradeMode              *bool   `hcl:"rpc_upgrade_mode,optional"`
	TLSMinVersion               *string `hcl:"tls_min_version,optional"`
	TLSCipherSuites             *string `hcl:"tls_cipher_suites,optional"`
	TLSPreferServerCipherSuites *bool   `hcl:"tls_prefer_server_cipher_suites,optional"`
}

// ACL is the acl block.
type ACL struct {
	Enabled               *bool   `hcl:"enabled,optional"`
	TokenTTL              *string `hcl:"token_ttl,optional"`
	PolicyTTL             *string `hcl:"policy_ttl,optional"`
	RoleTTL               *string `hcl:"role_ttl,optional"`
	ReplicationToken      *string `hcl:"replication_token,optional"`
	TokenMinExpirationTTL *string `hcl:"token_min_expiration_ttl,optional"`
	TokenMaxExpirationTTL *string `hcl:"token_max_expiration_ttl,optional"`
}

// Limits is the limits block. In Nomad a connection limit of 0 means no
// limit.
type Limits struct {
	HTTPSHandshakeTimeout *string `hcl:"https_handshake_timeout,optional"`
	HTTPMaxConnsPerClient *int    `hcl:"http_max_conns_per_client,optional"`
	RPCHandshakeTimeout   *string `hcl:"rpc_handshake_timeout,optional"`
	RPCMaxConnsPerClient  *int    `hcl:"rpc_max_conns_per_client,optional"`
}

// Telemetry is the telemetry block.
type Telemetry struct {
	PrometheusMetrics  *bool    `hcl:"prometheus_metrics,optional"`
	CollectionInterval *string  `hcl:"collection_interval,optional"`
	Rest               hcl.Body `hcl:",remain"`
}

// Plugin is a plugin "name" { config { ... } } block; the agent knows
// raw_exec, exec and docker.
type Plugin struct {
	Name   string        `hcl:"name,label"`
	Config *PluginConfig `hcl:"config,block"`
	// Docker is the config block of plugin "docker", read from Config.
	Docker *DockerConfig
}

// PluginConfig is a plugin's config block.
type PluginConfig struct {
	Enabled *bool    `hcl:"enabled,optional"`
	Rest    hcl.Body `hcl:",remain"`
}
