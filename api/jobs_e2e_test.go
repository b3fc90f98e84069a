package api_test

import (
	"net/http"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/api"
)

// TestPortsAffinitiesAndSpreadsThroughTheNomadClient registers, with
// Nomad's client, a job asking for a dynamic port, an affinity and a
// spread block; it runs, reads back with those fields, and its allocation
// carries the port assigned on the node.
func TestPortsAffinitiesAndSpreadsThroughTheNomadClient(t *testing.T) {
	c := newCluster(t, api.Options{})
	job := mockJob("web", 1)
	job.Affinities = []*nomad.Affinity{nomad.NewAffinity("${node.datacenter}", "=", "dc1", 40)}
	tg := job.TaskGroups[0]
	tg.Spreads = []*nomad.Spread{nomad.NewSpread("${node.datacenter}", 60, []*nomad.SpreadTarget{nomad.NewSpreadTarget("dc1", 100)})}
	tg.Networks = []*nomad.NetworkResource{{DynamicPorts: []nomad.Port{{Label: "http", To: 8080}}}}
	tg.ReschedulePolicy = &nomad.ReschedulePolicy{Attempts: ptr(2), Interval: ptr(time.Hour), Unlimited: ptr(false)}
	tg.Tasks[0].LogConfig = &nomad.LogConfig{MaxFiles: ptr(2), MaxFileSizeMB: ptr(1)}
	resp, _, err := c.nomad.Jobs().Register(job, nil)
	require.NoError(t, err)
	require.Empty(t, resp.Warnings, "everything the job asks for is run")
	allocs := waitAllocs(t, c, "web", running(1))

	got, _, err := c.nomad.Jobs().Info("web", nil)
	require.NoError(t, err)
	require.Equal(t, job.Affinities, got.Affinities)
	gg := got.TaskGroups[0]
	require.Equal(t, tg.Spreads, gg.Spreads)
	require.Len(t, gg.Networks, 1)
	require.Equal(t, []nomad.Port{{Label: "http", To: 8080, HostNetwork: "default"}}, gg.Networks[0].DynamicPorts)
	require.Equal(t, 2, *gg.ReschedulePolicy.Attempts)
	require.Equal(t, "exponential", *gg.ReschedulePolicy.DelayFunction, "the rest from Nomad's service default")
	require.Equal(t, 2, *gg.Tasks[0].LogConfig.MaxFiles)

	node, _, err := c.nomad.Nodes().Info(c.cli.NodeID(), nil)
	require.NoError(t, err)
	hostIP := node.Attributes["unique.network.ip-address"]
	alloc, _, err := c.nomad.Allocations().Info(allocs[0].ID, nil)
	require.NoError(t, err)
	ports := alloc.AllocatedResources.Shared.Ports
	require.Len(t, ports, 1)
	require.Equal(t, "http", ports[0].Label)
	require.Equal(t, 8080, ports[0].To)
	require.GreaterOrEqual(t, ports[0].Value, node.NodeResources.MinDynamicPort)
	require.LessOrEqual(t, ports[0].Value, node.NodeResources.MaxDynamicPort)
	require.Equal(t, hostIP, ports[0].HostIP)
	nets := alloc.AllocatedResources.Shared.Networks
	require.Len(t, nets, 1)
	require.Equal(t, hostIP, nets[0].IP)
	require.Equal(t, ports[0].Value, nets[0].DynamicPorts[0].Value, "the network shows the port as assigned")
	require.Empty(t, nets[0].ReservedPorts)
	require.Equal(t, int64(32), alloc.AllocatedResources.Tasks["server"].Memory.MemoryMB)

	// Lists of allocations carry their resources when asked for.
	stubs, _, err := c.nomad.Allocations().List(&nomad.QueryOptions{Params: map[string]string{"resources": "true"}})
	require.NoError(t, err)
	require.Len(t, stubs, 1)
	require.Equal(t, ports, stubs[0].AllocatedResources.Shared.Ports)
	stubs, _, err = c.nomad.Allocations().List(nil)
	require.NoError(t, err)
	require.Nil(t, stubs[0].AllocatedResources)

	// A second job asking for the same port as static cannot share the
	// node: it stays queued, and its summary says so.
	taken := mockJob("clash", 1)
	taken.TaskGroups[0].Networks = []*nomad.NetworkResource{{ReservedPorts: []nomad.Port{{Label: "http", Value: ports[0].Value}}}}
	_, _, err = c.nomad.Jobs().Register(taken, nil)
	require.NoError(t, err)
	sum := waitSummary(t, c, "clash", func(s nomad.TaskGroupSummary) bool { return s.Queued == 1 })
	require.Zero(t, sum.Running)
}

