package api

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/droverhq/drover/structs"
)

// DeploymentBackend reads and drives deployments, and reverts jobs and
// marks their versions stable.
type DeploymentBackend interface {
	// Deployments lists the deployments of a namespace ("" for all) whose id has prefix.
	Deployments(ctx context.Context, namespace, prefix string) ([]*structs.Deployment, error)
	Deployment(ctx context.Context, id string) (*structs.Deployment, error)
	// DeploymentAllocations lists the allocations a deployment placed or updated.
	DeploymentAllocations(ctx context.Context, id string) ([]*structs.Allocation, error)
	// JobDeployments lists a job's deployments, newest first (with all,
	// also those of earlier jobs of the same id).
	JobDeployments(ctx context.Context, namespace, jobID string, all bool) ([]*structs.Deployment, error)
	// LatestDeployment is the job's latest deployment, or nil without error.
	LatestDeployment(ctx context.Context, namespace, jobID string) (*structs.Deployment, error)
	PromoteDeployment(ctx context.Context, id string, all bool, groups []string) (*structs.DeploymentUpdateResponse, error)
	FailDeployment(ctx context.Context, id string) (*structs.DeploymentUpdateResponse, error)
	PauseDeployment(ctx context.Context, id string, pause bool) (*structs.DeploymentUpdateResponse, error)
	SetAllocHealth(ctx context.Context, id string, healthy, unhealthy []string) (*structs.DeploymentUpdateResponse, error)
	// RevertJob registers a kept version of a job again as its new version.
	RevertJob(ctx context.Context, namespace, jobID string, version uint64, enforcePrior *uint64) (*structs.JobRegisterResponse, error)
	// SetJobStability marks a kept version of a job stable or not.
	SetJobStability(ctx context.Context, namespace, jobID string, version uint64, stable bool) (*structs.JobStabilityResponse, error)
}

// registerDeploymentRoutes adds the deployment endpoints and the job
// endpoints that go with them.
func (h *Handler) registerDeploymentRoutes() {
	get := func(f handlerFunc) map[string]handlerFunc { return map[string]handlerFunc{http.MethodGet: f} }
	write := func(f handlerFunc) map[string]handlerFunc {
		return map[string]handlerFunc{http.MethodPut: f, http.MethodPost: f}
	}
	h.handle("/v1/deployments", get(h.listDeployments))
	h.handle("/v1/deployment/:", get(h.getDeployment))
	h.handle("/v1/deployment/allocations/:", get(h.deploymentAllocations))
	h.handle("/v1/deployment/promote/:", write(h.promoteDeployment))
	h.handle("/v1/deployment/fail/:", write(h.failDeployment))
	h.handle("/v1/deployment/pause/:", write(h.pauseDeployment))
	h.handle("/v1/deployment/allocation-health/:", write(h.deploymentAllocHealth))
	h.handle("/v1/job/:/deployments", get(h.jobDeployments))
	h.handle("/v1/job/:/deployment", get(h.jobLatestDeployment))
	h.handle("/v1/job/:/revert", write(h.revertJob))
	h.handle("/v1/job/:/stable", write(h.jobStable))
}

func (h *Handler) listDeployments(w http.ResponseWriter, r *http.Request, _ []string) error {
	return h.read(w, r, func(q queryOptions) (any, error) {
		ds, err := h.b.Deployments(q.ctx, q.namespace, q.prefix)
		if err != nil {
			return nil, err
		}
		ds = slices.Clone(ds)
		slices.SortFunc(ds, func(a, b *structs.Deployment) int { return strings.Compare(a.Id, b.Id) })
		return deploymentsToJSON(paginate(w, q, ds, func(d *structs.Deployment) string { return d.Id })), nil
	})
}

func (h *Handler) getDeployment(w http.ResponseWriter, r *http.Request, params []string) error {
	return h.read(w, r, func(q queryOptions) (any, error) {
		d, err := h.b.Deployment(q.ctx, params[0])
		if err != nil {
			return nil, err
		}
		return deploymentToJSON(d), nil
	})
}

func (h *Handler) deploymentAllocations(w http.ResponseWriter, r *http.Request, params []string) error {
	return h.read(w, r, func(q queryOptions) (any, error) {
		allocs, err := h.b.DeploymentAllocations(q.ctx, params[0])
		if err != nil {
			return nil, err
		}
		out := make([]*allocStubJSON, 0, len(allocs))
		for _, a := range allocs {
			out = append(out, allocStub(a, nil))
		}
		return out, nil
	})
}

func (h *Handler) jobDeployments(w http.ResponseWriter, r *http.Request, params []string) error {
	all, err := boolParam(r, "all")
	if err != nil {
		return err
	}
	return h.read(w, r, func(q queryOptions) (any, error) {
		ds, err := h.b.JobDeployments(q.ctx, q.namespace, params[0], all)
		if err != nil {
			return nil, err
		}
		return deploymentsToJSON(ds), nil
	})
}

// jobLatestDeployment answers the job's latest deployment, or null: `nomad
// job status` asks for it for every job.
func (h *Handler) jobLatestDeployment(w http.ResponseWriter, r *http.Request, params []string) error {
	return h.read(w, r, func(q queryOptions) (any, error) {
		d, err := h.b.LatestDeployment(q.ctx, q.namespace, params[0])
		if err != nil {
			return nil, err
		}
		return deploymentToJSON(d), nil
	})
}

