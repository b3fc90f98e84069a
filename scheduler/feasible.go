package scheduler

import (
	"maps"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/droverhq/drover/internal/version"
	"github.com/droverhq/drover/structs"
)

// Reasons a node is filtered, as recorded in AllocMetric.constraint_filtered
// (constraints are recorded as "ltarget operand rtarget").
const (
	reasonNotReady   = "node not ready"
	reasonIneligible = "node ineligible"
	reasonDraining   = "node draining"
	reasonDatacenter = "datacenter"
)

// feasibility is the cached outcome of the static checks of one group on
// one class of nodes.
type feasibility struct {
	ok     bool
	reason string
}

type classKey struct{ group, class string }

// nodeUsable checks what depends on the node itself, not its class:
// status, eligibility and drain.
func nodeUsable(n *structs.Node) (bool, string) {
	switch {
	case n.Status != structs.NodeStatusReady:
		return false, reasonNotReady
	case n.DrainStrategy != nil:
		return false, reasonDraining
	case n.SchedulingEligibility == structs.NodeIneligible:
		return false, reasonIneligible
	}
	return true, ""
}

// staticFeasible checks what depends only on a node's computed class:
// datacenter, drivers and every node-level constraint of the job, group
// and tasks. Results are cached per class unless the group's constraints
// look at node-unique values.
func (ps *pass) staticFeasible(tg *structs.TaskGroup, escaped bool, n *structs.Node) feasibility {
	if escaped || n.ComputedClass == "" {
		return ps.checkStatic(tg, n)
	}
	k := classKey{tg.Name, n.ComputedClass}
	if f, ok := ps.classes[k]; ok {
		return f
	}
	f := ps.checkStatic(tg, n)
	ps.classes[k] = f
	if ps.d.ClassEligibility == nil {
		ps.d.ClassEligibility = map[string]bool{}
	}
	ps.d.ClassEligibility[n.ComputedClass] = ps.d.ClassEligibility[n.ComputedClass] || f.ok
	return f
}

func (ps *pass) checkStatic(tg *structs.TaskGroup, n *structs.Node) feasibility {
	job := ps.job
	if !datacenterMatches(job.Datacenters, n.Datacenter) {
		return feasibility{reason: reasonDatacenter}
	}
	for _, t := range tg.Tasks {
		d := n.Drivers[t.Driver]
		if d == nil || !d.Detected || !d.Healthy {
			return feasibility{reason: "missing driver " + t.Driver}
		}
	}
	for _, cs := range [][]*structs.Constraint{job.Constraints, tg.Constraints} {
		for _, c := range cs {
			if !ps.constraintHolds(c, n) {
				return feasibility{reason: constraintString(c)}
			}
		}
	}
	for _, t := range tg.Tasks {
		for _, c := range t.Constraints {
			if !ps.constraintHolds(c, n) {
				return feasibility{reason: constraintString(c)}
			}
		}
	}
	if why := missingHostVolume(tg, n); why != "" {
		return feasibility{reason: why}
	}
	return feasibility{ok: true}
}

// missingHostVolume says which of the group's host volumes the node
// lacks, or cannot give writable when the group writes to it; "" when it
// has them all.
func missingHostVolume(tg *structs.TaskGroup, n *structs.Node) string {
	for _, name := range slices.Sorted(maps.Keys(tg.Volumes)) {
		v := tg.Volumes[name]
		if v.GetType() != structs.VolumeTypeHost {
			continue
		}
		hv := n.HostVolumes[v.Source]
		switch {
		case hv == nil:
			return "missing host volume " + v.Source
		case hv.ReadOnly && !v.ReadOnly:
			return "host volume " + v.Source + " is read-only"
		}
	}
	return ""
}

// escapesClass reports whether a group's placement depends on node-unique
// values, so feasibility cannot be decided per computed class.
func escapesClass(job *structs.Job, tg *structs.TaskGroup) bool {
	check := func(cs []*structs.Constraint) bool {
		for _, c := range cs {
			if targetEscapes(c.LTarget) || targetEscapes(c.RTarget) {
				return true
			}
		}
		return false
	}
	if check(job.Constraints) || check(tg.Constraints) || len(tg.Volumes) > 0 {
		// Host volumes are a node's own, not part of its class.
		return true
	}
	for _, t := range tg.Tasks {
		if check(t.Constraints) {
			return true
		}
	}
	return false
}

func targetEscapes(t string) bool {
	return strings.Contains(t, "${node.unique.") || strings.Contains(t, "${attr.unique.") ||
		strings.Contains(t, "${meta.unique.") || strings.Contains(t, "${node.pool}")
}

func datacenterMatches(patterns []string, dc string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if ok, _ := path.Match(p, dc); ok {
			return true
		}
	}
	return false
}

func constraintString(c *structs.Constraint) string {
	return strings.TrimSpace(c.LTarget + " " + c.Operand + " " + c.RTarget)
}

