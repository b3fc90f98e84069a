package api

import (
	"time"

	"github.com/droverhq/drover/structs"
)

// Allocations, evaluations and nodes in the JSON shapes of Nomad's API.

type allocJSON struct {
	ID                    string
	Namespace             string
	EvalID                string
	Name                  string
	NodeID                string
	NodeName              string
	JobID                 string
	Job                   *jobJSON
	TaskGroup             string
	Resources             *resourcesJSON
	TaskResources         map[string]*resourcesJSON
	DesiredStatus         string
	DesiredDescription    string
	DesiredTransition     desiredTransitionJSON
	ClientStatus          string
	ClientDescription     string
	TaskStates            map[string]*taskStateJSON
	DeploymentID          string
	FollowupEvalID        string
	PreviousAllocation    string
	NextAllocation        string
	PreemptedAllocations  []string
	PreemptedByAllocation string
	CreateIndex           uint64
	ModifyIndex           uint64
	AllocModifyIndex      uint64
	CreateTime            int64
	ModifyTime            int64
}

type desiredTransitionJSON struct {
	Migrate         *bool
	Reschedule      *bool
	ForceReschedule *bool
}

type allocStubJSON struct {
	ID                    string
	EvalID                string
	Name                  string
	Namespace             string
	NodeID                string
	NodeName              string
	JobID                 string
	JobType               string
	JobVersion            uint64
	TaskGroup             string
	DesiredStatus         string
	DesiredDescription    string
	ClientStatus          string
	ClientDescription     string
	TaskStates            map[string]*taskStateJSON
	FollowupEvalID        string
	NextAllocation        string
	PreemptedAllocations  []string
	PreemptedByAllocation string
	CreateIndex           uint64
	ModifyIndex           uint64
	CreateTime            int64
	ModifyTime            int64
}

type taskStateJSON struct {
	State       string
	Failed      bool
	Restarts    uint64
	LastRestart time.Time
	StartedAt   time.Time
	FinishedAt  time.Time
	Events      []*taskEventJSON
}

type taskEventJSON struct {
	Type           string
	Time           int64
	DisplayMessage string
	Details        map[string]string
	Message        string
	ExitCode       int
	Signal         int
	DriverError    string
}

func unixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func taskStatesToJSON(in map[string]*structs.TaskState) map[string]*taskStateJSON {
	if in == nil {
		return nil
	}
	out := make(map[string]*taskStateJSON, len(in))
	for name, st := range in {
		ts := &taskStateJSON{
			State: st.State, Failed: st.Failed, Restarts: uint64(st.Restarts),
			StartedAt: unixNano(st.StartedAt), FinishedAt: unixNano(st.FinishedAt),
		}
		for _, e := range st.Events {
			ts.Events = append(ts.Events, &taskEventJSON{
				Type: e.Type, Time: e.Time, DisplayMessage: e.Message, Message: e.Message,
				ExitCode: int(e.ExitCode), Signal: int(e.Signal), DriverError: e.DriverError,
				Details: map[string]string{},
			})
			if e.Type == structs.TaskEventRestarting {
				ts.LastRestart = unixNano(e.Time)
			}
		}
		out[name] = ts
	}
	return out
}

func allocToJSON(a *structs.Allocation) *allocJSON {
	out := &allocJSON{
		ID: a.Id, Namespace: a.Namespace, EvalID: a.EvalId, Name: a.Name, NodeID: a.NodeId, NodeName: a.NodeName,
		JobID: a.JobId, Job: jobToJSON(a.Job), TaskGroup: a.TaskGroup,
		DesiredStatus: a.DesiredStatus, DesiredDescription: a.DesiredDescription,
		ClientStatus: a.ClientStatus, ClientDescription: a.ClientDescription, TaskStates: taskStatesToJSON(a.TaskStates),
		CreateIndex: a.CreateIndex, ModifyIndex: a.ModifyIndex, AllocModifyIndex: a.AllocModifyIndex,
		CreateTime: a.CreateTime, ModifyTime: a.ModifyTime,
	}
	if dt := a.DesiredTransition; dt != nil {
		out.DesiredTransition = desiredTransitionJSON{Migrate: ptr(dt.Migrate), Reschedule: ptr(dt.Reschedule), ForceReschedule: ptr(dt.ForceReschedule)}
	}
	if len(a.TaskResources) > 0 {
		total := &structs.Resources{}
		out.TaskResources = make(map[string]*resourcesJSON, len(a.TaskResources))
		for name, r := range a.TaskResources {
			out.TaskResources[name] = resourcesToJSON(r)
			total.CpuMhz += r.GetCpuMhz()
			total.MemoryMb += r.GetMemoryMb()
			total.DiskMb += r.GetDiskMb()
		}
		out.Resources = resourcesToJSON(total)
	}
	return out
}

