package api

import (
	"fmt"
	"maps"
	"net/http"

	"github.com/droverhq/drover/structs"
)

// jobListStub is a job in a list, as Nomad's JobListStub.
type jobListStub struct {
	ID                string
	ParentID          string
	Name              string
	Namespace         string
	Datacenters       []string
	NodePool          string
	Type              string
	Priority          int
	Periodic          bool
	ParameterizedJob  bool
	Stop              bool
	Status            string
	StatusDescription string
	JobSummary        *jobSummaryJSON
	CreateIndex       uint64
	ModifyIndex       uint64
	JobModifyIndex    uint64
	SubmitTime        int64
	Meta              map[string]string `json:",omitempty"`
}

// jobSummaryJSON is Nomad's JobSummary.
type jobSummaryJSON struct {
	JobID     string
	Namespace string
	Summary   map[string]taskGroupSummaryJSON
	Children  jobChildrenJSON
	// CreateIndex is the job's; ModifyIndex the last change of the counts.
	CreateIndex uint64
	ModifyIndex uint64
}

// taskGroupSummaryJSON is Nomad's TaskGroupSummary: the group's
// allocations by client status (Starting is pending), and the placements
// still queued.
type taskGroupSummaryJSON struct {
	Queued   int
	Complete int
	Failed   int
	Running  int
	Starting int
	Lost     int
	Unknown  int
}

// jobChildrenJSON counts the children of periodic and parameterized jobs
// by status.
type jobChildrenJSON struct {
	Pending int64
	Running int64
	Dead    int64
}

func jobStub(j *structs.Job, sum *structs.JobSummary, withMeta bool) jobListStub {
	s := jobListStub{
		ID: j.Id, ParentID: j.ParentId, Periodic: j.IsPeriodic(), ParameterizedJob: j.IsParameterized(),
		Name: j.Name, Namespace: j.Namespace, Datacenters: j.Datacenters, NodePool: "default",
		Type: j.Type, Priority: int(j.Priority), Stop: j.Stop, Status: j.Status, JobSummary: jobSummaryToJSON(j, sum),
		CreateIndex: j.CreateIndex, ModifyIndex: j.ModifyIndex, JobModifyIndex: j.JobModifyIndex, SubmitTime: j.SubmitTime,
	}
	if withMeta {
		s.Meta = maps.Clone(j.Meta)
	}
	return s
}

// jobSummaryToJSON renders a job's summary (sum is nil while nothing is
// counted), with a line for every group of the job and for any other group
// that still has allocations. A stopped job has nothing queued.
func jobSummaryToJSON(j *structs.Job, sum *structs.JobSummary) *jobSummaryJSON {
	out := &jobSummaryJSON{
		JobID: j.Id, Namespace: j.Namespace, Summary: map[string]taskGroupSummaryJSON{},
		CreateIndex: j.CreateIndex, ModifyIndex: max(sum.GetModifyIndex(), j.CreateIndex),
	}
	if c := sum.GetChildren(); c != nil {
		out.Children = jobChildrenJSON{Pending: c.Pending, Running: c.Running, Dead: c.Dead}
	}
	for _, g := range j.TaskGroups {
		out.Summary[g.Name] = taskGroupSummaryJSON{}
	}
	for name, g := range sum.GetGroups() {
		ts := taskGroupSummaryJSON{
			Queued: int(g.Queued), Complete: int(g.Complete), Failed: int(g.Failed), Running: int(g.Running),
			Starting: int(g.Starting), Lost: int(g.Lost), Unknown: int(g.Unknown),
		}
		if j.Stop {
			ts.Queued = 0
		}
		out.Summary[name] = ts
	}
	return out
}

// summaryIndex maps the summaries of a job list by namespace and job id.
func summaryIndex(sums []*structs.JobSummary) map[[2]string]*structs.JobSummary {
	out := make(map[[2]string]*structs.JobSummary, len(sums))
	for _, s := range sums {
		out[[2]string{s.Namespace, s.JobId}] = s
	}
	return out
}

// jobSummary serves /v1/job/:id/summary.
func (h *Handler) jobSummary(w http.ResponseWriter, r *http.Request, params []string) error {
	return h.read(w, r, func(q queryOptions) (any, error) {
		ns := q.namespace
		if ns == "" {
			ns = structs.DefaultNamespace
		}
		jobs, sums, err := h.b.JobsWithSummaries(q.ctx, ns, params[0])
		if err != nil {
			return nil, err
		}
		idx := summaryIndex(sums)
		for _, j := range jobs {
			if j.Id == params[0] {
				return jobSummaryToJSON(j, idx[[2]string{j.Namespace, j.Id}]), nil
			}
		}
		return nil, fmt.Errorf("%w: job %q in namespace %q", structs.ErrNotFound, params[0], ns)
	})
}
