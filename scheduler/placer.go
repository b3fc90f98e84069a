package scheduler

import (
	"slices"
	"strings"

	"github.com/droverhq/drover/structs"
)

// placer tracks, for one scheduling pass, what each node would hold if the
// plan so far were applied, and chooses nodes for new allocations.
type placer struct {
	st    State
	nodes []*structs.Node
	// proposed is each node's allocations as the plan leaves them.
	proposed map[string][]*structs.Allocation
	stopped  map[string]bool
}

func newPlacer(st State) *placer {
	// Sorted by id so that ties between equally good nodes break the same
	// way whatever order the state lists them in.
	nodes := slices.Clone(st.Nodes())
	slices.SortFunc(nodes, func(a, b *structs.Node) int { return strings.Compare(a.Id, b.Id) })
	return &placer{st: st, nodes: nodes, proposed: map[string][]*structs.Allocation{}, stopped: map[string]bool{}}
}

// nodeAllocs returns what node would hold under the plan so far.
func (p *placer) nodeAllocs(nodeID string) []*structs.Allocation {
	if a, ok := p.proposed[nodeID]; ok {
		return a
	}
	var out []*structs.Allocation
	for _, a := range p.st.AllocsByNode(nodeID) {
		if !a.IsTerminal() && !p.stopped[a.Id] {
			out = append(out, a)
		}
	}
	p.proposed[nodeID] = out
	return out
}

// stop records that a is stopped by the plan, freeing its resources.
func (p *placer) stop(a *structs.Allocation) {
	p.stopped[a.Id] = true
	if cur, ok := p.proposed[a.NodeId]; ok {
		kept := cur[:0:0]
		for _, x := range cur {
			if x.Id != a.Id {
				kept = append(kept, x)
			}
		}
		p.proposed[a.NodeId] = kept
	}
}

// add records a placement.
func (p *placer) add(a *structs.Allocation) {
	p.proposed[a.NodeId] = append(p.nodeAllocs(a.NodeId), a)
}

// fits checks feasibility and resources of tg on node, updating metric.
func (p *placer) fits(job *structs.Job, tg *structs.TaskGroup, node *structs.Node, ask *structs.Allocation, m *structs.AllocMetric) (bool, []*structs.Allocation) {
	m.NodesEvaluated++
	if ok, reason := feasible(job, tg, node); !ok {
		m.NodesFiltered++
		if m.ConstraintFiltered == nil {
			m.ConstraintFiltered = map[string]int32{}
		}
		m.ConstraintFiltered[reason]++
		return false, nil
	}
	current := p.nodeAllocs(node.Id)
	if jobLevel, groupLevel := distinctHosts(job, tg); jobLevel || groupLevel {
		for _, a := range current {
			if a.JobId == job.Id && a.Namespace == job.Namespace && (jobLevel || a.TaskGroup == tg.Name) {
				m.NodesFiltered++
				if m.ConstraintFiltered == nil {
					m.ConstraintFiltered = map[string]int32{}
				}
				m.ConstraintFiltered[structs.ConstraintDistinctHosts]++
				return false, nil
			}
		}
	}
	with := append(current[:len(current):len(current)], ask)
	if ok, dim := AllocsFit(node, with); !ok {
		m.NodesExhausted++
		if m.DimensionExhausted == nil {
			m.DimensionExhausted = map[string]int32{}
		}
		m.DimensionExhausted[dim]++
		return false, nil
	}
	return true, with
}

// best picks the feasible node where ask fits most tightly (bin-packing),
// ties broken by node id order; nil when none fits.
func (p *placer) best(job *structs.Job, tg *structs.TaskGroup, ask *structs.Allocation, m *structs.AllocMetric) *structs.Node {
	var (
		chosen    *structs.Node
		bestScore = -1.0
	)
	for _, n := range p.nodes {
		ok, with := p.fits(job, tg, n, ask, m)
		if !ok {
			continue
		}
		if s := binpackScore(n, with); s > bestScore {
			chosen, bestScore = n, s
		}
	}
	return chosen
}
