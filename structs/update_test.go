package structs

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

func TestUpdateBlockGroupOverridesJobOverDefaults(t *testing.T) {
	j := goodJob()
	j.Update = &UpdateStrategy{MaxParallel: proto.Int32(3), AutoRevert: proto.Bool(true), MinHealthyTime: durationpb.New(time.Second)}
	j.TaskGroups = append(j.TaskGroups, &TaskGroup{Name: "db", Count: 1, Tasks: []*Task{{Name: "srv", Driver: "mock"}},
		Update: &UpdateStrategy{MaxParallel: proto.Int32(0), AutoRevert: proto.Bool(false), Canary: proto.Int32(1)}})
	j.Canonicalize(50)
	require.NoError(t, j.Validate(Limits{}))

	api := j.TaskGroups[0].Update
	require.Equal(t, int32(3), api.GetMaxParallel(), "the job's block")
	require.True(t, api.GetAutoRevert())
	require.Equal(t, time.Second, api.MinHealthyTime.AsDuration())
	require.Equal(t, HealthCheckChecks, api.GetHealthCheck(), "Nomad's default")
	require.Equal(t, 5*time.Minute, api.HealthyDeadline.AsDuration())
	require.Equal(t, 10*time.Minute, api.ProgressDeadline.AsDuration())
	require.Equal(t, 30*time.Second, api.Stagger.AsDuration())

	db := j.TaskGroups[1].Update
	require.Equal(t, int32(0), db.GetMaxParallel(), "the group's explicit 0 wins over the job's 3")
	require.False(t, db.GetAutoRevert(), "the group's explicit false wins")
	require.Equal(t, int32(1), db.GetCanary())
	require.Equal(t, time.Second, db.MinHealthyTime.AsDuration(), "fields the group leaves out are the job's")
	require.False(t, db.Rolling())
	require.Nil(t, UpdateOf(j, "db"), "max_parallel 0: no deployment")
	require.NotNil(t, UpdateOf(j, "api"))

	again := proto.Clone(j).(*Job)
	again.Canonicalize(50)
	require.True(t, proto.Equal(j, again), "canonicalizing twice changes nothing")
}

func TestNoUpdateBlockMeansNoStrategy(t *testing.T) {
	j := goodJob()
	j.Canonicalize(50)
	require.Nil(t, j.TaskGroups[0].Update)
	require.Nil(t, j.TaskGroups[0].Migrate)
}

func TestUpdateValidationNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		name string
		u    *UpdateStrategy
		want string
	}{
		{"health check", &UpdateStrategy{HealthCheck: proto.String("ping")}, `update: health_check "ping" is not one of checks, task_states, manual`},
		{"max parallel", &UpdateStrategy{MaxParallel: proto.Int32(-1)}, "update: max_parallel must be >= 0, got -1"},
		{"canary", &UpdateStrategy{Canary: proto.Int32(-2)}, "update: canary must be >= 0, got -2"},
		{"auto promote", &UpdateStrategy{AutoPromote: proto.Bool(true)}, "update: auto_promote needs canary > 0"},
		{"min healthy", &UpdateStrategy{MinHealthyTime: durationpb.New(10 * time.Minute)}, "update: min_healthy_time (10m0s) must be less than healthy_deadline (5m0s)"},
		{"healthy deadline", &UpdateStrategy{HealthyDeadline: durationpb.New(0)}, "update: healthy_deadline must be > 0, got 0s"},
		{"progress", &UpdateStrategy{ProgressDeadline: durationpb.New(time.Minute)}, "update: healthy_deadline (5m0s) must be less than progress_deadline (1m0s)"},
		{"negative progress", &UpdateStrategy{ProgressDeadline: durationpb.New(-time.Second)}, "update: progress_deadline must be >= 0, got -1s"},
		{"stagger", &UpdateStrategy{Stagger: durationpb.New(-time.Second)}, "update: stagger must be > 0, got -1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := goodJob()
			j.TaskGroups[0].Update = tc.u
			j.Canonicalize(50)
			err := j.Validate(Limits{})
			require.ErrorIs(t, err, ErrValidation)
			require.Contains(t, err.Error(), `job "web": group "api": `+tc.want)
		})
	}
}

