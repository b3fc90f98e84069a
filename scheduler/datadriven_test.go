package scheduler

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/droverhq/drover/structs"
)

// TestDataDriven runs the scheduling transcripts in testdata/*.txt (-rewrite
// regenerates their output). A directive and each line of its input are
// commands, run in order; the block prints what they print. Arguments are
// key=value, key=(v1, v2) or flags; keys may repeat; an unknown one fails.
// Times like failed_at=-1m are relative to the clock. A file starts with an
// empty cluster; the ids the scheduler asks for are 1, 2, 3...
//
//	reset                 empty cluster, no configuration, clock at testNow, ids from 1
//	node id= ...          add a node (1000 MHz, 1000 MB, dc1, ready, eligible,
//	                      driver mock) or change node id: name cpu mem disk class
//	                      dc attr=<k>:<v> meta=<k>:<v> (empty <v> deletes)
//	                      drivers=<d>[:unhealthy|:undetected],... status
//	                      eligible=true|false drain[=on|off|ignore_system]
//	                      drain_deadline=<time> reserved_ports dynamic_ports=<lo>-<hi>
//	job id= ...           register a service job (group g of task t on mock) or
//	                      a new version of job id (job_modify_index +10, or
//	                      version=<n>): type priority dc stop constraint affinity
//	                      spread meta, and its first group's and task's keys, the
//	                      four a job has too prefixed group. or task.
//	group job= name= ...  add or change a group: count constraint affinity spread
//	                      meta ports max_client_disconnect restart_attempts
//	                      reschedule=(attempts:<n>, interval:<d>, delay:<d>,
//	                      function:<f>, max_delay:<d>, unlimited), its first
//	                      task's keys (task. prefixed); or remove it
//	task job= group= name=  add or change a task: cpu mem disk memory_max driver
//	                      env=<k>:<v> constraint affinity meta kill_timeout
//	alloc id= job= node=  add a running allocation of the job's current version,
//	                      with its group's resources or cpu mem disk (group, name,
//	                      priority for a job not registered); or change allocation
//	                      id, or without id every one wanted running that matches
//	                      name node job: status desired failed_at=<time>
//	                      reschedules=(<time>:<delay>, ...) ports
//	                      disconnected_at=<time> migrate reschedule force_reschedule
//	remove node=|job=     remove a node, purge a job
//	config ...            algorithm memory_oversubscription preemption=(<types>)
//	advance <duration>    move the clock on
//	schedule job=         run the job's scheduler, print its decision (classes:
//	                      class eligibility too; verbose: resources); the pass
//	                      must not modify the state and must fill its plan in
//	apply [client=]       commit the last plan (fakeState.commit), new allocations
//	                      running (or client); no node may then be overcommitted
//	allocs                list allocations
//
// Constraints are <ltarget>:<operand>[:<rtarget>] or distinct_hosts, affinities
// <ltarget>:<operand>:<rtarget>:<weight>, spreads <attribute>[:<weight>[:<value>
// =<percent>,...]], ports <label>[:<value>],...
//
// Each transcript runs twice: with the state's per-node usage (as the
// state store keeps it) and without (the pass sums the nodes' allocations).
func TestDataDriven(t *testing.T) {
	for _, mode := range []string{"usage", "scan"} {
		t.Run(mode, func(t *testing.T) { testDataDriven(t, mode == "scan") })
	}
}

func testDataDriven(t *testing.T, scan bool) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		if !strings.HasSuffix(path, ".txt") {
			return
		}
		h := newHarness()
		h.scan = scan
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			var out strings.Builder
			h.exec(&args{t: t, d: d, cmd: d.Cmd, kv: d.CmdArgs}, &out)
			for line := range strings.SplitSeq(d.Input, "\n") {
				if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
					continue
				}
				cmd, kv, err := datadriven.ParseLine(line)
				if err != nil {
					d.Fatalf(t, "%v", err)
				}
				h.exec(&args{t: t, d: d, cmd: cmd, kv: kv}, &out)
			}
			return out.String()
		})
	})
}

type harness struct {
	st    *fakeState
	now   time.Time
	cfg   *structs.SchedulerConfiguration
	types map[string]string // job type by id, kept after a purge
	evals int
	last  *Decision
	// scan hides the state's per-node usage from the scheduler.
	scan bool
}

