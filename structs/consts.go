// Package structs holds drover's data model: the protobuf types replicated
// through raft and exchanged over RPC, their constants, and job validation.
package structs

// DefaultNamespace is the namespace of a job that names none.
const DefaultNamespace = "default"

// Job types.
const (
	JobTypeService  = "service"
	JobTypeBatch    = "batch"
	JobTypeSystem   = "system"
	JobTypeSysBatch = "sysbatch"
)

// Job statuses.
const (
	JobStatusPending = "pending"
	JobStatusRunning = "running"
	JobStatusDead    = "dead"
)

// Node statuses and scheduling eligibility.
const (
	NodeStatusInit  = "initializing"
	NodeStatusReady = "ready"
	NodeStatusDown  = "down"
	// NodeStatusDisconnected: the node missed its heartbeats while some of
	// its allocations have a disconnect window (max_client_disconnect);
	// it goes down when the last window runs out, or back to ready when it
	// heartbeats again.
	NodeStatusDisconnected = "disconnected"

	NodeEligible   = "eligible"
	NodeIneligible = "ineligible"
)

// Allocation desired statuses: what the servers want.
const (
	AllocDesiredRun   = "run"
	AllocDesiredStop  = "stop"
	AllocDesiredEvict = "evict"
)

// Allocation client statuses: what the client reports.
const (
	AllocClientPending  = "pending"
	AllocClientRunning  = "running"
	AllocClientComplete = "complete"
	AllocClientFailed   = "failed"
	AllocClientLost     = "lost"
	// AllocClientUnknown is set by the servers, never by a client: the
	// allocation's node missed its heartbeats and the allocation's group
	// has a disconnect window that has not run out yet.
	AllocClientUnknown = "unknown"
)

// Task states.
const (
	TaskStatePending = "pending"
	TaskStateRunning = "running"
	TaskStateDead    = "dead"
)

// Task event types.
const (
	TaskEventReceived      = "Received"
	TaskEventStarted       = "Started"
	TaskEventTerminated    = "Terminated"
	TaskEventDriverFailure = "Driver Failure"
	TaskEventRestarting    = "Restarting"
	TaskEventNotRestarting = "Not Restarting"
	TaskEventKilling       = "Killing"
	TaskEventKilled        = "Killed"

	TaskEventSetupFailure           = "Setup Failure"
	TaskEventDownloadingArtifacts   = "Downloading Artifacts"
	TaskEventArtifactDownloadFailed = "Failed Artifact Download"
	TaskEventDriverMessage          = "Driver"
	TaskEventRestoreFailed          = "Failed Restoring Task"
)

// Node drain statuses, recorded in a node's last_drain.
const (
	DrainStatusDraining = "draining"
	DrainStatusComplete = "complete"
	DrainStatusCanceled = "canceled"
)

// Evaluation statuses.
const (
	EvalStatusPending  = "pending"
	EvalStatusComplete = "complete"
	EvalStatusFailed   = "failed"
	EvalStatusBlocked  = "blocked"
	EvalStatusCanceled = "canceled"
)

// Evaluation triggers.
const (
	EvalTriggerJobRegister    = "job-register"
	EvalTriggerJobDeregister  = "job-deregister"
	EvalTriggerNodeUpdate     = "node-update"
	EvalTriggerAllocStop      = "alloc-stop"
	EvalTriggerRetryFailed    = "alloc-failure"
	EvalTriggerQueuedAllocs   = "queued-allocs"
	EvalTriggerPreemption     = "preemption"
	EvalTriggerNodeDrain      = "node-drain"
	EvalTriggerFailedFollowUp = "failed-follow-up"
	EvalTriggerScheduled      = "scheduled"
)

// Restart policy modes.
const (
	RestartModeFail  = "fail"
	RestartModeDelay = "delay"
)

// IsTerminal reports whether the allocation no longer counts against its
// node: the servers asked it to stop, or the client finished with it.
func (a *Allocation) IsTerminal() bool {
	switch a.GetDesiredStatus() {
	case AllocDesiredStop, AllocDesiredEvict:
		return true
	}
	return a.ClientTerminal()
}

// Reserved is what the allocation's tasks reserve on its node: the sums
// of their cpu, memory and disk, whatever the allocation's status.
func (a *Allocation) Reserved() (cpuMHz, memoryMB, diskMB int64) {
	for _, t := range a.GetTaskResources() {
		cpuMHz += t.GetCpuMhz()
		memoryMB += t.GetMemoryMb()
		diskMB += t.GetDiskMb()
	}
	return cpuMHz, memoryMB, diskMB
}

// ClientTerminal reports whether the client has finished with the allocation.
func (a *Allocation) ClientTerminal() bool {
	switch a.GetClientStatus() {
	case AllocClientComplete, AllocClientFailed, AllocClientLost:
		return true
	}
	return false
}

// TerminalStatus reports whether the evaluation has reached a final status.
func (e *Evaluation) TerminalStatus() bool {
	switch e.GetStatus() {
	case EvalStatusComplete, EvalStatusFailed, EvalStatusCanceled:
		return true
	}
	return false
}

// ACL token types.
const (
	// ACLTokenTypeClient tokens grant what their policies say.
	ACLTokenTypeClient = "client"
	// ACLTokenTypeManagement tokens grant everything.
	ACLTokenTypeManagement = "management"
)

// A task's lifecycle hooks (its lifecycle block's hook).
const (
	LifecyclePrestart  = "prestart"
	LifecyclePoststart = "poststart"
	LifecyclePoststop  = "poststop"
)