func TestUpdateAndMigrateOnlyWhereNomadAllows(t *testing.T) {
	j := goodJob()
	j.Type = JobTypeBatch
	j.Update = &UpdateStrategy{MaxParallel: proto.Int32(1)}
	j.TaskGroups[0].Migrate = &MigrateStrategy{}
	j.Canonicalize(50)
	err := j.Validate(Limits{})
	require.ErrorContains(t, err, `job "web": update: job type "batch" does not allow an update block`)
	require.ErrorContains(t, err, `group "api": migrate: job type "batch" does not allow a migrate block`)

	j = goodJob()
	j.TaskGroups[0].Migrate = &MigrateStrategy{MaxParallel: proto.Int32(2)}
	j.Canonicalize(50)
	require.NoError(t, j.Validate(Limits{}))
	m := j.TaskGroups[0].Migrate
	require.Equal(t, int32(2), m.GetMaxParallel())
	require.Equal(t, HealthCheckChecks, m.GetHealthCheck())
	require.Equal(t, 10*time.Second, m.MinHealthyTime.AsDuration())

	j.TaskGroups[0].Migrate.HealthCheck = proto.String(HealthCheckManual)
	require.ErrorContains(t, j.Validate(Limits{}), `migrate: health_check "manual" is not one of checks, task_states`)
}

func TestServicesAndChecks(t *testing.T) {
	j := goodJob()
	tg := j.TaskGroups[0]
	tg.Network = &NetworkResource{Ports: []*Port{{Label: "http"}}}
	tg.Tasks[0].Services = []*Service{{Port: "http", Checks: []*ServiceCheck{{
		Type: CheckTypeHTTP, Path: "/health", Interval: durationpb.New(time.Second), Timeout: durationpb.New(time.Second),
		CheckRestart: &CheckRestart{Limit: 3},
	}}}}
	j.Canonicalize(50)
	require.NoError(t, j.Validate(Limits{}))
	s := tg.Tasks[0].Services[0]
	require.Equal(t, "web-api-srv", s.Name, "Nomad's default service name")
	c := s.Checks[0]
	require.Equal(t, `service: "web-api-srv" check`, c.Name)
	require.Equal(t, "GET", c.Method)
	require.Equal(t, OnUpdateRequireHealthy, c.OnUpdate)
	refs := tg.Checks()
	require.Len(t, refs, 1)
	require.Equal(t, "srv", refs[0].Task)

	bad := goodJob()
	bad.TaskGroups[0].Services = []*Service{{Name: "g", Port: "nope", Checks: []*ServiceCheck{
		{Name: "a", Type: "grpc", Interval: durationpb.New(time.Second), Timeout: durationpb.New(time.Second)},
		{Name: "b", Type: CheckTypeHTTP, Interval: durationpb.New(100 * time.Millisecond)},
		{Name: "c", Type: CheckTypeScript, Interval: durationpb.New(time.Second), Timeout: durationpb.New(time.Second), OnUpdate: "maybe"},
	}}}
	bad.Canonicalize(50)
	err := bad.Validate(Limits{})
	require.ErrorIs(t, err, ErrValidation)
	for _, want := range []string{
		`service "g": port "nope" is not a port label of the group's network nor a port number`,
		`check "a": type "grpc" is not one of http, tcp, script`,
		`check "b": path is required for an http check`,
		`check "b": interval must be at least 1s, got 100ms`,
		`check "b": timeout is required`,
		`check "c": command is required for a script check`,
		`check "c": a script check of a group service needs a task`,
		`check "c": on_update "maybe" is not one of require_healthy, ignore_warnings, ignore`,
	} {
		require.True(t, strings.Contains(err.Error(), want), "missing %q in:\n%v", want, err)
	}
}

func TestSpecEqualIgnoresStability(t *testing.T) {
	a := goodJob()
	b := proto.Clone(a).(*Job)
	b.Stable = true
	require.True(t, SpecEqual(a, b))
}

func TestDeploymentHelpers(t *testing.T) {
	d := &Deployment{Status: DeploymentStatusPaused, TaskGroups: map[string]*DeploymentState{
		"a": {DesiredCanaries: 1, AutoPromote: true}, "b": {},
	}}
	require.True(t, d.Active())
	require.True(t, d.RequiresPromotion())
	require.True(t, d.HasAutoPromote())
	d.TaskGroups["a"].Promoted = true
	require.False(t, d.RequiresPromotion())
	require.False(t, d.HasAutoPromote())
	d.Status = DeploymentStatusFailed
	require.False(t, d.Active())
	s := &AllocDeploymentStatus{}
	require.False(t, s.HasHealth())
	s.Healthy = proto.Bool(false)
	require.True(t, s.IsUnhealthy())
	require.False(t, s.IsHealthy())
}
