package api

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/droverhq/drover/structs"
)

// Placement fields in both directions: affinities, spread blocks, a
// group's network and ports, and reschedule policies.

// defaultWeight is the weight Nomad gives an affinity or spread block that
// sets none.
const defaultWeight = 50

// affinitiesFromJSON converts affinities; a null entry stays nil for the
// job's validation to report.
func affinitiesFromJSON(in []*affinityJSON) []*structs.Affinity {
	var out []*structs.Affinity
	for _, a := range in {
		if a == nil {
			out = append(out, nil)
			continue
		}
		w := defaultWeight
		if a.Weight != nil {
			w = *a.Weight
		}
		out = append(out, &structs.Affinity{LTarget: a.LTarget, Operand: a.Operand, RTarget: a.RTarget, Weight: int32(clampInt(w))})
	}
	return out
}

func affinitiesToJSON(in []*structs.Affinity) []*affinityJSON {
	var out []*affinityJSON
	for _, a := range in {
		out = append(out, &affinityJSON{LTarget: a.LTarget, Operand: a.Operand, RTarget: a.RTarget, Weight: ptr(int(a.Weight))})
	}
	return out
}

// spreads converts spread blocks. drover reads a weight of 0 as the
// default, so an explicit 0 (which Nomad refuses) is refused.
func (c *jobConversion) spreads(path string, in []*spreadJSON) []*structs.Spread {
	var out []*structs.Spread
	for i, s := range in {
		if s == nil {
			out = append(out, nil)
			continue
		}
		w := defaultWeight
		if s.Weight != nil {
			w = *s.Weight
			if w == 0 {
				c.problem(path, "Spreads[%d].Weight must be 1..100, got 0", i)
			}
		}
		sp := &structs.Spread{Attribute: s.Attribute, Weight: int32(clampInt(w))}
		for _, t := range s.SpreadTarget {
			if t == nil {
				sp.Targets = append(sp.Targets, nil)
				continue
			}
			sp.Targets = append(sp.Targets, &structs.SpreadTarget{Value: t.Value, Percent: int32(clampInt(t.Percent))})
		}
		out = append(out, sp)
	}
	return out
}

func spreadsToJSON(in []*structs.Spread) []*spreadJSON {
	var out []*spreadJSON
	for _, s := range in {
		w := int(s.Weight)
		if w == 0 {
			w = defaultWeight
		}
		sj := &spreadJSON{Attribute: s.Attribute, Weight: ptr(w)}
		for _, t := range s.Targets {
			sj.SpreadTarget = append(sj.SpreadTarget, &spreadTargetJSON{Value: t.Value, Percent: int(t.Percent)})
		}
		out = append(out, sj)
	}
	return out
}

// network converts a group's networks: drover runs one host network per
// group, its ReservedPorts static and its DynamicPorts drawn from the
// node's dynamic range.
func (c *jobConversion) network(path string, in []*networkJSON) *structs.NetworkResource {
	if len(in) == 0 {
		return nil
	}
	if len(in) > 1 {
		c.problem(path, "Networks: %d networks given; drover (like Nomad) runs one per group", len(in))
	}
	n := in[0]
	if n == nil {
		c.problem(path, "Networks[0] is null")
		return nil
	}
	np := path + "Networks[0]."
	switch n.Mode {
	case "", "host":
	default:
		c.problem(np, "Mode %q is not supported by drover (only host)", n.Mode)
	}
	c.refuse(np, map[string]bool{
		"Device": n.Device != "", "CIDR": n.CIDR != "", "IP": n.IP != "", "DNS": isSet(n.DNS),
		"Hostname": n.Hostname != "", "MBits": deref(n.MBits) > 0, "CNI": isSet(n.CNI),
	})
	nw := &structs.NetworkResource{}
	port := func(kind string, i int, p portJSON, value int) {
		pp := fmt.Sprintf("%s%s[%d].", np, kind, i)
		switch p.HostNetwork {
		case "", "default":
		default:
			c.problem(pp, "HostNetwork %q is not supported by drover (only the default)", p.HostNetwork)
		}
		c.refuse(pp, map[string]bool{"IgnoreCollision": p.IgnoreCollision})
		nw.Ports = append(nw.Ports, &structs.Port{Label: p.Label, Value: int32(clampInt(value)), To: int32(clampInt(p.To))})
	}
	for i, p := range n.ReservedPorts {
		if p.Value <= 0 {
			c.problem(np, "ReservedPorts[%d] (%q) needs a static Value", i, p.Label)
		}
		port("ReservedPorts", i, p, p.Value)
	}
	for i, p := range n.DynamicPorts {
		port("DynamicPorts", i, p, 0) // its value is assigned on the node
	}
	return nw
}

