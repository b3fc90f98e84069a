package structs

import "time"

// DisconnectWindow is how long the allocation may stay unknown on a node
// that missed its heartbeats: its group's max_client_disconnect in the job
// version it runs, or zero for none.
func (a *Allocation) DisconnectWindow() time.Duration {
	for _, tg := range a.GetJob().GetTaskGroups() {
		if tg.GetName() == a.GetTaskGroup() {
			return tg.GetMaxClientDisconnect().AsDuration()
		}
	}
	return 0
}

// Disconnected reports whether the allocation waits for its node to come
// back: the servers marked it unknown and have not taken it back yet.
func (a *Allocation) Disconnected() bool { return a.GetDisconnectedAt() != 0 }

// DisconnectExpiry is when the allocation's disconnect window runs out;
// ok is false when it is not disconnected.
func (a *Allocation) DisconnectExpiry() (t time.Time, ok bool) {
	if !a.Disconnected() {
		return time.Time{}, false
	}
	return time.Unix(0, a.DisconnectedAt).Add(a.DisconnectWindow()), true
}

// CanDisconnect reports whether the allocation becomes unknown, rather
// than lost, when its node misses its heartbeats: it is wanted running,
// its client has not finished it, and its group has a disconnect window.
func (a *Allocation) CanDisconnect() bool {
	return a.GetDesiredStatus() == AllocDesiredRun && !a.ClientTerminal() && a.DisconnectWindow() > 0
}
