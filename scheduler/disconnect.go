package scheduler

import (
	"slices"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/droverhq/drover/structs"
)

// Disconnected clients (max_client_disconnect). When a node misses its
// heartbeats, the servers mark the allocations of groups with a disconnect
// window unknown, recording when (disconnected_at), and the node
// disconnected. The generic scheduler then places a replacement for each
// at once, under the same name, without stopping the original: the
// original stays in the state, unknown, waiting for its node. Should the
// node come back (ready again) while the original is still wanted and not
// finished, the original wins: the replacements placed for it are stopped
// and the original is taken back (a node_update with reconnected_at, which
// clears disconnected_at and next_allocation) — unless the job changed
// meanwhile and a replacement runs the newer version, which is then kept
// and the original stopped. Should the window run out
// first, the servers mark the original lost and its replacement simply
// carries on.

// reasonReconnected is the desired description of a replacement stopped
// because the allocation it replaced came back.
const reasonReconnected = "alloc not needed as the allocation it replaced reconnected"

// reasonReconnectedOutdated is the desired description of an allocation
// that came back running an older version of its job than a replacement
// placed meanwhile: the replacement is kept.
const reasonReconnectedOutdated = "alloc not needed as it reconnected with an older job version than its replacement"

// reconnect takes back every allocation of the pass's job that was
// disconnected and whose node is ready again, stopping the replacements
// placed for it (the chain of next_allocation). It returns, by id, the
// allocations as taken back, for the rest of the pass to reconcile in
// place of the state's.
func (ps *pass) reconnect() map[string]*structs.Allocation {
	var (
		out  map[string]*structs.Allocation
		byID map[string]*structs.Allocation
	)
	for _, a := range ps.allocs {
		if !a.Disconnected() || a.DesiredStatus != structs.AllocDesiredRun || a.ClientTerminal() {
			continue
		}
		if ns := ps.byID[a.NodeId]; ns == nil || ns.node.Status != structs.NodeStatusReady {
			continue
		}
		if byID == nil {
			byID = make(map[string]*structs.Allocation, len(ps.allocs))
			for _, x := range ps.allocs {
				byID[x.Id] = x
			}
			out = map[string]*structs.Allocation{}
		}
		repls := replacements(a, byID, len(ps.allocs))
		if outdated(a, ps.job) && slices.ContainsFunc(repls, func(r *structs.Allocation) bool { return !outdated(r, ps.job) }) {
			// The job changed while the node was away and a replacement
			// already runs the new version: that one is kept.
			ps.stop(a, reasonReconnectedOutdated)
			continue
		}
		for _, r := range repls {
			if !ps.stopped[r.Id] {
				ps.stop(r, reasonReconnected)
			}
		}
		now := ps.in.Now.UnixNano()
		ps.plan.NodeUpdate = append(ps.plan.NodeUpdate, &structs.Allocation{
			Id: a.Id, Namespace: a.Namespace, Name: a.Name, NodeId: a.NodeId, JobId: a.JobId,
			TaskGroup: a.TaskGroup, ReconnectedAt: now,
		})
		back := shallowCopy(a)
		back.DisconnectedAt, back.NextAllocation, back.ReconnectedAt = 0, "", now
		out[a.Id] = back
	}
	return out
}

// replacements follows a's next_allocation links (at most limit of them)
// and returns the replacements still wanted and not finished.
func replacements(a *structs.Allocation, byID map[string]*structs.Allocation, limit int) []*structs.Allocation {
	var out []*structs.Allocation
	next := a.NextAllocation
	for range limit {
		r := byID[next]
		if r == nil || r.Id == a.Id {
			break
		}
		if r.DesiredStatus == structs.AllocDesiredRun && !r.ClientTerminal() {
			out = append(out, r)
		}
		next = r.NextAllocation
	}
	return out
}

// shallowCopy copies an allocation's fields, sharing what they point to.
func shallowCopy(a *structs.Allocation) *structs.Allocation {
	c := &structs.Allocation{}
	dst := c.ProtoReflect()
	a.ProtoReflect().Range(func(f protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		dst.Set(f, v)
		return true
	})
	return c
}
