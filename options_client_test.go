package drover_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover"
)

func TestDrainOnShutdownDefaultsAndValidation(t *testing.T) {
	o := drover.ClientOptions{DataDir: "/var/lib/drover", Servers: []string{"s:4647"}, DrainOnShutdown: &drover.DrainOnShutdown{}}
	require.NoError(t, o.Validate())
	require.Equal(t, time.Hour, o.WithDefaults().DrainOnShutdown.Deadline, "Nomad's default deadline")
	require.Zero(t, o.DrainOnShutdown.Deadline, "WithDefaults copies; the caller's options are left alone")
	require.Nil(t, drover.ClientOptions{}.WithDefaults().DrainOnShutdown, "no drain unless asked for")

	o.DrainOnShutdown = &drover.DrainOnShutdown{Deadline: -time.Second}
	err := o.Validate()
	require.ErrorIs(t, err, drover.ErrInvalidOptions)
	require.ErrorContains(t, err, "drain_on_shutdown.deadline")
}
