package scheduler

import (
	"maps"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/droverhq/drover/structs"
)

func durationOf(d time.Duration) *durationpb.Duration { return durationpb.New(d) }

// destructive reports whether moving an allocation from its group as old
// to the group as updated needs a new allocation: its tasks run
// differently (set of tasks, driver, config, environment, resources) or
// its ports changed. Everything else — count, meta, restart and reschedule
// policies, kill timeouts, affinities, spreads, priority — is applied in
// place, provided the allocation's node still satisfies the constraints.
func destructive(old, updated *structs.TaskGroup) bool {
	if old == nil || updated == nil || len(old.Tasks) != len(updated.Tasks) {
		return true
	}
	if !proto.Equal(old.GetNetwork(), updated.GetNetwork()) || !proto.Equal(old.GetEphemeralDisk(), updated.GetEphemeralDisk()) ||
		!maps.EqualFunc(old.GetVolumes(), updated.GetVolumes(), func(a, b *structs.VolumeRequest) bool { return proto.Equal(a, b) }) {
		return true
	}
	for i, a := range old.Tasks {
		b := updated.Tasks[i]
		switch {
		case a.Name != b.Name, a.Driver != b.Driver, a.KillSignal != b.KillSignal:
			return true
		case !proto.Equal(a.Config, b.Config), !maps.Equal(a.Env, b.Env), !proto.Equal(a.Resources, b.Resources):
			return true
		case a.User != b.User, a.Leader != b.Leader, !proto.Equal(a.Lifecycle, b.Lifecycle):
			return true
		case !slices.EqualFunc(a.Templates, b.Templates, protoEqual[*structs.Template]),
			!slices.EqualFunc(a.VolumeMounts, b.VolumeMounts, protoEqual[*structs.VolumeMount]),
			!slices.EqualFunc(a.Artifacts, b.Artifacts, protoEqual[*structs.Artifact]):
			return true
		}
	}
	return false
}

func protoEqual[M proto.Message](a, b M) bool { return proto.Equal(a, b) }

// inPlace returns a's in-place update to the pass's job version, or nil
// when the update must be destructive.
func (ps *pass) inPlace(a *structs.Allocation, tg *structs.TaskGroup) *structs.Allocation {
	if a.Job == nil || destructive(groupOf(a.Job, a.TaskGroup), tg) {
		return nil
	}
	ns := ps.byID[a.NodeId]
	if ns == nil {
		return nil
	}
	if f := ps.checkStatic(tg, ns.node); !f.ok {
		return nil
	}
	u := &structs.Allocation{
		Id: a.Id, Namespace: a.Namespace, EvalId: ps.in.Eval.Id, Name: a.Name, NodeId: a.NodeId,
		NodeName: a.NodeName, JobId: a.JobId, Job: ps.job, TaskGroup: a.TaskGroup,
		TaskResources: a.TaskResources, DesiredStatus: a.DesiredStatus, DesiredDescription: a.DesiredDescription,
		ClientStatus: a.ClientStatus, AllocatedPorts: a.AllocatedPorts, PreviousAllocation: a.PreviousAllocation,
		RescheduleTracker: a.RescheduleTracker, PreemptedAllocations: a.PreemptedAllocations,
		CreateTime: a.CreateTime, ModifyTime: ps.in.Now.UnixNano(),
		DisconnectedAt: a.DisconnectedAt, ReconnectedAt: a.ReconnectedAt, Metrics: a.Metrics,
		DeploymentId: a.DeploymentId, DeploymentStatus: a.DeploymentStatus,
	}
	return u
}