// resolveTarget turns ${attr.x}, ${meta.x} and ${node.*} into the node's
// value; a string without ${ } is a literal.
func resolveTarget(target string, node *structs.Node) (string, bool) {
	if !strings.HasPrefix(target, "${") || !strings.HasSuffix(target, "}") {
		return target, true
	}
	key := target[2 : len(target)-1]
	switch {
	case key == "node.unique.id":
		return node.Id, true
	case key == "node.unique.name":
		return node.Name, true
	case key == "node.datacenter":
		return node.Datacenter, true
	case key == "node.class":
		return node.NodeClass, node.NodeClass != ""
	case strings.HasPrefix(key, "attr."):
		v, ok := node.Attributes[key[len("attr."):]]
		return v, ok
	case strings.HasPrefix(key, "meta."):
		v, ok := node.Meta[key[len("meta."):]]
		return v, ok
	}
	return "", false
}

// constraintHolds evaluates one node-level constraint. distinct_hosts and
// distinct_property depend on placements and are checked by the selector,
// so they hold here.
func (ps *pass) constraintHolds(c *structs.Constraint, node *structs.Node) bool {
	switch c.Operand {
	case structs.ConstraintDistinctHosts, structs.ConstraintDistinctProperty:
		return true
	}
	l, lok := resolveTarget(c.LTarget, node)
	r, rok := resolveTarget(c.RTarget, node)
	return ps.compare(c.Operand, l, lok, r, rok)
}

// compare applies an operator to two resolved values.
func (ps *pass) compare(op, l string, lok bool, r string, rok bool) bool {
	switch op {
	case "", structs.ConstraintEqual, structs.ConstraintEqualAlt, structs.ConstraintIs:
		return lok && rok && l == r
	case structs.ConstraintNotEqual, structs.ConstraintNot:
		return !lok || !rok || l != r
	case structs.ConstraintAttrIsSet:
		return lok
	case structs.ConstraintAttrIsNotSet:
		return !lok
	case structs.ConstraintLess, structs.ConstraintLessEqual, structs.ConstraintGreater, structs.ConstraintGreaterEqual:
		return lok && rok && checkOrder(op, l, r)
	case structs.ConstraintRegex:
		re := ps.regexp(r)
		return re != nil && lok && re.MatchString(l)
	case structs.ConstraintVersion:
		return lok && rok && version.Matches(l, r, false)
	case structs.ConstraintSemver:
		return lok && rok && version.Matches(l, r, true)
	case structs.ConstraintSetContains, structs.ConstraintSetContainsAll:
		return lok && rok && setContains(l, r, true)
	case structs.ConstraintSetContainsAny:
		return lok && rok && setContains(l, r, false)
	}
	return false
}

type regexpResult struct{ re *regexp.Regexp }

// regexp compiles a pattern once per pass; nil for a bad pattern.
func (ps *pass) regexp(p string) *regexp.Regexp {
	if r, ok := ps.regexps[p]; ok {
		return r.re
	}
	re, err := regexp.Compile(p)
	if err != nil {
		re = nil
	}
	ps.regexps[p] = &regexpResult{re: re}
	return re
}

// checkOrder compares numerically when both sides are numbers, else lexically.
func checkOrder(op, l, r string) bool {
	var cmp int
	lf, lerr := strconv.ParseFloat(l, 64)
	rf, rerr := strconv.ParseFloat(r, 64)
	switch {
	case lerr == nil && rerr == nil:
		switch {
		case lf < rf:
			cmp = -1
		case lf > rf:
			cmp = 1
		}
	default:
		cmp = strings.Compare(l, r)
	}
	switch op {
	case structs.ConstraintLess:
		return cmp < 0
	case structs.ConstraintLessEqual:
		return cmp <= 0
	case structs.ConstraintGreater:
		return cmp > 0
	}
	return cmp >= 0
}

// setContains reports whether the comma-separated set l holds all (or,
// with all false, any) of the comma-separated values of r.
func setContains(l, r string, all bool) bool {
	have := map[string]bool{}
	for _, v := range strings.Split(l, ",") {
		have[strings.TrimSpace(v)] = true
	}
	for _, v := range strings.Split(r, ",") {
		in := have[strings.TrimSpace(v)]
		if all && !in {
			return false
		}
		if !all && in {
			return true
		}
	}
	return all
}

// distinctHosts reports whether two allocations may not share a node: at
// the job level no two of the job's allocations (whatever their group), at
// the group level no two of the group's.
func distinctHosts(job *structs.Job, tg *structs.TaskGroup) (jobLevel, groupLevel bool) {
	return hasDistinctHosts(job.Constraints), hasDistinctHosts(tg.Constraints)
}

func hasDistinctHosts(cs []*structs.Constraint) bool {
	for _, c := range cs {
		if c.Operand == structs.ConstraintDistinctHosts && c.RTarget != "false" {
			return true
		}
	}
	return false
}