func allocStub(a *structs.Allocation) *allocStubJSON {
	return &allocStubJSON{
		ID: a.Id, EvalID: a.EvalId, Name: a.Name, Namespace: a.Namespace, NodeID: a.NodeId, NodeName: a.NodeName,
		JobID: a.JobId, JobType: a.GetJob().GetType(), JobVersion: a.GetJob().GetVersion(), TaskGroup: a.TaskGroup,
		DesiredStatus: a.DesiredStatus, DesiredDescription: a.DesiredDescription,
		ClientStatus: a.ClientStatus, ClientDescription: a.ClientDescription, TaskStates: taskStatesToJSON(a.TaskStates),
		CreateIndex: a.CreateIndex, ModifyIndex: a.ModifyIndex, CreateTime: a.CreateTime, ModifyTime: a.ModifyTime,
	}
}

type evalJSON struct {
	ID                string
	Priority          int
	Type              string
	TriggeredBy       string
	Namespace         string
	JobID             string
	JobModifyIndex    uint64
	NodeID            string
	NodeModifyIndex   uint64
	DeploymentID      string
	Status            string
	StatusDescription string
	Wait              int64
	NextEval          string
	PreviousEval      string
	BlockedEval       string
	FailedTGAllocs    map[string]*allocMetricJSON
	QueuedAllocations map[string]int
	SnapshotIndex     uint64
	CreateIndex       uint64
	ModifyIndex       uint64
	CreateTime        int64
	ModifyTime        int64
}

type allocMetricJSON struct {
	NodesEvaluated     int
	NodesFiltered      int
	NodesInPool        int
	NodePool           string
	NodesAvailable     map[string]int
	ClassFiltered      map[string]int
	ConstraintFiltered map[string]int
	NodesExhausted     int
	ClassExhausted     map[string]int
	DimensionExhausted map[string]int
	QuotaExhausted     []string
	ResourcesExhausted map[string]any
	Scores             map[string]float64
	AllocationTime     int64
	CoalescedFailures  int
}

func intMap(in map[string]int32) map[string]int {
	if in == nil {
		return nil
	}
	out := make(map[string]int, len(in))
	for k, v := range in {
		out[k] = int(v)
	}
	return out
}

func evalToJSON(e *structs.Evaluation) *evalJSON {
	out := &evalJSON{
		ID: e.Id, Priority: int(e.Priority), Type: e.Type, TriggeredBy: e.TriggeredBy, Namespace: e.Namespace,
		JobID: e.JobId, JobModifyIndex: e.JobModifyIndex, NodeID: e.NodeId, Status: e.Status,
		StatusDescription: e.StatusDescription, PreviousEval: e.PreviousEval, BlockedEval: e.BlockedEval,
		QueuedAllocations: intMap(e.QueuedAllocations), SnapshotIndex: e.SnapshotIndex,
		CreateIndex: e.CreateIndex, ModifyIndex: e.ModifyIndex, CreateTime: e.CreateTime, ModifyTime: e.ModifyTime,
	}
	if len(e.FailedTgAllocs) > 0 {
		out.FailedTGAllocs = make(map[string]*allocMetricJSON, len(e.FailedTgAllocs))
		for g, m := range e.FailedTgAllocs {
			out.FailedTGAllocs[g] = &allocMetricJSON{
				NodesEvaluated: int(m.NodesEvaluated), NodesFiltered: int(m.NodesFiltered), NodePool: "default",
				ClassFiltered: intMap(m.ClassFiltered), ConstraintFiltered: intMap(m.ConstraintFiltered),
				NodesExhausted: int(m.NodesExhausted), DimensionExhausted: intMap(m.DimensionExhausted),
				CoalescedFailures: int(m.CoalescedFailures),
			}
		}
	}
	return out
}

