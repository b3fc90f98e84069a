package structs

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
)

// ErrValidation is the sentinel every validation failure matches with errors.Is.
var ErrValidation = errors.New("validation failed")

// ValidationError lists every problem found in one object, each prefixed
// with the path of the field it concerns, e.g. `job "web": group "api": count must be >= 0`.
type ValidationError struct {
	Problems []string
}

// Error joins the problems, one per line after the first.
func (e *ValidationError) Error() string {
	if len(e.Problems) == 1 {
		return "invalid: " + e.Problems[0]
	}
	return fmt.Sprintf("invalid: %d problems:\n  %s", len(e.Problems), strings.Join(e.Problems, "\n  "))
}

// Is makes errors.Is(err, ErrValidation) true.
func (e *ValidationError) Is(target error) bool { return target == ErrValidation }

// problems collects messages under a path prefix.
type problems struct {
	list []string
}

func (p *problems) addf(prefix, format string, args ...any) {
	p.list = append(p.list, prefix+fmt.Sprintf(format, args...))
}

func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	return &ValidationError{Problems: p.list}
}

// Limits the registration path applies beyond the job's own consistency.
type Limits struct {
	// MaxPriority is the highest priority a job may ask for.
	MaxPriority int32
	// JobTypes are job types accepted besides the built-in ones (those of
	// the host's custom schedulers).
	JobTypes []string
	// MaxCount bounds the sum of a job's group counts (Nomad's
	// job_max_count): 0 means DefaultJobMaxCount, a negative value no
	// limit.
	MaxCount int
}

// DefaultJobMaxCount is the default bound on the sum of a job's group
// counts, Nomad's.
const DefaultJobMaxCount = 50_000

// maxCount is the bound MaxCount sets, or -1 for none.
func (l Limits) maxCount() int64 {
	switch {
	case l.MaxCount == 0:
		return DefaultJobMaxCount
	case l.MaxCount < 0:
		return -1
	}
	return int64(l.MaxCount)
}

// Default values filled in by Canonicalize.
const (
	DefaultTaskCPU         = 100
	DefaultTaskMemoryMB    = 300
	DefaultKillTimeout     = 5 * time.Second
	DefaultJobPriority     = 50
	DefaultDatacenterGlob  = "*"
	minTaskMemoryMB        = 10
	maxJobIDLength         = 128
	DefaultServiceAttempts = 2
	DefaultBatchAttempts   = 3
)

// Canonicalize fills in the defaults a job leaves out: namespace, name, type,
// priority, datacenters, restart policies, kill timeouts and task resources;
// a zero max_client_disconnect becomes unset. Each group of a service or
// system job gets the update block in force for it (its own fields over
// the job's over Nomad's defaults); migrate blocks, services and checks
// get their defaults.
// defaultPriority is used when the job sets none.
func (j *Job) Canonicalize(defaultPriority int32) {
	if j.Namespace == "" {
		j.Namespace = DefaultNamespace
	}
	if j.Name == "" {
		j.Name = j.Id
	}
	if j.Type == "" {
		j.Type = JobTypeService
	}
	if j.Priority == 0 {
		j.Priority = defaultPriority
	}
	if len(j.Datacenters) == 0 {
		j.Datacenters = []string{DefaultDatacenterGlob}
	}
	for _, tg := range j.TaskGroups {
		if tg == nil {
			continue
		}
		if tg.RestartPolicy == nil {
			tg.RestartPolicy = DefaultRestartPolicy(j.Type)
		}
		if d := tg.MaxClientDisconnect; d != nil && d.GetSeconds() == 0 && d.GetNanos() == 0 {
			// A zero window is no window: stored as unset, so both spell
			// the same job.
			tg.MaxClientDisconnect = nil
		}
		for _, t := range tg.Tasks {
			if t == nil {
				continue
			}
			if t.Resources == nil {
				t.Resources = &Resources{}
			}
			if t.Resources.CpuMhz == 0 {
				t.Resources.CpuMhz = DefaultTaskCPU
			}
			if t.Resources.MemoryMb == 0 {
				t.Resources.MemoryMb = DefaultTaskMemoryMB
			}
			if t.KillTimeout == nil {
				t.KillTimeout = durationpb.New(DefaultKillTimeout)
			}
		}
	}
	j.canonicalizeStrategies()
}

