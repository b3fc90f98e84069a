package drover_test

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover"
)

func TestServerOptionDefaultsMatchNomad(t *testing.T) {
	o := drover.ServerOptions{DataDir: "/var/lib/drover"}.WithDefaults()
	require.Equal(t, "global", o.Region)
	require.Equal(t, "dc1", o.Datacenter)
	require.Equal(t, "global", o.AuthoritativeRegion)
	require.Equal(t, 1, o.BootstrapExpect)
	require.Equal(t, runtime.NumCPU(), o.NumSchedulers)
	require.ElementsMatch(t, []string{"service", "batch", "system", "sysbatch", "_core"}, o.EnabledSchedulers)
	require.Equal(t, 100, o.EventBufferSize)
	require.Equal(t, 24*time.Hour, o.GC.NodeGCThreshold)
	require.Equal(t, 5*time.Minute, o.GC.JobGCInterval)
	require.Equal(t, 4*time.Hour, o.GC.JobGCThreshold)
	require.Equal(t, time.Hour, o.GC.EvalGCThreshold)
	require.Equal(t, 24*time.Hour, o.GC.BatchEvalGCThreshold)
	require.Equal(t, time.Hour, o.GC.DeploymentGCThreshold)
	require.Equal(t, time.Hour, o.GC.ACLTokenGCThreshold)
	require.Equal(t, 10*time.Second, o.Heartbeat.Grace)
	require.Equal(t, 10*time.Second, o.Heartbeat.MinTTL)
	require.Equal(t, 50.0, o.Heartbeat.MaxPerSecond)
	require.Equal(t, 5*time.Minute, o.Heartbeat.FailoverTTL)
	require.Equal(t, 1, o.Raft.Multiplier)
	require.Equal(t, uint64(8192), o.Raft.SnapshotThreshold)
	require.Equal(t, 120*time.Second, o.Raft.SnapshotInterval)
	require.Equal(t, uint64(10240), o.Raft.TrailingLogs)
	require.Equal(t, drover.KeyringConfig{RotationThreshold: 720 * time.Hour, GCThreshold: time.Hour, GCInterval: 10 * time.Minute}, o.Keyring)
	require.Equal(t, time.Minute, o.ACL.TokenMinExpirationTTL)
	require.Equal(t, 24*time.Hour, o.ACL.TokenMaxExpirationTTL)
	require.Equal(t, 50, o.JobDefaultPriority)
	require.Equal(t, 100, o.JobMaxPriority)
	require.Equal(t, 6, o.JobTrackedVersions)
	require.Equal(t, 100, o.PlanRejectionTracker.NodeThreshold)
	require.Equal(t, 5*time.Minute, o.PlanRejectionTracker.NodeWindow)
	require.Equal(t, 30*time.Second, o.ServerJoin.RetryInterval)
	require.Equal(t, "binpack", o.DefaultSchedulerConfig.SchedulerAlgorithm)
	require.True(t, o.DefaultSchedulerConfig.PreemptionConfig.SystemSchedulerEnabled)
	require.False(t, o.DefaultSchedulerConfig.PreemptionConfig.ServiceSchedulerEnabled)
	require.NotNil(t, o.Logger)
	require.NoError(t, o.Validate())
}

func TestServerOptionsExplicitValuesKept(t *testing.T) {
	o := drover.ServerOptions{DataDir: "/d", Raft: drover.RaftConfig{Multiplier: 5}, NumSchedulers: drover.NoSchedulers, JobMaxPriority: 200, JobDefaultPriority: 150}.WithDefaults()
	require.Equal(t, 5, o.Raft.Multiplier)
	require.Equal(t, uint64(8192), o.Raft.SnapshotThreshold, "the unset fields of a part take its defaults")
	require.Equal(t, drover.NoSchedulers, o.NumSchedulers)
	require.Equal(t, 200, o.JobMaxPriority)
	require.Equal(t, 150, o.JobDefaultPriority)
	require.NoError(t, o.Validate())
}

func TestServerOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts drover.ServerOptions
		want string
	}{
		{"no data dir", drover.ServerOptions{}, "data dir is required"},
		{"relative data dir", drover.ServerOptions{DataDir: "data"}, `data dir "data" must be an absolute path`},
		{"raft multiplier", drover.ServerOptions{DataDir: "/d", Raft: drover.RaftConfig{Multiplier: 11}}, "raft_multiplier must be between 1 and 10, got 11"},
		{"default above max priority", drover.ServerOptions{DataDir: "/d", JobDefaultPriority: 120}, "job_default_priority must be between 50 and job_max_priority (100), got 120"},
		{"max priority too low", drover.ServerOptions{DataDir: "/d", JobMaxPriority: 99}, "job_max_priority must be between 100 and 32766, got 99"},
		{"max priority too high", drover.ServerOptions{DataDir: "/d", JobMaxPriority: 40000}, "job_max_priority must be between 100 and 32766"},
		{"unknown scheduler", drover.ServerOptions{DataDir: "/d", EnabledSchedulers: []string{"cron"}}, `unknown scheduler "cron"`},
		{"heartbeat rate", drover.ServerOptions{DataDir: "/d", Heartbeat: drover.HeartbeatConfig{MaxPerSecond: -1}}, "max_heartbeats_per_second must be > 0"},
		{"negative duration", drover.ServerOptions{DataDir: "/d", Heartbeat: drover.HeartbeatConfig{Grace: -time.Second}}, "heartbeat_grace must not be negative"},
		{"bad algorithm", drover.ServerOptions{DataDir: "/d", DefaultSchedulerConfig: &drover.SchedulerConfiguration{SchedulerAlgorithm: "random"}}, "scheduler_algorithm must be binpack or spread"},
		{"schedulers", drover.ServerOptions{DataDir: "/d", NumSchedulers: -5}, "num_schedulers must be >= 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.opts.Validate()
			require.ErrorIs(t, err, drover.ErrInvalidOptions)
			require.ErrorContains(t, err, tc.want)
			_, err = drover.NewServer(tc.opts)
			require.ErrorContains(t, err, tc.want, "NewServer refuses what Validate refuses")
		})
	}
}

func TestClientOptionsValidate(t *testing.T) {
	require.ErrorContains(t, drover.ClientOptions{Servers: []string{"x:1"}}.Validate(), "client data dir is required")
	require.ErrorContains(t, drover.ClientOptions{DataDir: "rel", Servers: []string{"x:1"}}.Validate(), "must be an absolute path")
	require.ErrorContains(t, drover.ClientOptions{DataDir: "/d"}.Validate(), "at least one server")
	require.NoError(t, drover.ClientOptions{DataDir: "/d", Servers: []string{"x:1"}}.Validate())
	o := drover.ClientOptions{}.WithDefaults()
	require.Equal(t, "global", o.Region)
	require.Equal(t, "dc1", o.Datacenter)
}

func TestServerOptionsSchedulers(t *testing.T) {
	f := func() drover.Scheduler { return nil }
	base := drover.ServerOptions{DataDir: "/data"}
	for _, tc := range []struct {
		name       string
		schedulers map[string]drover.SchedulerFactory
		enabled    []string
		problem    string // "" when valid
	}{
		{name: "a custom type", schedulers: map[string]drover.SchedulerFactory{"by-tier": f}},
		{name: "enabled by name", schedulers: map[string]drover.SchedulerFactory{"by-tier": f}, enabled: []string{"by-tier", "_core"}},
		{name: "enabled but not registered", enabled: []string{"by-tier"}, problem: `unknown scheduler "by-tier"`},
		{name: "replacing a built-in", schedulers: map[string]drover.SchedulerFactory{"service": f}, problem: "built-in"},
		{name: "replacing _core", schedulers: map[string]drover.SchedulerFactory{"_core": f}, problem: "built-in"},
		{name: "bad name", schedulers: map[string]drover.SchedulerFactory{"by tier": f}, problem: "must be letters"},
		{name: "no factory", schedulers: map[string]drover.SchedulerFactory{"x": nil}, problem: "no factory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			o.Schedulers, o.EnabledSchedulers = tc.schedulers, tc.enabled
			err := o.Validate()
			if tc.problem == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, drover.ErrInvalidOptions)
			require.ErrorContains(t, err, tc.problem)
		})
	}
	o := drover.ServerOptions{Schedulers: map[string]drover.SchedulerFactory{"b": f, "a": f}}.WithDefaults()
	require.Equal(t, []string{"service", "batch", "system", "sysbatch", "_core", "a", "b"}, o.EnabledSchedulers,
		"custom schedulers are enabled by default")
}

