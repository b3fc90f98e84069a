package structs

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

// goodJob is a minimal valid job before canonicalization.
func goodJob() *Job {
	return &Job{Id: "web", TaskGroups: []*TaskGroup{{Name: "api", Count: 2, Tasks: []*Task{{Name: "srv", Driver: "mock"}}}}}
}

func TestCanonicalizeFillsDefaults(t *testing.T) {
	j := goodJob()
	j.Canonicalize(50)
	require.Equal(t, DefaultNamespace, j.Namespace)
	require.Equal(t, "web", j.Name, "the name defaults to the id")
	require.Equal(t, JobTypeService, j.Type)
	require.Equal(t, int32(50), j.Priority)
	require.Equal(t, []string{"*"}, j.Datacenters)
	task := j.TaskGroups[0].Tasks[0]
	require.True(t, proto.Equal(&Resources{CpuMhz: 100, MemoryMb: 300}, task.Resources), "got %v", task.Resources)
	require.Equal(t, 5*time.Second, task.KillTimeout.AsDuration())
	require.NotNil(t, j.TaskGroups[0].RestartPolicy)
	require.NoError(t, j.Validate(Limits{MaxPriority: 100}), "a canonicalized minimal job is valid")
}

func TestCanonicalizeRestartPolicyPerType(t *testing.T) {
	for _, tc := range []struct {
		jobType  string
		attempts int32
		interval time.Duration
	}{
		{JobTypeService, 2, 30 * time.Minute},
		{JobTypeSystem, 2, 30 * time.Minute},
		{JobTypeBatch, 3, 24 * time.Hour},
		{JobTypeSysBatch, 3, 24 * time.Hour},
	} {
		t.Run(tc.jobType, func(t *testing.T) {
			j := goodJob()
			j.Type = tc.jobType
			j.Canonicalize(50)
			rp := j.TaskGroups[0].RestartPolicy
			require.Equal(t, tc.attempts, rp.Attempts)
			require.Equal(t, tc.interval, rp.Interval.AsDuration())
			require.Equal(t, 15*time.Second, rp.Delay.AsDuration())
			require.Equal(t, RestartModeFail, rp.Mode)
			require.True(t, proto.Equal(DefaultRestartPolicy(tc.jobType), rp))
			require.NoError(t, j.Validate(Limits{}))
		})
	}
}

func TestCanonicalizeKeepsWhatIsSet(t *testing.T) {
	rp := &RestartPolicy{Attempts: 7, Interval: durationpb.New(time.Minute), Delay: durationpb.New(time.Second), Mode: RestartModeDelay}
	j := &Job{
		Id: "web", Name: "Web frontend", Namespace: "prod", Type: JobTypeBatch, Priority: 70,
		Datacenters: []string{"dc1", "dc2"},
		TaskGroups: []*TaskGroup{{
			Name: "api", Count: 1, RestartPolicy: proto.Clone(rp).(*RestartPolicy),
			Tasks: []*Task{{
				Name: "srv", Driver: "mock", KillTimeout: durationpb.New(time.Minute),
				Resources: &Resources{CpuMhz: 500, MemoryMb: 64, DiskMb: 10},
			}},
		}},
	}
	want := proto.Clone(j).(*Job)
	j.Canonicalize(50)
	require.True(t, proto.Equal(want, j), "canonicalize changed set fields: %v", j)
}

func TestCanonicalizeFillsOnlyTheMissingResource(t *testing.T) {
	j := goodJob()
	j.TaskGroups[0].Tasks[0].Resources = &Resources{MemoryMb: 64}
	j.TaskGroups[0].Tasks = append(j.TaskGroups[0].Tasks, &Task{Name: "side", Driver: "mock", Resources: &Resources{CpuMhz: 20}})
	j.Canonicalize(50)
	require.True(t, proto.Equal(&Resources{CpuMhz: DefaultTaskCPU, MemoryMb: 64}, j.TaskGroups[0].Tasks[0].Resources))
	require.True(t, proto.Equal(&Resources{CpuMhz: 20, MemoryMb: DefaultTaskMemoryMB}, j.TaskGroups[0].Tasks[1].Resources))
}

func TestCanonicalizeToleratesMissingGroupsAndTasks(t *testing.T) {
	j := &Job{Id: "web", TaskGroups: []*TaskGroup{nil, {Name: "api", Tasks: []*Task{nil}}}}
	require.NotPanics(t, func() { j.Canonicalize(50) })
	err := j.Validate(Limits{})
	requireProblems(t, err,
		`job "web": group 0 is missing`,
		`job "web": group "api": task 0 is missing`,
	)
}