// DefaultRestartPolicy is the restart policy of a group that sets none.
func DefaultRestartPolicy(jobType string) *RestartPolicy {
	if jobType == JobTypeBatch || jobType == JobTypeSysBatch {
		return &RestartPolicy{
			Attempts: DefaultBatchAttempts,
			Interval: durationpb.New(24 * time.Hour),
			Delay:    durationpb.New(15 * time.Second),
			Mode:     RestartModeFail,
		}
	}
	return &RestartPolicy{
		Attempts: DefaultServiceAttempts,
		Interval: durationpb.New(30 * time.Minute),
		Delay:    durationpb.New(15 * time.Second),
		Mode:     RestartModeFail,
	}
}

var validJobID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.\-]*$`)

// Validate checks a canonicalized job and returns every problem at once as a
// *ValidationError, or nil.
func (j *Job) Validate(limits Limits) error {
	var p problems
	if j == nil {
		p.addf("", "job is missing")
		return p.err()
	}
	prefix := "job " + Quote(j.Id) + ": "
	switch {
	case j.Id == "":
		prefix = "job: "
		p.addf(prefix, "id is required")
	case len(j.Id) > maxJobIDLength:
		p.addf(prefix, "id is longer than %d characters", maxJobIDLength)
	case !validJobID.MatchString(j.Id):
		p.addf(prefix, "id may hold only letters, digits, '_', '-' and '.', and must start with a letter or digit")
	}
	if strings.ContainsRune(j.Name, 0) {
		p.addf(prefix, "name may not contain a NUL byte")
	}
	if j.Namespace == "" {
		p.addf(prefix, "namespace is required")
	}
	switch j.Type {
	case JobTypeService, JobTypeBatch, JobTypeSystem, JobTypeSysBatch:
	default:
		if !slices.Contains(limits.JobTypes, j.Type) {
			p.addf(prefix, "type %s is not one of service, batch, system, sysbatch%s", Quote(j.Type), extraTypes(limits.JobTypes))
		}
	}
	maxPrio := limits.MaxPriority
	if maxPrio == 0 {
		maxPrio = 100
	}
	if j.Priority < 1 || j.Priority > maxPrio {
		p.addf(prefix, "priority %d is outside 1..%d", j.Priority, maxPrio)
	}
	for i, dc := range j.Datacenters {
		if dc == "" {
			p.addf(prefix, "datacenter %d is empty", i)
		} else if _, err := path.Match(dc, ""); err != nil {
			p.addf(prefix, "datacenter %s is not a valid pattern", Quote(dc))
		}
	}
	validateConstraints(&p, prefix, j.Constraints)
	validatePlacement(&p, prefix, j.Affinities, j.Spreads)
	if j.Update != nil && j.Type != JobTypeService && j.Type != JobTypeSystem {
		p.addf(prefix, "update: job type %s does not allow an update block", Quote(j.Type))
	}
	if len(j.TaskGroups) == 0 {
		p.addf(prefix, "at least one group is required")
	}
	var total int64
	for _, tg := range j.TaskGroups {
		total += int64(max(tg.GetCount(), 0))
	}
	if limit := limits.maxCount(); limit >= 0 && total > limit {
		p.addf(prefix, "total count was greater than configured job_max_count: %d > %d", total, limit)
	}
	groups := map[string]bool{}
	for i, tg := range j.TaskGroups {
		if tg == nil {
			p.addf(prefix, "group %d is missing", i)
			continue
		}
		switch {
		case tg.Name == "":
			p.addf(prefix, "group %d: name is required", i)
		case groups[tg.Name]:
			p.addf(prefix, "group %s is defined more than once", Quote(tg.Name))
		default:
			if err := CheckPathName(tg.Name); err != nil {
				p.addf(prefix, "group %d: name %s: %v", i, Quote(tg.Name), err)
			}
		}
		groups[tg.Name] = true
		gp := prefix + "group " + Quote(tg.Name) + ": "
		tg.validate(&p, gp)
		validateStrategies(&p, gp, j.Type, tg)
		validateServices(&p, gp, tg)
	}
	j.validateBatch(&p, prefix)
	return p.err()
}

func (tg *TaskGroup) validate(p *problems, prefix string) {
	if tg.Count < 0 {
		p.addf(prefix, "count must be >= 0")
	}
	validateConstraints(p, prefix, tg.Constraints)
	validatePlacement(p, prefix, tg.Affinities, tg.Spreads)
	validateNetwork(p, prefix, tg.Network)
	validateReschedule(p, prefix, tg.ReschedulePolicy)
	if d := tg.MaxClientDisconnect; d != nil {
		if err := d.CheckValid(); err != nil {
			p.addf(prefix, "max_client_disconnect: %v", err)
		} else if d.AsDuration() < 0 {
			p.addf(prefix, "max_client_disconnect must be >= 0")
		}
	}
	if rp := tg.RestartPolicy; rp != nil {
		if rp.Attempts < 0 {
			p.addf(prefix, "restart: attempts must be >= 0")
		}
		if rp.Interval.AsDuration() < 0 || rp.Delay.AsDuration() < 0 {
			p.addf(prefix, "restart: interval and delay must be >= 0")
		}
		if rp.Mode != RestartModeFail && rp.Mode != RestartModeDelay {
			p.addf(prefix, "restart: mode %s is not one of fail, delay", Quote(rp.Mode))
		}
	}
	if len(tg.Tasks) == 0 {
		p.addf(prefix, "at least one task is required")
	}
	tasks := map[string]bool{}
	for i, t := range tg.Tasks {
		if t == nil {
			p.addf(prefix, "task %d is missing", i)
			continue
		}
		switch {
		case t.Name == "":
			p.addf(prefix, "task %d: name is required", i)
		case tasks[t.Name]:
			p.addf(prefix, "task %s is defined more than once", Quote(t.Name))
		case t.Name == ReservedTaskName:
			p.addf(prefix, "task %d: name %s is reserved for the allocation's shared directory", i, Quote(t.Name))
		default:
			// The task's name is its directory's and its log files'.
			if err := CheckPathName(t.Name); err != nil {
				p.addf(prefix, "task %d: name %s: %v", i, Quote(t.Name), err)
			}
		}
		tasks[t.Name] = true
		t.validate(p, prefix+"task "+Quote(t.Name)+": ")
	}
	tg.validateJobspecParts(p, prefix)
}

func (t *Task) validate(p *problems, prefix string) {
	if t.Driver == "" {
		p.addf(prefix, "driver is required")
	}
	if r := t.Resources; r != nil {
		if r.CpuMhz < 1 {
			p.addf(prefix, "resources: cpu must be >= 1 MHz")
		}
		if r.MemoryMb < minTaskMemoryMB {
			p.addf(prefix, "resources: memory must be >= %d MB", minTaskMemoryMB)
		}
		if r.MemoryMaxMb != 0 && r.MemoryMaxMb < r.MemoryMb {
			p.addf(prefix, "resources: memory_max must be 0 or >= memory")
		}
		if r.DiskMb < 0 {
			p.addf(prefix, "resources: disk must be >= 0 MB")
		}
	}
	if t.KillTimeout.AsDuration() < 0 {
		p.addf(prefix, "kill_timeout must be >= 0")
	}
	validateConstraints(p, prefix, t.Constraints)
	t.validateClientParts(p, prefix)
	validatePlacement(p, prefix, t.Affinities, nil)
}

func validateConstraints(p *problems, prefix string, cs []*Constraint) {
	for i, c := range cs {
		if c == nil {
			p.addf(prefix, "constraint %d is missing", i)
			continue
		}
		op := c.Operand
		if op == "" {
			op = "="
		}
		if !KnownConstraintOperand(op) {
			p.addf(prefix, "constraint %d: unknown operator %s", i, Quote(c.Operand))
			continue
		}
		switch op {
		case ConstraintRegex:
			if _, err := regexp.Compile(c.RTarget); err != nil {
				p.addf(prefix, "constraint %d: bad regexp %s: %s", i, Quote(c.RTarget), clipErr(err))
			}
		case ConstraintVersion, ConstraintSemver:
			if why := versionOperandProblem(op, c.RTarget); why != "" {
				p.addf(prefix, "constraint %d (%s %s %s): %s", i, Quote(c.LTarget), op, Quote(c.RTarget), why)
			}
		}
		if c.LTarget == "" && op != ConstraintDistinctHosts {
			p.addf(prefix, "constraint %d: attribute is required", i)
		}
	}
}

func extraTypes(types []string) string {
	if len(types) == 0 {
		return ""
	}
	s := slices.Clone(types)
	slices.Sort(s)
	return ", " + strings.Join(s, ", ")
}
