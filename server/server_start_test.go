package server

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/heartbeat"
)

// A server that fails to start gives back everything it took: the store
// (another server opens the same data dir), the gossip port and the
// host's registry.
func TestNewThatFailsReleasesWhatItAcquired(t *testing.T) {
	busy := testServer(t, heartbeat.DefaultConfig())
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	cfg := Config{
		Name: "s2", Region: "global", Datacenter: "dc1", DataDir: dir, BindAddr: busy.Addr(),
		Heartbeat: heartbeat.DefaultConfig(), JobDefaultPriority: 50, JobMaxPriority: 100,
		Registerer: reg, Logger: testLogger(),
	}
	_, err := New(cfg)
	require.ErrorContains(t, err, "listen on")
	families, err := reg.Gather()
	require.NoError(t, err)
	require.Empty(t, families, "nothing stays registered")

	cfg.BindAddr = "127.0.0.1:0"
	s, err := New(cfg)
	require.NoError(t, err, "the data dir's store was closed")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, s.WaitForLeader(ctx))
	require.NoError(t, s.Shutdown(ctx))
}

func TestNewRefusesAnInvalidPartConfig(t *testing.T) {
	_, err := New(Config{DataDir: t.TempDir(), BindAddr: "127.0.0.1:0", Heartbeat: heartbeat.Config{MinTTL: time.Second}})
	require.ErrorIs(t, err, heartbeat.ErrInvalidConfig)
	require.ErrorContains(t, err, "max_heartbeats_per_second")
}

func TestNewRefusesAnImpossibleKeyringOrACLConfig(t *testing.T) {
	cfg := Config{DataDir: t.TempDir(), BindAddr: "127.0.0.1:0", Heartbeat: heartbeat.DefaultConfig()}
	cfg.Keyring.KeyEncryptionKey = []byte("short")
	_, err := New(cfg)
	require.ErrorIs(t, err, ErrInvalidConfig)
	require.ErrorContains(t, err, "key-encryption key must be 32 bytes")

	cfg.Keyring = KeyringConfig{}
	cfg.ACL = ACLConfig{TokenMinExpirationTTL: time.Hour, TokenMaxExpirationTTL: time.Minute}
	_, err = New(cfg)
	require.ErrorIs(t, err, ErrInvalidConfig)
	require.ErrorContains(t, err, "token_min_expiration_ttl (1h0m0s) is above token_max_expiration_ttl (1m0s)")
}
