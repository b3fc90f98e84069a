package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/droverhq/drover/structs"
)

// The job as Nomad's JSON spells it. Fields drover supports are typed;
// fields Nomad knows and drover does not are kept raw, so a job that sets
// one is refused (or, for policies drover does not apply yet, accepted
// with a warning) instead of being half-run. Keys Nomad does not know are
// ignored, as Nomad ignores them.

type jobJSON struct {
	Region      *string
	Namespace   *string
	ID          *string
	Name        *string
	Type        *string
	Priority    *int
	AllAtOnce   *bool
	Datacenters []string
	NodePool    *string
	Constraints []*constraintJSON
	TaskGroups  []*taskGroupJSON
	Meta        map[string]string

	// Known to Nomad, not run by drover: refused when set.
	Affinities               json.RawMessage
	Spreads                  json.RawMessage
	Multiregion              json.RawMessage
	Periodic                 json.RawMessage
	ParameterizedJob         json.RawMessage
	Payload                  json.RawMessage
	DispatchIdempotencyToken *string
	// Known to Nomad, not applied by drover yet: accepted with a warning.
	Update     json.RawMessage
	Reschedule json.RawMessage
	Migrate    json.RawMessage
	// Informational or server-set: ignored on input.
	UI                json.RawMessage
	ParentID          *string
	Dispatched        bool
	ConsulNamespace   *string
	VaultNamespace    *string
	NomadTokenID      *string
	Stop              *bool
	Status            *string
	StatusDescription *string
	Stable            *bool
	Version           *uint64
	SubmitTime        *int64
	CreateIndex       *uint64
	ModifyIndex       *uint64
	JobModifyIndex    *uint64
	VersionTag        json.RawMessage
}

type constraintJSON struct {
	LTarget string
	RTarget string
	Operand string
}

type taskGroupJSON struct {
	Name          *string
	Count         *int
	Constraints   []*constraintJSON
	Tasks         []*taskJSON
	RestartPolicy *restartJSON
	Meta          map[string]string

	Affinities     json.RawMessage
	Spreads        json.RawMessage
	Volumes        json.RawMessage
	Disconnect     json.RawMessage
	Networks       json.RawMessage
	Services       json.RawMessage
	Scaling        json.RawMessage
	Consul         json.RawMessage
	ShutdownDelay  *int64
	MaxRunDuration *int64

	ReschedulePolicy json.RawMessage
	Update           json.RawMessage
	Migrate          json.RawMessage

	// Accepted and ignored: drover sizes disk per task, and Nomad itself
	// ignores the deprecated disconnect fields.
	EphemeralDisk             json.RawMessage
	StopAfterClientDisconnect json.RawMessage
	MaxClientDisconnect       json.RawMessage
	PreventRescheduleOnLost   json.RawMessage
}

type taskJSON struct {
	Name          string
	Driver        string
	Config        map[string]any
	Constraints   []*constraintJSON
	Env           map[string]string
	Resources     *resourcesJSON
	RestartPolicy *restartJSON
	Meta          map[string]string
	KillTimeout   *int64
	KillSignal    string

	User            string
	Lifecycle       json.RawMessage
	Affinities      json.RawMessage
	Services        json.RawMessage
	Artifacts       json.RawMessage
	Vault           json.RawMessage
	Consul          json.RawMessage
	Templates       json.RawMessage
	DispatchPayload json.RawMessage
	VolumeMounts    json.RawMessage
	CSIPluginConfig json.RawMessage
	Leader          bool
	ShutdownDelay   int64
	Kind            string
	ScalingPolicies json.RawMessage
	Secrets         json.RawMessage
	Identity        json.RawMessage
	Identities      json.RawMessage
	Actions         json.RawMessage
	Schedule        json.RawMessage

	// Accepted and ignored: the client keeps its own log files.
	LogConfig json.RawMessage
}

type resourcesJSON struct {
	CPU         *int
	Cores       *int
	MemoryMB    *int
	MemoryMaxMB *int
	DiskMB      *int
	SecretsMB   *int
	IOPS        *int
	Networks    json.RawMessage
	Devices     json.RawMessage
	NUMA        json.RawMessage
}

type restartJSON struct {
	Interval        *int64
	Attempts        *int
	Delay           *int64
	Mode            *string
	RenderTemplates *bool
}

// isSet reports whether a raw field holds anything but an empty value.
func isSet(raw json.RawMessage) bool {
	switch string(bytes.TrimSpace(raw)) {
	case "", "null", "[]", "{}", "false", "0", `""`:
		return false
	}
	return true
}

