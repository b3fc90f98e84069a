package structs

import (
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Health check kinds of the update and migrate blocks.
const (
	// HealthCheckChecks: healthy once every task runs and every service
	// check passes, for min_healthy_time. A group without checks is
	// judged by its task states.
	HealthCheckChecks = "checks"
	// HealthCheckTaskStates: healthy once every task has run for
	// min_healthy_time.
	HealthCheckTaskStates = "task_states"
	// HealthCheckManual: an operator sets the health (SetAllocHealth).
	HealthCheckManual = "manual"
)

// Nomad's defaults of the update block, applied to the fields a job and
// its group leave out.
const (
	DefaultUpdateMaxParallel      = 1
	DefaultUpdateMinHealthyTime   = 10 * time.Second
	DefaultUpdateHealthyDeadline  = 5 * time.Minute
	DefaultUpdateProgressDeadline = 10 * time.Minute
	DefaultUpdateStagger          = 30 * time.Second
)

// DefaultUpdateStrategy is Nomad's update block: one allocation at a
// time, healthy after 10 s of passing checks within 5 min, the
// deployment failed after 10 min without progress.
func DefaultUpdateStrategy() *UpdateStrategy {
	return &UpdateStrategy{
		MaxParallel: proto.Int32(DefaultUpdateMaxParallel), HealthCheck: proto.String(HealthCheckChecks),
		MinHealthyTime:   durationpb.New(DefaultUpdateMinHealthyTime),
		HealthyDeadline:  durationpb.New(DefaultUpdateHealthyDeadline),
		ProgressDeadline: durationpb.New(DefaultUpdateProgressDeadline),
		AutoRevert:       proto.Bool(false), AutoPromote: proto.Bool(false), Canary: proto.Int32(0),
		Stagger: durationpb.New(DefaultUpdateStagger),
	}
}

// DefaultMigrateStrategy is Nomad's migrate block: one allocation at a
// time, its replacement healthy after 10 s of passing checks within 5 min.
func DefaultMigrateStrategy() *MigrateStrategy {
	return &MigrateStrategy{
		MaxParallel: proto.Int32(1), HealthCheck: proto.String(HealthCheckChecks),
		MinHealthyTime:  durationpb.New(DefaultUpdateMinHealthyTime),
		HealthyDeadline: durationpb.New(DefaultUpdateHealthyDeadline),
	}
}

// Rolling reports whether the strategy asks for rolling updates tracked by
// a deployment: max_parallel above zero.
func (u *UpdateStrategy) Rolling() bool { return u.GetMaxParallel() > 0 }

// MergeUpdate returns over's fields over base's, field by field (nil
// when both are nil). Neither is modified.
func MergeUpdate(base, over *UpdateStrategy) *UpdateStrategy {
	if base == nil && over == nil {
		return nil
	}
	out := proto.CloneOf(base)
	if out == nil {
		out = &UpdateStrategy{}
	}
	if over == nil {
		return out
	}
	if over.MaxParallel != nil {
		out.MaxParallel = proto.Int32(*over.MaxParallel)
	}
	if over.HealthCheck != nil {
		out.HealthCheck = proto.String(*over.HealthCheck)
	}
	if over.AutoRevert != nil {
		out.AutoRevert = proto.Bool(*over.AutoRevert)
	}
	if over.AutoPromote != nil {
		out.AutoPromote = proto.Bool(*over.AutoPromote)
	}
	if over.Canary != nil {
		out.Canary = proto.Int32(*over.Canary)
	}
	if over.MinHealthyTime != nil {
		out.MinHealthyTime = proto.CloneOf(over.MinHealthyTime)
	}
	if over.HealthyDeadline != nil {
		out.HealthyDeadline = proto.CloneOf(over.HealthyDeadline)
	}
	if over.ProgressDeadline != nil {
		out.ProgressDeadline = proto.CloneOf(over.ProgressDeadline)
	}
	if over.Stagger != nil {
		out.Stagger = proto.CloneOf(over.Stagger)
	}
	return out
}

// canonicalizeMigrate fills in a migrate block's unset fields.
func canonicalizeMigrate(m *MigrateStrategy) {
	d := DefaultMigrateStrategy()
	if m.MaxParallel == nil {
		m.MaxParallel = d.MaxParallel
	}
	if m.HealthCheck == nil {
		m.HealthCheck = d.HealthCheck
	}
	if m.MinHealthyTime == nil {
		m.MinHealthyTime = d.MinHealthyTime
	}
	if m.HealthyDeadline == nil {
		m.HealthyDeadline = d.HealthyDeadline
	}
}

// canonicalizeStrategies gives every group of a service or system job the
// update block in force for it (its own fields over the job's over the
// defaults), the defaults of a migrate block it sets, and names and
// defaults of its services and checks.
func (j *Job) canonicalizeStrategies() {
	for _, tg := range j.TaskGroups {
		if tg == nil {
			continue
		}
		if j.Type == JobTypeService || j.Type == JobTypeSystem {
			if u := MergeUpdate(j.Update, tg.Update); u != nil {
				tg.Update = MergeUpdate(DefaultUpdateStrategy(), u)
			}
		}
		if tg.Migrate != nil {
			canonicalizeMigrate(tg.Migrate)
		}
		canonicalizeServices(j, tg)
	}
}

// validateStrategies checks a group's update and migrate blocks, each
// problem naming its field.
func validateStrategies(p *problems, prefix, jobType string, tg *TaskGroup) {
	if u := tg.Update; u != nil {
		if jobType != JobTypeService && jobType != JobTypeSystem {
			p.addf(prefix, "update: job type %s does not allow an update block", Quote(jobType))
		}
		validateUpdate(p, prefix+"update: ", u)
	}
	if m := tg.Migrate; m != nil {
		if jobType != JobTypeService {
			p.addf(prefix, "migrate: job type %s does not allow a migrate block", Quote(jobType))
		}
		if m.GetMaxParallel() < 0 {
			p.addf(prefix, "migrate: max_parallel must be >= 0, got %d", m.GetMaxParallel())
		}
		switch m.GetHealthCheck() {
		case HealthCheckChecks, HealthCheckTaskStates:
		default:
			p.addf(prefix, "migrate: health_check %s is not one of checks, task_states", Quote(m.GetHealthCheck()))
		}
		if m.MinHealthyTime.AsDuration() < 0 {
			p.addf(prefix, "migrate: min_healthy_time must be >= 0")
		}
		if m.HealthyDeadline.AsDuration() < 0 {
			p.addf(prefix, "migrate: healthy_deadline must be >= 0")
		}
	}
}

// validateUpdate applies Nomad's rules to a canonicalized update block.
func validateUpdate(p *problems, prefix string, u *UpdateStrategy) {
	switch u.GetHealthCheck() {
	case HealthCheckChecks, HealthCheckTaskStates, HealthCheckManual:
	default:
		p.addf(prefix, "health_check %s is not one of checks, task_states, manual", Quote(u.GetHealthCheck()))
	}
	if u.GetMaxParallel() < 0 {
		p.addf(prefix, "max_parallel must be >= 0, got %d", u.GetMaxParallel())
	}
	if u.GetCanary() < 0 {
		p.addf(prefix, "canary must be >= 0, got %d", u.GetCanary())
	}
	if u.GetCanary() == 0 && u.GetAutoPromote() {
		p.addf(prefix, "auto_promote needs canary > 0")
	}
	minHealthy, healthy := u.MinHealthyTime.AsDuration(), u.HealthyDeadline.AsDuration()
	progress := u.ProgressDeadline.AsDuration()
	if minHealthy < 0 {
		p.addf(prefix, "min_healthy_time must be >= 0, got %s", minHealthy)
	}
	if healthy <= 0 {
		p.addf(prefix, "healthy_deadline must be > 0, got %s", healthy)
	}
	if progress < 0 {
		p.addf(prefix, "progress_deadline must be >= 0, got %s", progress)
	}
	if minHealthy >= healthy && healthy > 0 {
		p.addf(prefix, "min_healthy_time (%s) must be less than healthy_deadline (%s)", minHealthy, healthy)
	}
	if progress != 0 && healthy >= progress {
		p.addf(prefix, "healthy_deadline (%s) must be less than progress_deadline (%s)", healthy, progress)
	}
	if u.Stagger.AsDuration() <= 0 {
		p.addf(prefix, "stagger must be > 0, got %s", u.Stagger.AsDuration())
	}
	for name, d := range map[string]*durationpb.Duration{
		"min_healthy_time": u.MinHealthyTime, "healthy_deadline": u.HealthyDeadline,
		"progress_deadline": u.ProgressDeadline, "stagger": u.Stagger,
	} {
		if d != nil && d.CheckValid() != nil {
			p.addf(prefix, "%s: %v", name, d.CheckValid())
		}
	}
}

// UpdateOf returns the update block in force for a group of job, or nil:
// only service jobs are rolled out by deployments.
func UpdateOf(job *Job, group string) *UpdateStrategy {
	if job.GetType() != JobTypeService {
		return nil
	}
	for _, tg := range job.GetTaskGroups() {
		if tg.GetName() == group {
			if tg.GetUpdate().Rolling() {
				return tg.Update
			}
			return nil
		}
	}
	return nil
}
