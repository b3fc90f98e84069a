package server

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/server/events"
	"github.com/droverhq/drover/structs"
)

func TestDeploymentEventsAndGC(t *testing.T) {
	s, clock := aclServer(t, false)
	ctx := context.Background()
	sub, err := s.Events(ctx, events.SubscribeRequest{Topics: map[events.Topic][]string{events.TopicDeployment: nil}})
	require.NoError(t, err)
	defer sub.Close()
	registerNodes(t, s, "n1")
	_, err = s.RegisterJob(ctx, rollingJob("1", 1, 1, false))
	require.NoError(t, err)
	d := rollOut(t, s, 0, nil)

	seen := map[string]bool{}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for !seen[structs.DeploymentStatusSuccessful] {
		b, err := sub.Next(wctx)
		require.NoError(t, err)
		for _, e := range b.Events {
			require.Equal(t, events.TopicDeployment, e.Topic)
			require.Equal(t, d.Id, e.Key)
			seen[e.Payload.(*structs.Deployment).Status] = true
		}
	}
	require.True(t, seen[structs.DeploymentStatusRunning])

	// A deployment its allocations still refer to is kept; once the job
	// is gone with them, it goes too.
	_, err = s.GarbageCollect(ctx)
	require.NoError(t, err)
	_, err = s.Deployment(ctx, d.Id)
	require.NoError(t, err)
	_, err = s.DeregisterJob(ctx, "default", "web", false)
	require.NoError(t, err)
	waitState(t, s, "the job to be dead", func() bool {
		simClients(t, s, healthy)
		j, err := s.Job(ctx, "default", "web")
		return err == nil && j.Status == structs.JobStatusDead
	})
	clock.Advance(time.Hour)
	waitState(t, s, "the deployment collected with its job", func() bool {
		_, err := s.GarbageCollect(ctx)
		require.NoError(t, err)
		_, err = s.Deployment(ctx, d.Id)
		return errors.Is(err, ErrNotFound)
	})
}
