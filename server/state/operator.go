package state

import (
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/structs"
)

// Autopilot returns the operator's autopilot configuration, or nil while
// none was set.
func (s *Snapshot) Autopilot() *structs.AutopilotConfiguration { return s.t.meta.GetAutopilot() }

// SetAutopilot stores the autopilot configuration in the cluster's
// singletons.
func (tx *Txn) SetAutopilot(c *structs.AutopilotConfiguration) {
	m := proto.CloneOf(tx.t.meta)
	if m == nil {
		m = &structs.ClusterMeta{}
	}
	m.Autopilot = c
	tx.t.meta = m
}

// RebuildSummaries recomputes every job summary from the allocation and
// evaluation tables, as a restore does. Summaries are a function of the
// tables alone, so this repairs one that drifted and changes nothing
// otherwise.
func (tx *Txn) RebuildSummaries() {
	tx.t.summaries = btree[*structs.JobSummary]{}
	tx.t.allocs.walkPrefix("", func(_ string, a *structs.Allocation) bool {
		tx.summarizeAlloc(a, nil)
		return true
	})
	tx.t.evals.walkPrefix("", func(_ string, e *structs.Evaluation) bool {
		tx.requeue(e.Namespace, e.JobId)
		return true
	})
}