func newHarness() *harness { return &harness{st: newState(), now: testNow, types: map[string]string{}} }

func (h *harness) exec(a *args, out *strings.Builder) {
	switch a.cmd {
	case "reset":
		*h = *newHarness()
	case "node":
		h.node(a)
	case "job", "group", "task":
		h.job(a)
	case "alloc":
		h.alloc(a)
	case "remove":
		h.st.removeNode(a.str("node"))
		delete(h.st.jobs, structs.DefaultNamespace+"/"+a.str("job"))
	case "config":
		t := a.list("preemption")
		if slices.ContainsFunc(t, func(s string) bool { return !IsBuiltin(s) }) {
			a.fatalf("preemption: not job types: %v", t)
		}
		h.cfg = &structs.SchedulerConfiguration{SchedulerAlgorithm: cmp.Or(a.str("algorithm"), AlgorithmBinpack),
			MemoryOversubscriptionEnabled: a.has("memory_oversubscription"), PreemptionConfig: &structs.PreemptionConfig{
				ServiceSchedulerEnabled: slices.Contains(t, "service"), BatchSchedulerEnabled: slices.Contains(t, "batch"),
				SystemSchedulerEnabled: slices.Contains(t, "system"), SysbatchSchedulerEnabled: slices.Contains(t, "sysbatch")}}
	case "advance":
		for _, c := range a.kv {
			h.now = h.now.Add(a.duration(c.Key))
			a.vals(c.Key)
		}
	case "schedule":
		out.WriteString(h.schedule(a) + "\n")
	case "apply":
		if h.last != nil {
			h.st.commit(h.last.Plan, cmp.Or(a.str("client"), structs.AllocClientRunning), h.now.UnixNano())
			h.last = nil
			requireNoOvercommit(a.t, h.st, a.d.Pos)
		}
	case "allocs":
		out.WriteString(h.allocs() + "\n")
	default:
		a.fatalf("unknown command")
	}
	for _, c := range a.kv {
		if !a.used[c.Key] {
			a.fatalf("unknown argument %s", c.Key)
		}
	}
}

func (h *harness) node(a *args) {
	id := a.str("id")
	n := h.st.node(id)
	if n != nil {
		i := slices.Index(h.st.nodes, n)
		n = proto.Clone(n).(*structs.Node)
		h.st.nodes[i] = n
	} else {
		n = &structs.Node{Id: id, Name: id, Datacenter: "dc1", Status: structs.NodeStatusReady,
			SchedulingEligibility: structs.NodeEligible, Resources: &structs.Resources{CpuMhz: 1000, MemoryMb: 1000},
			Drivers: map[string]*structs.DriverInfo{"mock": {Detected: true, Healthy: true}}}
		h.st.nodes = append(h.st.nodes, n)
	}
	a.strs(map[string]*string{"name": &n.Name, "class": &n.NodeClass, "dc": &n.Datacenter, "status": &n.Status,
		"reserved_ports": &n.ReservedPorts})
	a.ints(map[string]*int64{"cpu": &n.Resources.CpuMhz, "mem": &n.Resources.MemoryMb, "disk": &n.Resources.DiskMb})
	n.Attributes, n.Meta = a.merge("attr", n.Attributes), a.merge("meta", n.Meta)
	if a.has("drivers") {
		n.Drivers = map[string]*structs.DriverInfo{}
		for _, d := range a.list("drivers") {
			name, state, _ := strings.Cut(d, ":")
			n.Drivers[name] = &structs.DriverInfo{Detected: state != "undetected", Healthy: state == ""}
		}
	}
	if e := a.str("eligible"); e != "" {
		n.SchedulingEligibility = map[bool]string{true: structs.NodeEligible, false: structs.NodeIneligible}[e == "true"]
	}
	if a.has("drain") {
		n.DrainStrategy = map[string]*structs.DrainStrategy{"": {}, "on": {}, "ignore_system": {IgnoreSystemJobs: true}}[a.str("drain")]
	}
	if a.str("drain_deadline") != "" {
		n.DrainStrategy = cmp.Or(n.DrainStrategy, &structs.DrainStrategy{})
		n.DrainStrategy.ForceDeadline = h.at(a.str("drain_deadline"), a)
	}
	if a.has("host_volumes") {
		n.HostVolumes = map[string]*structs.ClientHostVolume{}
		for _, v := range a.list("host_volumes") {
			name, mode, _ := strings.Cut(v, ":")
			n.HostVolumes[name] = &structs.ClientHostVolume{Path: "/srv/" + name, ReadOnly: mode == "ro"}
		}
	}
	if lo, hi, ok := strings.Cut(a.str("dynamic_ports"), "-"); ok {
		n.MinDynamicPort, n.MaxDynamicPort = int32(a.atoi(lo)), int32(a.atoi(hi))
	}
	n.ComputedClass = structs.ComputeNodeClass(n)
}

