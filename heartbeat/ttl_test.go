package heartbeat

import (
	"math/rand/v2"
	"testing"
	"testing/quick"
	"time"

	"github.com/stretchr/testify/require"
)

// The table of the client-heartbeat documentation, with the defaults.
func TestDefaultTTLTable(t *testing.T) {
	c := DefaultConfig()
	for _, row := range []struct {
		clients                              int
		clientMin, clientMax, srvMin, srvMax time.Duration
		safe                                 bool
	}{
		{10, 10 * time.Second, 20 * time.Second, 20 * time.Second, 30 * time.Second, true},
		{100, 10 * time.Second, 20 * time.Second, 20 * time.Second, 30 * time.Second, true},
		{1000, 20 * time.Second, 40 * time.Second, 30 * time.Second, 50 * time.Second, true},
		{5000, 100 * time.Second, 200 * time.Second, 110 * time.Second, 210 * time.Second, true},
		{10000, 200 * time.Second, 400 * time.Second, 210 * time.Second, 410 * time.Second, false},
	} {
		require.Equal(t, row.clientMin, c.BaseTTL(row.clients), "clients=%d", row.clients)
		require.Equal(t, row.clientMax, c.MaxClientTTL(row.clients), "clients=%d", row.clients)
		require.Equal(t, row.srvMin, c.ServerTTL(c.BaseTTL(row.clients)), "clients=%d", row.clients)
		require.Equal(t, row.srvMax, c.ServerTTL(c.MaxClientTTL(row.clients)), "clients=%d", row.clients)
		require.Equal(t, row.safe, c.FailoverSafe(row.clients), "clients=%d", row.clients)
	}
	require.Equal(t, 340*time.Second, c.SafeFailoverTTL(6000))
}

func TestClientTTLBounds(t *testing.T) {
	c := DefaultConfig()
	r := rand.New(rand.NewPCG(1, 2))
	prop := func(n uint32) bool {
		nodes := int(n % 1_000_000)
		ttl := c.ClientTTL(nodes, r)
		base := c.BaseTTL(nodes)
		return ttl >= base && ttl < 2*base && base >= c.MinTTL &&
			c.SafeFailoverTTL(nodes) > c.MaxClientTTL(nodes)
	}
	require.NoError(t, quick.Check(prop, &quick.Config{MaxCount: 5000}))
}

func TestValidate(t *testing.T) {
	require.NoError(t, DefaultConfig().Validate())
	bad := DefaultConfig()
	bad.MaxPerSecond = 0
	bad.MinTTL = -1
	err := bad.Validate()
	require.ErrorIs(t, err, ErrInvalidConfig)
	require.Equal(t, "heartbeat: invalid config: min_heartbeat_ttl must be > 0, got -1ns\n"+
		"heartbeat: invalid config: max_heartbeats_per_second must be > 0, got 0", err.Error(),
		"every problem, in field order")
}

func TestWithDefaultsFillsOnlyZeroFields(t *testing.T) {
	c := Config{Grace: time.Second}.WithDefaults()
	want := DefaultConfig()
	want.Grace = time.Second
	require.Equal(t, want, c)
	require.Equal(t, DefaultConfig(), Config{}.WithDefaults())
}
