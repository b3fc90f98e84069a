package api

import (
	"time"

	"github.com/droverhq/drover/structs"
)

// Allocations in the JSON shapes of Nomad's API.

type allocJSON struct {
	ID                 string
	Namespace          string
	EvalID             string
	Name               string
	NodeID             string
	NodeName           string
	JobID              string
	Job                *jobJSON
	TaskGroup          string
	Resources          *resourcesJSON
	TaskResources      map[string]*resourcesJSON
	AllocatedResources *allocatedResourcesJSON
	DesiredStatus      string
	DesiredDescription string
	DesiredTransition  desiredTransitionJSON
	ClientStatus       string
	ClientDescription  string
	TaskStates         map[string]*taskStateJSON
	DeploymentID       string
	DeploymentStatus   *allocDeploymentStatusJSON
	// Checks are the results of the allocation's service checks (drover's;
	// Nomad serves them at /v1/client/allocation/:id/checks).
	Checks                []*checkStatusJSON `json:",omitempty"`
	FollowupEvalID        string
	PreviousAllocation    string
	NextAllocation        string
	RescheduleTracker     *rescheduleTrackerJSON
	PreemptedAllocations  []string
	PreemptedByAllocation string
	// Metrics is never null: Nomad's CLI reads it unchecked.
	Metrics          *allocMetricJSON
	CreateIndex      uint64
	ModifyIndex      uint64
	AllocModifyIndex uint64
	CreateTime       int64
	ModifyTime       int64
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
	AllocatedResources    *allocatedResourcesJSON `json:",omitempty"`
	DesiredStatus         string
	DesiredDescription    string
	ClientStatus          string
	ClientDescription     string
	TaskStates            map[string]*taskStateJSON
	DeploymentStatus      *allocDeploymentStatusJSON
	FollowupEvalID        string
	NextAllocation        string
	RescheduleTracker     *rescheduleTrackerJSON
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

// allocatedResourcesJSON is Nomad's AllocatedResources: what each task
// got, and what the group shares — its disk and its ports.
type allocatedResourcesJSON struct {
	Tasks  map[string]*allocatedTaskJSON
	Shared allocatedSharedJSON
}

type allocatedTaskJSON struct {
	Cpu struct {
		CpuShares     int64
		ReservedCores []uint16
	}
	Memory struct {
		MemoryMB    int64
		MemoryMaxMB int64
	}
	Networks []*networkJSON
}

type allocatedSharedJSON struct {
	DiskMB   int64
	Networks []*networkJSON
	Ports    []portMappingJSON
}

// portMappingJSON is Nomad's AllocatedPortMapping: a port assigned on the
// node, with the node's address.
type portMappingJSON struct {
	Label  string
	Value  int
	To     int
	HostIP string
}

// rescheduleTrackerJSON is Nomad's RescheduleTracker.
type rescheduleTrackerJSON struct {
	Events []*rescheduleEventJSON
}

type rescheduleEventJSON struct {
	RescheduleTime int64
	PrevAllocID    string
	PrevNodeID     string
	// Delay is in nanoseconds, as Nomad's server sends it.
	Delay int64
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

func rescheduleTrackerToJSON(rt *structs.RescheduleTracker) *rescheduleTrackerJSON {
	if len(rt.GetEvents()) == 0 {
		return nil
	}
	out := &rescheduleTrackerJSON{}
	for _, e := range rt.Events {
		out.Events = append(out.Events, &rescheduleEventJSON{
			RescheduleTime: e.RescheduleTime, PrevAllocID: e.PrevAllocId, PrevNodeID: e.PrevNodeId, Delay: e.DelayNs,
		})
	}
	return out
}

// allocatedResources renders what the allocation was given: its tasks'
// cpu and memory, the group's disk, and its assigned ports, which the
// client reads both as Shared.Ports and, split into static and dynamic as
// the group asked for them, as Shared.Networks. hostIP is the address of
// the allocation's node ("" when unknown).
func allocatedResources(a *structs.Allocation, hostIP string) *allocatedResourcesJSON {
	out := &allocatedResourcesJSON{Tasks: make(map[string]*allocatedTaskJSON, len(a.TaskResources))}
	for name, r := range a.TaskResources {
		t := &allocatedTaskJSON{}
		t.Cpu.CpuShares = r.GetCpuMhz()
		t.Memory.MemoryMB, t.Memory.MemoryMaxMB = r.GetMemoryMb(), r.GetMemoryMaxMb()
		out.Tasks[name] = t
		out.Shared.DiskMB += r.GetDiskMb()
	}
	if len(a.AllocatedPorts) == 0 {
		return out
	}
	static := map[string]bool{}
	for _, g := range a.GetJob().GetTaskGroups() {
		if g.Name == a.TaskGroup {
			for _, p := range g.GetNetwork().GetPorts() {
				static[p.Label] = p.Value > 0
			}
		}
	}
	nw := &networkJSON{Mode: "host", IP: hostIP, ReservedPorts: []portJSON{}, DynamicPorts: []portJSON{}}
	out.Shared.Ports = make([]portMappingJSON, 0, len(a.AllocatedPorts))
	for _, p := range a.AllocatedPorts {
		out.Shared.Ports = append(out.Shared.Ports, portMappingJSON{Label: p.Label, Value: int(p.Value), To: int(p.To), HostIP: hostIP})
		pj := portJSON{Label: p.Label, Value: int(p.Value), To: int(p.To), HostNetwork: "default"}
		if static[p.Label] {
			nw.ReservedPorts = append(nw.ReservedPorts, pj)
		} else {
			nw.DynamicPorts = append(nw.DynamicPorts, pj)
		}
	}
	out.Shared.Networks = []*networkJSON{nw}
	return out
}

// nodeIP is the address other hosts reach a node at, as fingerprinted.
func nodeIP(n *structs.Node) string { return n.GetAttributes()["unique.network.ip-address"] }

func allocToJSON(a *structs.Allocation, hostIP string) *allocJSON {
	out := &allocJSON{
		ID: a.Id, Namespace: a.Namespace, EvalID: a.EvalId, Name: a.Name, NodeID: a.NodeId, NodeName: a.NodeName,
		JobID: a.JobId, Job: jobToJSON(a.Job), TaskGroup: a.TaskGroup, AllocatedResources: allocatedResources(a, hostIP),
		DesiredStatus: a.DesiredStatus, DesiredDescription: a.DesiredDescription,
		ClientStatus: a.ClientStatus, ClientDescription: a.ClientDescription, TaskStates: taskStatesToJSON(a.TaskStates),
		FollowupEvalID: a.FollowupEvalId, PreviousAllocation: a.PreviousAllocation, NextAllocation: a.NextAllocation,
		RescheduleTracker: rescheduleTrackerToJSON(a.RescheduleTracker), PreemptedAllocations: a.PreemptedAllocations,
		PreemptedByAllocation: a.PreemptedByAllocation, Metrics: allocMetricToJSON(a.Metrics),
		CreateIndex: a.CreateIndex, ModifyIndex: a.ModifyIndex, AllocModifyIndex: a.AllocModifyIndex,
		CreateTime: a.CreateTime, ModifyTime: a.ModifyTime,
		DeploymentID: a.DeploymentId, DeploymentStatus: allocDeploymentStatusToJSON(a.DeploymentStatus),
		Checks: checksToJSON(a.Checks),
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
			total.MemoryMaxMb += r.GetMemoryMaxMb()
			total.DiskMb += r.GetDiskMb()
		}
		out.Resources = resourcesToJSON(total)
	}
	return out
}

// allocStub renders an allocation in a list; resources (nil unless the
// list asked for them) are its allocated resources.
func allocStub(a *structs.Allocation, resources *allocatedResourcesJSON) *allocStubJSON {
	return &allocStubJSON{
		ID: a.Id, EvalID: a.EvalId, Name: a.Name, Namespace: a.Namespace, NodeID: a.NodeId, NodeName: a.NodeName,
		JobID: a.JobId, JobType: a.GetJob().GetType(), JobVersion: a.GetJob().GetVersion(), TaskGroup: a.TaskGroup,
		AllocatedResources: resources,
		DesiredStatus:      a.DesiredStatus, DesiredDescription: a.DesiredDescription,
		ClientStatus: a.ClientStatus, ClientDescription: a.ClientDescription, TaskStates: taskStatesToJSON(a.TaskStates),
		FollowupEvalID: a.FollowupEvalId, NextAllocation: a.NextAllocation,
		RescheduleTracker: rescheduleTrackerToJSON(a.RescheduleTracker), PreemptedAllocations: a.PreemptedAllocations,
		PreemptedByAllocation: a.PreemptedByAllocation,
		CreateIndex:           a.CreateIndex, ModifyIndex: a.ModifyIndex, CreateTime: a.CreateTime, ModifyTime: a.ModifyTime,
		DeploymentStatus: allocDeploymentStatusToJSON(a.DeploymentStatus),
	}
}

// allocMetricToJSON renders placement metrics as Nomad's AllocationMetric;
// nil renders as an empty one.
func allocMetricToJSON(m *structs.AllocMetric) *allocMetricJSON {
	return &allocMetricJSON{
		NodesEvaluated: int(m.GetNodesEvaluated()), NodesFiltered: int(m.GetNodesFiltered()), NodePool: "default",
		NodesInPool: int(m.GetNodesInPool()), NodesAvailable: intMap(m.GetNodesAvailable()), ClassExhausted: intMap(m.GetClassExhausted()),
		ClassFiltered: intMap(m.GetClassFiltered()), ConstraintFiltered: intMap(m.GetConstraintFiltered()),
		NodesExhausted: int(m.GetNodesExhausted()), DimensionExhausted: intMap(m.GetDimensionExhausted()),
		CoalescedFailures: int(m.GetCoalescedFailures()),
	}
}