// job runs job, group and task: each registers a new version of the job.
func (h *harness) job(a *args) {
	id := a.str(map[bool]string{true: "id", false: "job"}[a.cmd == "job"])
	j := h.st.jobs[structs.DefaultNamespace+"/"+id]
	switch {
	case j == nil && a.cmd != "job":
		a.fatalf("no job %s", id)
	case j == nil:
		j = &structs.Job{Id: id, TaskGroups: []*structs.TaskGroup{newGroup("g")}}
	default:
		j = proto.Clone(j).(*structs.Job)
	}
	switch a.cmd {
	case "job":
		a.strs(map[string]*string{"type": &j.Type})
		j.Priority = int32(a.int("priority", int64(j.Priority)))
		if a.has("dc") {
			j.Datacenters = a.list("dc")
		}
		j.Stop = j.Stop || a.has("stop")
		j.Constraints, j.Affinities = a.constraints("constraint", j.Constraints), a.affinities("affinity", j.Affinities)
		j.Spreads, j.Meta = a.spreads("spread", j.Spreads), a.merge("meta", j.Meta)
		if len(j.TaskGroups) > 0 {
			a.group(j.TaskGroups[0], "group.")
		}
	case "group":
		name := a.str("name")
		i := slices.IndexFunc(j.TaskGroups, func(g *structs.TaskGroup) bool { return g.Name == name })
		switch {
		case a.has("remove") && i < 0:
			a.fatalf("no group %s", name)
		case a.has("remove"):
			j.TaskGroups = slices.Delete(j.TaskGroups, i, i+1)
		default:
			if i < 0 {
				j.TaskGroups, i = append(j.TaskGroups, newGroup(name)), len(j.TaskGroups)
			}
			a.group(j.TaskGroups[i], "")
		}
	case "task":
		tg, name := groupOf(j, a.str("group")), a.str("name")
		if tg == nil {
			a.fatalf("no group %s", a.str("group"))
		}
		i := slices.IndexFunc(tg.Tasks, func(t *structs.Task) bool { return t.Name == name })
		if i < 0 {
			tg.Tasks, i = append(tg.Tasks, &structs.Task{Name: name, Driver: "mock"}), len(tg.Tasks)
		}
		a.task(tg.Tasks[i], "")
	}
	j.JobModifyIndex = uint64(a.int("version", int64(j.JobModifyIndex)+10))
	j.Canonicalize(structs.DefaultJobPriority)
	h.st.upsertJob(j)
	h.types[id] = j.Type
}

func newGroup(name string) *structs.TaskGroup {
	return &structs.TaskGroup{Name: name, Count: 1, Tasks: []*structs.Task{{Name: "t", Driver: "mock"}}}
}