func TestValidateAcceptsGoodJobs(t *testing.T) {
	for _, tc := range []struct {
		name   string
		modify func(j *Job)
	}{
		{"minimal", func(*Job) {}},
		{"batch", func(j *Job) { j.Type = JobTypeBatch }},
		{"system", func(j *Job) { j.Type = JobTypeSystem }},
		{"sysbatch", func(j *Job) { j.Type = JobTypeSysBatch }},
		{"count zero", func(j *Job) { j.TaskGroups[0].Count = 0 }},
		{"priority at the limit", func(j *Job) { j.Priority = 100 }},
		{"priority one", func(j *Job) { j.Priority = 1 }},
		{"id with dots, dashes and underscores", func(j *Job) { j.Id = "a1.b-c_d" }},
		{"id of the longest length", func(j *Job) { j.Id = strings.Repeat("a", 128) }},
		{"datacenter globs", func(j *Job) { j.Datacenters = []string{"dc*", "eu-?", "[ab]1"} }},
		{"memory at the minimum", func(j *Job) { j.TaskGroups[0].Tasks[0].Resources.MemoryMb = 10 }},
		{"delay restart mode", func(j *Job) { j.TaskGroups[0].RestartPolicy.Mode = RestartModeDelay }},
		{"zero kill timeout", func(j *Job) { j.TaskGroups[0].Tasks[0].KillTimeout = durationpb.New(0) }},
		{"same task name in two groups", func(j *Job) {
			g := proto.Clone(j.TaskGroups[0]).(*TaskGroup)
			g.Name = "worker"
			j.TaskGroups = append(j.TaskGroups, g)
		}},
		{"every operator at every level", func(j *Job) {
			cs := []*Constraint{
				{LTarget: "${attr.kernel.name}", Operand: "=", RTarget: "linux"},
				{LTarget: "${attr.kernel.name}", Operand: "==", RTarget: "linux"},
				{LTarget: "${attr.kernel.name}", RTarget: "linux"},
				{LTarget: "${meta.rack}", Operand: "!=", RTarget: "r9"},
				{LTarget: "${attr.cpu.arch}", Operand: "regexp", RTarget: "^(amd64|arm64)$"},
				{LTarget: "${node.class}", Operand: "is_set"},
				{LTarget: "${attr.gpu}", Operand: "is_not_set"},
				{Operand: "distinct_hosts"},
			}
			j.Constraints = cs
			j.TaskGroups[0].Constraints = cs
			j.TaskGroups[0].Tasks[0].Constraints = cs
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := goodJob()
			j.Canonicalize(50)
			tc.modify(j)
			require.NoError(t, j.Validate(Limits{MaxPriority: 100}))
		})
	}
}

