package api

import (
	"time"

	"github.com/droverhq/drover/scheduler"
	"github.com/droverhq/drover/structs"
)

// Evaluations and nodes in the JSON shapes of Nomad's API.

type evalJSON struct {
	ID                   string
	Priority             int
	Type                 string
	TriggeredBy          string
	Namespace            string
	JobID                string
	JobModifyIndex       uint64
	NodeID               string
	NodeModifyIndex      uint64
	DeploymentID         string
	Status               string
	StatusDescription    string
	Wait                 int64
	WaitUntil            time.Time
	NextEval             string
	PreviousEval         string
	BlockedEval          string
	FailedTGAllocs       map[string]*allocMetricJSON
	ClassEligibility     map[string]bool
	EscapedComputedClass bool
	QueuedAllocations    map[string]int
	SnapshotIndex        uint64
	CreateIndex          uint64
	ModifyIndex          uint64
	CreateTime           int64
	ModifyTime           int64
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
		WaitUntil: unixNano(e.WaitUntil), ClassEligibility: e.ClassEligibility, EscapedComputedClass: e.EscapedComputedClass,
		CreateIndex: e.CreateIndex, ModifyIndex: e.ModifyIndex, CreateTime: e.CreateTime, ModifyTime: e.ModifyTime,
	}
	if len(e.FailedTgAllocs) > 0 {
		out.FailedTGAllocs = make(map[string]*allocMetricJSON, len(e.FailedTgAllocs))
		for g, m := range e.FailedTgAllocs {
			out.FailedTGAllocs[g] = allocMetricToJSON(m)
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
	ReservedResources     *nodeReservedJSON
	LastDrain             *drainMetadataJSON
	ComputedClass         string
	HostVolumes           map[string]*hostVolumeJSON `json:",omitempty"`
	CreateIndex           uint64
	ModifyIndex           uint64
}

// hostVolumeJSON is Nomad's HostVolumeInfo.
type hostVolumeJSON struct {
	Path     string
	ReadOnly bool
}

type nodeResourcesJSON struct {
	Cpu    struct{ CpuShares int64 }
	Memory struct{ MemoryMB int64 }
	Disk   struct{ DiskMB int64 }
	// The range dynamic ports are assigned from.
	MinDynamicPort int
	MaxDynamicPort int
}

// nodeReservedJSON is Nomad's NodeReservedResources; drover reserves
// ports only.
type nodeReservedJSON struct {
	Networks struct{ ReservedHostPorts string }
}

// drainMetadataJSON is Nomad's DrainMetadata: the node's latest drain.
type drainMetadataJSON struct {
	StartedAt time.Time
	UpdatedAt time.Time
	Status    string
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

func nodeResources(n *structs.Node) *nodeResourcesJSON {
	r := n.GetResources()
	out := &nodeResourcesJSON{MinDynamicPort: scheduler.DefaultMinDynamicPort, MaxDynamicPort: scheduler.DefaultMaxDynamicPort}
	out.Cpu.CpuShares = r.GetCpuMhz()
	out.Memory.MemoryMB = r.GetMemoryMb()
	out.Disk.DiskMB = r.GetDiskMb()
	if p := n.GetMinDynamicPort(); p > 0 {
		out.MinDynamicPort = int(p)
	}
	if p := n.GetMaxDynamicPort(); p > 0 {
		out.MaxDynamicPort = int(p)
	}
	return out
}

func nodeToJSON(n *structs.Node) *nodeJSON {
	out := &nodeJSON{
		ID: n.Id, Datacenter: n.Datacenter, Name: n.Name, Attributes: n.Attributes,
		Resources: resourcesToJSON(n.Resources), NodeResources: nodeResources(n), Meta: n.Meta,
		NodeClass: n.NodeClass, NodePool: "default", Drain: n.DrainStrategy != nil,
		SchedulingEligibility: n.SchedulingEligibility, Status: n.Status, StatusDescription: n.StatusDescription,
		StatusUpdatedAt: n.StatusUpdatedAt / int64(time.Second), Drivers: driversToJSON(n.Drivers),
		ReservedResources: &nodeReservedJSON{}, ComputedClass: n.ComputedClass,
		CreateIndex: n.CreateIndex, ModifyIndex: n.ModifyIndex,
	}
	out.ReservedResources.Networks.ReservedHostPorts = n.ReservedPorts
	for name, v := range n.HostVolumes {
		if out.HostVolumes == nil {
			out.HostVolumes = map[string]*hostVolumeJSON{}
		}
		out.HostVolumes[name] = &hostVolumeJSON{Path: v.GetPath(), ReadOnly: v.GetReadOnly()}
	}
	if d := n.LastDrain; d != nil {
		out.LastDrain = &drainMetadataJSON{StartedAt: unixNano(d.StartedAt), UpdatedAt: unixNano(d.UpdatedAt), Status: d.Status}
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
		out.NodeResources = nodeResources(n)
	}
	return out
}