func TestDefaultSchedulerConfigIsNotModified(t *testing.T) {
	c := &drover.SchedulerConfiguration{}
	_ = drover.ServerOptions{DefaultSchedulerConfig: c}.WithDefaults()
	require.Empty(t, c.SchedulerAlgorithm, "defaults are filled in a copy")
}

func TestServerOptionsValidateReportsEveryProblemInAStableOrder(t *testing.T) {
	o := drover.ServerOptions{
		DataDir:              "/d",
		DeadServerThreshold:  -time.Second,
		EvalNackTimeout:      -time.Second,
		GC:                   drover.GCConfig{JobGCThreshold: -time.Second, EvalGCThreshold: -time.Second},
		Heartbeat:            drover.HeartbeatConfig{Grace: -time.Second},
		Raft:                 drover.RaftConfig{Multiplier: 11, SnapshotInterval: -time.Second},
		Keyring:              drover.KeyringConfig{GCThreshold: -time.Second, KeyEncryptionKey: []byte("short")},
		ServerJoin:           drover.ServerJoin{RetryMax: -1},
		PlanRejectionTracker: drover.PlanRejectionTracker{NodeWindow: -time.Second},
		ACL:                  drover.ACLOptions{TokenMinExpirationTTL: time.Hour, TokenMaxExpirationTTL: time.Minute},
	}
	first := o.Validate()
	require.ErrorIs(t, first, drover.ErrInvalidOptions)
	for _, want := range []string{
		"dead_server_threshold must not be negative", "eval_nack_timeout must not be negative",
		"job_gc_threshold must not be negative", "eval_gc_threshold must not be negative",
		"heartbeat_grace must not be negative",
		"raft_multiplier must be between 1 and 10", "raft_snapshot_interval must not be negative",
		"root_key_gc_threshold must not be negative", "the key-encryption key must be 32 bytes, got 5",
		"server_join.retry_max must be >= 0", "plan_rejection_tracker.node_window must not be negative",
		"token_min_expiration_ttl (1h0m0s) is above token_max_expiration_ttl (1m0s)",
	} {
		require.ErrorContains(t, first, want)
	}
	msg := first.Error()
	require.Less(t, strings.Index(msg, "job_gc_threshold"), strings.Index(msg, "heartbeat_grace"))
	require.Less(t, strings.Index(msg, "heartbeat_grace"), strings.Index(msg, "raft_multiplier"))
	require.Less(t, strings.Index(msg, "raft_snapshot_interval"), strings.Index(msg, "root_key_gc_threshold"))
	require.Less(t, strings.Index(msg, "key-encryption key"), strings.Index(msg, "server_join.retry_max"))
	require.Less(t, strings.Index(msg, "server_join.retry_max"), strings.Index(msg, "plan_rejection_tracker.node_window"))
	require.Less(t, strings.Index(msg, "plan_rejection_tracker.node_window"), strings.Index(msg, "token_min_expiration_ttl"))
	for range 20 {
		require.Equal(t, msg, o.Validate().Error(), "the same problems in the same order every time")
	}
}
