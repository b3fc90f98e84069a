package drover

import (
	"context"

	"github.com/droverhq/drover/structs"
)

// The update model, under the names a user of the package writes (see
// docs/deployments.md).
type (
	// UpdateStrategy is the update block: how a new version of a service
	// group replaces its allocations.
	UpdateStrategy = structs.UpdateStrategy
	// MigrateStrategy is the migrate block: how a drain moves a group's
	// allocations.
	MigrateStrategy = structs.MigrateStrategy
	// Service is a task's service, whose checks decide its allocation's
	// health.
	Service = structs.Service
	// ServiceCheck is one health check of a service.
	ServiceCheck = structs.ServiceCheck
	// CheckRestart restarts a task whose check keeps failing.
	CheckRestart = structs.CheckRestart
	// Deployment is the rollout of one version of a job.
	Deployment = structs.Deployment
	// DeploymentState is one task group's progress in a deployment.
	DeploymentState = structs.DeploymentState
	// AllocDeploymentStatus is an allocation's health in its deployment.
	AllocDeploymentStatus = structs.AllocDeploymentStatus
	// CheckStatus is the latest result of one service check.
	CheckStatus = structs.CheckStatus
	// DeploymentUpdateResponse is what a deployment write committed.
	DeploymentUpdateResponse = structs.DeploymentUpdateResponse
	// JobStabilityResponse is what marking a job version stable committed.
	JobStabilityResponse = structs.JobStabilityResponse
)

// Deployment reads one deployment.
func (s *Server) Deployment(ctx context.Context, id string) (*Deployment, error) {
	return s.srv.Deployment(ctx, id)
}

// Deployments lists the deployments of a namespace ("" for all) whose id
// has prefix.
func (s *Server) Deployments(ctx context.Context, namespace, prefix string) ([]*Deployment, error) {
	return s.srv.Deployments(ctx, namespace, prefix)
}

// JobDeployments lists a job's deployments, newest first; with all, also
// those of earlier jobs of the same id.
func (s *Server) JobDeployments(ctx context.Context, namespace, jobID string, all bool) ([]*Deployment, error) {
	return s.srv.JobDeployments(ctx, namespace, jobID, all)
}

// LatestDeployment is a job's latest deployment, or nil when it has none.
func (s *Server) LatestDeployment(ctx context.Context, namespace, jobID string) (*Deployment, error) {
	return s.srv.LatestDeployment(ctx, namespace, jobID)
}

// DeploymentAllocations lists the allocations a deployment placed.
func (s *Server) DeploymentAllocations(ctx context.Context, id string) ([]*Allocation, error) {
	return s.srv.DeploymentAllocations(ctx, id)
}

// PromoteDeployment promotes the canaries of a deployment: of every group
// with all, else of the named groups; the rollout then goes on.
func (s *Server) PromoteDeployment(ctx context.Context, id string, all bool, groups []string) (*DeploymentUpdateResponse, error) {
	return s.srv.PromoteDeployment(ctx, id, all, groups)
}

// FailDeployment fails a running deployment (and, with auto_revert, runs
// the latest stable version again).
func (s *Server) FailDeployment(ctx context.Context, id string) (*DeploymentUpdateResponse, error) {
	return s.srv.FailDeployment(ctx, id)
}

// PauseDeployment pauses a running deployment, or resumes a paused one.
func (s *Server) PauseDeployment(ctx context.Context, id string, pause bool) (*DeploymentUpdateResponse, error) {
	return s.srv.PauseDeployment(ctx, id, pause)
}

// SetAllocHealth records an operator's verdict on allocations of a
// deployment (health_check = "manual").
func (s *Server) SetAllocHealth(ctx context.Context, id string, healthy, unhealthy []string) (*DeploymentUpdateResponse, error) {
	return s.srv.SetAllocHealth(ctx, id, healthy, unhealthy)
}

// RevertJob registers a kept version of a job again, as a new version;
// with enforcePrior, only if the job is still at that version.
func (s *Server) RevertJob(ctx context.Context, namespace, jobID string, version uint64, enforcePrior *uint64) (*JobRegisterResponse, error) {
	return s.srv.RevertJob(ctx, namespace, jobID, version, enforcePrior)
}

// SetJobStability marks a kept version of a job stable, or not; a failed
// deployment with auto_revert goes back to the latest stable version.
func (s *Server) SetJobStability(ctx context.Context, namespace, jobID string, version uint64, stable bool) (*JobStabilityResponse, error) {
	return s.srv.SetJobStability(ctx, namespace, jobID, version, stable)
}