// jobConversion collects problems (the job is refused) and warnings (the
// job runs, but something it asks for is not applied).
type jobConversion struct {
	problems []string
	warnings []string
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
	c := &jobConversion{}
	id := deref(in.ID)
	path := fmt.Sprintf("job %q: ", id)
	c.refuse(path, map[string]bool{
		"Affinities": isSet(in.Affinities), "Spreads": isSet(in.Spreads), "Multiregion": isSet(in.Multiregion),
		"Periodic": isSet(in.Periodic), "ParameterizedJob": isSet(in.ParameterizedJob), "Payload": isSet(in.Payload),
		"DispatchIdempotencyToken": deref(in.DispatchIdempotencyToken) != "",
	})
	c.warn(path, map[string]bool{
		"Update": isSet(in.Update), "Reschedule": isSet(in.Reschedule), "Migrate": isSet(in.Migrate),
		"AllAtOnce": deref(in.AllAtOnce),
	})
	switch pool := deref(in.NodePool); pool {
	case "", "default", "all":
	default:
		c.problems = append(c.problems, fmt.Sprintf("%snode pool %q is not supported by drover (only the default pool)", path, pool))
	}
	job := &structs.Job{
		Id: id, Name: deref(in.Name), Namespace: deref(in.Namespace), Region: deref(in.Region),
		Type: deref(in.Type), Priority: int32(clampInt(deref(in.Priority))), Datacenters: in.Datacenters,
		Constraints: constraintsFromJSON(in.Constraints), Meta: in.Meta, Stop: deref(in.Stop),
	}
	for i, g := range in.TaskGroups {
		if g == nil {
			c.problems = append(c.problems, fmt.Sprintf("%sgroup %d is null", path, i))
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
		"Affinities": isSet(in.Affinities), "Spreads": isSet(in.Spreads), "Volumes": isSet(in.Volumes),
		"Disconnect": isSet(in.Disconnect), "Networks": isSet(in.Networks), "Services": isSet(in.Services),
		"Scaling": isSet(in.Scaling), "Consul": isSet(in.Consul),
		"ShutdownDelay": deref(in.ShutdownDelay) > 0, "MaxRunDuration": deref(in.MaxRunDuration) > 0,
	})
	c.warn(path, map[string]bool{
		"ReschedulePolicy": isSet(in.ReschedulePolicy), "Update": isSet(in.Update), "Migrate": isSet(in.Migrate),
	})
	count := 1
	if in.Count != nil {
		count = *in.Count
	}
	g := &structs.TaskGroup{
		Name: name, Count: int32(clampInt(count)), Constraints: constraintsFromJSON(in.Constraints),
		RestartPolicy: restartFromJSON(in.RestartPolicy), Meta: in.Meta,
	}
	var taskPolicy *structs.RestartPolicy
	for i, t := range in.Tasks {
		if t == nil {
			c.problems = append(c.problems, fmt.Sprintf("%stask %d is null", path, i))
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
			c.problems = append(c.problems, fmt.Sprintf("%stask %q: a restart policy that differs from its group's is not supported by drover; set it on the group", path, t.Name))
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
		"User": in.User != "", "Lifecycle": isSet(in.Lifecycle), "Affinities": isSet(in.Affinities),
		"Services": isSet(in.Services), "Artifacts": isSet(in.Artifacts), "Vault": isSet(in.Vault),
		"Consul": isSet(in.Consul), "Templates": isSet(in.Templates), "DispatchPayload": isSet(in.DispatchPayload),
		"VolumeMounts": isSet(in.VolumeMounts), "CSIPluginConfig": isSet(in.CSIPluginConfig), "Leader": in.Leader,
		"ShutdownDelay": in.ShutdownDelay > 0, "Kind": in.Kind != "", "ScalingPolicies": isSet(in.ScalingPolicies),
		"Secrets": isSet(in.Secrets), "Identity": isSet(in.Identity), "Identities": isSet(in.Identities),
		"Actions": isSet(in.Actions), "Schedule": isSet(in.Schedule),
	})
	t := &structs.Task{
		Name: in.Name, Driver: in.Driver, Env: in.Env, Constraints: constraintsFromJSON(in.Constraints),
		Meta: in.Meta, KillSignal: in.KillSignal,
	}
	if in.Config != nil {
		cfg, err := structpb.NewStruct(in.Config)
		if err != nil {
			c.problems = append(c.problems, fmt.Sprintf("%sconfig: %v", path, err))
		} else {
			t.Config = cfg
		}
	}
	if in.KillTimeout != nil {
		t.KillTimeout = durationpb.New(time.Duration(*in.KillTimeout))
	}
	if r := in.Resources; r != nil {
		c.refuse(path+"resources: ", map[string]bool{
			"Cores": deref(r.Cores) > 0, "MemoryMaxMB": deref(r.MemoryMaxMB) > 0, "SecretsMB": deref(r.SecretsMB) > 0,
			"Networks": isSet(r.Networks), "Devices": isSet(r.Devices), "NUMA": isSet(r.NUMA),
		})
		t.Resources = &structs.Resources{CpuMhz: int64(deref(r.CPU)), MemoryMb: int64(deref(r.MemoryMB)), DiskMb: int64(deref(r.DiskMB))}
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
	rp := &structs.RestartPolicy{Attempts: int32(clampInt(deref(in.Attempts))), Mode: deref(in.Mode)}
	if in.Interval != nil {
		rp.Interval = durationpb.New(time.Duration(*in.Interval))
	}
	if in.Delay != nil {
		rp.Delay = durationpb.New(time.Duration(*in.Delay))
	}
	return rp
}

// jobToJSON renders a stored job as Nomad does.
func jobToJSON(j *structs.Job) *jobJSON {
	if j == nil {
		return nil
	}
	out := &jobJSON{
		Region: ptr(j.Region), Namespace: ptr(j.Namespace), ID: ptr(j.Id), Name: ptr(j.Name), Type: ptr(j.Type),
		Priority: ptr(int(j.Priority)), AllAtOnce: ptr(false), Datacenters: j.Datacenters, NodePool: ptr("default"),
		Constraints: constraintsToJSON(j.Constraints), Meta: j.Meta, ParentID: ptr(""),
		Stop: ptr(j.Stop), Status: ptr(j.Status), StatusDescription: ptr(""), Stable: ptr(false),
		Version: ptr(j.Version), SubmitTime: ptr(j.SubmitTime), CreateIndex: ptr(j.CreateIndex),
		ModifyIndex: ptr(j.ModifyIndex), JobModifyIndex: ptr(j.JobModifyIndex),
	}
	for _, g := range j.TaskGroups {
		tg := &taskGroupJSON{
			Name: ptr(g.Name), Count: ptr(int(g.Count)), Constraints: constraintsToJSON(g.Constraints),
			RestartPolicy: restartToJSON(g.RestartPolicy), Meta: g.Meta,
		}
		for _, t := range g.Tasks {
			tj := &taskJSON{
				Name: t.Name, Driver: t.Driver, Env: t.Env, Constraints: constraintsToJSON(t.Constraints),
				RestartPolicy: restartToJSON(g.RestartPolicy), Meta: t.Meta, KillSignal: t.KillSignal,
				Resources: resourcesToJSON(t.Resources),
			}
			if t.Config != nil {
				tj.Config = t.Config.AsMap()
			}
			if t.KillTimeout != nil {
				tj.KillTimeout = ptr(int64(t.KillTimeout.AsDuration()))
			}
			tg.Tasks = append(tg.Tasks, tj)
		}
		out.TaskGroups = append(out.TaskGroups, tg)
	}
	return out
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
		Delay: ptr(int64(rp.Delay.AsDuration())), Mode: ptr(rp.Mode), RenderTemplates: ptr(false),
	}
}

