package api_test

import (
	"net/http"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/api"
	"github.com/droverhq/drover/internal/testing/harness"
)

// serviceJob is mockJob with a dynamic port and a group and a task
// service registered with the servers.
func serviceJob(id string) *nomad.Job {
	job := mockJob(id, 1)
	tg := job.TaskGroups[0]
	tg.Networks = []*nomad.NetworkResource{{DynamicPorts: []nomad.Port{{Label: "http"}}}}
	tg.Services = []*nomad.Service{{Name: id + "-web", PortLabel: "http", Tags: []string{"v1", "web"}, Provider: "nomad"}}
	tg.Tasks[0].Services = []*nomad.Service{{Name: id + "-task", PortLabel: "http", Tags: []string{"task", "idx-${NOMAD_ALLOC_INDEX}"}, Provider: "nomad"}}
	return job
}

func TestNativeServiceDiscoveryWithTheNomadClient(t *testing.T) {
	c := newCluster(t, api.Options{})
	bad := serviceJob("bad")
	bad.TaskGroups[0].Services[0].Name = "not_a_label"
	_, _, err := c.nomad.Jobs().Register(bad, nil)
	require.Equal(t, http.StatusBadRequest, statusCode(err), "%v", err)
	bad.TaskGroups[0].Services[0].Provider = "zookeeper"
	bad.TaskGroups[0].Services[0].Name = "fine"
	_, _, err = c.nomad.Jobs().Register(bad, nil)
	require.Equal(t, http.StatusBadRequest, statusCode(err), "%v", err)
	_, _, err = c.nomad.Jobs().Register(serviceJob("shop"), nil)
	require.NoError(t, err)
	allocs := waitAllocs(t, c, "shop", running(1))

	var regs []*nomad.ServiceRegistration
	harness.Eventually(t, 30*time.Second, "the services to be registered", func() bool {
		list, _, err := c.nomad.Services().List(nil)
		require.NoError(t, err)
		if len(list) != 1 || len(list[0].Services) != 2 {
			return false
		}
		require.Equal(t, "default", list[0].Namespace)
		require.Equal(t, "shop-task", list[0].Services[0].ServiceName)
		require.Equal(t, []string{"v1", "web"}, list[0].Services[1].Tags)
		regs, _, err = c.nomad.Services().Get("shop-web", nil)
		require.NoError(t, err)
		return len(regs) == 1
	})
	r := regs[0]
	require.Equal(t, allocs[0].ID, r.AllocID)
	require.Equal(t, "shop", r.JobID)
	require.Equal(t, c.cli.NodeID(), r.NodeID)
	require.NotZero(t, r.Port)
	require.NotEmpty(t, r.Address)
	require.Contains(t, r.ID, "_nomad-task-"+allocs[0].ID)

	// tag= and filter= narrow a service's registrations.
	byTag, _, err := c.nomad.Services().Get("shop-web", &nomad.QueryOptions{Params: map[string]string{"tag": "v2"}})
	require.NoError(t, err)
	require.Empty(t, byTag)
	byFilter, _, err := c.nomad.Services().Get("shop-web", &nomad.QueryOptions{Filter: `"v1" in Tags`})
	require.NoError(t, err)
	require.Len(t, byFilter, 1)
	taskRegs, _, err := c.nomad.Services().Get("shop-task", nil)
	require.NoError(t, err)
	require.Len(t, taskRegs, 1)
	require.Equal(t, []string{"task", "idx-0"}, taskRegs[0].Tags, "tags are interpolated")
	jobRegs, _, err := c.nomad.Jobs().Services("shop", nil)
	require.NoError(t, err)
	require.Len(t, jobRegs, 2)

	// An operator removes one registration by hand.
	_, err = c.nomad.Services().Delete("shop-task", "nope", nil)
	require.Equal(t, http.StatusNotFound, statusCode(err))
	_, err = c.nomad.Services().Delete("shop-task", taskRegs[0].ID, nil)
	require.NoError(t, err)
	taskRegs, _, err = c.nomad.Services().Get("shop-task", nil)
	require.NoError(t, err)
	require.Empty(t, taskRegs)

	// Stopping the job deregisters what is left.
	_, _, err = c.nomad.Jobs().Deregister("shop", false, nil)
	require.NoError(t, err)
	harness.Eventually(t, 30*time.Second, "the services to be deregistered", func() bool {
		list, _, err := c.nomad.Services().List(nil)
		require.NoError(t, err)
		return len(list) == 0
	})
}

func TestServiceEndpointsCheckACLs(t *testing.T) {
	c, boot := aclCluster(t)
	admin := c.as(t, boot.SecretID)
	_, _, err := admin.Jobs().Register(serviceJob("shop"), nil)
	require.NoError(t, err)
	var regs []*nomad.ServiceRegistration
	harness.Eventually(t, 30*time.Second, "the services to be registered", func() bool {
		regs, _, err = admin.Services().Get("shop-web", nil)
		require.NoError(t, err)
		return len(regs) == 1
	})

	_, err = admin.ACLPolicies().Upsert(&nomad.ACLPolicy{Name: "reader", Rules: `namespace "default" { capabilities = ["read-job"] }`}, nil)
	require.NoError(t, err)
	_, err = admin.ACLPolicies().Upsert(&nomad.ACLPolicy{Name: "lister", Rules: `namespace "default" { capabilities = ["list-jobs"] }`}, nil)
	require.NoError(t, err)
	_, err = admin.ACLPolicies().Upsert(&nomad.ACLPolicy{Name: "submitter", Rules: `namespace "default" { capabilities = ["read-job", "submit-job"] }`}, nil)
	require.NoError(t, err)
	token := func(policy string) *nomad.Client {
		tok, _, err := admin.ACLTokens().Create(&nomad.ACLToken{Type: "client", Policies: []string{policy}}, nil)
		require.NoError(t, err)
		return c.as(t, tok.SecretID)
	}
	reader, lister, submitter := token("reader"), token("lister"), token("submitter")

	_, _, err = c.nomad.Services().List(nil)
	require.Equal(t, http.StatusForbidden, statusCode(err), "anonymous")
	_, _, err = lister.Services().Get("shop-web", nil)
	require.Equal(t, http.StatusForbidden, statusCode(err), "list-jobs is not read-job")
	list, _, err := reader.Services().List(nil)
	require.NoError(t, err)
	require.Len(t, list, 1)
	got, _, err := reader.Services().Get("shop-web", nil)
	require.NoError(t, err)
	require.Len(t, got, 1)

	_, err = reader.Services().Delete("shop-web", regs[0].ID, nil)
	require.Equal(t, http.StatusForbidden, statusCode(err), "deleting needs submit-job")
	_, err = submitter.Services().Delete("shop-web", regs[0].ID, nil)
	require.NoError(t, err)
}
