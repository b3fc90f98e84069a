package state

import (
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/structs"
)

// Deployments are stored by id, indexed by job (namespace\x00job\x00id)
// and, while running or paused, in the active set the leader's watcher
// walks. Their per-group counts (placed, healthy, unhealthy, canaries)
// are kept by the transactions that place allocations and record their
// health (TrackDeploymentAlloc), as Nomad keeps them: they count events,
// so they are stored, not derived, and restored as they are.

// Deployment returns a deployment read within the transaction, or nil.
func (tx *Txn) Deployment(id string) *structs.Deployment {
	d, _ := tx.t.deployments.get(id)
	return d
}

// UpsertDeployment stores a deployment and indexes it.
func (tx *Txn) UpsertDeployment(d *structs.Deployment) {
	if old := tx.Deployment(d.Id); old != nil && (old.Namespace != d.Namespace || old.JobId != d.JobId) {
		tx.t.deploymentsByJob = tx.t.deploymentsByJob.del(tx.o, key(old.Namespace, old.JobId, old.Id))
	}
	tx.t.deployments = tx.t.deployments.set(tx.o, d.Id, d)
	tx.t.deploymentsByJob = tx.t.deploymentsByJob.set(tx.o, key(d.Namespace, d.JobId, d.Id), d)
	if d.Active() {
		tx.t.deploymentsActive = tx.t.deploymentsActive.set(tx.o, d.Id, d)
	} else {
		tx.t.deploymentsActive = tx.t.deploymentsActive.del(tx.o, d.Id)
	}
}

// DeleteDeployment removes a deployment.
func (tx *Txn) DeleteDeployment(id string) {
	old := tx.Deployment(id)
	if old == nil {
		return
	}
	tx.t.deployments = tx.t.deployments.del(tx.o, id)
	tx.t.deploymentsByJob = tx.t.deploymentsByJob.del(tx.o, key(old.Namespace, old.JobId, id))
	tx.t.deploymentsActive = tx.t.deploymentsActive.del(tx.o, id)
}

// LatestDeployment returns the job's most recently created deployment
// within the transaction, or nil.
func (tx *Txn) LatestDeployment(ns, jobID string) *structs.Deployment {
	return latest(collect(tx.t.deploymentsByJob, prefixKey(ns, jobID)))
}

func latest(ds []*structs.Deployment) *structs.Deployment {
	var out *structs.Deployment
	for _, d := range ds {
		if out == nil || d.CreateIndex > out.CreateIndex {
			out = d
		}
	}
	return out
}

// CloneDeployment deep-copies a deployment, to change and store.
func CloneDeployment(d *structs.Deployment) *structs.Deployment {
	return proto.Clone(d).(*structs.Deployment)
}

// UpdateDeploymentStatus applies a status change at index and time now,
// and reports whether it changed anything. Only an active deployment
// changes; one that succeeds marks its job version stable.
func (tx *Txn) UpdateDeploymentStatus(index uint64, now int64, u *structs.DeploymentStatusUpdate) bool {
	cur := tx.Deployment(u.GetDeploymentId())
	if cur == nil || !cur.Active() || u.Status == "" {
		return false
	}
	d := CloneDeployment(cur)
	d.Status, d.StatusDescription = u.Status, u.StatusDescription
	d.ModifyIndex, d.ModifyTime = index, now
	tx.UpsertDeployment(d)
	if d.Status == structs.DeploymentStatusSuccessful {
		tx.SetJobStability(index, d.Namespace, d.JobId, d.JobVersion, true)
	}
	return true
}

// SetJobStability marks one kept version of a job stable or not; the
// current version's job changes with it (its modify index moves, its
// job_modify_index does not). It reports whether the version exists.
func (tx *Txn) SetJobStability(index uint64, ns, id string, version uint64, stable bool) bool {
	v, ok := tx.t.jobVersions.get(versionKey(ns, id, version))
	if !ok {
		return false
	}
	if v.Stable == stable {
		return true
	}
	c := CloneJob(v)
	c.Stable = stable
	if cur := tx.Job(ns, id); cur != nil && cur.Version == version && cur.CreateIndex == v.CreateIndex {
		c = CloneJob(cur)
		c.Stable = stable
		c.ModifyIndex = index
		tx.UpsertJob(c)
	}
	tx.t.jobVersions = tx.t.jobVersions.set(tx.o, versionKey(ns, id, version), c)
	return true
}

