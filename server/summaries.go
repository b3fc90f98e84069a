package server

import (
	"context"

	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/server/acl"
	"github.com/droverhq/drover/structs"
)

// JobsWithSummaries is Jobs with the allocation summary of each listed job
// that has one, in the same order, read from the same state. Summaries are
// kept by the state store as allocations and evaluations change, so the
// list costs O(jobs), however many allocations they have.
func (s *Server) JobsWithSummaries(ctx context.Context, namespace, prefix string) ([]*structs.Job, []*structs.JobSummary, error) {
	if r := s.otherRegion(ctx, ""); r != "" {
		resp, err := toRegion(s, ctx, r, func(ctx context.Context, c structs.DroverClient) (*structs.JobListResponse, error) {
			return c.ListJobs(ctx, &structs.JobListRequest{Prefix: prefix, Options: remoteQuery(ctx, r, namespace), Summaries: true})
		})
		return resp.GetJobs(), resp.GetSummaries(), err
	}
	a, err := s.authorizeList(ctx, namespace, acl.NamespaceCapabilityListJobs)
	if err != nil {
		return nil, nil, err
	}
	if err := s.readBarrier(ctx); err != nil {
		return nil, nil, err
	}
	snap := s.state.Snapshot()
	jobs := visible(a, acl.NamespaceCapabilityListJobs, snap.Jobs(namespace, prefix))
	var sums []*structs.JobSummary
	for _, j := range jobs {
		js := snap.JobSummary(j.Namespace, j.Id)
		if j.IsParent() {
			// A parent's summary counts its children, read now.
			if js == nil {
				js = &structs.JobSummary{Namespace: j.Namespace, JobId: j.Id}
			} else {
				js = proto.Clone(js).(*structs.JobSummary)
			}
			js.Children = snap.ChildrenSummary(j.Namespace, j.Id)
		}
		if js != nil {
			sums = append(sums, js)
		}
	}
	return jobs, sums, nil
}
