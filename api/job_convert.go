package api

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/droverhq/drover/structs"
)

// jobConversion collects problems (the job is refused) and warnings (the
// job runs, but something it asks for is not applied) while converting a
// job from Nomad's shape.
type jobConversion struct {
	problems []string
	warnings []string
	// jobType picks the reschedule defaults; reschedule and migrate are
	// the job's blocks, which the groups' own override field by field.
	jobType    string
	reschedule *rescheduleJSON
	migrate    *migrateJSON
}

func (c *jobConversion) problem(path, format string, args ...any) {
	c.problems = append(c.problems, path+fmt.Sprintf(format, args...))
}

func (c *jobConversion) refuse(path string, fields map[string]bool) {
	for _, f := range sortedKeys(fields) {
		if fields[f] {
			c.problems = append(c.problems, fmt.Sprintf("%s%s is not supported by drover", path, f))
		}
	}
}

func (c *jobConversion) warn(path string, fields map[string]bool) {
	for _, f := range sortedKeys(fields) {
		if fields[f] {
			c.warnings = append(c.warnings, fmt.Sprintf("%s%s is accepted but not applied by drover", path, f))
		}
	}
}

func sortedKeys(m map[string]bool) []string { return slices.Sorted(maps.Keys(m)) }

// jobFromJSON converts Nomad's job shape to drover's. Problems make a
// *structs.ValidationError; warnings are returned for the response.
func jobFromJSON(in *jobJSON) (*structs.Job, []string, error) {
	if in == nil {
		return nil, nil, &structs.ValidationError{Problems: []string{"job is missing"}}
	}
	c := &jobConversion{jobType: deref(in.Type), reschedule: in.Reschedule, migrate: in.Migrate}
	if c.jobType == "" {
		c.jobType = structs.JobTypeService
	}
	id := deref(in.ID)
	path := fmt.Sprintf("job %q: ", id)
	c.refuse(path, map[string]bool{
		"Multiregion": isSet(in.Multiregion),
	})
	c.warn(path, map[string]bool{"AllAtOnce": deref(in.AllAtOnce)})
	if in.Update != nil && c.jobType == structs.JobTypeSystem {
		c.warnings = append(c.warnings, path+"Update is accepted but not applied by drover to system jobs: they are updated at once")
	}
	switch pool := deref(in.NodePool); pool {
	case "", "default", "all":
	default:
		c.problem(path, "node pool %q is not supported by drover (only the default pool)", pool)
	}
	if in.Reschedule != nil && !reschedulable(c.jobType) {
		c.problem(path, "Reschedule is not supported by drover for %s jobs: they are never rescheduled", c.jobType)
	}
	job := &structs.Job{
		Id: id, Name: deref(in.Name), Namespace: deref(in.Namespace), Region: deref(in.Region),
		Type: deref(in.Type), Priority: int32(clampInt(deref(in.Priority))), Datacenters: in.Datacenters,
		Constraints: constraintsFromJSON(in.Constraints), Meta: in.Meta, Stop: deref(in.Stop),
		Affinities: affinitiesFromJSON(in.Affinities), Spreads: c.spreads(path, in.Spreads),
		Update:   updateFromJSON(in.Update),
		Periodic: c.periodicFromJSON(path, in.Periodic), Parameterized: c.parameterizedFromJSON(path, in.ParameterizedJob),
	}
	// Payload, Dispatched, ParentID and DispatchIdempotencyToken belong to
	// dispatched children, which the server makes: ignored on input.
	for i, g := range in.TaskGroups {
		if g == nil {
			c.problem(path, "group %d is null", i)
			continue
		}
		job.TaskGroups = append(job.TaskGroups, c.group(path, g))
	}
	if len(c.problems) > 0 {
		return nil, nil, &structs.ValidationError{Problems: c.problems}
	}
	return job, c.warnings, nil
}

