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
	task.User = "nobody"
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
				KillTimeout: durationpb.New(7 * time.Second), KillSignal: "SIGTERM", User: "nobody",
			}},
		}},
	}
	require.True(t, proto.Equal(want, got), "got %v", got)
}

func TestCanonicalizedNomadJobIsAccepted(t *testing.T) {
	// Nomad's CLI canonicalizes jobs, filling in defaults: the reschedule
	// policy, log limits, artifact modes, and the update and migrate
	// blocks, all of which drover runs.
	job := webJob()
	job.Canonicalize()
	got, warnings, err := jobFromJSON(decodeNomadJob(t, job))
	require.NoError(t, err)
	require.Equal(t, "web", got.Id)
	require.Equal(t, int32(3), got.TaskGroups[0].Count)
	require.Equal(t, int32(4), got.TaskGroups[0].RestartPolicy.Attempts, "the task's merged copy of the group policy changes nothing")
	require.True(t, got.TaskGroups[0].ReschedulePolicy.Unlimited, "Nomad's service default")
	require.Equal(t, &structs.LogConfig{MaxFiles: 10, MaxFileSizeMb: 10}, got.TaskGroups[0].Tasks[0].Logs)
	require.Empty(t, warnings)
	got.Canonicalize(50)
	u := got.TaskGroups[0].Update
	require.Equal(t, int32(1), u.GetMaxParallel(), "Nomad's default update block: one at a time")
	require.Equal(t, structs.HealthCheckChecks, u.GetHealthCheck())
	require.Equal(t, 10*time.Minute, u.ProgressDeadline.AsDuration())
	require.Equal(t, int32(1), got.TaskGroups[0].Migrate.GetMaxParallel())
	require.NoError(t, got.Validate(structs.Limits{}))
}

