package server

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestKeyringConfigDefaultsAndValidate(t *testing.T) {
	require.Equal(t, DefaultKeyringConfig(), KeyringConfig{}.WithDefaults())
	c := KeyringConfig{GCInterval: time.Minute}.WithDefaults()
	require.Equal(t, time.Minute, c.GCInterval)
	require.Equal(t, 720*time.Hour, c.RotationThreshold, "unset fields take the defaults")
	require.NoError(t, DefaultKeyringConfig().Validate())
	require.NoError(t, KeyringConfig{GCInterval: time.Second, KeyEncryptionKey: bytes.Repeat([]byte{1}, 32)}.Validate())

	err := KeyringConfig{RotationThreshold: -time.Second, GCThreshold: -time.Minute, KeyEncryptionKey: []byte("short")}.Validate()
	require.ErrorIs(t, err, ErrInvalidConfig)
	require.Equal(t, "server: invalid config: root_key_rotation_threshold must not be negative, got -1s\n"+
		"server: invalid config: root_key_gc_threshold must not be negative, got -1m0s\n"+
		"server: invalid config: root_key_gc_interval must be > 0, got 0s\n"+
		"server: invalid config: the key-encryption key must be 32 bytes, got 5", err.Error(),
		"every problem, in field order")
}

func TestACLConfigDefaultsAndValidate(t *testing.T) {
	require.Equal(t, DefaultACLConfig(), ACLConfig{}.WithDefaults())
	c := ACLConfig{Enabled: true, TokenMaxExpirationTTL: time.Hour}.WithDefaults()
	require.True(t, c.Enabled)
	require.Equal(t, time.Minute, c.TokenMinExpirationTTL, "unset fields take the defaults")
	require.Equal(t, time.Hour, c.TokenMaxExpirationTTL)
	require.NoError(t, DefaultACLConfig().Validate())

	err := ACLConfig{TokenMinExpirationTTL: 2 * time.Hour, TokenMaxExpirationTTL: time.Hour, ReplicationInterval: -time.Second}.Validate()
	require.ErrorIs(t, err, ErrInvalidConfig)
	require.Equal(t, "server: invalid config: acl.replication_interval must not be negative, got -1s\n"+
		"server: invalid config: acl: token_min_expiration_ttl (2h0m0s) is above token_max_expiration_ttl (1h0m0s)", err.Error(),
		"every problem, in field order")
}

func TestJoinConfigDefaultsAndValidate(t *testing.T) {
	require.Equal(t, DefaultJoinConfig(), JoinConfig{}.WithDefaults())
	c := JoinConfig{RetryJoin: []string{"a"}, RetryMax: 3}.WithDefaults()
	require.Equal(t, JoinConfig{RetryJoin: []string{"a"}, RetryMax: 3, RetryInterval: 30 * time.Second}, c)
	require.NoError(t, DefaultJoinConfig().Validate())

	err := JoinConfig{RetryMax: -1, RetryInterval: -time.Second}.Validate()
	require.ErrorIs(t, err, ErrInvalidConfig)
	require.Equal(t, "server: invalid config: server_join.retry_max must be >= 0, got -1\n"+
		"server: invalid config: server_join.retry_interval must not be negative, got -1s", err.Error(),
		"every problem, in field order")
}

func TestPlanRejectionConfigDefaultsAndValidate(t *testing.T) {
	require.Equal(t, DefaultPlanRejectionConfig(), PlanRejectionConfig{}.WithDefaults())
	c := PlanRejectionConfig{Enabled: true, NodeThreshold: 3}.WithDefaults()
	require.Equal(t, PlanRejectionConfig{Enabled: true, NodeThreshold: 3, NodeWindow: 5 * time.Minute}, c)
	require.NoError(t, DefaultPlanRejectionConfig().Validate())

	err := PlanRejectionConfig{NodeThreshold: -2, NodeWindow: -time.Second}.Validate()
	require.ErrorIs(t, err, ErrInvalidConfig)
	require.Equal(t, "server: invalid config: plan_rejection_tracker.node_threshold must be >= 1, got -2\n"+
		"server: invalid config: plan_rejection_tracker.node_window must not be negative, got -1s", err.Error(),
		"every problem, in field order")
}