func TestValidateReportsEachProblem(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limits Limits
		modify func(j *Job)
		want   string
	}{
		{"negative count", Limits{}, func(j *Job) { j.TaskGroups[0].Count = -1 },
			`job "web": group "api": count must be >= 0`},
		{"unknown type", Limits{}, func(j *Job) { j.Type = "cron" },
			`job "web": type "cron" is not one of service, batch, system, sysbatch`},
		{"priority above the configured maximum", Limits{MaxPriority: 80}, func(j *Job) { j.Priority = 81 },
			`job "web": priority 81 is outside 1..80`},
		{"priority above the default maximum", Limits{}, func(j *Job) { j.Priority = 101 },
			`job "web": priority 101 is outside 1..100`},
		{"negative priority", Limits{}, func(j *Job) { j.Priority = -1 },
			`job "web": priority -1 is outside 1..100`},
		{"empty id", Limits{}, func(j *Job) { j.Id = "" },
			`job: id is required`},
		{"id with a space", Limits{}, func(j *Job) { j.Id = "my web" },
			`job "my web": id may hold only letters, digits, '_', '-' and '.', and must start with a letter or digit`},
		{"id starting with a dash", Limits{}, func(j *Job) { j.Id = "-web" },
			`job "-web": id may hold only letters, digits, '_', '-' and '.', and must start with a letter or digit`},
		{"id too long", Limits{}, func(j *Job) { j.Id = strings.Repeat("a", 129) },
			`job "` + strings.Repeat("a", 128) + `"…(129 bytes): id is longer than 128 characters`},
		{"empty namespace", Limits{}, func(j *Job) { j.Namespace = "" },
			`job "web": namespace is required`},
		{"empty datacenter", Limits{}, func(j *Job) { j.Datacenters = []string{"dc1", ""} },
			`job "web": datacenter 1 is empty`},
		{"bad datacenter pattern", Limits{}, func(j *Job) { j.Datacenters = []string{"dc["} },
			`job "web": datacenter "dc[" is not a valid pattern`},
		{"no groups", Limits{}, func(j *Job) { j.TaskGroups = nil },
			`job "web": at least one group is required`},
		{"nil group", Limits{}, func(j *Job) { j.TaskGroups = append(j.TaskGroups, nil) },
			`job "web": group 1 is missing`},
		{"unnamed group", Limits{}, func(j *Job) { j.TaskGroups[0].Name = "" },
			`job "web": group 0: name is required`},
		{"duplicate group", Limits{}, func(j *Job) { j.TaskGroups = append(j.TaskGroups, proto.Clone(j.TaskGroups[0]).(*TaskGroup)) },
			`job "web": group "api" is defined more than once`},
		{"no tasks", Limits{}, func(j *Job) { j.TaskGroups[0].Tasks = nil },
			`job "web": group "api": at least one task is required`},
		{"nil task", Limits{}, func(j *Job) { j.TaskGroups[0].Tasks = append(j.TaskGroups[0].Tasks, nil) },
			`job "web": group "api": task 1 is missing`},
		{"unnamed task", Limits{}, func(j *Job) { j.TaskGroups[0].Tasks[0].Name = "" },
			`job "web": group "api": task 0: name is required`},
		{"duplicate task", Limits{}, func(j *Job) {
			j.TaskGroups[0].Tasks = append(j.TaskGroups[0].Tasks, proto.Clone(j.TaskGroups[0].Tasks[0]).(*Task))
		}, `job "web": group "api": task "srv" is defined more than once`},
		{"missing driver", Limits{}, func(j *Job) { j.TaskGroups[0].Tasks[0].Driver = "" },
			`job "web": group "api": task "srv": driver is required`},
		{"memory below the minimum", Limits{}, func(j *Job) { j.TaskGroups[0].Tasks[0].Resources.MemoryMb = 9 },
			`job "web": group "api": task "srv": resources: memory must be >= 10 MB`},
		{"negative cpu", Limits{}, func(j *Job) { j.TaskGroups[0].Tasks[0].Resources.CpuMhz = -1 },
			`job "web": group "api": task "srv": resources: cpu must be >= 1 MHz`},
		{"negative disk", Limits{}, func(j *Job) { j.TaskGroups[0].Tasks[0].Resources.DiskMb = -1 },
			`job "web": group "api": task "srv": resources: disk must be >= 0 MB`},
		{"negative kill timeout", Limits{}, func(j *Job) { j.TaskGroups[0].Tasks[0].KillTimeout = durationpb.New(-time.Second) },
			`job "web": group "api": task "srv": kill_timeout must be >= 0`},
		{"negative restart attempts", Limits{}, func(j *Job) { j.TaskGroups[0].RestartPolicy.Attempts = -1 },
			`job "web": group "api": restart: attempts must be >= 0`},
		{"negative restart delay", Limits{}, func(j *Job) { j.TaskGroups[0].RestartPolicy.Delay = durationpb.New(-time.Second) },
			`job "web": group "api": restart: interval and delay must be >= 0`},
		{"unknown restart mode", Limits{}, func(j *Job) { j.TaskGroups[0].RestartPolicy.Mode = "forever" },
			`job "web": group "api": restart: mode "forever" is not one of fail, delay`},
		{"unknown operator", Limits{}, func(j *Job) {
			j.Constraints = []*Constraint{{LTarget: "${attr.kernel.name}", Operand: "~", RTarget: "linux"}}
		}, `job "web": constraint 0: unknown operator "~"`},
		{"bad regexp", Limits{}, func(j *Job) {
			j.TaskGroups[0].Constraints = []*Constraint{{LTarget: "${attr.kernel.name}", Operand: "regexp", RTarget: "("}}
		}, `job "web": group "api": constraint 0: bad regexp "(": error parsing regexp: missing closing ): ` + "`(`"},
		{"constraint without attribute", Limits{}, func(j *Job) {
			j.TaskGroups[0].Tasks[0].Constraints = []*Constraint{{Operand: "=", RTarget: "linux"}}
		}, `job "web": group "api": task "srv": constraint 0: attribute is required`},
		{"nil constraint", Limits{}, func(j *Job) {
			j.Constraints = []*Constraint{{Operand: "distinct_hosts"}, nil}
		}, `job "web": constraint 1 is missing`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := goodJob()
			j.Canonicalize(50)
			tc.modify(j)
			err := j.Validate(tc.limits)
			requireProblems(t, err, tc.want)
			require.Equal(t, "invalid: "+tc.want, err.Error())
		})
	}
}

