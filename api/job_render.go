package api

import (
	"encoding/json"
	"github.com/droverhq/drover/structs"
)

// jobToJSON renders a stored job as Nomad does. Defaults the servers apply
// to what a job leaves out (reschedule policies, log limits, artifact
// destinations, weights) are shown as applied.
func jobToJSON(j *structs.Job) *jobJSON {
	if j == nil {
		return nil
	}
	out := &jobJSON{
		Region: ptr(j.Region), Namespace: ptr(j.Namespace), ID: ptr(j.Id), Name: ptr(j.Name), Type: ptr(j.Type),
		Priority: ptr(int(j.Priority)), AllAtOnce: ptr(false), Datacenters: j.Datacenters, NodePool: ptr("default"),
		Constraints: constraintsToJSON(j.Constraints), Affinities: affinitiesToJSON(j.Affinities),
		Spreads: spreadsToJSON(j.Spreads), Meta: j.Meta, ParentID: ptr(""),
		Stop: ptr(j.Stop), Status: ptr(j.Status), StatusDescription: ptr(""), Stable: ptr(j.Stable),
		Update:  jobUpdateToJSON(j.Update),
		Version: ptr(j.Version), SubmitTime: ptr(j.SubmitTime), CreateIndex: ptr(j.CreateIndex),
		ModifyIndex: ptr(j.ModifyIndex), JobModifyIndex: ptr(j.JobModifyIndex),
	}
	jobBatchToJSON(j, out)
	for _, g := range j.TaskGroups {
		tg := groupToJSON(j.Type, g)
		tg.Scaling = scalingToJSON(j, g)
		out.TaskGroups = append(out.TaskGroups, tg)
	}
	return out
}

func groupToJSON(jobType string, g *structs.TaskGroup) *taskGroupJSON {
	tg := &taskGroupJSON{
		Name: ptr(g.Name), Count: ptr(int(g.Count)), Constraints: constraintsToJSON(g.Constraints),
		Affinities: affinitiesToJSON(g.Affinities), Spreads: spreadsToJSON(g.Spreads),
		RestartPolicy: restartToJSON(g.RestartPolicy), ReschedulePolicy: rescheduleToJSON(jobType, g.ReschedulePolicy),
		Networks: networkToJSON(g.Network), Meta: g.Meta,
		Update: updateToJSON(g.Update), Migrate: migrateToJSON(g.Migrate), Services: servicesToJSON(g.Services),
		Volumes: volumesToJSON(g.Volumes), ShutdownDelay: ptr(int64(g.ShutdownDelay.AsDuration())),
		EphemeralDisk: ephemeralDiskToJSON(g.EphemeralDisk),
	}
	disconnectToJSON(g, tg)
	for _, t := range g.Tasks {
		tj := &taskJSON{
			Name: t.Name, Driver: t.Driver, Env: t.Env, Constraints: constraintsToJSON(t.Constraints),
			Affinities: affinitiesToJSON(t.Affinities), RestartPolicy: restartToJSON(g.RestartPolicy), Meta: t.Meta,
			KillSignal: t.KillSignal, Resources: resourcesToJSON(t.Resources), LogConfig: logConfigToJSON(t.Logs),
			Artifacts: artifactsToJSON(t.Artifacts), User: t.User, Services: servicesToJSON(t.Services),
			Lifecycle: lifecycleToJSON(t.Lifecycle), Templates: templatesToJSON(t.Templates),
			VolumeMounts: volumeMountsToJSON(t.VolumeMounts), Leader: t.Leader,
			ShutdownDelay: int64(t.ShutdownDelay.AsDuration()),
		}
		if id := identityToJSON(t.Identity); id != nil {
			tj.Identity, _ = json.Marshal(id)
		}
		tj.DispatchPayload = dispatchPayloadToJSON(t)
		if t.Config != nil {
			tj.Config = t.Config.AsMap()
		}
		if t.KillTimeout != nil {
			tj.KillTimeout = ptr(int64(t.KillTimeout.AsDuration()))
		}
		tg.Tasks = append(tg.Tasks, tj)
	}
	return tg
}

func constraintsToJSON(in []*structs.Constraint) []*constraintJSON {
	out := make([]*constraintJSON, 0, len(in))
	for _, c := range in {
		out = append(out, &constraintJSON{LTarget: c.LTarget, RTarget: c.RTarget, Operand: c.Operand})
	}
	return out
}

func restartToJSON(rp *structs.RestartPolicy) *restartJSON {
	if rp == nil {
		return nil
	}
	return &restartJSON{
		Interval: ptr(int64(rp.Interval.AsDuration())), Attempts: ptr(int(rp.Attempts)),
		Delay: ptr(int64(rp.Delay.AsDuration())), Mode: ptr(rp.Mode), RenderTemplates: ptr(rp.RenderTemplates),
	}
}

func resourcesToJSON(r *structs.Resources) *resourcesJSON {
	if r == nil {
		return nil
	}
	return &resourcesJSON{
		CPU: ptr(int(r.CpuMhz)), Cores: ptr(0), MemoryMB: ptr(int(r.MemoryMb)), MemoryMaxMB: ptr(int(r.MemoryMaxMb)),
		DiskMB: ptr(int(r.DiskMb)),
	}
}