func (c *jobConversion) group(jobPath string, in *taskGroupJSON) *structs.TaskGroup {
	name := deref(in.Name)
	path := fmt.Sprintf("%sgroup %q: ", jobPath, name)
	c.refuse(path, map[string]bool{
		"Consul": isSet(in.Consul), "MaxRunDuration": deref(in.MaxRunDuration) > 0,
	})
	count := 1
	if in.Count != nil {
		count = *in.Count
	}
	g := &structs.TaskGroup{
		Name: name, Count: int32(clampInt(count)), Constraints: constraintsFromJSON(in.Constraints),
		RestartPolicy: restartFromJSON(in.RestartPolicy), Meta: in.Meta,
		Affinities: affinitiesFromJSON(in.Affinities), Spreads: c.spreads(path, in.Spreads),
		Network:          c.network(path, in.Networks),
		ReschedulePolicy: c.reschedulePolicy(path, in.ReschedulePolicy),
		Update:           updateFromJSON(in.Update), Migrate: migrateFromJSON(c.migrate, in.Migrate),
		Services: c.services(path, in.Services),
		Volumes:  c.volumes(path, in.Volumes), ShutdownDelay: durationOrNil(deref(in.ShutdownDelay)),
		EphemeralDisk: c.ephemeralDisk(path, in.EphemeralDisk),
		Scaling:       c.scalingFromJSON(path, in.Scaling, count),
	}
	c.disconnect(path, in, g)
	var taskPolicy *structs.RestartPolicy
	for i, t := range in.Tasks {
		if t == nil {
			c.problem(path, "task %d is null", i)
			continue
		}
		task, rp := c.task(path, t)
		g.Tasks = append(g.Tasks, task)
		switch {
		case rp == nil || (g.RestartPolicy != nil && proto.Equal(rp, g.RestartPolicy)):
		case len(in.Tasks) == 1:
			// One task: its policy is the group's.
			taskPolicy = rp
		default:
			c.problem(path, "task %q: a restart policy that differs from its group's is not supported by drover; set it on the group", t.Name)
		}
	}
	if taskPolicy != nil {
		g.RestartPolicy = taskPolicy
	}
	return g
}

func (c *jobConversion) task(groupPath string, in *taskJSON) (*structs.Task, *structs.RestartPolicy) {
	path := fmt.Sprintf("%stask %q: ", groupPath, in.Name)
	c.refuse(path, map[string]bool{
		"Vault": isSet(in.Vault), "Consul": isSet(in.Consul), "CSIPluginConfig": isSet(in.CSIPluginConfig),
		"Kind": in.Kind != "", "ScalingPolicies": isSet(in.ScalingPolicies), "Secrets": isSet(in.Secrets),
		"Identities": isSet(in.Identities), "Actions": isSet(in.Actions),
		"Schedule": isSet(in.Schedule),
	})
	t := &structs.Task{
		Name: in.Name, Driver: in.Driver, Env: in.Env, Constraints: constraintsFromJSON(in.Constraints),
		Meta: in.Meta, KillSignal: in.KillSignal, Affinities: affinitiesFromJSON(in.Affinities),
		Artifacts: c.artifacts(path, in.Artifacts), Logs: c.logConfig(path, in.LogConfig), User: in.User,
		Services: c.services(path, in.Services), Identity: c.identity(path, in.Identity),
		Lifecycle: c.lifecycle(path, in.Lifecycle), Templates: c.templates(path, in.Templates),
		VolumeMounts: c.volumeMounts(path, in.VolumeMounts), Leader: in.Leader,
		ShutdownDelay:   durationOrNil(in.ShutdownDelay),
		DispatchPayload: c.dispatchPayloadFromJSON(path, in.DispatchPayload),
	}
	if in.Config != nil {
		cfg, err := structpb.NewStruct(in.Config)
		if err != nil {
			c.problem(path, "config: %v", err)
		} else {
			t.Config = cfg
		}
	}
	if in.KillTimeout != nil {
		t.KillTimeout = durationpb.New(time.Duration(*in.KillTimeout))
	}
	if r := in.Resources; r != nil {
		c.refuse(path+"resources: ", map[string]bool{
			"Cores": deref(r.Cores) > 0, "SecretsMB": deref(r.SecretsMB) > 0, "Networks": isSet(r.Networks),
			"Devices": isSet(r.Devices), "NUMA": isSet(r.NUMA),
		})
		t.Resources = &structs.Resources{
			CpuMhz: int64(deref(r.CPU)), MemoryMb: int64(deref(r.MemoryMB)), DiskMb: int64(deref(r.DiskMB)),
			MemoryMaxMb: int64(deref(r.MemoryMaxMB)),
		}
	}
	return t, restartFromJSON(in.RestartPolicy)
}

func constraintsFromJSON(in []*constraintJSON) []*structs.Constraint {
	var out []*structs.Constraint
	for _, c := range in {
		if c != nil {
			out = append(out, &structs.Constraint{LTarget: c.LTarget, RTarget: c.RTarget, Operand: c.Operand})
		}
	}
	return out
}

func restartFromJSON(in *restartJSON) *structs.RestartPolicy {
	if in == nil {
		return nil
	}
	rp := &structs.RestartPolicy{Attempts: int32(clampInt(deref(in.Attempts))), Mode: deref(in.Mode), RenderTemplates: deref(in.RenderTemplates)}
	if in.Interval != nil {
		rp.Interval = durationpb.New(time.Duration(*in.Interval))
	}
	if in.Delay != nil {
		rp.Delay = durationpb.New(time.Duration(*in.Delay))
	}
	return rp
}