func TestValidateListsEveryProblemInOneError(t *testing.T) {
	j := &Job{
		Id: "web", Type: "cron", Priority: 101,
		Constraints: []*Constraint{
			{LTarget: "${attr.x}", Operand: "~"},
			{LTarget: "${attr.x}", Operand: "regexp", RTarget: "("},
		},
		TaskGroups: []*TaskGroup{
			{Name: "api", Count: -1, Tasks: []*Task{
				{Name: "t", Resources: &Resources{CpuMhz: 100, MemoryMb: 5}},
				{Name: "t", Driver: "mock"},
			}},
			{Name: "api", Count: 1, Tasks: []*Task{{Name: "x", Driver: "mock"}}},
			nil,
		},
	}
	j.Canonicalize(50)
	want := []string{
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
	}
	err := j.Validate(Limits{MaxPriority: 100})
	requireProblems(t, err, want...)
	require.Equal(t, "invalid: 10 problems:\n  "+strings.Join(want, "\n  "), err.Error())
}

func TestValidateNilJob(t *testing.T) {
	var j *Job
	err := j.Validate(Limits{})
	requireProblems(t, err, "job is missing")
	require.Equal(t, "invalid: job is missing", err.Error())
}

func TestValidationErrorMatchesOnlyErrValidation(t *testing.T) {
	j := goodJob()
	j.Canonicalize(50)
	j.Type = "cron"
	err := j.Validate(Limits{})
	require.ErrorIs(t, err, ErrValidation)
	require.NotErrorIs(t, err, ErrBadRequest)
	require.NotErrorIs(t, err, ErrNotFound)
	wrapped := errors.Join(errors.New("register"), err)
	require.ErrorIs(t, wrapped, ErrValidation, "the sentinel survives wrapping")
	var verr *ValidationError
	require.ErrorAs(t, wrapped, &verr)
	require.Len(t, verr.Problems, 1)
}

// requireProblems checks that err is a *ValidationError listing exactly want.
func requireProblems(t *testing.T, err error, want ...string) {
	t.Helper()
	require.ErrorIs(t, err, ErrValidation)
	var verr *ValidationError
	require.ErrorAs(t, err, &verr)
	require.ElementsMatch(t, want, verr.Problems)
}

func TestKnownConstraintOperand(t *testing.T) {
	for _, tc := range []struct {
		op    string
		known bool
	}{
		{"=", true}, {"==", true}, {"!=", true}, {"regexp", true},
		{"is_set", true}, {"is_not_set", true}, {"distinct_hosts", true},
		{"<", true}, {"<=", true}, {">", true}, {">=", true}, {"version", true}, {"semver", true},
		{"set_contains", true}, {"set_contains_any", true}, {"distinct_property", true}, {"is", true}, {"not", true},
		{"", false}, {"~", false}, {"~>", false}, {"REGEXP", false}, {"set_contains_none", false},
	} {
		require.Equal(t, tc.known, KnownConstraintOperand(tc.op), "%q", tc.op)
	}
}

func TestAllocationTerminal(t *testing.T) {
	for _, tc := range []struct {
		desired, client          string
		terminal, clientTerminal bool
	}{
		{AllocDesiredRun, AllocClientPending, false, false},
		{AllocDesiredRun, AllocClientRunning, false, false},
		{AllocDesiredRun, AllocClientComplete, true, true},
		{AllocDesiredRun, AllocClientFailed, true, true},
		{AllocDesiredRun, AllocClientLost, true, true},
		{AllocDesiredStop, AllocClientPending, true, false},
		{AllocDesiredStop, AllocClientRunning, true, false},
		{AllocDesiredStop, AllocClientComplete, true, true},
		{AllocDesiredEvict, AllocClientRunning, true, false},
		{AllocDesiredEvict, AllocClientFailed, true, true},
		{"", "", false, false},
	} {
		a := &Allocation{DesiredStatus: tc.desired, ClientStatus: tc.client}
		require.Equal(t, tc.terminal, a.IsTerminal(), "IsTerminal %s/%s", tc.desired, tc.client)
		require.Equal(t, tc.clientTerminal, a.ClientTerminal(), "ClientTerminal %s/%s", tc.desired, tc.client)
	}
	var nilAlloc *Allocation
	require.False(t, nilAlloc.IsTerminal())
	require.False(t, nilAlloc.ClientTerminal())
}

