package client

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/structs"
)

// TestMergeChangesOnly: an answer of changes only is completed from the
// last list; an allocation it names that the client holds no copy of
// makes the client ask for the whole list; a full answer is taken as is.
func TestMergeChangesOnly(t *testing.T) {
	a := &structs.Allocation{Id: "a", ClientStatus: structs.AllocClientPending}
	b := &structs.Allocation{Id: "b", ClientStatus: structs.AllocClientPending}
	m := &allocManager{listed: map[string]*structs.Allocation{"a": a, "b": b}}

	b2 := &structs.Allocation{Id: "b", ClientStatus: structs.AllocClientRunning}
	got, complete := m.merge(&structs.NodeAllocsResponse{ChangesOnly: true, AllocIds: []string{"a", "b"}, Allocations: []*structs.Allocation{b2}})
	require.True(t, complete)
	require.Equal(t, []*structs.Allocation{a, b2}, got)

	got, complete = m.merge(&structs.NodeAllocsResponse{ChangesOnly: true, AllocIds: []string{"b"}})
	require.True(t, complete)
	require.Equal(t, []*structs.Allocation{b}, got, "an allocation left out of the ids is gone")

	_, complete = m.merge(&structs.NodeAllocsResponse{ChangesOnly: true, AllocIds: []string{"a", "c"}})
	require.False(t, complete, "c is neither in the answer nor held")

	got, complete = m.merge(&structs.NodeAllocsResponse{Allocations: []*structs.Allocation{b2}})
	require.True(t, complete)
	require.Equal(t, []*structs.Allocation{b2}, got)
}

// TestMergeWithTheIdsOmitted: an answer saying nothing left the node is
// the last list with what changed replaced or added.
func TestMergeWithTheIdsOmitted(t *testing.T) {
	a := &structs.Allocation{Id: "a", ClientStatus: structs.AllocClientPending}
	b := &structs.Allocation{Id: "b", ClientStatus: structs.AllocClientPending}
	m := &allocManager{listed: map[string]*structs.Allocation{"a": a, "b": b}}

	b2 := &structs.Allocation{Id: "b", ClientStatus: structs.AllocClientRunning}
	c := &structs.Allocation{Id: "c", ClientStatus: structs.AllocClientPending}
	got, complete := m.merge(&structs.NodeAllocsResponse{ChangesOnly: true, IdsOmitted: true, Allocations: []*structs.Allocation{b2, c}})
	require.True(t, complete)
	require.ElementsMatch(t, []*structs.Allocation{a, b2, c}, got)

	got, complete = m.merge(&structs.NodeAllocsResponse{ChangesOnly: true, IdsOmitted: true})
	require.True(t, complete)
	require.ElementsMatch(t, []*structs.Allocation{a, b}, got, "nothing changed: the last list")
}

// TestSettledTakesTheClientsOwnReports: the servers do not send a client
// its own reports back, so an allocation the servers last sent as running
// counts as settled once its runner has finished, or once the client
// reported it stopped before it started; one whose runner still runs does
// not.
func TestSettledTakesTheClientsOwnReports(t *testing.T) {
	running := func(id string) *structs.Allocation {
		return &structs.Allocation{Id: id, DesiredStatus: structs.AllocDesiredRun, ClientStatus: structs.AllocClientRunning}
	}
	runner := &allocRunner{done: make(chan struct{})}
	m := &allocManager{
		listed:   map[string]*structs.Allocation{"a": running("a"), "b": running("b")},
		runners:  map[string]*allocRunner{"a": runner},
		reported: map[string]bool{"b": true},
	}
	settled, _ := m.settled()
	require.False(t, settled, "a's runner still runs")
	close(runner.done)
	settled, _ = m.settled()
	require.True(t, settled, "a's runner finished and b was reported stopped")

	m.listed["c"] = running("c")
	settled, _ = m.settled()
	require.False(t, settled, "c is running as far as anyone knows")
}
