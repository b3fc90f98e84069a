package server

import (
	"github.com/droverhq/drover/server/events"
	"github.com/droverhq/drover/structs"
)

// deployment adds an event for a deployment the entry modified.
func (c *eventCollector) deployment(id string) {
	if id == "" || !c.once(events.TopicDeployment, "", id) {
		return
	}
	if d := c.v.Deployment(id); d != nil && d.ModifyIndex == c.index {
		c.out = append(c.out, events.Event{
			Topic: events.TopicDeployment, Type: c.typ, Key: d.Id, Namespace: d.Namespace,
			FilterKeys: c.keys(d.JobId), Index: c.index, Payload: d,
		})
	}
}

// deploymentEvents adds the events of deployments (and of the objects the
// deployment commands change) to those of an applied entry: a plan's new
// deployment and status updates, the counts client reports move, and the
// deployment commands themselves.
func deploymentEvents(c *eventCollector, cmd *structs.LogCommand) {
	switch x := cmd.Command.(type) {
	case *structs.LogCommand_PlanApply:
		r := x.PlanApply.GetResult()
		c.deployment(r.GetDeployment().GetId())
		for _, u := range r.GetDeploymentUpdates() {
			c.deployment(u.DeploymentId)
		}
		for _, a := range r.GetNodeAllocation() {
			if st := c.v.Alloc(a.Id); st != nil {
				c.deployment(st.DeploymentId)
			}
		}
	case *structs.LogCommand_AllocClientUpdate:
		for _, a := range x.AllocClientUpdate.GetAllocations() {
			if st := c.v.Alloc(a.Id); st != nil {
				c.deployment(st.DeploymentId)
			}
		}
	case *structs.LogCommand_DeploymentStatus:
		c.typ = events.TypeDeploymentStatusUpdate
		d := x.DeploymentStatus
		c.deployment(d.GetUpdate().GetDeploymentId())
		if j := d.GetJob(); j != nil {
			c.job(j.Namespace, j.Id)
		}
		c.evals([]*structs.Evaluation{d.GetEval()})
	case *structs.LogCommand_DeploymentPromote:
		c.typ = events.TypeDeploymentPromotion
		c.deployment(x.DeploymentPromote.DeploymentId)
		c.evals([]*structs.Evaluation{x.DeploymentPromote.GetEval()})
	case *structs.LogCommand_DeploymentAllocHealth:
		c.typ = events.TypeDeploymentAllocHealth
		h := x.DeploymentAllocHealth
		for _, ids := range [][]string{h.HealthyIds, h.UnhealthyIds} {
			for _, id := range ids {
				c.alloc(id)
			}
		}
		c.deployment(h.DeploymentId)
		if j := h.GetJob(); j != nil {
			c.job(j.Namespace, j.Id)
		}
		c.evals([]*structs.Evaluation{h.GetEval()})
	case *structs.LogCommand_JobStability:
		c.typ = events.TypeJobStability
		c.job(x.JobStability.Namespace, x.JobStability.JobId)
	case *structs.LogCommand_AllocTransition:
		c.typ = events.TypeAllocationUpdated
		for id := range x.AllocTransition.GetTransitions() {
			c.alloc(id)
		}
		c.evals(x.AllocTransition.GetEvals())
	}
}
