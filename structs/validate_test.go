package structs

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func goodJob() *Job {
	return &Job{Id: "web", TaskGroups: []*TaskGroup{{Name: "api", Count: 2, Tasks: []*Task{{Name: "srv", Driver: "mock"}}}}}
}

func TestCanonicalizeFillsDefaults(t *testing.T) {
	j := goodJob()
	j.Canonicalize(50)
	require.Equal(t, "default", j.Namespace)
	require.Equal(t, "web", j.Name)
	require.Equal(t, JobTypeService, j.Type)
	require.Equal(t, int32(50), j.Priority)
	require.Equal(t, []string{"*"}, j.Datacenters)
	rp := j.TaskGroups[0].RestartPolicy
	require.Equal(t, int32(2), rp.Attempts)
	require.Equal(t, 30*time.Minute, rp.Interval.AsDuration())
	require.Equal(t, int64(100), j.TaskGroups[0].Tasks[0].Resources.CpuMhz)
	require.Equal(t, int64(300), j.TaskGroups[0].Tasks[0].Resources.MemoryMb)
	require.NoError(t, j.Validate(Limits{MaxPriority: 100}))

	b := goodJob()
	b.Type = JobTypeBatch
	b.Canonicalize(50)
	require.Equal(t, int32(3), b.TaskGroups[0].RestartPolicy.Attempts)
	require.Equal(t, 24*time.Hour, b.TaskGroups[0].RestartPolicy.Interval.AsDuration())
}

func TestValidateListsEveryProblem(t *testing.T) {
	j := &Job{
		Id: "web", Type: "cron", Priority: 101,
		Constraints: []*Constraint{{LTarget: "${attr.x}", Operand: "~"}, {LTarget: "${attr.x}", Operand: "regexp", RTarget: "("}},
		TaskGroups: []*TaskGroup{
			{Name: "api", Count: -1, Tasks: []*Task{{Name: "t", Resources: &Resources{CpuMhz: 100, MemoryMb: 5}}, {Name: "t", Driver: "mock"}}},
			{Name: "api", Count: 1, Tasks: []*Task{{Name: "x", Driver: "mock"}}},
			nil,
		},
	}
	j.Canonicalize(50)
	err := j.Validate(Limits{MaxPriority: 100})
	require.ErrorIs(t, err, ErrValidation)
	var verr *ValidationError
	require.True(t, errors.As(err, &verr))
	require.ElementsMatch(t, []string{
		`job "web": type "cron" is not one of service, batch, system, sysbatch`,
		`job "web": priority 101 is outside 1..100`,
		`job "web": constraint 0: unknown operator "~"`,
		`job "web": constraint 1: bad regexp "(": error parsing regexp: missing closing ): ` + "`(`",
		`job "web": group "api": count must be >= 0`,
		`job "web": group "api": task "t": driver is required`,
		`job "web": group "api": task "t": resources: memory must be >= 10 MB`,
		`job "web": group "api": task "t" is defined more than once`,
		`job "web": group "api" is defined more than once`,
		`job "web": group 2 is missing`,
	}, verr.Problems)
}

func TestValidateJobIDAndNil(t *testing.T) {
	var nilJob *Job
	require.ErrorIs(t, nilJob.Validate(Limits{}), ErrValidation)
	for _, id := range []string{"", "has space", "-leading", string(make([]byte, 200))} {
		j := goodJob()
		j.Id = id
		j.Canonicalize(50)
		require.ErrorIs(t, j.Validate(Limits{}), ErrValidation, "id %q", id)
	}
}

func TestTerminalStatuses(t *testing.T) {
	for _, tc := range []struct {
		desired, client string
		terminal        bool
	}{
		{AllocDesiredRun, AllocClientRunning, false},
		{AllocDesiredRun, AllocClientPending, false},
		{AllocDesiredRun, AllocClientComplete, true},
		{AllocDesiredRun, AllocClientFailed, true},
		{AllocDesiredRun, AllocClientLost, true},
		{AllocDesiredStop, AllocClientRunning, true},
		{AllocDesiredEvict, AllocClientPending, true},
	} {
		a := &Allocation{DesiredStatus: tc.desired, ClientStatus: tc.client}
		require.Equal(t, tc.terminal, a.IsTerminal(), "%s/%s", tc.desired, tc.client)
	}
	require.True(t, (&Evaluation{Status: EvalStatusComplete}).TerminalStatus())
	require.False(t, (&Evaluation{Status: EvalStatusBlocked}).TerminalStatus())
}
