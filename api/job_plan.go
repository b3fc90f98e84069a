package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/droverhq/drover/structs"
)

// jobPlanRequest is Nomad's JobPlanRequest.
type jobPlanRequest struct {
	Job            *jobJSON
	Diff           bool
	PolicyOverride bool
	Region         string
	Namespace      string
}

type planAnnotationsJSON struct {
	DesiredTGUpdates map[string]*desiredUpdatesJSON
	PreemptedAllocs  []*allocStubJSON
}

type desiredUpdatesJSON struct {
	Ignore, Place, Migrate, Stop, InPlaceUpdate, DestructiveUpdate, Canary, Preemptions uint64
}

type jobPlanResponse struct {
	JobModifyIndex     uint64
	CreatedEvals       []*evalJSON
	Diff               *jobDiff
	Annotations        *planAnnotationsJSON
	FailedTGAllocs     map[string]*allocMetricJSON
	NextPeriodicLaunch string
	Warnings           string
}

// submittedJob decodes a job of a plan or validation request and places
// it in the request's namespace and region, as registration does.
func (h *Handler) submittedJob(r *http.Request, in *jobJSON, namespace string) (*structs.Job, []string, error) {
	q, err := h.parseQuery(r)
	if err != nil {
		return nil, nil, err
	}
	job, warnings, err := jobFromJSON(in)
	if err != nil {
		return nil, nil, err
	}
	if job.Namespace == "" {
		job.Namespace = q.namespace
		if namespace != "" {
			job.Namespace = namespace
		}
	}
	return job, warnings, nil
}

// planJob serves PUT /v1/job/:id/plan: a dry run of the registration on
// the scheduler, with the diff against the stored job when asked.
func (h *Handler) planJob(w http.ResponseWriter, r *http.Request, params []string) error {
	var req jobPlanRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if req.Job == nil {
		return badRequest("job is missing: the body must be {\"Job\": {...}}")
	}
	job, warnings, err := h.submittedJob(r, req.Job, req.Namespace)
	if err != nil {
		return err
	}
	if job.Id != params[0] {
		return badRequest("job ID %q does not match the path's %q", job.Id, params[0])
	}
	plan, err := h.b.PlanJob(r.Context(), job)
	if err != nil {
		return err
	}
	out := jobPlanResponse{
		JobModifyIndex: plan.JobModifyIndex, CreatedEvals: []*evalJSON{},
		Annotations:        &planAnnotationsJSON{DesiredTGUpdates: map[string]*desiredUpdatesJSON{}, PreemptedAllocs: []*allocStubJSON{}},
		NextPeriodicLaunch: plan.NextPeriodicLaunch.UTC().Format(time.RFC3339Nano), Warnings: strings.Join(warnings, "\n"),
	}
	for g, u := range plan.Updates {
		out.Annotations.DesiredTGUpdates[g] = &desiredUpdatesJSON{
			Ignore: u.Ignore, Place: u.Place, Migrate: u.Migrate, Stop: u.Stop, InPlaceUpdate: u.InPlaceUpdate,
			DestructiveUpdate: u.DestructiveUpdate, Canary: u.Canary, Preemptions: u.Preemptions,
		}
	}
	for _, a := range plan.Preempted {
		out.Annotations.PreemptedAllocs = append(out.Annotations.PreemptedAllocs, allocStub(a, nil))
	}
	if len(plan.FailedTGAllocs) > 0 {
		out.FailedTGAllocs = evalToJSON(&structs.Evaluation{FailedTgAllocs: plan.FailedTGAllocs}).FailedTGAllocs
	}
	if req.Diff {
		out.Diff = diffJobs(plan.Current, plan.Job, plan.Updates)
	}
	return h.writeResult(w, h.b.StateIndex(), out)
}

// jobValidateRequest is Nomad's JobValidateRequest.
type jobValidateRequest struct {
	Job       *jobJSON
	Namespace string
}

type jobValidateResponse struct {
	DriverConfigValidated bool
	ValidationErrors      []string
	Error                 string
	Warnings              string
}

// validateJob serves PUT /v1/validate/job with drover's own validation:
// a job it would refuse is reported here, with every problem.
func (h *Handler) validateJob(w http.ResponseWriter, r *http.Request, _ []string) error {
	var req jobValidateRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if req.Job == nil {
		return badRequest("job is missing: the body must be {\"Job\": {...}}")
	}
	out := jobValidateResponse{ValidationErrors: []string{}}
	job, warnings, err := h.submittedJob(r, req.Job, req.Namespace)
	if err == nil {
		err = h.b.ValidateJob(r.Context(), job)
	}
	out.Warnings = strings.Join(warnings, "\n")
	if err != nil {
		code, msg, problems := statusOf(err)
		if code != http.StatusBadRequest {
			return err
		}
		if len(problems) == 0 {
			problems = []string{msg}
		}
		out.ValidationErrors, out.Error = problems, msg
	} else {
		out.DriverConfigValidated = true
	}
	return writeJSON(w, out)
}

// jobEvaluateRequest is Nomad's JobEvaluateRequest.
type jobEvaluateRequest struct {
	JobID       string
	EvalOptions struct{ ForceReschedule bool }
}

// evaluateJob serves PUT /v1/job/:id/evaluate (nomad job eval).
func (h *Handler) evaluateJob(w http.ResponseWriter, r *http.Request, params []string) error {
	q, err := h.parseQuery(r)
	if err != nil {
		return err
	}
	var req jobEvaluateRequest
	if r.ContentLength != 0 {
		if err := decodeBody(r, &req); err != nil {
			return err
		}
	}
	if req.JobID != "" && req.JobID != params[0] {
		return badRequest("job ID %q does not match the path's %q", req.JobID, params[0])
	}
	id, idx, err := h.b.EvaluateJob(r.Context(), q.namespace, params[0], req.EvalOptions.ForceReschedule)
	if err != nil {
		return err
	}
	return h.writeResult(w, idx, jobRegisterResponse{EvalID: id, EvalCreateIndex: idx, LastIndex: idx, KnownLeader: h.b.KnownLeader()})
}

// versionDiffs diffs each kept version with the one before it, newest
// first, as Nomad's versions?diffs=true does.
func versionDiffs(versions []*structs.Job) []*jobDiff {
	out := make([]*jobDiff, 0, max(len(versions)-1, 0))
	for i := 0; i+1 < len(versions); i++ {
		out = append(out, diffJobs(versions[i+1], versions[i], nil))
	}
	return out
}

// currentInstance keeps the allocations of the job's current instance: a
// job purged and registered again under the same id starts a new lineage
// (a new CreateIndex), and the allocations of the earlier one left in the
// state are not its own. With no such job, all are kept.
func (h *Handler) currentInstance(q queryOptions, jobID string, allocs []*structs.Allocation) []*structs.Allocation {
	job, err := h.b.Job(q.ctx, q.namespace, jobID)
	if err != nil || job == nil {
		return allocs
	}
	out := allocs[:0:0]
	for _, a := range allocs {
		if a.GetJob() == nil || a.GetJob().GetCreateIndex() == job.CreateIndex {
			out = append(out, a)
		}
	}
	return out
}