// waitSummary long-polls the job list until the job's only group's
// summary satisfies cond, and returns it.
func waitSummary(t *testing.T, c *cluster, jobID string, cond func(nomad.TaskGroupSummary) bool) nomad.TaskGroupSummary {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var index uint64
	var last nomad.TaskGroupSummary
	for time.Now().Before(deadline) {
		list, meta, err := c.nomad.Jobs().List(&nomad.QueryOptions{WaitIndex: index, WaitTime: 5 * time.Second})
		require.NoError(t, err)
		for _, j := range list {
			if j.ID != jobID {
				continue
			}
			require.NotNil(t, j.JobSummary, "every listed job has a summary")
			require.Equal(t, jobID, j.JobSummary.JobID)
			for _, s := range j.JobSummary.Summary {
				if last = s; cond(s) {
					return s
				}
			}
		}
		index = meta.LastIndex
	}
	t.Fatalf("summary of %s never reached the wanted state; last %+v", jobID, last)
	return last
}

func TestJobSummaryCountsAllocationsAsTheyRun(t *testing.T) {
	c := newCluster(t, api.Options{})
	job := mockJob("batch", 3)
	job.Type = ptr("batch")
	job.TaskGroups[0].Tasks[0].SetConfig("run_for", "10ms")
	_, _, err := c.nomad.Jobs().Register(job, nil)
	require.NoError(t, err)
	sum := waitSummary(t, c, "batch", func(s nomad.TaskGroupSummary) bool { return s.Complete == 3 })
	require.Equal(t, nomad.TaskGroupSummary{Complete: 3}, sum, "nothing queued, starting, running or failed is left")

	one, _, err := c.nomad.Jobs().Summary("batch", nil)
	require.NoError(t, err)
	require.Equal(t, 3, one.Summary["api"].Complete)
	require.NotZero(t, one.ModifyIndex)
	_, _, err = c.nomad.Jobs().Summary("ghost", nil)
	requireStatus(t, err, http.StatusNotFound)

	// A job that registered but has no allocation yet lists its groups at zero.
	_, _, err = c.nomad.Jobs().Register(mockJob("idle", 0), nil)
	require.NoError(t, err)
	list, _, err := c.nomad.Jobs().PrefixList("idle")
	require.NoError(t, err)
	require.Equal(t, map[string]nomad.TaskGroupSummary{"api": {}}, list[0].JobSummary.Summary)
}

func TestJobVersionsReadAsNomadsClientReadsThem(t *testing.T) {
	c := newCluster(t, api.Options{})
	job := mockJob("web", 1)
	_, _, err := c.nomad.Jobs().Register(job, nil)
	require.NoError(t, err)
	job.TaskGroups[0].Count = ptr(2)
	job.TaskGroups[0].Affinities = []*nomad.Affinity{nomad.NewAffinity("${node.class}", "=", "big", 10)}
	_, _, err = c.nomad.Jobs().Register(job, nil)
	require.NoError(t, err)
	// Registering the same job again is not a new version.
	_, _, err = c.nomad.Jobs().Register(job, nil)
	require.NoError(t, err)

	versions, diffs, meta, err := c.nomad.Jobs().Versions("web", false, nil)
	require.NoError(t, err)
	require.NotZero(t, meta.LastIndex)
	require.Empty(t, diffs)
	require.Len(t, versions, 2, "newest first")
	require.Equal(t, uint64(1), *versions[0].Version)
	require.Equal(t, 2, *versions[0].TaskGroups[0].Count)
	require.Equal(t, job.TaskGroups[0].Affinities, versions[0].TaskGroups[0].Affinities)
	require.Equal(t, uint64(0), *versions[1].Version)
	require.Equal(t, 1, *versions[1].TaskGroups[0].Count)
	require.Empty(t, versions[1].TaskGroups[0].Affinities)
	stale, _, _, err := c.nomad.Jobs().Versions("web", false, &nomad.QueryOptions{AllowStale: true})
	require.NoError(t, err)
	require.Len(t, stale, 2)

	_, diffs, _, err = c.nomad.Jobs().Versions("web", true, nil)
	require.NoError(t, err)
	require.Len(t, diffs, 1, "one diff between two versions")
	_, _, _, err = c.nomad.Jobs().Versions("ghost", false, nil)
	requireStatus(t, err, http.StatusNotFound)
}

