package api

import (
	"time"

	"github.com/droverhq/drover/structs"
)

// Deployments in the JSON shapes of Nomad's API.

// deploymentJSON is Nomad's Deployment.
type deploymentJSON struct {
	ID                 string
	Namespace          string
	JobID              string
	JobVersion         uint64
	JobModifyIndex     uint64
	JobSpecModifyIndex uint64
	JobCreateIndex     uint64
	IsMultiregion      bool
	TaskGroups         map[string]*deploymentStateJSON
	Status             string
	StatusDescription  string
	CreateIndex        uint64
	ModifyIndex        uint64
	CreateTime         int64
	ModifyTime         int64
}

// deploymentStateJSON is Nomad's DeploymentState: ProgressDeadline in
// nanoseconds, RequireProgressBy a time.
type deploymentStateJSON struct {
	PlacedCanaries    []string
	AutoRevert        bool
	AutoPromote       bool
	ProgressDeadline  int64
	RequireProgressBy time.Time
	Promoted          bool
	DesiredCanaries   int
	DesiredTotal      int
	PlacedAllocs      int
	HealthyAllocs     int
	UnhealthyAllocs   int
}

// allocDeploymentStatusJSON is Nomad's AllocDeploymentStatus.
type allocDeploymentStatusJSON struct {
	Healthy     *bool
	Timestamp   time.Time
	Canary      bool
	ModifyIndex uint64
}

// checkStatusJSON is the result of one service check of an allocation
// (drover shows them on the allocation, as "Checks").
type checkStatusJSON struct {
	Name      string
	Service   string
	Task      string
	Status    string
	Output    string
	Timestamp int64
}

// deploymentUpdateResponse is Nomad's DeploymentUpdateResponse.
type deploymentUpdateResponse struct {
	EvalID                string
	EvalCreateIndex       uint64
	DeploymentModifyIndex uint64
	RevertedJobVersion    *uint64
	Index                 uint64
	LastIndex             uint64
}

func deploymentToJSON(d *structs.Deployment) *deploymentJSON {
	if d == nil {
		return nil
	}
	out := &deploymentJSON{
		ID: d.Id, Namespace: d.Namespace, JobID: d.JobId, JobVersion: d.JobVersion, JobModifyIndex: d.JobModifyIndex,
		JobSpecModifyIndex: d.JobSpecModifyIndex, JobCreateIndex: d.JobCreateIndex, Status: d.Status,
		StatusDescription: d.StatusDescription, CreateIndex: d.CreateIndex, ModifyIndex: d.ModifyIndex,
		CreateTime: d.CreateTime, ModifyTime: d.ModifyTime,
		TaskGroups: make(map[string]*deploymentStateJSON, len(d.TaskGroups)),
	}
	for name, g := range d.TaskGroups {
		out.TaskGroups[name] = &deploymentStateJSON{
			PlacedCanaries: nonNil(g.PlacedCanaries), AutoRevert: g.AutoRevert, AutoPromote: g.AutoPromote,
			ProgressDeadline: int64(g.ProgressDeadline.AsDuration()), RequireProgressBy: unixNano(g.RequireProgressBy),
			Promoted: g.Promoted, DesiredCanaries: int(g.DesiredCanaries), DesiredTotal: int(g.DesiredTotal),
			PlacedAllocs: int(g.PlacedAllocs), HealthyAllocs: int(g.HealthyAllocs), UnhealthyAllocs: int(g.UnhealthyAllocs),
		}
	}
	return out
}

func deploymentsToJSON(ds []*structs.Deployment) []*deploymentJSON {
	out := make([]*deploymentJSON, 0, len(ds))
	for _, d := range ds {
		out = append(out, deploymentToJSON(d))
	}
	return out
}

func allocDeploymentStatusToJSON(s *structs.AllocDeploymentStatus) *allocDeploymentStatusJSON {
	if s == nil {
		return nil
	}
	out := &allocDeploymentStatusJSON{Timestamp: unixNano(s.Timestamp), Canary: s.Canary, ModifyIndex: s.ModifyIndex}
	if s.Healthy != nil {
		out.Healthy = ptr(*s.Healthy)
	}
	return out
}

func checksToJSON(in []*structs.CheckStatus) []*checkStatusJSON {
	if len(in) == 0 {
		return nil
	}
	out := make([]*checkStatusJSON, 0, len(in))
	for _, c := range in {
		out = append(out, &checkStatusJSON{Name: c.Name, Service: c.Service, Task: c.Task, Status: c.Status,
			Output: c.Output, Timestamp: c.Timestamp})
	}
	return out
}
