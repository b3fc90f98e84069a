package drover

import "github.com/droverhq/drover/structs"

// DefaultNamespace is the namespace of a job that names none; "" means it
// wherever a method takes a namespace.
const DefaultNamespace = structs.DefaultNamespace

// Job types: a Job's Type. Each is also the name of the scheduler that
// places the job's allocations (ServerOptions.EnabledSchedulers).
const (
	// JobTypeService: long-running tasks, kept at Count per group and
	// restarted or rescheduled when they end.
	JobTypeService = structs.JobTypeService
	// JobTypeBatch: tasks that run to completion, Count per group.
	JobTypeBatch = structs.JobTypeBatch
	// JobTypeSystem: one long-running allocation on every eligible node.
	JobTypeSystem = structs.JobTypeSystem
	// JobTypeSysBatch: one run-to-completion allocation on every eligible
	// node.
	JobTypeSysBatch = structs.JobTypeSysBatch
)

// Job statuses: a Job's Status.
const (
	// JobStatusPending: no allocation of the job runs yet.
	JobStatusPending = structs.JobStatusPending
	// JobStatusRunning: some allocation is wanted and not finished.
	JobStatusRunning = structs.JobStatusRunning
	// JobStatusDead: the job was stopped, or every allocation finished.
	JobStatusDead = structs.JobStatusDead
)

// Allocation client statuses: an Allocation's ClientStatus, what its
// client reports.
const (
	AllocClientPending  = structs.AllocClientPending
	AllocClientRunning  = structs.AllocClientRunning
	AllocClientComplete = structs.AllocClientComplete
	AllocClientFailed   = structs.AllocClientFailed
	// AllocClientLost: the allocation's node went down.
	AllocClientLost = structs.AllocClientLost
	// AllocClientUnknown: the allocation's node missed its heartbeats and
	// the group's disconnect window has not run out yet.
	AllocClientUnknown = structs.AllocClientUnknown
)

// Allocation desired statuses: an Allocation's DesiredStatus, what the
// servers want of it.
const (
	AllocDesiredRun   = structs.AllocDesiredRun
	AllocDesiredStop  = structs.AllocDesiredStop
	AllocDesiredEvict = structs.AllocDesiredEvict
)

// Task states: a TaskState's State.
const (
	TaskStatePending = structs.TaskStatePending
	TaskStateRunning = structs.TaskStateRunning
	TaskStateDead    = structs.TaskStateDead
)

// Evaluation statuses: an Evaluation's Status.
const (
	EvalStatusPending  = structs.EvalStatusPending
	EvalStatusComplete = structs.EvalStatusComplete
	EvalStatusFailed   = structs.EvalStatusFailed
	// EvalStatusBlocked: the evaluation waits for capacity to place what
	// did not fit.
	EvalStatusBlocked  = structs.EvalStatusBlocked
	EvalStatusCanceled = structs.EvalStatusCanceled
)

// Node statuses: a Node's Status.
const (
	NodeStatusInit  = structs.NodeStatusInit
	NodeStatusReady = structs.NodeStatusReady
	// NodeStatusDown: the node missed its heartbeat TTL; its allocations
	// are lost and placed elsewhere.
	NodeStatusDown = structs.NodeStatusDown
	// NodeStatusDisconnected: the node missed its heartbeats while some of
	// its allocations have a disconnect window.
	NodeStatusDisconnected = structs.NodeStatusDisconnected
)

// Node scheduling eligibility: a Node's SchedulingEligibility.
const (
	NodeEligible   = structs.NodeEligible
	NodeIneligible = structs.NodeIneligible
)
