package state

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/structs"
)

// Field numbers of structs.StateSnapshot that Walk tags objects with and
// Restorer.Add accepts: each object is one element of that field.
const (
	FieldJobs             protowire.Number = 2
	FieldNodes            protowire.Number = 3
	FieldAllocations      protowire.Number = 4
	FieldEvals            protowire.Number = 5
	FieldJobVersions      protowire.Number = 100
	FieldSchedulerConfig  protowire.Number = 101
	FieldACLPolicies      protowire.Number = 102
	FieldACLTokens        protowire.Number = 103
	FieldClusterMeta      protowire.Number = 104
	FieldDeployments      protowire.Number = 110
	FieldServices         protowire.Number = 140
	FieldVariables        protowire.Number = 141
	FieldRootKeys         protowire.Number = 142
	FieldPeriodicLaunches protowire.Number = 130
	FieldScalingEvents    protowire.Number = 131
)

// Walk calls fn with every object of the snapshot, one at a time, tagged
// with the number of the structs.StateSnapshot field that holds it: the
// scheduler configuration and the cluster's singletons first, then jobs,
// job versions, nodes, allocations, evaluations, ACL policies, ACL
// tokens, deployments, service registrations, root keys and variables,
// each in key order. It stops at the first
// error fn returns. Nothing is copied: a snapshot of any size streams in
// constant memory.
func (s *Snapshot) Walk(fn func(field protowire.Number, m proto.Message) error) error {
	if c := s.t.schedConfig; c != nil {
		if err := fn(FieldSchedulerConfig, c); err != nil {
			return err
		}
	}
	if m := s.t.meta; m != nil {
		if err := fn(FieldClusterMeta, m); err != nil {
			return err
		}
	}
	var err error
	visit := func(field protowire.Number) func(proto.Message) bool {
		return func(m proto.Message) bool {
			err = fn(field, m)
			return err == nil
		}
	}
	walkAs(s.t.jobs, visit(FieldJobs))
	if err == nil {
		walkAs(s.t.jobVersions, visit(FieldJobVersions))
	}
	if err == nil {
		walkAs(s.t.nodes, visit(FieldNodes))
	}
	if err == nil {
		walkAs(s.t.allocs, visit(FieldAllocations))
	}
	if err == nil {
		walkAs(s.t.evals, visit(FieldEvals))
	}
	if err == nil {
		walkAs(s.t.aclPolicies, visit(FieldACLPolicies))
	}
	if err == nil {
		walkAs(s.t.aclTokens, visit(FieldACLTokens))
	}
	if err == nil {
		walkAs(s.t.deployments, visit(FieldDeployments))
	}
	if err == nil {
		walkAs(s.t.services, visit(FieldServices))
	}
	if err == nil {
		walkAs(s.t.rootKeys, visit(FieldRootKeys))
	}
	if err == nil {
		walkAs(s.t.variables, visit(FieldVariables))
	}
	if err == nil {
		walkAs(s.t.periodicLaunches, visit(FieldPeriodicLaunches))
	}
	if err == nil {
		walkAs(s.t.scalingEvents, visit(FieldScalingEvents))
	}
	return err
}

func walkAs[T proto.Message](t btree[T], f func(proto.Message) bool) {
	t.walkPrefix("", func(_ string, v T) bool { return f(v) })
}

// Restorer builds a whole new state from objects added one at a time (as
// Walk produced them), away from the store: readers keep seeing the old
// state until Install swaps the new one in at once. A Restorer may collect
// objects over several raft entries.
type Restorer struct {
	tx      *Txn
	sharing planSharing
}

// NewRestorer starts an empty state.
func NewRestorer() *Restorer {
	return &Restorer{tx: &Txn{o: &owner{}}, sharing: planSharing{copyMetrics: true}}
}