// group sets a group's keys; p prefixes those a job has too.
func (a *args) group(tg *structs.TaskGroup, p string) {
	tg.Count = int32(a.int("count", int64(tg.Count)))
	tg.Constraints, tg.Affinities = a.constraints(p+"constraint", tg.Constraints), a.affinities(p+"affinity", tg.Affinities)
	tg.Spreads, tg.Meta = a.spreads(p+"spread", tg.Spreads), a.merge(p+"meta", tg.Meta)
	if a.has(p + "sticky") {
		tg.EphemeralDisk = &structs.EphemeralDisk{Sticky: a.str(p+"sticky") == "true"}
	}
	if a.has(p + "volumes") {
		tg.Volumes = map[string]*structs.VolumeRequest{}
		for _, v := range a.list(p + "volumes") {
			name, mode, _ := strings.Cut(v, ":")
			tg.Volumes[name] = &structs.VolumeRequest{Type: structs.VolumeTypeHost, Source: name, ReadOnly: mode == "ro"}
		}
	}
	if a.has("ports") {
		tg.Network = &structs.NetworkResource{}
		for _, p := range a.list("ports") {
			label, v, _ := strings.Cut(p, ":")
			tg.Network.Ports = append(tg.Network.Ports, &structs.Port{Label: label, Value: int32(a.atoi(v))})
		}
	}
	if a.has("reschedule") {
		rp := &structs.ReschedulePolicy{}
		durations := map[string]**durationpb.Duration{"interval": &rp.Interval, "delay": &rp.Delay, "max_delay": &rp.MaxDelay}
		for _, f := range a.vals("reschedule") {
			switch k, v, _ := strings.Cut(f, ":"); {
			case k == "attempts":
				rp.Attempts = int32(a.atoi(v))
			case k == "function":
				rp.DelayFunction = v
			case k == "unlimited":
				rp.Unlimited = true
			case durations[k] != nil:
				*durations[k] = durationpb.New(a.duration(v))
			default:
				a.fatalf("reschedule: unknown %q", k)
			}
		}
		tg.ReschedulePolicy = rp
	}
	if d := a.str("max_client_disconnect"); d != "" {
		tg.MaxClientDisconnect = durationpb.New(a.duration(d))
	}
	if a.has("restart_attempts") {
		tg.RestartPolicy = cmp.Or(tg.RestartPolicy, &structs.RestartPolicy{})
		tg.RestartPolicy.Attempts = int32(a.int("restart_attempts", 0))
	}
	if len(tg.Tasks) > 0 {
		a.task(tg.Tasks[0], "task.")
	}
}

// task sets a task's keys; p prefixes those a job or group has too.
func (a *args) task(t *structs.Task, p string) {
	t.Resources = cmp.Or(t.Resources, &structs.Resources{})
	r := t.Resources
	a.ints(map[string]*int64{"cpu": &r.CpuMhz, "mem": &r.MemoryMb, "disk": &r.DiskMb, "memory_max": &r.MemoryMaxMb})
	a.strs(map[string]*string{"driver": &t.Driver})
	t.Env, t.Meta = a.merge("env", t.Env), a.merge(p+"meta", t.Meta)
	t.Constraints, t.Affinities = a.constraints(p+"constraint", t.Constraints), a.affinities(p+"affinity", t.Affinities)
	if d := a.str("kill_timeout"); d != "" {
		t.KillTimeout = durationpb.New(a.duration(d))
	}
}

func (h *harness) alloc(a *args) {
	var ids []string
	if id := a.str("id"); id != "" {
		if h.st.allocByID(id) == nil {
			h.st.allocs = append(h.st.allocs, h.newAlloc(a, id))
		}
		ids = []string{id}
	} else {
		name, node, job := a.str("name"), a.str("node"), a.str("job")
		for _, x := range h.st.allocs {
			if x.DesiredStatus == structs.AllocDesiredRun && cmp.Or(name, x.Name) == x.Name &&
				cmp.Or(node, x.NodeId) == x.NodeId && cmp.Or(job, x.JobId) == x.JobId {
				ids = append(ids, x.Id)
			}
		}
		if len(ids) == 0 {
			a.fatalf("no allocation wanted running matches")
		}
	}
	for _, id := range ids {
		// Changed as a client update (or the servers) would, at the clock's time.
		h.st.update(id, h.now.UnixNano(), func(x *structs.Allocation) {
			a.strs(map[string]*string{"status": &x.ClientStatus, "desired": &x.DesiredStatus})
			if at := a.str("failed_at"); at != "" {
				x.ClientStatus, x.TaskStates = structs.AllocClientFailed, map[string]*structs.TaskState{}
				for task := range x.TaskResources {
					x.TaskStates[task] = &structs.TaskState{State: structs.TaskStateDead, Failed: true, FinishedAt: h.at(at, a)}
				}
			}
			if a.has("reschedules") {
				x.RescheduleTracker = &structs.RescheduleTracker{}
				for _, e := range a.vals("reschedules") {
					at, delay, _ := strings.Cut(e, ":")
					x.RescheduleTracker.Events = append(x.RescheduleTracker.Events,
						&structs.RescheduleEvent{RescheduleTime: h.at(at, a), DelayNs: int64(a.duration(delay))})
				}
			}
			if a.has("ports") {
				x.AllocatedPorts = nil
				for _, p := range a.list("ports") {
					label, v, _ := strings.Cut(p, ":")
					x.AllocatedPorts = append(x.AllocatedPorts, &structs.AllocatedPort{Label: label, Value: int32(a.atoi(v))})
				}
			}
			if at := a.str("disconnected_at"); at != "" {
				x.DisconnectedAt = h.at(at, a)
			}
			for _, f := range []string{"migrate", "reschedule", "force_reschedule"} {
				if a.has(f) {
					x.DesiredTransition = &structs.DesiredTransition{Migrate: f == "migrate",
						Reschedule: f == "reschedule", ForceReschedule: f == "force_reschedule"}
				}
			}
		})
	}
}