func resourcesToJSON(r *structs.Resources) *resourcesJSON {
	if r == nil {
		return nil
	}
	return &resourcesJSON{
		CPU: ptr(int(r.CpuMhz)), Cores: ptr(0), MemoryMB: ptr(int(r.MemoryMb)), MemoryMaxMB: ptr(0), DiskMB: ptr(int(r.DiskMb)),
	}
}

// jobListStub is a job in a list, as Nomad's JobListStub.
type jobListStub struct {
	ID                string
	ParentID          string
	Name              string
	Namespace         string
	Datacenters       []string
	NodePool          string
	Type              string
	Priority          int
	Periodic          bool
	ParameterizedJob  bool
	Stop              bool
	Status            string
	StatusDescription string
	JobSummary        any
	CreateIndex       uint64
	ModifyIndex       uint64
	JobModifyIndex    uint64
	SubmitTime        int64
	Meta              map[string]string `json:",omitempty"`
}

func jobStub(j *structs.Job, withMeta bool) jobListStub {
	s := jobListStub{
		ID: j.Id, Name: j.Name, Namespace: j.Namespace, Datacenters: j.Datacenters, NodePool: "default",
		Type: j.Type, Priority: int(j.Priority), Stop: j.Stop, Status: j.Status,
		CreateIndex: j.CreateIndex, ModifyIndex: j.ModifyIndex, JobModifyIndex: j.JobModifyIndex, SubmitTime: j.SubmitTime,
	}
	if withMeta {
		s.Meta = maps.Clone(j.Meta)
	}
	return s
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func ptr[T any](v T) *T { return &v }

// clampInt keeps a decoded int within int32, so that an absurd value fails
// validation instead of wrapping around to a plausible one.
func clampInt(n int) int {
	const lo, hi = -1 << 31, 1<<31 - 1
	return min(max(n, lo), hi)
}
