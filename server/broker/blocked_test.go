package broker

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/structs"
)

func blockedEval(id, job string, snap uint64, classes map[string]bool, escaped bool) *structs.Evaluation {
	return &structs.Evaluation{Id: id, Namespace: "default", JobId: job, Status: structs.EvalStatusBlocked,
		SnapshotIndex: snap, ModifyIndex: snap, ClassEligibility: classes, EscapedComputedClass: escaped}
}

func TestBlockedEvalsWakeOnlyForUsableClasses(t *testing.T) {
	b := NewBlocked()
	b.SetEnabled(true, 1)
	gpuOnly := blockedEval("gpu", "j1", 10, map[string]bool{"gpu": true, "cpu": false}, false)
	anyNode := blockedEval("any", "j2", 10, map[string]bool{"cpu": false}, true)
	require.True(t, b.Block(gpuOnly))
	require.True(t, b.Block(anyNode))

	woken := b.Unblock(11, map[string]bool{"cpu": true})
	require.Len(t, woken, 1, "a cpu node frees room: only the evaluation whose constraints escape classes wakes")
	require.Equal(t, "any", woken[0].Id)

	woken = b.Unblock(12, map[string]bool{"new-class": true})
	require.Len(t, woken, 1, "a class never seen may fit")
	require.Equal(t, "gpu", woken[0].Id)
	require.Zero(t, b.Count())
}

func TestBlockedEvalMissingAChangeRetriesAtOnce(t *testing.T) {
	b := NewBlocked()
	b.SetEnabled(true, 1)
	b.Unblock(20, map[string]bool{"gpu": true})
	require.False(t, b.Block(blockedEval("late", "j", 15, map[string]bool{"gpu": true}, false)),
		"scheduled before a gpu node freed room: retried now")
	require.True(t, b.Block(blockedEval("other", "k", 15, map[string]bool{"gpu": false}, false)),
		"the change cannot help it: parked")
}
