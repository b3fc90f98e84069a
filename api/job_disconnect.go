package api

import "github.com/droverhq/drover/structs"

// A group's behaviour when its node stops heartbeating: Nomad's disconnect
// block and its older spelling, max_client_disconnect. drover does not
// keep allocations of a disconnected node yet (they are lost at once and
// replaced, which is Nomad's behaviour without a disconnect window), so
// every setting that asks for more is refused. Both directions live here:
// mapping a setting means turning its refusal below into an assignment to
// g and rendering it in disconnectToJSON.

// disconnect converts the group's disconnect settings into g.
func (c *jobConversion) disconnect(path string, in *taskGroupJSON, _ *structs.TaskGroup) {
	c.refuse(path, map[string]bool{"MaxClientDisconnect": deref(in.MaxClientDisconnect) > 0})
	d := in.Disconnect
	if d == nil {
		return
	}
	switch r := deref(d.Reconcile); r {
	case "", "best_score":
	default:
		// Which allocation to keep after a reconnection: there is none to
		// choose between until disconnect windows exist.
		c.problem(path, "Disconnect.Reconcile %q is not supported by drover (only best_score)", r)
	}
	c.refuse(path+"Disconnect.", map[string]bool{
		"LostAfter":         deref(d.LostAfter) > 0,
		"StopOnClientAfter": deref(d.StopOnClientAfter) > 0,
		// Not replacing a lost allocation: drover always replaces it.
		"Replace": d.Replace != nil && !*d.Replace,
	})
}

// disconnectToJSON renders the group's disconnect settings into out.
func disconnectToJSON(_ *structs.TaskGroup, _ *taskGroupJSON) {}