type nodeJSON struct {
	ID                    string
	Datacenter            string
	Name                  string
	HTTPAddr              string
	TLSEnabled            bool
	Attributes            map[string]string
	Resources             *resourcesJSON
	NodeResources         *nodeResourcesJSON
	Links                 map[string]string
	Meta                  map[string]string
	NodeClass             string
	NodePool              string
	Drain                 bool
	DrainStrategy         *drainStrategyJSON
	SchedulingEligibility string
	Status                string
	StatusDescription     string
	StatusUpdatedAt       int64
	Drivers               map[string]*driverInfoJSON
	CreateIndex           uint64
	ModifyIndex           uint64
}

type nodeResourcesJSON struct {
	Cpu    struct{ CpuShares int64 }
	Memory struct{ MemoryMB int64 }
	Disk   struct{ DiskMB int64 }
}

type drainStrategyJSON struct {
	Deadline         int64
	IgnoreSystemJobs bool
	ForceDeadline    time.Time
	StartedAt        time.Time
}

type driverInfoJSON struct {
	Attributes        map[string]string
	Detected          bool
	Healthy           bool
	HealthDescription string
	UpdateTime        time.Time
}

type nodeStubJSON struct {
	Address               string
	ID                    string
	Attributes            map[string]string `json:",omitempty"`
	Datacenter            string
	Name                  string
	NodeClass             string
	NodePool              string
	Version               string
	Drain                 bool
	SchedulingEligibility string
	Status                string
	StatusDescription     string
	Drivers               map[string]*driverInfoJSON
	NodeResources         *nodeResourcesJSON `json:",omitempty"`
	CreateIndex           uint64
	ModifyIndex           uint64
}

func driversToJSON(in map[string]*structs.DriverInfo) map[string]*driverInfoJSON {
	out := make(map[string]*driverInfoJSON, len(in))
	for name, d := range in {
		out[name] = &driverInfoJSON{Attributes: d.Attributes, Detected: d.Detected, Healthy: d.Healthy, HealthDescription: d.HealthDescription}
	}
	return out
}

func nodeResources(r *structs.Resources) *nodeResourcesJSON {
	out := &nodeResourcesJSON{}
	out.Cpu.CpuShares = r.GetCpuMhz()
	out.Memory.MemoryMB = r.GetMemoryMb()
	out.Disk.DiskMB = r.GetDiskMb()
	return out
}

func nodeToJSON(n *structs.Node) *nodeJSON {
	out := &nodeJSON{
		ID: n.Id, Datacenter: n.Datacenter, Name: n.Name, Attributes: n.Attributes,
		Resources: resourcesToJSON(n.Resources), NodeResources: nodeResources(n.Resources), Meta: n.Meta,
		NodeClass: n.NodeClass, NodePool: "default", Drain: n.DrainStrategy != nil,
		SchedulingEligibility: n.SchedulingEligibility, Status: n.Status, StatusDescription: n.StatusDescription,
		StatusUpdatedAt: n.StatusUpdatedAt / int64(time.Second), Drivers: driversToJSON(n.Drivers),
		CreateIndex: n.CreateIndex, ModifyIndex: n.ModifyIndex,
	}
	if d := n.DrainStrategy; d != nil {
		out.DrainStrategy = &drainStrategyJSON{
			Deadline: int64(d.Deadline.AsDuration()), IgnoreSystemJobs: d.IgnoreSystemJobs,
			ForceDeadline: unixNano(d.ForceDeadline), StartedAt: unixNano(d.StartedAt),
		}
	}
	return out
}

func nodeStub(n *structs.Node, withAttrs, withResources bool) *nodeStubJSON {
	out := &nodeStubJSON{
		Address: n.Attributes["unique.network.ip-address"], ID: n.Id, Datacenter: n.Datacenter, Name: n.Name,
		NodeClass: n.NodeClass, NodePool: "default", Version: n.Attributes["drover.version"], Drain: n.DrainStrategy != nil,
		SchedulingEligibility: n.SchedulingEligibility, Status: n.Status, StatusDescription: n.StatusDescription,
		Drivers: driversToJSON(n.Drivers), CreateIndex: n.CreateIndex, ModifyIndex: n.ModifyIndex,
	}
	if withAttrs {
		out.Attributes = n.Attributes
	}
	if withResources {
		out.NodeResources = nodeResources(n.Resources)
	}
	return out
}
