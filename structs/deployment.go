package structs

// Deployment statuses, Nomad's.
const (
	DeploymentStatusRunning    = "running"
	DeploymentStatusPaused     = "paused"
	DeploymentStatusFailed     = "failed"
	DeploymentStatusSuccessful = "successful"
	DeploymentStatusCancelled  = "cancelled"
)

// Deployment status descriptions, Nomad's wording.
const (
	DeploymentDescRunning                = "Deployment is running"
	DeploymentDescRunningNeedsPromotion  = "Deployment is running but requires manual promotion"
	DeploymentDescRunningAutoPromotion   = "Deployment is running pending automatic promotion"
	DeploymentDescPaused                 = "Deployment is paused"
	DeploymentDescSuccessful             = "Deployment completed successfully"
	DeploymentDescStoppedJob             = "Cancelled because job is stopped"
	DeploymentDescNewerJob               = "Cancelled due to newer version of job"
	DeploymentDescFailedAllocations      = "Failed due to unhealthy allocations"
	DeploymentDescProgressDeadline       = "Failed due to progress deadline"
	DeploymentDescFailedByUser           = "Deployment marked as failed"
	DeploymentDescRollbackSuffix         = " - rolling back to job version %d"
	DeploymentDescNoRollbackTargetSuffix = " - no stable job version to auto revert to"
	DeploymentDescRollbackNoopSuffix     = " - not rolling back to stable job version %d as current job has same specification"
)

// Evaluation triggers of deployments.
const (
	EvalTriggerDeploymentWatcher = "deployment-watcher"
	EvalTriggerJobRevert         = "job-revert"
)

// Active reports whether the deployment is still under way: running or paused.
func (d *Deployment) Active() bool {
	switch d.GetStatus() {
	case DeploymentStatusRunning, DeploymentStatusPaused:
		return true
	}
	return false
}

// RequiresPromotion reports whether some group has canaries that are not
// promoted yet.
func (d *Deployment) RequiresPromotion() bool {
	for _, g := range d.GetTaskGroups() {
		if g.GetDesiredCanaries() > 0 && !g.GetPromoted() {
			return true
		}
	}
	return false
}

// HasAutoPromote reports whether every group waiting for promotion
// promotes itself.
func (d *Deployment) HasAutoPromote() bool {
	waiting := false
	for _, g := range d.GetTaskGroups() {
		if g.GetDesiredCanaries() > 0 && !g.GetPromoted() {
			if !g.GetAutoPromote() {
				return false
			}
			waiting = true
		}
	}
	return waiting
}

// ForJob reports whether the deployment tracks job's current version.
func (d *Deployment) ForJob(job *Job) bool {
	return d != nil && job != nil && d.JobCreateIndex == job.CreateIndex && d.JobVersion == job.Version
}

// IsHealthy reports whether the allocation was found healthy.
func (s *AllocDeploymentStatus) IsHealthy() bool { return s != nil && s.Healthy != nil && *s.Healthy }

// IsUnhealthy reports whether the allocation was found unhealthy.
func (s *AllocDeploymentStatus) IsUnhealthy() bool {
	return s != nil && s.Healthy != nil && !*s.Healthy
}

// HasHealth reports whether the allocation's health was decided.
func (s *AllocDeploymentStatus) HasHealth() bool { return s != nil && s.Healthy != nil }

// IsCanary reports whether the allocation was placed as a canary.
func (s *AllocDeploymentStatus) IsCanary() bool { return s != nil && s.Canary }