func TestSchedulerConfigurationThroughTheNomadClient(t *testing.T) {
	c := newCluster(t, api.Options{})
	got, qm, err := c.nomad.Operator().SchedulerGetConfiguration(nil)
	require.NoError(t, err)
	require.NotZero(t, qm.LastIndex)
	cfg := got.SchedulerConfig
	require.NotZero(t, cfg.CreateIndex)
	require.Equal(t, nomad.PreemptionConfig{SystemSchedulerEnabled: true, SysBatchSchedulerEnabled: true}, cfg.PreemptionConfig, "the defaults")

	want := &nomad.SchedulerConfiguration{
		SchedulerAlgorithm: nomad.SchedulerAlgorithmSpread,
		PreemptionConfig: nomad.PreemptionConfig{
			SystemSchedulerEnabled: true, SysBatchSchedulerEnabled: true, BatchSchedulerEnabled: true, ServiceSchedulerEnabled: true,
		},
		MemoryOversubscriptionEnabled: true,
	}
	set, wm, err := c.nomad.Operator().SchedulerSetConfiguration(want, nil)
	require.NoError(t, err)
	require.True(t, set.Updated)
	require.NotZero(t, wm.LastIndex)
	got, _, err = c.nomad.Operator().SchedulerGetConfiguration(nil)
	require.NoError(t, err)
	cfg = got.SchedulerConfig
	require.Equal(t, want.SchedulerAlgorithm, cfg.SchedulerAlgorithm)
	require.Equal(t, want.PreemptionConfig, cfg.PreemptionConfig)
	require.True(t, cfg.MemoryOversubscriptionEnabled)
	require.False(t, cfg.RejectJobRegistration)
	require.Equal(t, wm.LastIndex, cfg.ModifyIndex)

	// Compare-and-set against the current modify index wins once.
	next := *cfg
	next.SchedulerAlgorithm = nomad.SchedulerAlgorithmBinpack
	set, _, err = c.nomad.Operator().SchedulerCASConfiguration(&next, nil)
	require.NoError(t, err)
	require.True(t, set.Updated)
	set, _, err = c.nomad.Operator().SchedulerCASConfiguration(&next, nil)
	require.NoError(t, err)
	require.False(t, set.Updated, "the index moved")
	got, _, err = c.nomad.Operator().SchedulerGetConfiguration(&nomad.QueryOptions{AllowStale: true})
	require.NoError(t, err)
	require.Equal(t, nomad.SchedulerAlgorithmBinpack, got.SchedulerConfig.SchedulerAlgorithm)

	_, _, err = c.nomad.Operator().SchedulerSetConfiguration(&nomad.SchedulerConfiguration{SchedulerAlgorithm: "random"}, nil)
	requireStatus(t, err, http.StatusBadRequest)

	// A memory limit above the ask is kept when oversubscription is on.
	job := mockJob("big", 1)
	job.TaskGroups[0].Tasks[0].Resources.MemoryMaxMB = ptr(128)
	_, _, err = c.nomad.Jobs().Register(job, nil)
	require.NoError(t, err)
	allocs := waitAllocs(t, c, "big", running(1))
	alloc, _, err := c.nomad.Allocations().Info(allocs[0].ID, nil)
	require.NoError(t, err)
	require.Equal(t, int64(128), alloc.AllocatedResources.Tasks["server"].Memory.MemoryMaxMB)
}
