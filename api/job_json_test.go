package api

import (
	"encoding/json"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/droverhq/drover/structs"
)

// decodeNomadJob renders a job with Nomad's own types and decodes it as
// the handler does.
func decodeNomadJob(t *testing.T, j *nomad.Job) *jobJSON {
	t.Helper()
	b, err := json.Marshal(j)
	require.NoError(t, err)
	var out jobJSON
	require.NoError(t, json.Unmarshal(b, &out))
	return &out
}

func webJob() *nomad.Job {
	job := nomad.NewServiceJob("web", "web", "global", 60)
	job.Datacenters = []string{"dc1"}
	job.Meta = map[string]string{"team": "edge"}
	job.Constrain(nomad.NewConstraint("${attr.kernel.name}", "=", "linux"))
	task := nomad.NewTask("server", "mock").
		SetConfig("run_for", "1h").
		Require(&nomad.Resources{CPU: ptr(250), MemoryMB: ptr(64), DiskMB: ptr(10)})
	task.Env = map[string]string{"PORT": "8080"}
	task.KillTimeout = ptr(7 * time.Second)
	task.KillSignal = "SIGTERM"
	group := nomad.NewTaskGroup("api", 3).AddTask(task)
	group.RestartPolicy = &nomad.RestartPolicy{Attempts: ptr(4), Interval: ptr(time.Minute), Delay: ptr(5 * time.Second), Mode: ptr("delay")}
	return job.AddTaskGroup(group)
}

func TestNomadJobConvertsToDrover(t *testing.T) {
	got, warnings, err := jobFromJSON(decodeNomadJob(t, webJob()))
	require.NoError(t, err)
	require.Empty(t, warnings)
	cfg, err := structpb.NewStruct(map[string]any{"run_for": "1h"})
	require.NoError(t, err)
	want := &structs.Job{
		Id: "web", Name: "web", Region: "global", Type: "service", Priority: 60, Datacenters: []string{"dc1"},
		Meta:        map[string]string{"team": "edge"},
		Constraints: []*structs.Constraint{{LTarget: "${attr.kernel.name}", Operand: "=", RTarget: "linux"}},
		TaskGroups: []*structs.TaskGroup{{
			Name: "api", Count: 3,
			RestartPolicy: &structs.RestartPolicy{
				Attempts: 4, Interval: durationpb.New(time.Minute), Delay: durationpb.New(5 * time.Second), Mode: "delay",
			},
			Tasks: []*structs.Task{{
				Name: "server", Driver: "mock", Config: cfg, Env: map[string]string{"PORT": "8080"},
				Resources:   &structs.Resources{CpuMhz: 250, MemoryMb: 64, DiskMb: 10},
				KillTimeout: durationpb.New(7 * time.Second), KillSignal: "SIGTERM",
			}},
		}},
	}
	require.True(t, proto.Equal(want, got), "got %v", got)
}

func TestCanonicalizedNomadJobIsAccepted(t *testing.T) {
	// Nomad's CLI canonicalizes jobs, filling in policies drover does not
	// apply yet (reschedule, migrate, log config, ephemeral disk).
	job := webJob()
	job.Canonicalize()
	got, warnings, err := jobFromJSON(decodeNomadJob(t, job))
	require.NoError(t, err)
	require.Equal(t, "web", got.Id)
	require.Equal(t, int32(3), got.TaskGroups[0].Count)
	require.Equal(t, int32(4), got.TaskGroups[0].RestartPolicy.Attempts, "the task's merged copy of the group policy changes nothing")
	require.Contains(t, warnings, `job "web": group "api": ReschedulePolicy is accepted but not applied by drover`)
}

