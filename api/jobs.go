package api

import (
	"net/http"
	"strings"

	"github.com/droverhq/drover/structs"
)

// jobRegisterRequest is Nomad's JobRegisterRequest.
type jobRegisterRequest struct {
	Job               *jobJSON
	EnforceIndex      bool
	JobModifyIndex    uint64
	PolicyOverride    bool
	PreserveCounts    bool
	PreserveResources bool
	EvalPriority      int
	Region            string
	Namespace         string
}

type jobRegisterResponse struct {
	EvalID          string
	EvalCreateIndex uint64
	JobModifyIndex  uint64
	Warnings        string
	LastIndex       uint64
	KnownLeader     bool
}

type jobDeregisterResponse struct {
	EvalID          string
	EvalCreateIndex uint64
	JobModifyIndex  uint64
	LastIndex       uint64
}

func (h *Handler) listJobs(w http.ResponseWriter, r *http.Request, _ []string) error {
	withMeta, err := boolParam(r, "meta")
	if err != nil {
		return err
	}
	return h.read(w, r, func(q queryOptions) (any, error) {
		jobs, sums, err := h.b.JobsWithSummaries(q.ctx, q.namespace, q.prefix)
		if err != nil {
			return nil, err
		}
		idx := summaryIndex(sums)
		key := func(j *structs.Job) string {
			if q.allNamespaces {
				return j.Namespace + "." + j.Id
			}
			return j.Id
		}
		if jobs, err = filterBy(q, jobs, func(j *structs.Job) jobListStub { return jobStub(j, idx[[2]string{j.Namespace, j.Id}], withMeta) }); err != nil {
			return nil, err
		}
		jobs = paginate(w, q, jobs, key)
		out := make([]jobListStub, 0, len(jobs))
		for _, j := range jobs {
			out = append(out, jobStub(j, idx[[2]string{j.Namespace, j.Id}], withMeta))
		}
		return out, nil
	})
}

// registerJob serves PUT and POST on /v1/jobs and /v1/job/:id.
func (h *Handler) registerJob(w http.ResponseWriter, r *http.Request, params []string) error {
	q, err := h.parseQueryIn(r, true)
	if err != nil {
		return err
	}
	var req jobRegisterRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if req.Job == nil {
		return badRequest("job is missing: the body must be {\"Job\": {...}}")
	}
	if req.PreserveCounts || req.PreserveResources {
		return badRequest("PreserveCounts and PreserveResources are not supported by drover")
	}
	if req.Region != "" && req.Region != h.self().Region {
		return badRequest("no path to region %q: this server serves region %q", req.Region, h.self().Region)
	}
	job, warnings, err := jobFromJSON(req.Job)
	if err != nil {
		return err
	}
	if len(params) == 1 && job.Id != params[0] {
		return badRequest("job ID %q does not match the path's %q", job.Id, params[0])
	}
	ns := q.namespace
	if req.Namespace != "" {
		ns = req.Namespace
	}
	switch {
	case job.Namespace == "":
		job.Namespace = ns
	case (q.namespaceSet || req.Namespace != "") && job.Namespace != ns:
		return badRequest("job namespace %q does not match the request's namespace %q", job.Namespace, ns)
	}
	if job.Region == "" {
		job.Region = q.region // a job of another region is forwarded there
	}
	var resp *structs.JobRegisterResponse
	if req.EnforceIndex {
		resp, err = h.b.RegisterJobIfIndex(r.Context(), job, req.JobModifyIndex)
	} else {
		resp, err = h.b.RegisterJob(r.Context(), job)
	}
	if err != nil {
		return err
	}
	idx := resp.GetMeta().GetIndex()
	return h.writeResult(w, idx, jobRegisterResponse{
		EvalID: resp.EvalId, EvalCreateIndex: idx, JobModifyIndex: resp.JobModifyIndex,
		Warnings: strings.Join(warnings, "\n"), LastIndex: idx, KnownLeader: h.b.KnownLeader(),
	})
}

func (h *Handler) getJob(w http.ResponseWriter, r *http.Request, params []string) error {
	return h.read(w, r, func(q queryOptions) (any, error) {
		job, err := h.b.Job(q.ctx, q.namespace, params[0])
		if err != nil {
			return nil, err
		}
		return jobToJSON(job), nil
	})
}

func (h *Handler) deregisterJob(w http.ResponseWriter, r *http.Request, params []string) error {
	q, err := h.parseQueryIn(r, true)
	if err != nil {
		return err
	}
	purge, err := boolParam(r, "purge")
	if err != nil {
		return err
	}
	if global, err := boolParam(r, "global"); err != nil {
		return err
	} else if global {
		return badRequest("global deregistration of multi-region jobs is not supported by drover")
	}
	ctx := r.Context()
	if q.region != "" {
		ctx = h.b.InRegion(ctx, q.region)
	}
	resp, err := h.b.DeregisterJob(ctx, q.namespace, params[0], purge)
	if err != nil {
		return err
	}
	idx := resp.GetMeta().GetIndex()
	return h.writeResult(w, idx, jobDeregisterResponse{EvalID: resp.EvalId, EvalCreateIndex: idx, JobModifyIndex: idx, LastIndex: idx})
}

func (h *Handler) jobAllocations(w http.ResponseWriter, r *http.Request, params []string) error {
	all, err := boolParam(r, "all")
	if err != nil {
		return err
	}
	return h.read(w, r, func(q queryOptions) (any, error) {
		allocs, err := h.b.Allocations(q.ctx, q.namespace, params[0], "")
		if err != nil {
			return nil, err
		}
		if !all {
			allocs = h.currentInstance(q, params[0], allocs)
		}
		out := make([]*allocStubJSON, 0, len(allocs))
		for _, a := range allocs {
			out = append(out, allocStub(a, nil))
		}
		return out, nil
	})
}

func (h *Handler) jobEvaluations(w http.ResponseWriter, r *http.Request, params []string) error {
	return h.read(w, r, func(q queryOptions) (any, error) {
		evals, err := h.b.Evaluations(q.ctx, q.namespace, params[0])
		if err != nil {
			return nil, err
		}
		return evalsToJSON(evals), nil
	})
}

type jobVersionsResponse struct {
	Versions []*jobJSON
	Diffs    []*jobDiff
}

func (h *Handler) jobVersions(w http.ResponseWriter, r *http.Request, params []string) error {
	diffs, err := boolParam(r, "diffs")
	if err != nil {
		return err
	}
	return h.read(w, r, func(q queryOptions) (any, error) {
		versions, err := h.b.JobVersions(q.ctx, q.namespace, params[0])
		if err != nil {
			return nil, err
		}
		out := jobVersionsResponse{Versions: make([]*jobJSON, 0, len(versions))}
		for _, j := range versions {
			out.Versions = append(out.Versions, jobToJSON(j))
		}
		if diffs {
			out.Diffs = versionDiffs(versions)
		}
		return out, nil
	})
}

func evalsToJSON(evals []*structs.Evaluation) []*evalJSON {
	out := make([]*evalJSON, 0, len(evals))
	for _, e := range evals {
		out = append(out, evalToJSON(e))
	}
	return out
}