// TrackDeploymentAlloc updates the counts of a's deployment after a
// replaced old (nil when a is new) at index and time now, as Nomad does:
// an allocation new to the deployment is placed (a canary is recorded as
// one, and the first placement starts the progress deadline); one whose
// health is decided adds to healthy or unhealthy (healthy moves the
// progress deadline on); one healthy that turns unhealthy moves over.
func (tx *Txn) TrackDeploymentAlloc(index uint64, now int64, a, old *structs.Allocation) {
	if a.DeploymentId == "" {
		return
	}
	cur := tx.Deployment(a.DeploymentId)
	if cur == nil {
		return
	}
	gs := cur.TaskGroups[a.TaskGroup]
	if gs == nil {
		return
	}
	var placed, healthy, unhealthy int32
	oldHealth, newHealth := old.GetDeploymentStatus().HasHealth(), a.GetDeploymentStatus().HasHealth()
	switch {
	case old == nil || old.DeploymentId != a.DeploymentId:
		placed = 1
		if newHealth {
			// Placed with its health already known (an operator's, say).
			if a.DeploymentStatus.IsHealthy() {
				healthy = 1
			} else {
				unhealthy = 1
			}
		}
	case !oldHealth && newHealth:
		if a.DeploymentStatus.IsHealthy() {
			healthy = 1
		} else {
			unhealthy = 1
		}
	case oldHealth && newHealth && old.DeploymentStatus.IsHealthy() && a.DeploymentStatus.IsUnhealthy():
		healthy, unhealthy = -1, 1
	}
	if placed == 0 && healthy == 0 && unhealthy == 0 {
		return
	}
	d := CloneDeployment(cur)
	g := d.TaskGroups[a.TaskGroup]
	g.PlacedAllocs += placed
	g.HealthyAllocs += healthy
	g.UnhealthyAllocs += unhealthy
	if placed > 0 && a.DeploymentStatus.IsCanary() {
		g.PlacedCanaries = append(g.PlacedCanaries, a.Id)
	}
	if pd := g.ProgressDeadline.AsDuration(); pd > 0 {
		switch {
		case placed > 0 && g.RequireProgressBy == 0:
			g.RequireProgressBy = max(a.ModifyTime, now) + int64(pd)
		case healthy > 0:
			if by := a.DeploymentStatus.Timestamp + int64(pd); by > g.RequireProgressBy {
				g.RequireProgressBy = by
			}
		}
	}
	d.ModifyIndex, d.ModifyTime = index, now
	tx.UpsertDeployment(d)
}

// Deployment returns the deployment, or nil.
func (s *Snapshot) Deployment(id string) *structs.Deployment {
	d, _ := s.t.deployments.get(id)
	return d
}

// Deployments lists the deployments of ns ("" for every namespace) whose
// id has prefix, by id.
func (s *Snapshot) Deployments(ns, prefix string) []*structs.Deployment {
	var out []*structs.Deployment
	s.t.deployments.walkPrefix(prefix, func(_ string, d *structs.Deployment) bool {
		if ns == "" || d.Namespace == ns {
			out = append(out, d)
		}
		return true
	})
	return out
}

// DeploymentsByJob lists a job's deployments, by id.
func (s *Snapshot) DeploymentsByJob(ns, jobID string) []*structs.Deployment {
	return collect(s.t.deploymentsByJob, prefixKey(ns, jobID))
}

// LatestDeployment returns the job's most recently created deployment, or nil.
func (s *Snapshot) LatestDeployment(ns, jobID string) *structs.Deployment {
	return latest(s.DeploymentsByJob(ns, jobID))
}

// ActiveDeployments lists the deployments running or paused, by id.
func (s *Snapshot) ActiveDeployments() []*structs.Deployment {
	return collect(s.t.deploymentsActive, "")
}

// AllocsByDeployment lists the allocations of a deployment, by id.
func (s *Snapshot) AllocsByDeployment(id string) []*structs.Allocation {
	d := s.Deployment(id)
	if d == nil {
		return nil
	}
	var out []*structs.Allocation
	each(s.t.allocByJob, prefixKey(d.Namespace, d.JobId), func(a *structs.Allocation) bool {
		if a.DeploymentId == id {
			out = append(out, a)
		}
		return true
	})
	return out
}