func TestJobConversionRefusesWhatDroverCannotRun(t *testing.T) {
	cases := []struct {
		name   string
		modify func(j *nomad.Job)
		want   string
	}{
		{"periodic", func(j *nomad.Job) { j.Periodic = &nomad.PeriodicConfig{Spec: ptr("*/5 * * * *")} },
			`job "web": Periodic is not supported by drover`},
		{"parameterized", func(j *nomad.Job) { j.ParameterizedJob = &nomad.ParameterizedJobConfig{} },
			`job "web": ParameterizedJob is not supported by drover`},
		{"job affinity", func(j *nomad.Job) {
			j.Affinities = []*nomad.Affinity{nomad.NewAffinity("${node.class}", "=", "big", 50)}
		},
			`job "web": Affinities is not supported by drover`},
		{"spread", func(j *nomad.Job) { j.Spreads = []*nomad.Spread{{Attribute: "${node.datacenter}"}} },
			`job "web": Spreads is not supported by drover`},
		{"node pool", func(j *nomad.Job) { j.NodePool = ptr("gpu") },
			`job "web": node pool "gpu" is not supported by drover (only the default pool)`},
		{"group network", func(j *nomad.Job) { j.TaskGroups[0].Networks = []*nomad.NetworkResource{{Mode: "bridge"}} },
			`job "web": group "api": Networks is not supported by drover`},
		{"group service", func(j *nomad.Job) { j.TaskGroups[0].Services = []*nomad.Service{{Name: "web"}} },
			`job "web": group "api": Services is not supported by drover`},
		{"volume", func(j *nomad.Job) {
			j.TaskGroups[0].Volumes = map[string]*nomad.VolumeRequest{"data": {Name: "data", Type: "host"}}
		}, `job "web": group "api": Volumes is not supported by drover`},
		{"template", func(j *nomad.Job) { j.TaskGroups[0].Tasks[0].Templates = []*nomad.Template{{EmbeddedTmpl: ptr("x")}} },
			`job "web": group "api": task "server": Templates is not supported by drover`},
		{"artifact", func(j *nomad.Job) {
			j.TaskGroups[0].Tasks[0].Artifacts = []*nomad.TaskArtifact{{GetterSource: ptr("https://example.invalid/x")}}
		}, `job "web": group "api": task "server": Artifacts is not supported by drover`},
		{"user", func(j *nomad.Job) { j.TaskGroups[0].Tasks[0].User = "nobody" },
			`job "web": group "api": task "server": User is not supported by drover`},
		{"lifecycle", func(j *nomad.Job) {
			j.TaskGroups[0].Tasks[0].Lifecycle = &nomad.TaskLifecycle{Hook: "prestart"}
		}, `job "web": group "api": task "server": Lifecycle is not supported by drover`},
		{"cores", func(j *nomad.Job) { j.TaskGroups[0].Tasks[0].Resources.Cores = ptr(2) },
			`job "web": group "api": task "server": resources: Cores is not supported by drover`},
		{"devices", func(j *nomad.Job) {
			j.TaskGroups[0].Tasks[0].Resources.Devices = []*nomad.RequestedDevice{{Name: "nvidia/gpu"}}
		}, `job "web": group "api": task "server": resources: Devices is not supported by drover`},
		{"differing task restart policies", func(j *nomad.Job) {
			second := nomad.NewTask("sidecar", "mock")
			second.RestartPolicy = &nomad.RestartPolicy{Attempts: ptr(9)}
			j.TaskGroups[0].AddTask(second)
		}, `job "web": group "api": task "sidecar": a restart policy that differs from its group's is not supported by drover; set it on the group`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			job := webJob()
			tc.modify(job)
			_, _, err := jobFromJSON(decodeNomadJob(t, job))
			var ve *structs.ValidationError
			require.ErrorAs(t, err, &ve)
			require.Contains(t, ve.Problems, tc.want)
		})
	}
}

func TestJobConversionIgnoresWhatNomadIgnores(t *testing.T) {
	raw := []byte(`{"ID":"web","Name":"web","NoSuchField":{"x":1},"Status":"running","Version":9,"CreateIndex":77,
		"UI":{"Description":"shown in the UI"},"TaskGroups":[{"Name":"g","Count":1,"MaxClientDisconnect":60000000000,
		"EphemeralDisk":{"SizeMB":300},"Tasks":[{"Name":"t","Driver":"mock","LogConfig":{"MaxFiles":10},"Unknown":true}]}]}`)
	var in jobJSON
	require.NoError(t, json.Unmarshal(raw, &in))
	got, warnings, err := jobFromJSON(&in)
	require.NoError(t, err)
	require.Empty(t, warnings)
	require.Equal(t, "web", got.Id)
	require.Zero(t, got.Version, "server-set fields are never taken from the caller")
	require.Zero(t, got.CreateIndex)
	require.Len(t, got.TaskGroups[0].Tasks, 1)
}

func TestSingleTaskRestartPolicyBecomesTheGroups(t *testing.T) {
	job := webJob()
	job.TaskGroups[0].RestartPolicy = nil
	job.TaskGroups[0].Tasks[0].RestartPolicy = &nomad.RestartPolicy{Attempts: ptr(1), Mode: ptr("fail")}
	got, _, err := jobFromJSON(decodeNomadJob(t, job))
	require.NoError(t, err)
	require.Equal(t, int32(1), got.TaskGroups[0].RestartPolicy.Attempts)
	require.Equal(t, "fail", got.TaskGroups[0].RestartPolicy.Mode)
}