func TestJobConversionRefusesWhatDroverCannotRun(t *testing.T) {
	task := func(j *nomad.Job) *nomad.Task { return j.TaskGroups[0].Tasks[0] }
	cases := []struct {
		name   string
		modify func(j *nomad.Job)
		want   string
	}{
		{"periodic spec type", func(j *nomad.Job) {
			j.Periodic = &nomad.PeriodicConfig{Spec: ptr("*/5 * * * *"), SpecType: ptr("test")}
		}, `job "web": Periodic: SpecType "test" is not supported by drover (only cron)`},
		{"scaling without max", func(j *nomad.Job) { j.TaskGroups[0].Scaling = &nomad.ScalingPolicy{Min: ptr(int64(1))} },
			`job "web": group "api": Scaling: max is required`},
		{"multiregion", func(j *nomad.Job) {
			j.Multiregion = &nomad.Multiregion{Regions: []*nomad.MultiregionRegion{{Name: "a"}}}
		},
			`job "web": Multiregion is not supported by drover`},
		{"node pool", func(j *nomad.Job) { j.NodePool = ptr("gpu") },
			`job "web": node pool "gpu" is not supported by drover (only the default pool)`},
		{"spread weight 0", func(j *nomad.Job) { j.Spreads = []*nomad.Spread{nomad.NewSpread("${node.datacenter}", 0, nil)} },
			`job "web": Spreads[0].Weight must be 1..100, got 0`},
		{"bridge network", func(j *nomad.Job) { j.TaskGroups[0].Networks = []*nomad.NetworkResource{{Mode: "bridge"}} },
			`job "web": group "api": Networks[0].Mode "bridge" is not supported by drover (only host)`},
		{"two networks", func(j *nomad.Job) { j.TaskGroups[0].Networks = []*nomad.NetworkResource{{}, {}} },
			`job "web": group "api": Networks: 2 networks given; drover (like Nomad) runs one per group`},
		{"network DNS", func(j *nomad.Job) {
			j.TaskGroups[0].Networks = []*nomad.NetworkResource{{DNS: &nomad.DNSConfig{Servers: []string{"1.1.1.1"}}}}
		}, `job "web": group "api": Networks[0].DNS is not supported by drover`},
		{"host network", func(j *nomad.Job) {
			j.TaskGroups[0].Networks = []*nomad.NetworkResource{{DynamicPorts: []nomad.Port{{Label: "http", HostNetwork: "public"}}}}
		}, `job "web": group "api": Networks[0].DynamicPorts[0].HostNetwork "public" is not supported by drover (only the default)`},
		{"ignore collision", func(j *nomad.Job) {
			j.TaskGroups[0].Networks = []*nomad.NetworkResource{{ReservedPorts: []nomad.Port{{Label: "db", Value: 5432, IgnoreCollision: true}}}}
		}, `job "web": group "api": Networks[0].ReservedPorts[0].IgnoreCollision is not supported by drover`},
		{"reserved port without a value", func(j *nomad.Job) {
			j.TaskGroups[0].Networks = []*nomad.NetworkResource{{ReservedPorts: []nomad.Port{{Label: "db"}}}}
		}, `job "web": group "api": Networks[0].ReservedPorts[0] ("db") needs a static Value`},
		{"service mesh", func(j *nomad.Job) {
			j.TaskGroups[0].Services = []*nomad.Service{{Name: "web", Connect: &nomad.ConsulConnect{Native: true}}}
		}, `job "web": group "api": service "web": Connect is not supported by drover`},
		{"grpc check", func(j *nomad.Job) {
			task(j).Services = []*nomad.Service{{Name: "web", Checks: []nomad.ServiceCheck{{Name: "c", Type: "grpc", GRPCService: "x"}}}}
		}, `job "web": group "api": task "server": service "web": check "c": GRPCService is not supported by drover`},
		{"volume", func(j *nomad.Job) {
			j.TaskGroups[0].Volumes = map[string]*nomad.VolumeRequest{"data": {Name: "data", Type: "csi", Source: "x"}}
		}, `job "web": group "api": Volumes["data"].Type "csi" is not supported by drover (only host volumes)`},
		{"per-alloc volume", func(j *nomad.Job) {
			j.TaskGroups[0].Volumes = map[string]*nomad.VolumeRequest{"data": {Name: "data", Type: "host", Source: "x", PerAlloc: true}}
		}, `job "web": group "api": Volumes["data"].PerAlloc is not supported by drover`},
		{"migrating disk", func(j *nomad.Job) { j.TaskGroups[0].EphemeralDisk = &nomad.EphemeralDisk{Migrate: ptr(true)} },
			`job "web": group "api": EphemeralDisk.Migrate is not supported by drover`},
		{"disconnect windows that disagree", func(j *nomad.Job) {
			//lint:ignore SA1019 jobs written for older Nomads still send it
			j.TaskGroups[0].MaxClientDisconnect = ptr(time.Minute)
			j.TaskGroups[0].Disconnect = &nomad.DisconnectStrategy{LostAfter: ptr(time.Hour)}
		}, `job "web": group "api": MaxClientDisconnect (1m0s) and Disconnect.LostAfter (1h0m0s) disagree`},
		{"disconnect reconcile", func(j *nomad.Job) {
			j.TaskGroups[0].Disconnect = &nomad.DisconnectStrategy{LostAfter: ptr(time.Minute), Reconcile: ptr("longest_running")}
		}, `job "web": group "api": Disconnect.Reconcile "longest_running" is not supported by drover (only keep_original)`},
		{"disconnect stop", func(j *nomad.Job) {
			j.TaskGroups[0].Disconnect = &nomad.DisconnectStrategy{StopOnClientAfter: ptr(time.Minute)}
		}, `job "web": group "api": Disconnect.StopOnClientAfter is not supported by drover`},
		{"disconnect without replacement", func(j *nomad.Job) {
			j.TaskGroups[0].Disconnect = &nomad.DisconnectStrategy{Replace: ptr(false)}
		}, `job "web": group "api": Disconnect.Replace is not supported by drover`},
		{"system reschedule", func(j *nomad.Job) {
			j.Type = ptr("system")
			j.TaskGroups[0].ReschedulePolicy = &nomad.ReschedulePolicy{Attempts: ptr(1)}
		}, `job "web": group "api": ReschedulePolicy is not supported by drover for system jobs: they are never rescheduled`},
		{"template once", func(j *nomad.Job) { task(j).Templates = []*nomad.Template{{EmbeddedTmpl: ptr("x"), Once: ptr(true)}} },
			`job "web": group "api": task "server": Templates[0].Once is not supported by drover`},
		{"template wait", func(j *nomad.Job) {
			task(j).Templates = []*nomad.Template{{EmbeddedTmpl: ptr("x"), Wait: &nomad.WaitConfig{Min: ptr(time.Second)}}}
		}, `job "web": group "api": task "server": Templates[0].Wait is not supported by drover`},
		{"artifact headers", func(j *nomad.Job) {
			task(j).Artifacts = []*nomad.TaskArtifact{{GetterSource: ptr("https://example.invalid/x"), GetterHeaders: map[string]string{"a": "b"}}}
		}, `job "web": group "api": task "server": Artifacts[0].GetterHeaders is not supported by drover`},
		{"artifact file mode", func(j *nomad.Job) {
			task(j).Artifacts = []*nomad.TaskArtifact{{GetterSource: ptr("https://example.invalid/x"), GetterMode: ptr("file")}}
		}, `job "web": group "api": task "server": Artifacts[0].GetterMode "file" is not supported by drover (only any)`},
		{"artifact chown", func(j *nomad.Job) {
			task(j).Artifacts = []*nomad.TaskArtifact{{GetterSource: ptr("https://example.invalid/x"), Chown: true}}
		}, `job "web": group "api": task "server": Artifacts[0].Chown is not supported by drover`},
		{"disabled logs", func(j *nomad.Job) { task(j).LogConfig = &nomad.LogConfig{Disabled: ptr(true)} },
			`job "web": group "api": task "server": LogConfig.Disabled is not supported by drover`},
		{"volume mount propagation", func(j *nomad.Job) {
			task(j).VolumeMounts = []*nomad.VolumeMount{{Volume: ptr("v"), PropagationMode: ptr("bidirectional")}}
		}, `job "web": group "api": task "server": VolumeMounts[0].PropagationMode "bidirectional" is not supported by drover (only private)`},
		{"cores", func(j *nomad.Job) { task(j).Resources.Cores = ptr(2) },
			`job "web": group "api": task "server": resources: Cores is not supported by drover`},
		{"task network", func(j *nomad.Job) { task(j).Resources.Networks = []*nomad.NetworkResource{{MBits: ptr(10)}} },
			`job "web": group "api": task "server": resources: Networks is not supported by drover`},
		{"devices", func(j *nomad.Job) { task(j).Resources.Devices = []*nomad.RequestedDevice{{Name: "nvidia/gpu"}} },
			`job "web": group "api": task "server": resources: Devices is not supported by drover`},
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
		"UI":{"Description":"shown in the UI"},"TaskGroups":[{"Name":"g","Count":1,"StopAfterClientDisconnect":60000000000,
		"PreventRescheduleOnLost":true,"EphemeralDisk":{"SizeMB":300},"Disconnect":{"Replace":true,"Reconcile":"best_score"},
		"Tasks":[{"Name":"t","Driver":"mock","LogConfig":{"MaxFiles":10,"Enabled":false},"Resources":{"IOPS":5},"Unknown":true}]}]}`)
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
	require.Equal(t, "nobody", task.User)
	require.Equal(t, "linux", out.Constraints[0].RTarget)

	// The defaults the servers apply are shown as applied.
	require.True(t, *tg.ReschedulePolicy.Unlimited)
	require.Equal(t, "exponential", *tg.ReschedulePolicy.DelayFunction)
	require.Equal(t, 10, *task.LogConfig.MaxFiles)

	// And what was rendered converts back to the same job, those defaults
	// made explicit, which renders the same again.
	var again jobJSON
	require.NoError(t, json.Unmarshal(b, &again))
	back, _, err := jobFromJSON(&again)
	require.NoError(t, err)
	want := proto.Clone(in.TaskGroups[0]).(*structs.TaskGroup)
	want.ReschedulePolicy = &structs.ReschedulePolicy{
		Unlimited: true, DelayFunction: "exponential", Delay: durationpb.New(30 * time.Second),
		MaxDelay: durationpb.New(time.Hour), Interval: durationpb.New(0),
	}
	want.Tasks[0].Logs = &structs.LogConfig{MaxFiles: 10, MaxFileSizeMb: 10}
	require.True(t, proto.Equal(want, back.TaskGroups[0]), "got %v", back.TaskGroups[0])
	back.Namespace, back.Status, back.Version, back.CreateIndex, back.ModifyIndex, back.JobModifyIndex, back.SubmitTime =
		in.Namespace, in.Status, in.Version, in.CreateIndex, in.ModifyIndex, in.JobModifyIndex, in.SubmitTime
	b2, err := json.Marshal(jobToJSON(back))
	require.NoError(t, err)
	require.JSONEq(t, string(b), string(b2))
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
	b, err := json.Marshal(allocToJSON(alloc, ""))
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

func TestAllocationPortsRenderAsNomadReadsThem(t *testing.T) {
	job := &structs.Job{Id: "web", Type: "service", TaskGroups: []*structs.TaskGroup{{
		Name:    "api",
		Network: &structs.NetworkResource{Ports: []*structs.Port{{Label: "admin", Value: 9000}, {Label: "http", To: 8080}}},
	}}}
	alloc := &structs.Allocation{
		Id: "a2", NodeId: "n1", JobId: "web", Job: job, TaskGroup: "api", ClientStatus: "running",
		PreviousAllocation: "a1", FollowupEvalId: "e9",
		TaskResources: map[string]*structs.Resources{
			"server": {CpuMhz: 250, MemoryMb: 64, MemoryMaxMb: 128, DiskMb: 100},
			"side":   {CpuMhz: 50, MemoryMb: 16, DiskMb: 20},
		},
		AllocatedPorts: []*structs.AllocatedPort{{Label: "admin", Value: 9000}, {Label: "http", Value: 23456, To: 8080}},
		RescheduleTracker: &structs.RescheduleTracker{Events: []*structs.RescheduleEvent{
			{RescheduleTime: 7e9, PrevAllocId: "a1", PrevNodeId: "n0", DelayNs: int64(30 * time.Second)},
		}},
	}
	b, err := json.Marshal(allocToJSON(alloc, "10.0.0.5"))
	require.NoError(t, err)
	var a nomad.Allocation
	require.NoError(t, json.Unmarshal(b, &a))
	ar := a.AllocatedResources
	require.Equal(t, []nomad.PortMapping{
		{Label: "admin", Value: 9000, HostIP: "10.0.0.5"}, {Label: "http", Value: 23456, To: 8080, HostIP: "10.0.0.5"},
	}, ar.Shared.Ports)
	require.Equal(t, []*nomad.NetworkResource{{
		Mode: "host", IP: "10.0.0.5",
		ReservedPorts: []nomad.Port{{Label: "admin", Value: 9000, HostNetwork: "default"}},
		DynamicPorts:  []nomad.Port{{Label: "http", Value: 23456, To: 8080, HostNetwork: "default"}},
	}}, ar.Shared.Networks, "static and dynamic as the group asked for them, with their values")
	require.Equal(t, int64(120), ar.Shared.DiskMB)
	require.Equal(t, int64(250), ar.Tasks["server"].Cpu.CpuShares)
	require.Equal(t, int64(128), ar.Tasks["server"].Memory.MemoryMaxMB)
	require.Equal(t, "a1", a.PreviousAllocation)
	require.Equal(t, "e9", a.FollowupEvalID)
	require.Equal(t, []*nomad.RescheduleEvent{{RescheduleTime: 7e9, PrevAllocID: "a1", PrevNodeID: "n0"}}, a.RescheduleTracker.Events)

	// Without ports, nothing is shared but the disk.
	alloc.AllocatedPorts = nil
	b, err = json.Marshal(allocToJSON(alloc, "10.0.0.5"))
	require.NoError(t, err)
	a = nomad.Allocation{}
	require.NoError(t, json.Unmarshal(b, &a))
	require.Empty(t, a.AllocatedResources.Shared.Ports)
	require.Empty(t, a.AllocatedResources.Shared.Networks)
}

func TestNodeAndEvaluationFieldsRenderAsNomadReadsThem(t *testing.T) {
	node := &structs.Node{
		Id: "n1", MinDynamicPort: 21000, ReservedPorts: "22,8000-8100",
		LastDrain: &structs.DrainMetadata{StartedAt: 4e9, UpdatedAt: 5e9, Status: "complete"},
	}
	b, err := json.Marshal(nodeToJSON(node))
	require.NoError(t, err)
	var n nomad.Node
	require.NoError(t, json.Unmarshal(b, &n))
	require.Equal(t, 21000, n.NodeResources.MinDynamicPort)
	require.Equal(t, 32000, n.NodeResources.MaxDynamicPort, "the default")
	require.Equal(t, "22,8000-8100", n.ReservedResources.Networks.ReservedHostPorts)
	require.Equal(t, &nomad.DrainMetadata{StartedAt: time.Unix(4, 0).UTC(), UpdatedAt: time.Unix(5, 0).UTC(), Status: "complete"}, n.LastDrain)

	eval := &structs.Evaluation{
		Id: "e1", Status: "pending", WaitUntil: 6e9, ClassEligibility: map[string]bool{"v1:1": true},
		FailedTgAllocs: map[string]*structs.AllocMetric{"api": {
			NodesInPool: 3, NodesAvailable: map[string]int32{"dc1": 3}, ClassExhausted: map[string]int32{"big": 1},
		}},
	}
	b, err = json.Marshal(evalToJSON(eval))
	require.NoError(t, err)
	var e nomad.Evaluation
	require.NoError(t, json.Unmarshal(b, &e))
	require.Equal(t, time.Unix(6, 0).UTC(), e.WaitUntil)
	require.True(t, e.ClassEligibility["v1:1"])
	m := e.FailedTGAllocs["api"]
	require.Equal(t, 3, m.NodesInPool)
	require.Equal(t, map[string]int{"dc1": 3}, m.NodesAvailable)
	require.Equal(t, map[string]int{"big": 1}, m.ClassExhausted)
}

func TestDisconnectWindowInEitherSpelling(t *testing.T) {
	for name, set := range map[string]func(g *nomad.TaskGroup){
		"max_client_disconnect": func(g *nomad.TaskGroup) {
			//lint:ignore SA1019 jobs written for older Nomads still send it
			g.MaxClientDisconnect = ptr(90 * time.Second)
		},
		"disconnect.lost_after": func(g *nomad.TaskGroup) {
			g.Disconnect = &nomad.DisconnectStrategy{LostAfter: ptr(90 * time.Second), Replace: ptr(true), Reconcile: ptr("best_score")}
		},
	} {
		t.Run(name, func(t *testing.T) {
			j := webJob()
			set(j.TaskGroups[0])
			got, warnings, err := jobFromJSON(decodeNomadJob(t, j))
			require.NoError(t, err)
			require.Empty(t, warnings)
			require.Equal(t, 90*time.Second, got.TaskGroups[0].GetMaxClientDisconnect().AsDuration())
			out := jobToJSON(got)
			require.Equal(t, int64(90*time.Second), *out.TaskGroups[0].Disconnect.LostAfter)
			require.Equal(t, int64(90*time.Second), *out.TaskGroups[0].MaxClientDisconnect)
		})
	}
}