// newAlloc is a running allocation of a job's current version, or of a job
// made up with the given priority when none is registered.
func (h *harness) newAlloc(a *args, id string) *structs.Allocation {
	jobID, node := a.str("job"), h.st.node(a.str("node"))
	if jobID == "" || node == nil {
		a.fatalf("a new allocation needs a job and a known node")
	}
	j := h.st.jobs[structs.DefaultNamespace+"/"+jobID]
	if j == nil {
		j = &structs.Job{Id: jobID, Namespace: structs.DefaultNamespace, Type: structs.JobTypeService,
			Priority: int32(a.int("priority", structs.DefaultJobPriority)), TaskGroups: []*structs.TaskGroup{{Name: "g"}}}
	}
	group := cmp.Or(a.str("group"), j.TaskGroups[0].Name)
	res := map[string]*structs.Resources{"t": {}}
	if tg := groupOf(j, group); tg != nil && len(tg.Tasks) > 0 {
		res = groupResources(tg, false)
	}
	if a.has("cpu") || a.has("mem") || a.has("disk") {
		res = map[string]*structs.Resources{"t": {CpuMhz: a.int("cpu", 0), MemoryMb: a.int("mem", 0), DiskMb: a.int("disk", 0)}}
	}
	return &structs.Allocation{Id: id, Namespace: j.Namespace, Name: cmp.Or(a.str("name"), AllocName(jobID, group, 0)),
		NodeId: node.Id, NodeName: node.Name, JobId: jobID, Job: j, TaskGroup: group, TaskResources: res,
		DesiredStatus: structs.AllocDesiredRun, ClientStatus: structs.AllocClientRunning, CreateTime: h.now.UnixNano()}
}

func (h *harness) schedule(a *args) string {
	id := a.str("job")
	j := h.st.jobs[structs.DefaultNamespace+"/"+id]
	h.evals++
	eval := &structs.Evaluation{Id: fmt.Sprintf("eval-%d", h.evals), Namespace: structs.DefaultNamespace, JobId: id,
		Type: h.types[id], Priority: structs.DefaultJobPriority, Status: structs.EvalStatusPending,
		TriggeredBy: structs.EvalTriggerJobRegister}
	if j != nil {
		eval.Priority = j.Priority
	}
	sched, err := Builtin(eval.Type)
	if err != nil {
		return "error: " + err.Error()
	}
	before := h.st.clone()
	var st State = h.st
	if h.scan {
		st = scanOnly{h.st}
	}
	d, err := sched.Schedule(st, Input{Eval: eval, Now: h.now, Config: h.cfg,
		NewID: func() string { h.st.ids++; return strconv.Itoa(h.st.ids) }})
	if err != nil {
		return "error: " + err.Error()
	}
	requireStateUnchanged(a.t, before, h.st)
	h.check(a, eval, j, d)
	h.last = d
	return h.describe(d, a.has("classes"), a.has("verbose"))
}

