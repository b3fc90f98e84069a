package structs

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/cronexpr"
)

// Batch platforms: periodic jobs launched on a cron schedule, parameterized
// jobs dispatched with a payload, and the scaling bounds of a group.

// Values of ParameterizedJobConfig.Payload.
const (
	DispatchPayloadOptional  = "optional"
	DispatchPayloadRequired  = "required"
	DispatchPayloadForbidden = "forbidden"
)

// Evaluation triggers of batch platforms, as Nomad names them.
const (
	EvalTriggerPeriodicJob = "periodic-job"
	EvalTriggerScaling     = "job-scaling"
)

const (
	// DispatchPayloadSizeLimit bounds a dispatched payload, as in Nomad.
	DispatchPayloadSizeLimit = 16 * 1024
	// PeriodicLaunchSuffix and DispatchLaunchSuffix start the last part of
	// a child job's id: <parent>/periodic-<unix>, <parent>/dispatch-<unix>-<8 hex>.
	PeriodicLaunchSuffix = "/periodic-"
	DispatchLaunchSuffix = "/dispatch-"
	// MaxScalingEvents is how many scaling events are kept per group.
	MaxScalingEvents = 20
	// maxCronSpecs bounds the crons of one periodic block.
	maxCronSpecs = 64
	// maxDispatchMeta bounds the meta keys a parameterized job declares.
	maxDispatchMeta = 256
)

// IsPeriodic reports whether the job is a periodic template.
func (j *Job) IsPeriodic() bool { return j.GetPeriodic() != nil }

// IsParameterized reports whether the job is a parameterized template.
func (j *Job) IsParameterized() bool { return j.GetParameterized() != nil }

// IsParent reports whether the job is a template that never runs itself:
// periodic or parameterized. Its children run.
func (j *Job) IsParent() bool { return j.IsPeriodic() || j.IsParameterized() }

// Location is the time zone the crons are read in (UTC when unset).
func (p *PeriodicConfig) Location() (*time.Location, error) {
	if p.GetTimeZone() == "" {
		return time.UTC, nil
	}
	return time.LoadLocation(p.GetTimeZone())
}

// Next returns the earliest launch time of any cron strictly after
// after, read in the block's time zone; the zero time when none comes. A
// wall-clock time that happens twice, when the clocks go back, launches
// once: at its first occurrence.
func (p *PeriodicConfig) Next(after time.Time) (time.Time, error) {
	loc, err := p.Location()
	if err != nil {
		return time.Time{}, err
	}
	var next time.Time
	for _, spec := range p.GetSpecs() {
		e, err := cronexpr.Parse(spec)
		if err != nil {
			return time.Time{}, fmt.Errorf("cron %s: %w", Quote(spec), err)
		}
		n := e.Next(after.In(loc))
		for range 4 {
			if n.IsZero() || !repeatedWallClock(n) {
				break
			}
			n = e.Next(n)
		}
		if !n.IsZero() && (next.IsZero() || n.Before(next)) {
			next = n
		}
	}
	return next, nil
}

// repeatedWallClock reports whether t's wall-clock time already happened
// earlier, before the zone's clocks went back.
func repeatedWallClock(t time.Time) bool {
	_, now := t.Zone()
	_, before := t.Add(-3 * time.Hour).Zone()
	shift := time.Duration(before-now) * time.Second
	if shift <= 0 {
		return false
	}
	earlier := t.Add(-shift)
	_, off := earlier.Zone()
	return off == before && earlier.Format(time.DateTime) == t.Format(time.DateTime)
}

// LatestDue returns the latest launch time in (after, now], or the zero
// time when none is due: after a long outage only the latest missed
// launch runs, as in Nomad. It walks the crons at most maxSteps times.
func (p *PeriodicConfig) LatestDue(after, now time.Time) (time.Time, error) {
	const maxSteps = 10000
	var due time.Time
	t := after
	for range maxSteps {
		n, err := p.Next(t)
		if err != nil || n.IsZero() || n.After(now) {
			return due, err
		}
		due, t = n, n
	}
	// Crons much finer than the outage: the latest one is near now.
	n, err := p.Next(now.Add(-time.Minute))
	for err == nil && !n.IsZero() && !n.After(now) {
		due = n
		n, err = p.Next(n)
	}
	return due, err
}