// deploymentRequest is the body of the deployment writes (Nomad's
// DeploymentPromoteRequest, DeploymentPauseRequest, DeploymentFailRequest
// and DeploymentAllocHealthRequest share these fields).
type deploymentRequest struct {
	DeploymentID           string
	All                    bool
	Groups                 []string
	Pause                  bool
	HealthyAllocationIDs   []string
	UnhealthyAllocationIDs []string
}

// deploymentWrite reads the body (optional for fail), checks its
// deployment id against the path's and sends the outcome.
func (h *Handler) deploymentWrite(w http.ResponseWriter, r *http.Request, id string, bodyRequired bool,
	do func(req deploymentRequest) (*structs.DeploymentUpdateResponse, error)) error {
	var req deploymentRequest
	if err := decodeBody(r, &req); err != nil && (bodyRequired || !isMissingBody(err)) {
		return err
	}
	if req.DeploymentID != "" && req.DeploymentID != id {
		return badRequest("deployment ID %q does not match the path's %q", req.DeploymentID, id)
	}
	resp, err := do(req)
	if err != nil {
		return err
	}
	idx := resp.GetMeta().GetIndex()
	out := deploymentUpdateResponse{EvalID: resp.EvalId, DeploymentModifyIndex: resp.DeploymentModifyIndex,
		Index: idx, LastIndex: idx}
	if resp.EvalId != "" {
		out.EvalCreateIndex = idx
	}
	if resp.RevertedJobVersion != nil {
		out.RevertedJobVersion = ptr(resp.GetRevertedJobVersion())
	}
	return h.writeResult(w, idx, out)
}

func (h *Handler) promoteDeployment(w http.ResponseWriter, r *http.Request, params []string) error {
	return h.deploymentWrite(w, r, params[0], true, func(req deploymentRequest) (*structs.DeploymentUpdateResponse, error) {
		if !req.All && len(req.Groups) == 0 {
			return nil, badRequest("promote all groups (All) or name some (Groups)")
		}
		return h.b.PromoteDeployment(r.Context(), params[0], req.All, req.Groups)
	})
}

func (h *Handler) failDeployment(w http.ResponseWriter, r *http.Request, params []string) error {
	return h.deploymentWrite(w, r, params[0], false, func(deploymentRequest) (*structs.DeploymentUpdateResponse, error) {
		return h.b.FailDeployment(r.Context(), params[0])
	})
}

func (h *Handler) pauseDeployment(w http.ResponseWriter, r *http.Request, params []string) error {
	return h.deploymentWrite(w, r, params[0], true, func(req deploymentRequest) (*structs.DeploymentUpdateResponse, error) {
		return h.b.PauseDeployment(r.Context(), params[0], req.Pause)
	})
}

func (h *Handler) deploymentAllocHealth(w http.ResponseWriter, r *http.Request, params []string) error {
	return h.deploymentWrite(w, r, params[0], true, func(req deploymentRequest) (*structs.DeploymentUpdateResponse, error) {
		return h.b.SetAllocHealth(r.Context(), params[0], req.HealthyAllocationIDs, req.UnhealthyAllocationIDs)
	})
}

// jobRevertRequest is Nomad's JobRevertRequest.
type jobRevertRequest struct {
	JobID               string
	JobVersion          uint64
	EnforcePriorVersion *uint64
	Namespace           string
}

func (h *Handler) revertJob(w http.ResponseWriter, r *http.Request, params []string) error {
	q, err := h.parseQuery(r)
	if err != nil {
		return err
	}
	var req jobRevertRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if req.JobID != params[0] {
		return badRequest("job ID %q does not match the path's %q", req.JobID, params[0])
	}
	resp, err := h.b.RevertJob(r.Context(), q.namespace, params[0], req.JobVersion, req.EnforcePriorVersion)
	if err != nil {
		return err
	}
	idx := resp.GetMeta().GetIndex()
	return h.writeResult(w, idx, jobRegisterResponse{
		EvalID: resp.EvalId, EvalCreateIndex: idx, JobModifyIndex: resp.JobModifyIndex, LastIndex: idx, KnownLeader: h.b.KnownLeader(),
	})
}

// jobStabilityRequest is Nomad's JobStabilityRequest.
type jobStabilityRequest struct {
	JobID      string
	JobVersion uint64
	Stable     bool
}

type jobStabilityResponse struct {
	JobModifyIndex uint64
	Index          uint64
	LastIndex      uint64
}

func (h *Handler) jobStable(w http.ResponseWriter, r *http.Request, params []string) error {
	q, err := h.parseQuery(r)
	if err != nil {
		return err
	}
	var req jobStabilityRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if req.JobID != params[0] {
		return badRequest("job ID %q does not match the path's %q", req.JobID, params[0])
	}
	resp, err := h.b.SetJobStability(r.Context(), q.namespace, params[0], req.JobVersion, req.Stable)
	if err != nil {
		return err
	}
	idx := resp.GetMeta().GetIndex()
	return h.writeResult(w, idx, jobStabilityResponse{JobModifyIndex: resp.JobModifyIndex, Index: idx, LastIndex: idx})
}