// check fails the test when a decision breaks what every one promises.
func (h *harness) check(a *args, eval *structs.Evaluation, j *structs.Job, d *Decision) {
	if p := d.Plan; p != nil {
		if p.EvalId != eval.Id || p.Priority != eval.Priority || p.SnapshotIndex != h.st.index || p.Job != j {
			a.fatalf("plan header %v", p)
		}
		ids := map[string]bool{}
		for _, x := range p.NodeAllocation {
			n, fresh := h.st.node(x.NodeId), h.st.allocByID(x.Id) == nil
			if ids[x.Id] || x.Job != j || x.JobId != j.Id || x.Namespace != j.Namespace || x.EvalId != eval.Id ||
				n == nil || x.NodeName != n.Name || x.DesiredStatus != structs.AllocDesiredRun || x.ModifyTime != h.now.UnixNano() ||
				fresh && (x.ClientStatus != structs.AllocClientPending || x.CreateTime != x.ModifyTime) {
				a.fatalf("placement %v", x)
			}
			ids[x.Id] = true
		}
	}
	for _, e := range d.FollowupEvals {
		if e.Status != structs.EvalStatusPending || e.TriggeredBy != structs.EvalTriggerRetryFailed || e.JobId != j.Id ||
			e.Type != j.Type || e.PreviousEval != eval.Id || e.WaitUntil <= h.now.UnixNano() {
			a.fatalf("follow-up %v", e)
		}
	}
	for g, q := range d.QueuedAllocations {
		if (q > 0) != (d.FailedTGAllocs[g] != nil) {
			a.fatalf("group %s: %d queued, metric %v", g, q, d.FailedTGAllocs[g])
		}
	}
}

// describe prints a decision: placements and in-place updates, stops,
// reconnections, follow-up annotations, evictions (each sorted by name,
// node and id), follow-up evaluations, failed groups and their metrics,
// queued counts, class eligibility, and whether it is blocked.
func (h *harness) describe(d *Decision, classes, verbose bool) string {
	var out []string
	add := func(f string, x ...any) { out = append(out, fmt.Sprintf(f, x...)) }
	if d.Plan == nil {
		add("no changes")
	}
	for _, x := range byName(d.Plan.GetNodeAllocation()) {
		line := "place " + x.Name + " -> " + x.NodeId + " id=" + x.Id
		if h.st.allocByID(x.Id) != nil {
			line = "update " + x.Name + " on " + x.NodeId + " id=" + x.Id
		}
		var ports, res []string
		for _, p := range x.AllocatedPorts {
			ports = append(ports, fmt.Sprintf("%s:%d", p.Label, p.Value))
		}
		for _, t := range slices.Sorted(maps.Keys(x.TaskResources)) {
			r := x.TaskResources[t]
			res = append(res, t+"="+counts(map[string]int32{"cpu": int32(r.CpuMhz), "mem": int32(r.MemoryMb),
				"disk": int32(r.DiskMb), "memory_max": int32(r.MemoryMaxMb)}, ":", ",", false))
		}
		events := len(x.RescheduleTracker.GetEvents())
		for _, f := range []struct {
			show bool
			text string
		}{
			{x.PreviousAllocation != "", "prev=" + x.PreviousAllocation}, {events > 0, fmt.Sprintf("reschedules=%d", events)},
			{len(ports) > 0, "ports=" + strings.Join(ports, ",")},
			{len(x.PreemptedAllocations) > 0, "preempts=" + strings.Join(x.PreemptedAllocations, ",")},
			{x.DisconnectedAt != 0, "disconnected"}, {verbose, strings.Join(res, " ")},
		} {
			if f.show {
				line += " " + f.text
			}
		}
		add("%s", line)
	}
	for _, x := range byName(d.Plan.GetNodeUpdate()) {
		where := h.name(x) + " on " + x.NodeId + " id=" + x.Id
		switch {
		case x.DesiredStatus != "":
			add("%s %s: %s", x.DesiredStatus, where, x.DesiredDescription)
		case x.ReconnectedAt != 0:
			add("reconnect %s", where)
		default:
			add("annotate %s followup=%s", where, x.FollowupEvalId)
		}
	}
	for _, x := range byName(d.Plan.GetNodePreemptions()) {
		add("preempt %s on %s id=%s by=%s", h.name(x), x.NodeId, x.Id, x.PreemptedByAllocation)
	}
	for _, e := range d.FollowupEvals {
		add("followup eval %s in %s", e.Id, time.Unix(0, e.WaitUntil).Sub(h.now))
	}
	for _, g := range slices.Sorted(maps.Keys(d.FailedTGAllocs)) {
		m := d.FailedTGAllocs[g]
		add("failed %s: evaluated=%d filtered=%d exhausted=%d coalesced=%d pool=%d available=%s", g, m.NodesEvaluated,
			m.NodesFiltered, m.NodesExhausted, m.CoalescedFailures, m.NodesInPool, cmp.Or(counts(m.NodesAvailable, ":", ",", true), "none"))
		for _, c := range []struct {
			what string
			m    map[string]int32
		}{{"filtered", m.ConstraintFiltered}, {"exhausted", m.DimensionExhausted}, {"class exhausted", m.ClassExhausted}} {
			for _, k := range slices.Sorted(maps.Keys(c.m)) {
				add("  %s %d: %s", c.what, c.m[k], k)
			}
		}
	}
	if len(d.QueuedAllocations) > 0 {
		add("queued %s", counts(d.QueuedAllocations, "=", " ", true))
	}
	var eligibility []string
	for class, ok := range d.ClassEligibility {
		var ids []string
		for _, n := range h.st.nodes {
			if n.ComputedClass == class {
				ids = append(ids, n.Id)
			}
		}
		slices.Sort(ids)
		eligibility = append(eligibility, "class "+strings.Join(ids, ",")+": "+map[bool]string{true: "eligible", false: "ineligible"}[ok])
	}
	if classes {
		out = append(out, slices.Sorted(slices.Values(eligibility))...)
	}
	if d.EscapedComputedClass {
		add("escaped computed class")
	}
	if d.Blocked() {
		add("blocked")
	}
	return strings.Join(out, "\n")
}