// Add takes one object, tagged with its StateSnapshot field number. An
// object of the wrong type for its field is refused with ErrBadRequest.
func (r *Restorer) Add(field protowire.Number, m proto.Message) error {
	ok := false
	switch field {
	case FieldJobs:
		var j *structs.Job
		if j, ok = m.(*structs.Job); ok {
			r.job(j)
		}
	case FieldJobVersions:
		var j *structs.Job
		if j, ok = m.(*structs.Job); ok {
			r.jobVersion(j)
		}
	case FieldNodes:
		var n *structs.Node
		if n, ok = m.(*structs.Node); ok {
			r.tx.UpsertNode(n)
		}
	case FieldAllocations:
		var a *structs.Allocation
		if a, ok = m.(*structs.Allocation); ok {
			r.alloc(a)
		}
	case FieldEvals:
		var e *structs.Evaluation
		if e, ok = m.(*structs.Evaluation); ok {
			r.tx.UpsertEval(e)
		}
	case FieldSchedulerConfig:
		var c *structs.SchedulerConfiguration
		if c, ok = m.(*structs.SchedulerConfiguration); ok {
			r.tx.SetSchedulerConfig(c)
		}
	case FieldACLPolicies:
		var p *structs.ACLPolicy
		if p, ok = m.(*structs.ACLPolicy); ok {
			r.tx.UpsertACLPolicy(p)
		}
	case FieldACLTokens:
		var t *structs.ACLToken
		if t, ok = m.(*structs.ACLToken); ok {
			r.tx.UpsertACLToken(t)
		}
	case FieldClusterMeta:
		var c *structs.ClusterMeta
		if c, ok = m.(*structs.ClusterMeta); ok {
			r.tx.t.meta = c
		}
	case FieldDeployments:
		var d *structs.Deployment
		if d, ok = m.(*structs.Deployment); ok {
			r.tx.UpsertDeployment(d)
		}
	case FieldServices:
		var sr *structs.ServiceRegistration
		if sr, ok = m.(*structs.ServiceRegistration); ok {
			r.tx.UpsertServiceRegistration(sr)
		}
	case FieldVariables:
		var v *structs.Variable
		if v, ok = m.(*structs.Variable); ok {
			r.tx.UpsertVariable(v)
		}
	case FieldRootKeys:
		var k *structs.RootKey
		if k, ok = m.(*structs.RootKey); ok {
			r.tx.UpsertRootKey(k)
		}
	case FieldPeriodicLaunches:
		var l *structs.PeriodicLaunch
		if l, ok = m.(*structs.PeriodicLaunch); ok {
			r.tx.SetPeriodicLaunch(l)
		}
	case FieldScalingEvents:
		var e *structs.JobScalingEvents
		if e, ok = m.(*structs.JobScalingEvents); ok {
			r.tx.t.scalingEvents = r.tx.t.scalingEvents.set(r.tx.o, key(e.Namespace, e.JobId), e)
		}
	default:
		return fmt.Errorf("%w: state snapshot field %d is not an object table", structs.ErrBadRequest, field)
	}
	if !ok {
		return fmt.Errorf("%w: state snapshot field %d cannot hold a %T", structs.ErrBadRequest, field, m)
	}
	return nil
}

// NewMessage returns an empty object of the type field holds, to decode a
// record into, or nil for a field that holds no objects.
func NewMessage(field protowire.Number) proto.Message {
	switch field {
	case FieldJobs, FieldJobVersions:
		return &structs.Job{}
	case FieldNodes:
		return &structs.Node{}
	case FieldAllocations:
		return &structs.Allocation{}
	case FieldEvals:
		return &structs.Evaluation{}
	case FieldSchedulerConfig:
		return &structs.SchedulerConfiguration{}
	case FieldACLPolicies:
		return &structs.ACLPolicy{}
	case FieldACLTokens:
		return &structs.ACLToken{}
	case FieldClusterMeta:
		return &structs.ClusterMeta{}
	case FieldDeployments:
		return &structs.Deployment{}
	case FieldServices:
		return &structs.ServiceRegistration{}
	case FieldVariables:
		return &structs.Variable{}
	case FieldRootKeys:
		return &structs.RootKey{}
	case FieldPeriodicLaunches:
		return &structs.PeriodicLaunch{}
	case FieldScalingEvents:
		return &structs.JobScalingEvents{}
	}
	return nil
}

func (r *Restorer) job(j *structs.Job) { r.tx.UpsertJob(j) }

// alloc stores a copy of a that shares what it repeats with the
// allocations restored before it (a is left as it is: the objects of a
// snapshot may still be in use where they came from), its indexes as
// they were.
func (r *Restorer) alloc(a *structs.Allocation) {
	c := cloneAlloc(a)
	r.sharing.share(c)
	r.tx.upsertAlloc(c, r.tx.Alloc(c.Id), true)
}

func (r *Restorer) jobVersion(j *structs.Job) {
	r.tx.t.jobVersions = r.tx.t.jobVersions.set(r.tx.o, versionKey(j.Namespace, j.Id, j.Version), j)
}

// Install replaces the whole content of the store with what r collected,
// at index, and wakes blocked readers. r must not be used afterwards.
func (s *Store) Install(r *Restorer, index uint64) {
	r.tx.finishSummaries()
	t := r.tx.t
	r.tx.o = nil
	t.index = index
	s.writeMu.Lock()
	s.publish(t)
	s.allocsRestored(index)
	s.writeMu.Unlock()
}