// validateBatch checks the job's periodic, parameterized, scaling and
// dispatch_payload blocks.
func (j *Job) validateBatch(p *problems, prefix string) {
	batchType := j.Type == JobTypeBatch || j.Type == JobTypeSysBatch
	if pc := j.Periodic; pc != nil {
		pp := prefix + "periodic: "
		if !batchType {
			p.addf(pp, "only batch and sysbatch jobs can be periodic, not %s", Quote(j.Type))
		}
		if len(pc.Specs) == 0 {
			p.addf(pp, "at least one cron is required")
		}
		if len(pc.Specs) > maxCronSpecs {
			p.addf(pp, "at most %d crons are allowed", maxCronSpecs)
		}
		for _, spec := range pc.Specs {
			if _, err := cronexpr.Parse(spec); err != nil {
				p.addf(pp, "cron %s is invalid: %v", Quote(spec), err)
			}
		}
		if _, err := pc.Location(); err != nil {
			p.addf(pp, "time_zone %s is invalid: %v", Quote(pc.TimeZone), err)
		}
		if j.Parameterized != nil {
			p.addf(pp, "a job cannot be both periodic and parameterized")
		}
	}
	if pj := j.Parameterized; pj != nil {
		pp := prefix + "parameterized: "
		if !batchType {
			p.addf(pp, "only batch and sysbatch jobs can be parameterized, not %s", Quote(j.Type))
		}
		switch pj.Payload {
		case "", DispatchPayloadOptional, DispatchPayloadRequired, DispatchPayloadForbidden:
		default:
			p.addf(pp, "payload %s is not one of optional, required, forbidden", Quote(pj.Payload))
		}
		if len(pj.MetaRequired)+len(pj.MetaOptional) > maxDispatchMeta {
			p.addf(pp, "at most %d meta keys may be declared", maxDispatchMeta)
		}
		for _, k := range pj.MetaRequired {
			if slices.Contains(pj.MetaOptional, k) {
				p.addf(pp, "meta key %s is both required and optional", Quote(k))
			}
			if k == "" || strings.ContainsRune(k, 0) {
				p.addf(pp, "meta key %s is empty or holds a NUL byte", Quote(k))
			}
		}
	}
	for _, tg := range j.TaskGroups {
		if tg == nil {
			continue
		}
		gp := prefix + "group " + Quote(tg.Name) + ": "
		if s := tg.Scaling; s != nil {
			switch {
			case j.Type == JobTypeSystem || j.Type == JobTypeSysBatch:
				p.addf(gp, "scaling: %s jobs cannot be scaled", j.Type)
			case s.Max < 0 || s.Min < 0:
				p.addf(gp, "scaling: min and max must be >= 0")
			case s.Min > s.Max:
				p.addf(gp, "scaling: min %d is greater than max %d", s.Min, s.Max)
			case int64(tg.Count) < s.Min || int64(tg.Count) > s.Max:
				p.addf(gp, "count %d is outside the scaling bounds [%d, %d]", tg.Count, s.Min, s.Max)
			}
		}
		for _, t := range tg.Tasks {
			if t.GetDispatchPayload() == nil {
				continue
			}
			tp := gp + "task " + Quote(t.Name) + ": dispatch_payload: "
			if !j.IsParameterized() && !j.Dispatched {
				p.addf(tp, "only tasks of parameterized jobs take a payload")
			}
			f := t.DispatchPayload.File
			if f == "" {
				p.addf(tp, "file is required")
			} else if why := checkRelativePath(f); why != "" {
				p.addf(tp, "file %s %s", Quote(f), why)
			}
		}
	}
}

// ValidateDispatch checks a dispatch of the parameterized job j: payload
// against its payload rule and size limit, meta against the declared
// keys. It returns every problem at once, naming the keys.
func (j *Job) ValidateDispatch(payload []byte, meta map[string]string) error {
	var p problems
	prefix := "dispatch of job " + Quote(j.GetId()) + ": "
	pj := j.GetParameterized()
	if pj == nil {
		p.addf(prefix, "the job is not parameterized")
		return p.err()
	}
	switch {
	case len(payload) > DispatchPayloadSizeLimit:
		p.addf(prefix, "payload of %d bytes exceeds the limit of %d bytes", len(payload), DispatchPayloadSizeLimit)
	case pj.Payload == DispatchPayloadRequired && len(payload) == 0:
		p.addf(prefix, "a payload is required")
	case pj.Payload == DispatchPayloadForbidden && len(payload) > 0:
		p.addf(prefix, "a payload is forbidden")
	}
	for _, k := range slices.Sorted(maps.Keys(meta)) {
		if !slices.Contains(pj.MetaRequired, k) && !slices.Contains(pj.MetaOptional, k) {
			p.addf(prefix, "meta key %s is not allowed (neither in meta_required nor in meta_optional)", Quote(k))
		}
	}
	for _, k := range pj.MetaRequired {
		if _, ok := meta[k]; !ok {
			p.addf(prefix, "required meta key %s is missing", Quote(k))
		}
	}
	return p.err()
}

// ValidateScale checks a scale of group to count against the group's
// scaling bounds.
func (j *Job) ValidateScale(group string, count int64) error {
	var p problems
	prefix := "scale of job " + Quote(j.GetId()) + ": "
	var tg *TaskGroup
	for _, g := range j.GetTaskGroups() {
		if g.Name == group {
			tg = g
		}
	}
	switch {
	case tg == nil:
		p.addf(prefix, "group %s does not exist", Quote(group))
	case j.Type == JobTypeSystem || j.Type == JobTypeSysBatch:
		p.addf(prefix, "%s jobs cannot be scaled", j.Type)
	case j.IsParent():
		p.addf(prefix, "periodic and parameterized jobs cannot be scaled (their children run)")
	case count < 0:
		p.addf(prefix, "count %d must be >= 0", count)
	case tg.Scaling != nil && count > tg.Scaling.Max:
		p.addf(prefix, "group %s: count %d is greater than the scaling policy's max %d", Quote(group), count, tg.Scaling.Max)
	case tg.Scaling != nil && count < tg.Scaling.Min:
		p.addf(prefix, "group %s: count %d is less than the scaling policy's min %d", Quote(group), count, tg.Scaling.Min)
	case count > 1<<31-1:
		p.addf(prefix, "count %d is too large", count)
	}
	return p.err()
}