// counts prints a map's entries (with zeros or not) sorted by key.
func counts(m map[string]int32, eq, sep string, zeros bool) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if zeros || m[k] != 0 {
			out = append(out, fmt.Sprintf("%s%s%d", k, eq, m[k]))
		}
	}
	return strings.Join(out, sep)
}

// name is an allocation's name, looked up when a plan entry lacks it.
func (h *harness) name(x *structs.Allocation) string {
	if s := h.st.allocByID(x.Id); x.Name == "" && s != nil {
		return s.Name
	}
	return x.Name
}

// byName orders allocations by name (indexes numerically), node and id.
func byName(allocs []*structs.Allocation) []*structs.Allocation {
	key := func(a *structs.Allocation) (string, int) {
		base, idx, _ := strings.Cut(a.Name, "[")
		n, _ := strconv.Atoi(strings.TrimSuffix(idx, "]"))
		return base, n
	}
	return slices.SortedStableFunc(slices.Values(allocs), func(a, b *structs.Allocation) int {
		an, ai := key(a)
		bn, bi := key(b)
		return cmp.Or(strings.Compare(an, bn), ai-bi, strings.Compare(a.NodeId, b.NodeId), strings.Compare(a.Id, b.Id))
	})
}

func (h *harness) allocs() string {
	var out []string
	for _, x := range h.st.allocs {
		line := fmt.Sprintf("%s %s on %s", x.Id, x.Name, x.NodeId)
		if v := x.Job.GetJobModifyIndex(); v != 0 {
			line += fmt.Sprintf(" v%d", v)
		}
		line += " " + x.DesiredStatus + "/" + x.ClientStatus
		for _, f := range [][2]string{{"prev", x.PreviousAllocation}, {"next", x.NextAllocation}, {"followup", x.FollowupEvalId}} {
			if f[1] != "" {
				line += " " + f[0] + "=" + f[1]
			}
		}
		if x.DisconnectedAt != 0 {
			line += " disconnected"
		}
		out = append(out, line)
	}
	return cmp.Or(strings.Join(out, "\n"), "none")
}

// at is a time relative to the clock, in unix nanos.
func (h *harness) at(rel string, a *args) int64 { return h.now.Add(a.duration(rel)).UnixNano() }
