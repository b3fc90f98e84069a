package api

import (
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/droverhq/drover/structs"
)

// updateJSON is Nomad's UpdateStrategy; durations in nanoseconds. A field
// left out takes the job's (for a group) and then Nomad's default.
type updateJSON struct {
	Stagger          *int64
	MaxParallel      *int
	HealthCheck      *string
	MinHealthyTime   *int64
	HealthyDeadline  *int64
	ProgressDeadline *int64
	Canary           *int
	AutoRevert       *bool
	AutoPromote      *bool
}

// migrateJSON is Nomad's MigrateStrategy; durations in nanoseconds.
type migrateJSON struct {
	MaxParallel     *int
	HealthCheck     *string
	MinHealthyTime  *int64
	HealthyDeadline *int64
}

func optDuration(ns *int64) *durationpb.Duration {
	if ns == nil {
		return nil
	}
	return durationpb.New(time.Duration(*ns))
}

func optInt32(n *int) *int32 {
	if n == nil {
		return nil
	}
	return proto.Int32(int32(clampInt(*n)))
}

// updateFromJSON keeps which fields were given: the servers merge a
// group's block over the job's field by field.
func updateFromJSON(in *updateJSON) *structs.UpdateStrategy {
	if in == nil {
		return nil
	}
	return &structs.UpdateStrategy{
		MaxParallel: optInt32(in.MaxParallel), HealthCheck: in.HealthCheck, MinHealthyTime: optDuration(in.MinHealthyTime),
		HealthyDeadline: optDuration(in.HealthyDeadline), ProgressDeadline: optDuration(in.ProgressDeadline),
		AutoRevert: in.AutoRevert, AutoPromote: in.AutoPromote, Canary: optInt32(in.Canary), Stagger: optDuration(in.Stagger),
	}
}

// migrateFromJSON merges a group's migrate block over the job's, as
// Nomad's client does; nil when neither has one.
func migrateFromJSON(job, group *migrateJSON) *structs.MigrateStrategy {
	if job == nil && group == nil {
		return nil
	}
	m := &structs.MigrateStrategy{}
	for _, in := range []*migrateJSON{job, group} {
		if in == nil {
			continue
		}
		if in.MaxParallel != nil {
			m.MaxParallel = optInt32(in.MaxParallel)
		}
		if in.HealthCheck != nil {
			m.HealthCheck = proto.String(*in.HealthCheck)
		}
		if in.MinHealthyTime != nil {
			m.MinHealthyTime = optDuration(in.MinHealthyTime)
		}
		if in.HealthyDeadline != nil {
			m.HealthyDeadline = optDuration(in.HealthyDeadline)
		}
	}
	return m
}

func nanos(d *durationpb.Duration) *int64 {
	if d == nil {
		return nil
	}
	return ptr(int64(d.AsDuration()))
}

func optInt(n *int32) *int {
	if n == nil {
		return nil
	}
	return ptr(int(*n))
}

// updateToJSON renders a strategy; nil stays nil.
func updateToJSON(u *structs.UpdateStrategy) *updateJSON {
	if u == nil {
		return nil
	}
	return &updateJSON{
		Stagger: nanos(u.Stagger), MaxParallel: optInt(u.MaxParallel), HealthCheck: u.HealthCheck,
		MinHealthyTime: nanos(u.MinHealthyTime), HealthyDeadline: nanos(u.HealthyDeadline),
		ProgressDeadline: nanos(u.ProgressDeadline), Canary: optInt(u.Canary), AutoRevert: u.AutoRevert,
		AutoPromote: u.AutoPromote,
	}
}

// jobUpdateToJSON renders a job's own update block as the servers apply
// it: over Nomad's defaults.
func jobUpdateToJSON(u *structs.UpdateStrategy) *updateJSON {
	if u == nil {
		return nil
	}
	return updateToJSON(structs.MergeUpdate(structs.DefaultUpdateStrategy(), u))
}

func migrateToJSON(m *structs.MigrateStrategy) *migrateJSON {
	if m == nil {
		return nil
	}
	return &migrateJSON{MaxParallel: optInt(m.MaxParallel), HealthCheck: m.HealthCheck,
		MinHealthyTime: nanos(m.MinHealthyTime), HealthyDeadline: nanos(m.HealthyDeadline)}
}
