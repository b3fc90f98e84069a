package scheduler

import (
	"math"

	"github.com/droverhq/drover/structs"
)

// spreadState scores nodes by how a group's allocations spread over the
// values of node attributes. Counts per value are kept as placements are
// made, and the smallest and largest count through a histogram of counts,
// so scoring a node is O(spread blocks), never O(allocations or values).
type spreadState struct {
	blocks    []*spreadBlock
	sumWeight float64
}

type spreadBlock struct {
	attr   string
	weight float64
	// desired counts per target value; rest is the share of values not
	// named (-1 when the targets leave none).
	desired map[string]float64
	rest    float64
	counts  map[string]int
	// hist[c] is how many values have count c (c > 0); lo and hi are the
	// smallest and largest such c.
	hist   map[int]int
	lo, hi int
	values []string // per node index, resolved lazily
	known  []bool
	has    []bool
}

func newSpreadState(job *structs.Job, tg *structs.TaskGroup, nodes int) *spreadState {
	specs := append(append([]*structs.Spread(nil), job.Spreads...), tg.Spreads...)
	if len(specs) == 0 {
		return nil
	}
	ss := &spreadState{}
	for _, sp := range specs {
		w := float64(sp.Weight)
		if w <= 0 {
			w = 50
		}
		b := &spreadBlock{
			attr: sp.Attribute, weight: w, counts: map[string]int{}, hist: map[int]int{},
			values: make([]string, nodes), known: make([]bool, nodes), has: make([]bool, nodes),
		}
		if len(sp.Targets) > 0 {
			b.desired = map[string]float64{}
			sum := 0.0
			for _, t := range sp.Targets {
				b.desired[t.Value] = float64(t.Percent) / 100 * float64(tg.Count)
				sum += float64(t.Percent)
			}
			b.rest = -1
			if sum < 100 {
				b.rest = (100 - sum) / 100 * float64(tg.Count)
			}
		}
		ss.blocks = append(ss.blocks, b)
		ss.sumWeight += w
	}
	return ss
}

// value resolves (once) a node's value of the block's attribute.
func (b *spreadBlock) value(ns *nodeState) (string, bool) {
	if !b.known[ns.idx] {
		b.known[ns.idx] = true
		b.values[ns.idx], b.has[ns.idx] = resolveTarget(b.attr, ns.node)
	}
	return b.values[ns.idx], b.has[ns.idx]
}

// add counts one allocation more (delta 1) or less (-1) on node ns.
func (ss *spreadState) add(ns *nodeState, delta int) {
	for _, b := range ss.blocks {
		v, ok := b.value(ns)
		if !ok {
			continue
		}
		old := b.counts[v]
		nw := old + delta
		if nw < 0 {
			continue
		}
		if old > 0 {
			b.hist[old]--
			if b.hist[old] == 0 {
				delete(b.hist, old)
			}
		}
		if nw > 0 {
			b.counts[v] = nw
			b.hist[nw]++
		} else {
			delete(b.counts, v)
		}
		b.recomputeBounds(old, nw)
	}
}

// recomputeBounds keeps lo and hi right after one value moved from old to
// nw, in O(1) amortised: a bound only moves by one step.
func (b *spreadBlock) recomputeBounds(old, nw int) {
	if len(b.hist) == 0 {
		b.lo, b.hi = 0, 0
		return
	}
	if nw > b.hi {
		b.hi = nw
	}
	if nw > 0 && (b.lo == 0 || nw < b.lo) {
		b.lo = nw
	}
	for b.hi > 0 && b.hist[b.hi] == 0 {
		b.hi--
	}
	for b.lo <= b.hi && b.hist[b.lo] == 0 {
		b.lo++
	}
}

// score rates placing one more allocation on ns, in [-1, 1]: positive
// where its values are below their targets (or below the most used value
// when spreading evenly), negative where above.
func (ss *spreadState) score(ns *nodeState) float64 {
	total := 0.0
	for _, b := range ss.blocks {
		total += b.score(ns) * b.weight / ss.sumWeight
	}
	return total
}

func (b *spreadBlock) score(ns *nodeState) float64 {
	v, ok := b.value(ns)
	if !ok {
		return -1
	}
	used := float64(b.counts[v])
	if b.desired != nil {
		want, named := b.desired[v]
		if !named {
			want = b.rest
		}
		if want <= 0 {
			return -1
		}
		return math.Max(-1, math.Min(1, (want-used)/want))
	}
	// Even spread: an unused value is the best place; the least used
	// values are boosted, the most used penalised.
	if len(b.counts) == 0 || used == 0 {
		return 1
	}
	lo, hi := float64(b.lo), float64(b.hi)
	if lo == hi {
		return -1
	}
	if used < hi {
		return (hi - used) / hi
	}
	return -(hi - lo) / hi
}

// affinityScore rates a node for a group's affinities, in [-1, 1]: the
// weights of the affinities that hold over the sum of all weights.
func (ps *pass) affinityScore(affs []*structs.Affinity, n *structs.Node) float64 {
	sum, total := 0.0, 0.0
	for _, a := range affs {
		w := float64(a.Weight)
		total += math.Abs(w)
		l, lok := resolveTarget(a.LTarget, n)
		r, rok := resolveTarget(a.RTarget, n)
		if ps.compare(a.Operand, l, lok, r, rok) {
			sum += w
		}
	}
	if total == 0 {
		return 0
	}
	return sum / total
}

// groupAffinities collects the affinities of a job, a group and its tasks.
func groupAffinities(job *structs.Job, tg *structs.TaskGroup) []*structs.Affinity {
	out := append(append([]*structs.Affinity(nil), job.Affinities...), tg.Affinities...)
	for _, t := range tg.Tasks {
		out = append(out, t.Affinities...)
	}
	return out
}

// propertyCounts limits allocations per value of a node property
// (distinct_property), counting across a pass.
type propertyCounts struct {
	c      *structs.Constraint
	limit  int
	counts map[string]int
}
