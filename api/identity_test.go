package api_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	nomad "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/internal/testing/harness"
)

// TestTaskReadsItsVariablesWithItsWorkloadIdentity runs a task whose
// identity block writes its token to secrets/nomad_token, verifies the
// token against the servers' JWKS, and reads variables with it.
func TestTaskReadsItsVariablesWithItsWorkloadIdentity(t *testing.T) {
	c, boot := aclCluster(t)
	admin := c.as(t, boot.SecretID)
	job := mockJob("web", 1)
	job.TaskGroups[0].Tasks[0].Identity = &nomad.WorkloadIdentity{File: true, Env: true}
	_, _, err := admin.Jobs().Register(job, nil)
	require.NoError(t, err)
	var allocs []*nomad.AllocationListStub
	harness.Eventually(t, 30*time.Second, "the allocation to run", func() bool {
		allocs, _, err = admin.Jobs().Allocations("web", false, nil)
		require.NoError(t, err)
		return len(allocs) == 1 && allocs[0].ClientStatus == "running"
	})
	alloc := allocs[0]
	tokenPath := filepath.Join(c.dir, "client", "alloc", alloc.ID, "server", "secrets", "nomad_token")
	raw, err := os.ReadFile(tokenPath)
	require.NoError(t, err)
	token := string(raw)
	info, err := os.Stat(tokenPath)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	// The JWKS verifies it; the claims are Nomad's.
	resp, err := c.client.Get(c.http.URL + "/.well-known/jwks.json")
	require.NoError(t, err)
	var set jose.JSONWebKeySet
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&set))
	require.NoError(t, resp.Body.Close())
	require.Len(t, set.Keys, 1)
	parsed, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.EdDSA})
	require.NoError(t, err)
	keys := set.Key(parsed.Headers[0].KeyID)
	require.Len(t, keys, 1)
	var claims struct {
		jwt.Claims
		Namespace string `json:"nomad_namespace"`
		JobID     string `json:"nomad_job_id"`
		AllocID   string `json:"nomad_allocation_id"`
		Task      string `json:"nomad_task"`
	}
	require.NoError(t, parsed.Claims(keys[0].Key, &claims))
	require.Equal(t, "default", claims.Namespace)
	require.Equal(t, "web", claims.JobID)
	require.Equal(t, alloc.ID, claims.AllocID)
	require.Equal(t, "server", claims.Task)
	require.Equal(t, jwt.Audience{"nomadproject.io"}, claims.Audience)
	require.Equal(t, "global:default:web:api:server:default", claims.Subject)

	for path, items := range map[string]map[string]string{
		"nomad/jobs/web":             {"db": "postgres://web"},
		"nomad/jobs/web/api":         {"group": "yes"},
		"nomad/jobs/web/api/server":  {"task": "yes"},
		"nomad/jobs/billing":         {"db": "postgres://billing"},
		"nomad/jobs/web/other-group": {"no": "no"},
		"team/web":                   {"no": "no"},
	} {
		_, _, err := admin.Variables().Create(&nomad.Variable{Path: path, Items: items}, nil)
		require.NoError(t, err)
	}

	task := c.as(t, token)
	v, _, err := task.Variables().Read("nomad/jobs/web", nil)
	require.NoError(t, err, "a task reads its job's variable")
	require.Equal(t, "postgres://web", v.Items["db"])
	for _, p := range []string{"nomad/jobs/web/api", "nomad/jobs/web/api/server"} {
		_, _, err = task.Variables().Read(p, nil)
		require.NoError(t, err, p)
	}
	for _, p := range []string{"nomad/jobs/billing", "nomad/jobs/web/other-group", "team/web"} {
		_, _, err = task.Variables().Read(p, nil)
		require.Equal(t, http.StatusForbidden, statusCode(err), "%s: %v", p, err)
	}
	list, _, err := task.Variables().PrefixList("nomad/jobs/", nil)
	require.NoError(t, err)
	require.Len(t, list, 3, "it lists what it may read only")
	_, _, err = task.Variables().Create(&nomad.Variable{Path: "nomad/jobs/web", Items: map[string]string{"x": "y"}}, nil)
	require.Equal(t, http.StatusForbidden, statusCode(err), "an identity reads, never writes")
	_, _, err = task.Jobs().List(nil)
	require.Equal(t, http.StatusForbidden, statusCode(err), "an identity grants no policy")

	forged := token[:len(token)-4] + "AAAA"
	_, _, err = c.as(t, forged).Variables().Read("nomad/jobs/web", nil)
	require.Equal(t, http.StatusForbidden, statusCode(err), "a forged signature")

	// Once its allocation stops, the identity opens nothing.
	_, _, err = admin.Jobs().Deregister("web", false, nil)
	require.NoError(t, err)
	harness.Eventually(t, 30*time.Second, "the allocation to stop", func() bool {
		a, _, err := admin.Allocations().Info(alloc.ID, nil)
		require.NoError(t, err)
		return a.ClientStatus == "complete" || a.ClientStatus == "failed"
	})
	_, _, err = task.Variables().Read("nomad/jobs/web", nil)
	require.Equal(t, http.StatusForbidden, statusCode(err))
}
