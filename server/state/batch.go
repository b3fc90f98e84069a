package state

import (
	"maps"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/structs"
)

// The state of batch platforms: the latest scheduled launch of every
// periodic job, and the scaling history of every scaled job. Children of
// periodic and parameterized jobs are ordinary jobs whose id is their
// parent's followed by "/": they are found by a prefix scan of the jobs
// table, in the order of their ids.

// PeriodicLaunch returns the job's recorded latest launch, or nil.
func (s *Snapshot) PeriodicLaunch(ns, id string) *structs.PeriodicLaunch {
	l, _ := s.t.periodicLaunches.get(key(ns, id))
	return l
}

// PeriodicLaunch returns the job's recorded latest launch within the transaction, or nil.
func (tx *Txn) PeriodicLaunch(ns, id string) *structs.PeriodicLaunch {
	l, _ := tx.t.periodicLaunches.get(key(ns, id))
	return l
}

// SetPeriodicLaunch records a job's latest launch.
func (tx *Txn) SetPeriodicLaunch(l *structs.PeriodicLaunch) {
	tx.t.periodicLaunches = tx.t.periodicLaunches.set(tx.o, key(l.Namespace, l.JobId), l)
}

// ScalingEvents returns the job's scaling history, or nil.
func (s *Snapshot) ScalingEvents(ns, id string) *structs.JobScalingEvents {
	e, _ := s.t.scalingEvents.get(key(ns, id))
	return e
}

// AddScalingEvent appends an event to a group's history, keeping the
// latest structs.MaxScalingEvents of it.
func (tx *Txn) AddScalingEvent(ns, id, group string, index uint64, ev *structs.ScalingEvent) {
	old, _ := tx.t.scalingEvents.get(key(ns, id))
	upd := &structs.JobScalingEvents{Namespace: ns, JobId: id, Groups: map[string]*structs.ScalingEventList{}, ModifyIndex: index}
	if old != nil {
		maps.Copy(upd.Groups, old.Groups)
	}
	var events []*structs.ScalingEvent
	if l := upd.Groups[group]; l != nil {
		events = append(events, l.Events...)
	}
	events = append(events, ev)
	if n := len(events) - structs.MaxScalingEvents; n > 0 {
		events = events[n:]
	}
	upd.Groups[group] = &structs.ScalingEventList{Events: events}
	tx.t.scalingEvents = tx.t.scalingEvents.set(tx.o, key(ns, id), upd)
}

// deleteBatchState drops what the tables above hold of a removed job.
func (tx *Txn) deleteBatchState(ns, id string) {
	tx.t.periodicLaunches = tx.t.periodicLaunches.del(tx.o, key(ns, id))
	tx.t.scalingEvents = tx.t.scalingEvents.del(tx.o, key(ns, id))
}

// childPrefix is the key prefix of a job's children.
func childPrefix(ns, id string) string { return key(ns, id+"/") }

// JobChildren lists the children of a periodic or parameterized job, in
// id order.
func (s *Snapshot) JobChildren(ns, id string) []*structs.Job {
	var out []*structs.Job
	s.EachJobChild(ns, id, func(j *structs.Job) bool {
		out = append(out, j)
		return true
	})
	return out
}

// EachJobChild calls f for the job's children in id order until f returns false.
func (s *Snapshot) EachJobChild(ns, id string, f func(*structs.Job) bool) {
	each(s.t.jobs, childPrefix(ns, id), func(j *structs.Job) bool {
		if j.ParentId != id || strings.Contains(j.Id[len(id)+1:], "/") {
			return true
		}
		return f(j)
	})
}

// EachJobChild calls f for the job's children within the transaction.
func (tx *Txn) EachJobChild(ns, id string, f func(*structs.Job) bool) {
	(&Snapshot{t: tx.t}).EachJobChild(ns, id, f)
}

// ChildrenSummary counts a parent job's children by status.
func (s *Snapshot) ChildrenSummary(ns, id string) *structs.JobChildrenSummary {
	c := &structs.JobChildrenSummary{}
	s.EachJobChild(ns, id, func(j *structs.Job) bool {
		switch j.Status {
		case structs.JobStatusRunning:
			c.Running++
		case structs.JobStatusDead:
			c.Dead++
		default:
			c.Pending++
		}
		return true
	})
	return c
}

// CloneScalingEvent deep-copies a scaling event (nil stays nil).
func CloneScalingEvent(e *structs.ScalingEvent) *structs.ScalingEvent {
	if e == nil {
		return nil
	}
	return proto.Clone(e).(*structs.ScalingEvent)
}

// CloneEval deep-copies an evaluation.
func CloneEval(e *structs.Evaluation) *structs.Evaluation {
	return proto.Clone(e).(*structs.Evaluation)
}
