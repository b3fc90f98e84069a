package scheduler

import (
	"path"
	"regexp"
	"strings"

	"github.com/droverhq/drover/structs"
)

// feasible reports whether node can run tg of job at all, ignoring
// resources; when it cannot, reason says why (for AllocMetric).
func feasible(job *structs.Job, tg *structs.TaskGroup, node *structs.Node) (ok bool, reason string) {
	if node.Status != structs.NodeStatusReady {
		return false, "node not ready"
	}
	if node.SchedulingEligibility == structs.NodeIneligible {
		return false, "node ineligible"
	}
	if !datacenterMatches(job.Datacenters, node.Datacenter) {
		return false, "datacenter"
	}
	for _, t := range tg.Tasks {
		d := node.Drivers[t.Driver]
		if d == nil || !d.Detected || !d.Healthy {
			return false, "missing driver " + t.Driver
		}
	}
	for _, cs := range [][]*structs.Constraint{job.Constraints, tg.Constraints} {
		for _, c := range cs {
			if !constraintHolds(c, node) {
				return false, constraintString(c)
			}
		}
	}
	for _, t := range tg.Tasks {
		for _, c := range t.Constraints {
			if !constraintHolds(c, node) {
				return false, constraintString(c)
			}
		}
	}
	return true, ""
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

// resolveTarget turns ${attr.x}, ${meta.x} and ${node.*} into the node's value.
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
		v, ok := node.Attributes[strings.TrimPrefix(key, "attr.")]
		return v, ok
	case strings.HasPrefix(key, "meta."):
		v, ok := node.Meta[strings.TrimPrefix(key, "meta.")]
		return v, ok
	}
	return "", false
}

// constraintHolds evaluates one node-level constraint. distinct_hosts is
// handled during placement, so it always holds here.
func constraintHolds(c *structs.Constraint, node *structs.Node) bool {
	if c.Operand == structs.ConstraintDistinctHosts {
		return true
	}
	l, lok := resolveTarget(c.LTarget, node)
	r, rok := resolveTarget(c.RTarget, node)
	switch c.Operand {
	case "", structs.ConstraintEqual, structs.ConstraintEqualAlt:
		return lok && rok && l == r
	case structs.ConstraintNotEqual:
		return !lok || !rok || l != r
	case structs.ConstraintAttrIsSet:
		return lok
	case structs.ConstraintAttrIsNotSet:
		return !lok
	case structs.ConstraintRegex:
		re, err := regexp.Compile(r)
		return err == nil && lok && re.MatchString(l)
	}
	return false
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