// networkToJSON renders a group's network: static ports as ReservedPorts,
// dynamic ones as DynamicPorts.
func networkToJSON(nw *structs.NetworkResource) []*networkJSON {
	if nw == nil {
		return nil
	}
	out := &networkJSON{Mode: nw.Mode, ReservedPorts: []portJSON{}, DynamicPorts: []portJSON{}}
	if out.Mode == "" {
		out.Mode = "host"
	}
	for _, p := range nw.Ports {
		pj := portJSON{Label: p.Label, Value: int(p.Value), To: int(p.To), HostNetwork: "default"}
		if p.Value > 0 {
			out.ReservedPorts = append(out.ReservedPorts, pj)
		} else {
			out.DynamicPorts = append(out.DynamicPorts, pj)
		}
	}
	return []*networkJSON{out}
}

// reschedulable reports whether jobs of the type are rescheduled: system
// and sysbatch allocations never are, so Nomad refuses a policy on them.
func reschedulable(jobType string) bool {
	return jobType != structs.JobTypeSystem && jobType != structs.JobTypeSysBatch
}

// nomadReschedule is Nomad's default reschedule policy of a job type, the
// one drover's scheduler applies to a group without a policy: service
// allocations are replaced without limit after a delay growing
// exponentially from 30 s to 1 h, a batch allocation once a day after 5 s.
// Other types start from nothing.
func nomadReschedule(jobType string) rescheduleJSON {
	switch jobType {
	case structs.JobTypeService:
		return rescheduleJSON{
			Attempts: ptr(0), Interval: ptr(int64(0)), Delay: ptr(int64(30 * time.Second)),
			DelayFunction: ptr("exponential"), MaxDelay: ptr(int64(time.Hour)), Unlimited: ptr(true),
		}
	case structs.JobTypeBatch:
		return rescheduleJSON{
			Attempts: ptr(1), Interval: ptr(int64(24 * time.Hour)), Delay: ptr(int64(5 * time.Second)),
			DelayFunction: ptr("constant"), MaxDelay: ptr(int64(0)), Unlimited: ptr(false),
		}
	}
	return rescheduleJSON{}
}

// merge sets the fields o sets.
func (r *rescheduleJSON) merge(o *rescheduleJSON) {
	if o == nil {
		return
	}
	if o.Attempts != nil {
		r.Attempts = o.Attempts
	}
	if o.Interval != nil {
		r.Interval = o.Interval
	}
	if o.Delay != nil {
		r.Delay = o.Delay
	}
	if o.DelayFunction != nil {
		r.DelayFunction = o.DelayFunction
	}
	if o.MaxDelay != nil {
		r.MaxDelay = o.MaxDelay
	}
	if o.Unlimited != nil {
		r.Unlimited = o.Unlimited
	}
}

// reschedulePolicy is a group's policy as Nomad builds it: the type's
// default, overridden by the job's reschedule block, overridden by the
// group's. Without either block it is nil (the scheduler applies the
// type's default).
func (c *jobConversion) reschedulePolicy(path string, group *rescheduleJSON) *structs.ReschedulePolicy {
	if group == nil && c.reschedule == nil {
		return nil
	}
	if !reschedulable(c.jobType) {
		if group != nil {
			c.problem(path, "ReschedulePolicy is not supported by drover for %s jobs: they are never rescheduled", c.jobType)
		}
		return nil
	}
	r := nomadReschedule(c.jobType)
	r.merge(c.reschedule)
	r.merge(group)
	return &structs.ReschedulePolicy{
		Attempts: int32(clampInt(deref(r.Attempts))), Interval: durationpb.New(time.Duration(deref(r.Interval))),
		Delay: durationpb.New(time.Duration(deref(r.Delay))), DelayFunction: deref(r.DelayFunction),
		MaxDelay: durationpb.New(time.Duration(deref(r.MaxDelay))), Unlimited: deref(r.Unlimited),
	}
}

// rescheduleToJSON renders a group's policy; a group without one shows the
// default the scheduler applies, as Nomad shows it.
func rescheduleToJSON(jobType string, rp *structs.ReschedulePolicy) *rescheduleJSON {
	if rp == nil {
		if jobType != structs.JobTypeService && jobType != structs.JobTypeBatch {
			return nil
		}
		r := nomadReschedule(jobType)
		return &r
	}
	return &rescheduleJSON{
		Attempts: ptr(int(rp.Attempts)), Interval: ptr(int64(rp.Interval.AsDuration())),
		Delay: ptr(int64(rp.Delay.AsDuration())), DelayFunction: ptr(rp.DelayFunction),
		MaxDelay: ptr(int64(rp.MaxDelay.AsDuration())), Unlimited: ptr(rp.Unlimited),
	}
}