func TestEvaluationTerminalStatus(t *testing.T) {
	for _, tc := range []struct {
		status   string
		terminal bool
	}{
		{EvalStatusPending, false},
		{EvalStatusBlocked, false},
		{EvalStatusComplete, true},
		{EvalStatusFailed, true},
		{EvalStatusCanceled, true},
		{"", false},
	} {
		require.Equal(t, tc.terminal, (&Evaluation{Status: tc.status}).TerminalStatus(), "%q", tc.status)
	}
}

func TestValidatePlacementNetworkAndReschedule(t *testing.T) {
	valid := func() *Job {
		j := &Job{Id: "web", TaskGroups: []*TaskGroup{{Name: "api", Count: 1,
			Tasks: []*Task{{Name: "t", Driver: "mock"}}}}}
		j.Canonicalize(50)
		return j
	}
	require.NoError(t, valid().Validate(Limits{}))
	for _, tc := range []struct {
		name    string
		modify  func(j *Job)
		problem string
	}{
		{"affinity weight", func(j *Job) { j.Affinities = []*Affinity{{LTarget: "${meta.a}", RTarget: "x", Weight: 0}} },
			`job "web": affinity 0: weight 0 must be -100..100 and not 0`},
		{"affinity operator", func(j *Job) {
			j.TaskGroups[0].Affinities = []*Affinity{{LTarget: "${meta.a}", Operand: "distinct_hosts", Weight: 10}}
		}, `job "web": group "api": affinity 0: unknown operator "distinct_hosts"`},
		{"spread percents", func(j *Job) {
			j.TaskGroups[0].Spreads = []*Spread{{Attribute: "${meta.rack}", Targets: []*SpreadTarget{{Value: "a", Percent: 70}, {Value: "b", Percent: 40}}}}
		}, `job "web": group "api": spread 0: target percents add up to 110, more than 100`},
		{"spread attribute", func(j *Job) { j.Spreads = []*Spread{{Weight: 10}} }, `job "web": spread 0: attribute is required`},
		{"port twice", func(j *Job) {
			j.TaskGroups[0].Network = &NetworkResource{Ports: []*Port{{Label: "http", Value: 80}, {Label: "http"}}}
		}, `job "web": group "api": network: port "http" is given twice`},
		{"static twice", func(j *Job) {
			j.TaskGroups[0].Network = &NetworkResource{Ports: []*Port{{Label: "a", Value: 80}, {Label: "b", Value: 80}}}
		}, `job "web": group "api": network: static port 80 is asked twice`},
		{"port range", func(j *Job) {
			j.TaskGroups[0].Network = &NetworkResource{Ports: []*Port{{Label: "a", Value: 70000}}}
		}, `job "web": group "api": network: port "a": ports are 0..65535`},
		{"delay function", func(j *Job) {
			j.TaskGroups[0].ReschedulePolicy = &ReschedulePolicy{Unlimited: true, DelayFunction: "linear"}
		}, `job "web": group "api": reschedule: delay_function "linear" is not one of constant, exponential, fibonacci`},
		{"memory max", func(j *Job) { j.TaskGroups[0].Tasks[0].Resources.MemoryMaxMb = 100 },
			`job "web": group "api": task "t": resources: memory_max must be 0 or >= memory`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := valid()
			tc.modify(j)
			requireProblems(t, j.Validate(Limits{}), tc.problem)
		})
	}
}

func TestJobMaxCountBoundsTheSumOfGroupCounts(t *testing.T) {
	twoGroups := func(a, b int32) *Job {
		j := goodJob()
		g2 := proto.Clone(j.TaskGroups[0]).(*TaskGroup)
		g2.Name = "other"
		j.TaskGroups = append(j.TaskGroups, g2)
		j.TaskGroups[0].Count, j.TaskGroups[1].Count = a, b
		j.Canonicalize(50)
		return j
	}
	require.NoError(t, twoGroups(25_000, 25_000).Validate(Limits{}), "the default allows 50,000")
	err := twoGroups(25_000, 25_001).Validate(Limits{})
	require.ErrorIs(t, err, ErrValidation)
	require.Contains(t, err.Error(), "total count was greater than configured job_max_count: 50001 > 50000")

	// Counts add up without overflowing.
	err = twoGroups(math.MaxInt32, math.MaxInt32).Validate(Limits{})
	require.Contains(t, err.Error(), "4294967294 > 50000")

	require.NoError(t, twoGroups(5, 5).Validate(Limits{MaxCount: 10}))
	require.ErrorContains(t, twoGroups(5, 6).Validate(Limits{MaxCount: 10}), "11 > 10")
	require.NoError(t, twoGroups(math.MaxInt32, 1).Validate(Limits{MaxCount: -1}), "a negative limit is none")
}