func TestStoredJobRendersAsNomadReadsIt(t *testing.T) {
	in, _, err := jobFromJSON(decodeNomadJob(t, webJob()))
	require.NoError(t, err)
	in.Namespace, in.Status, in.Version, in.CreateIndex, in.ModifyIndex, in.JobModifyIndex, in.SubmitTime = "default", "running", 2, 10, 12, 12, 1234
	b, err := json.Marshal(jobToJSON(in))
	require.NoError(t, err)
	var out nomad.Job
	require.NoError(t, json.Unmarshal(b, &out))
	require.Equal(t, "web", *out.ID)
	require.Equal(t, "running", *out.Status)
	require.Equal(t, uint64(2), *out.Version)
	require.Equal(t, uint64(12), *out.JobModifyIndex)
	require.Equal(t, int64(1234), *out.SubmitTime)
	require.Equal(t, 60, *out.Priority)
	tg := out.TaskGroups[0]
	require.Equal(t, 3, *tg.Count)
	require.Equal(t, time.Minute, *tg.RestartPolicy.Interval)
	task := tg.Tasks[0]
	require.Equal(t, "1h", task.Config["run_for"])
	require.Equal(t, 250, *task.Resources.CPU)
	require.Equal(t, 7*time.Second, *task.KillTimeout)
	require.Equal(t, "linux", out.Constraints[0].RTarget)

	// And what was rendered converts back to the same job.
	var again jobJSON
	require.NoError(t, json.Unmarshal(b, &again))
	back, _, err := jobFromJSON(&again)
	require.NoError(t, err)
	require.Equal(t, in.TaskGroups[0].Tasks[0].Resources.CpuMhz, back.TaskGroups[0].Tasks[0].Resources.CpuMhz)
	require.True(t, proto.Equal(in.TaskGroups[0], back.TaskGroups[0]))
}

func TestObjectsRenderAsNomadReadsThem(t *testing.T) {
	alloc := &structs.Allocation{
		Id: "a1", Namespace: "default", EvalId: "e1", Name: "web.api[0]", NodeId: "n1", NodeName: "node-1", JobId: "web",
		TaskGroup: "api", DesiredStatus: "run", ClientStatus: "running", CreateIndex: 5, ModifyIndex: 9, CreateTime: 1e9,
		TaskResources: map[string]*structs.Resources{"server": {CpuMhz: 250, MemoryMb: 64}},
		TaskStates: map[string]*structs.TaskState{"server": {
			State: "running", Restarts: 1, StartedAt: 2e9,
			Events: []*structs.TaskEvent{{Type: structs.TaskEventRestarting, Time: 15e8, Message: "restarting"}},
		}},
	}
	b, err := json.Marshal(allocToJSON(alloc))
	require.NoError(t, err)
	var a nomad.Allocation
	require.NoError(t, json.Unmarshal(b, &a))
	require.Equal(t, "running", a.ClientStatus)
	require.Equal(t, uint64(1), a.TaskStates["server"].Restarts)
	require.Equal(t, time.Unix(2, 0).UTC(), a.TaskStates["server"].StartedAt)
	require.Equal(t, time.Unix(1, 5e8).UTC(), a.TaskStates["server"].LastRestart)
	var raw struct{ Resources struct{ CPU int } }
	require.NoError(t, json.Unmarshal(b, &raw))
	require.Equal(t, 250, raw.Resources.CPU, "the allocation's total, as Nomad's deprecated Resources field shows it")

	node := &structs.Node{
		Id: "n1", Name: "node-1", Datacenter: "dc1", Status: "ready", SchedulingEligibility: "eligible",
		StatusUpdatedAt: 3e9, Resources: &structs.Resources{CpuMhz: 4000, MemoryMb: 8192},
		Drivers: map[string]*structs.DriverInfo{"mock": {Detected: true, Healthy: true}},
	}
	b, err = json.Marshal(nodeToJSON(node))
	require.NoError(t, err)
	var n nomad.Node
	require.NoError(t, json.Unmarshal(b, &n))
	require.Equal(t, int64(3), n.StatusUpdatedAt, "Nomad reports seconds")
	require.Equal(t, int64(4000), n.NodeResources.Cpu.CpuShares)
	require.True(t, n.Drivers["mock"].Healthy)
	require.False(t, n.Drain)

	eval := &structs.Evaluation{
		Id: "e1", Namespace: "default", Priority: 50, Type: "service", TriggeredBy: "job-register", JobId: "web",
		Status: "complete", QueuedAllocations: map[string]int32{"api": 0},
		FailedTgAllocs: map[string]*structs.AllocMetric{"api": {NodesEvaluated: 2, DimensionExhausted: map[string]int32{"memory": 2}}},
	}
	b, err = json.Marshal(evalToJSON(eval))
	require.NoError(t, err)
	var e nomad.Evaluation
	require.NoError(t, json.Unmarshal(b, &e))
	require.Equal(t, "complete", e.Status)
	require.Equal(t, 2, e.FailedTGAllocs["api"].DimensionExhausted["memory"])
}
