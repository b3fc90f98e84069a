package scheduler

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/droverhq/drover/structs"
)

// The dynamic port range a node uses unless it says otherwise (Nomad's).
const (
	DefaultMinDynamicPort = 20000
	DefaultMaxDynamicPort = 32000
)

// dynamicRange is the node's dynamic port range.
func dynamicRange(n *structs.Node) (lo, hi int32) {
	lo, hi = n.GetMinDynamicPort(), n.GetMaxDynamicPort()
	if lo <= 0 {
		lo = DefaultMinDynamicPort
	}
	if hi <= 0 {
		hi = DefaultMaxDynamicPort
	}
	return lo, hi
}

// reservedPorts parses a node's reserved_ports ("22,80,8000-8100"); bad
// parts are ignored (the client validates what it reports).
func reservedPorts(n *structs.Node) map[int32]bool {
	spec := n.GetReservedPorts()
	if spec == "" {
		return nil
	}
	out := map[int32]bool{}
	budget := 1 << 17 // bounds the work a malformed spec can cause
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(strings.TrimSpace(lo))
		if err != nil {
			continue
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(strings.TrimSpace(hi)); err != nil {
				continue
			}
		}
		a, b = max(a, 0), min(b, 65535)
		for p := a; p <= b && budget > 0; p++ {
			out[int32(p)] = true
			budget--
		}
	}
	return out
}

// portAsk is a group's port needs.
type portAsk struct {
	static  []*structs.Port
	dynamic []*structs.Port
}

func newPortAsk(tg *structs.TaskGroup) *portAsk {
	nw := tg.GetNetwork()
	if nw == nil || len(nw.Ports) == 0 {
		return nil
	}
	pa := &portAsk{}
	for _, p := range nw.Ports {
		if p.Value > 0 {
			pa.static = append(pa.static, p)
		} else {
			pa.dynamic = append(pa.dynamic, p)
		}
	}
	return pa
}

// usedPorts builds (once) and returns the node's ports in use.
func (ps *pass) usedPorts(ns *nodeState) map[int32]bool {
	if ns.ports == nil {
		ns.ports = reservedPorts(ns.node)
		if ns.ports == nil {
			ns.ports = map[int32]bool{}
		}
		for _, a := range ps.liveAllocs(ns) {
			for _, p := range a.AllocatedPorts {
				ns.ports[p.Value] = true
			}
		}
	}
	return ns.ports
}

// portsFit reports whether the node can give the ask its ports; when not,
// it names the collision.
func (pa *portAsk) fits(ps *pass, ns *nodeState) (bool, string) {
	used := ps.usedPorts(ns)
	for _, p := range pa.static {
		if used[p.Value] {
			return false, fmt.Sprintf("ports: %s=%d in use", p.Label, p.Value)
		}
	}
	if len(pa.dynamic) == 0 {
		return true, ""
	}
	lo, hi := dynamicRange(ns.node)
	inRange := 0
	for p := range used {
		if p >= lo && p <= hi {
			inRange++
		}
	}
	for _, p := range pa.static {
		if p.Value >= lo && p.Value <= hi {
			inRange++
		}
	}
	if int(hi-lo+1)-inRange < len(pa.dynamic) {
		return false, "ports: dynamic range exhausted"
	}
	return true, ""
}

// assign picks the ports for a placement on ns (which must fit): static
// ones as asked, dynamic ones at random from the free part of the range.
func (pa *portAsk) assign(ps *pass, ns *nodeState) []*structs.AllocatedPort {
	used := ps.usedPorts(ns)
	taken := map[int32]bool{}
	out := make([]*structs.AllocatedPort, 0, len(pa.static)+len(pa.dynamic))
	for _, p := range pa.static {
		taken[p.Value] = true
		out = append(out, &structs.AllocatedPort{Label: p.Label, Value: p.Value, To: p.To})
	}
	lo, hi := dynamicRange(ns.node)
	free := func(v int32) bool { return !used[v] && !taken[v] }
	for _, p := range pa.dynamic {
		v := int32(0)
		for try := 0; try < 20; try++ {
			c := lo + int32(ps.rng.IntN(int(hi-lo+1)))
			if free(c) {
				v = c
				break
			}
		}
		for c := lo; v == 0 && c <= hi; c++ {
			if free(c) {
				v = c
			}
		}
		taken[v] = true
		to := p.To
		if to == 0 {
			to = v
		}
		out = append(out, &structs.AllocatedPort{Label: p.Label, Value: v, To: to})
	}
	return out
}
