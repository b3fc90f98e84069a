package api

import (
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/droverhq/drover/structs"
)

// A group's behaviour when its node stops heartbeating: Nomad's disconnect
// block and its older spelling, max_client_disconnect. Both name the
// group's disconnect window (drover's TaskGroup.max_client_disconnect):
// while it lasts the allocations of a node that missed its TTL are
// unknown, replaced at once, and taken back (their replacements stopped)
// when the node returns. drover keeps the reconnected original; it does
// not stop tasks on the client side, and always replaces.

// disconnect converts the group's disconnect settings into g.
func (c *jobConversion) disconnect(path string, in *taskGroupJSON, g *structs.TaskGroup) {
	window := time.Duration(deref(in.MaxClientDisconnect))
	d := in.Disconnect
	if d != nil {
		if lost := time.Duration(deref(d.LostAfter)); lost > 0 {
			if window > 0 && window != lost {
				c.problem(path, "MaxClientDisconnect (%s) and Disconnect.LostAfter (%s) disagree", window, lost)
			}
			window = lost
		}
		switch r := deref(d.Reconcile); r {
		case "", "keep_original", "best_score":
			// best_score is what Nomad's client fills in; drover keeps the
			// original that reconnected (docs/http-api.md).
		default:
			c.problem(path, "Disconnect.Reconcile %q is not supported by drover (only keep_original)", r)
		}
		c.refuse(path+"Disconnect.", map[string]bool{
			"StopOnClientAfter": deref(d.StopOnClientAfter) > 0,
			// Not replacing an unknown allocation: drover always replaces it.
			"Replace": d.Replace != nil && !*d.Replace,
		})
	}
	if window < 0 {
		c.problem(path, "the disconnect window must not be negative")
		return
	}
	if window > 0 {
		g.MaxClientDisconnect = durationpb.New(window)
	}
}

// disconnectToJSON renders the group's disconnect settings into out, in
// both spellings, as Nomad's client reads them.
func disconnectToJSON(g *structs.TaskGroup, out *taskGroupJSON) {
	w := g.GetMaxClientDisconnect().AsDuration()
	if w <= 0 {
		return
	}
	ns := int64(w)
	out.MaxClientDisconnect = &ns
	replace, reconcile := true, "keep_original"
	out.Disconnect = &disconnectJSON{LostAfter: &ns, Replace: &replace, Reconcile: &reconcile}
}
