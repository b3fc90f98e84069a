package api_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/api"
)

// aclCluster is a cluster with ACLs on and the bootstrap token.
func aclCluster(t *testing.T) (*cluster, *nomad.ACLToken) {
	t.Helper()
	c := newClusterWith(t, drover.ServerOptions{ACL: drover.ACLOptions{Enabled: true}}, api.Options{})
	boot, _, err := c.nomad.ACLTokens().Bootstrap(nil)
	require.NoError(t, err)
	require.Equal(t, "management", boot.Type)
	return c, boot
}

// as returns Nomad's client acting with secret.
func (c *cluster) as(t *testing.T, secret string) *nomad.Client {
	t.Helper()
	n, err := nomad.NewClient(&nomad.Config{Address: c.http.URL, HttpClient: c.client, SecretID: secret})
	require.NoError(t, err)
	return n
}

func statusCode(err error) int {
	var ue nomad.UnexpectedResponseError
	if errors.As(err, &ue) {
		return ue.StatusCode()
	}
	return 0
}

func TestACLThroughNomadsClient(t *testing.T) {
	c, boot := aclCluster(t)
	_, _, err := c.nomad.ACLTokens().Bootstrap(nil)
	require.Error(t, err, "a second bootstrap fails")
	require.Equal(t, http.StatusBadRequest, statusCode(err))

	// Without a token nothing is served.
	_, _, err = c.nomad.Jobs().List(nil)
	require.Equal(t, http.StatusForbidden, statusCode(err), "anonymous: %v", err)
	_, _, err = c.nomad.Nodes().List(nil)
	require.Equal(t, http.StatusForbidden, statusCode(err))

	admin := c.as(t, boot.SecretID)
	_, err = admin.ACLPolicies().Upsert(&nomad.ACLPolicy{Name: "readonly", Description: "reads the default namespace",
		Rules: `namespace "default" { policy = "read" }`}, nil)
	require.NoError(t, err)
	_, err = admin.ACLPolicies().Upsert(&nomad.ACLPolicy{Name: "ops",
		Rules: `namespace "default" { policy = "write" }
node { policy = "read" }`}, nil)
	require.NoError(t, err)
	policies, _, err := admin.ACLPolicies().List(nil)
	require.NoError(t, err)
	require.Len(t, policies, 2)
	p, _, err := admin.ACLPolicies().Info("readonly", nil)
	require.NoError(t, err)
	require.Equal(t, "reads the default namespace", p.Description)
	require.Contains(t, p.Rules, `policy = "read"`)

	ro, _, err := admin.ACLTokens().Create(&nomad.ACLToken{Name: "ro", Type: "client", Policies: []string{"readonly"}}, nil)
	require.NoError(t, err)
	require.NotEmpty(t, ro.SecretID)
	ops, _, err := admin.ACLTokens().Create(&nomad.ACLToken{Name: "ops", Type: "client", Policies: []string{"ops"},
		ExpirationTTL: time.Hour}, nil)
	require.NoError(t, err)
	require.NotNil(t, ops.ExpirationTime)
	require.Equal(t, time.Hour, ops.ExpirationTTL)

	reader := c.as(t, ro.SecretID)
	_, _, err = reader.Jobs().List(nil)
	require.NoError(t, err, "the read-only token lists jobs")
	_, _, err = reader.Jobs().Register(mockJob("web", 1), nil)
	require.Equal(t, http.StatusForbidden, statusCode(err), "the read-only token registers nothing: %v", err)
	_, _, err = reader.Nodes().List(nil)
	require.Equal(t, http.StatusForbidden, statusCode(err), "no node rule")

	operator := c.as(t, ops.SecretID)
	_, _, err = operator.Jobs().Register(mockJob("web", 1), nil)
	require.NoError(t, err)
	_, _, err = operator.Nodes().List(nil)
	require.NoError(t, err)
	self, _, err := operator.ACLTokens().Self(nil)
	require.NoError(t, err)
	require.Equal(t, ops.AccessorID, self.AccessorID)
	_, _, err = operator.ACLTokens().List(nil)
	require.Equal(t, http.StatusForbidden, statusCode(err), "listing tokens needs management")
	_, _, err = operator.ACLPolicies().Info("readonly", nil)
	require.Equal(t, http.StatusForbidden, statusCode(err), "a policy the token does not hold")
	info, _, err := operator.ACLPolicies().Info("ops", nil)
	require.NoError(t, err, "a policy the token holds")
	require.Equal(t, "ops", info.Name)

	list, _, err := admin.ACLTokens().List(nil)
	require.NoError(t, err)
	require.Len(t, list, 3)

	// The token list never carries secrets: read the raw JSON.
	req, err := http.NewRequest(http.MethodGet, c.http.URL+"/v1/acl/tokens", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+boot.SecretID)
	resp, err := c.client.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "a bearer token works like X-Nomad-Token")
	for _, secret := range []string{boot.SecretID, ro.SecretID, ops.SecretID} {
		require.NotContains(t, string(body), secret)
	}

	// Updating keeps the secret; deleting revokes.
	ro.Policies = []string{"readonly", "ops"}
	updated, _, err := admin.ACLTokens().Update(ro, nil)
	require.NoError(t, err)
	require.Equal(t, ro.SecretID, updated.SecretID)
	_, _, err = reader.Nodes().List(nil)
	require.NoError(t, err, "the new policy applies at once")
	_, err = admin.ACLTokens().Delete(ro.AccessorID, nil)
	require.NoError(t, err)
	_, _, err = reader.Jobs().List(nil)
	require.Equal(t, http.StatusForbidden, statusCode(err), "a deleted token")
	_, err = admin.ACLPolicies().Delete("ops", nil)
	require.NoError(t, err)
	_, _, err = operator.Jobs().Register(mockJob("web2", 1), nil)
	require.Equal(t, http.StatusForbidden, statusCode(err), "a deleted policy grants nothing")
}

// TestAgentSelfKeepsSecrets is a regression test of Nomad's
// CVE-2019-12741: /v1/agent/self shows no token and no secret, and needs
// agent read.
func TestAgentSelfKeepsSecrets(t *testing.T) {
	c, boot := aclCluster(t)
	_, err := c.nomad.Agent().Self()
	require.ErrorContains(t, err, "403")
	req, err := http.NewRequest(http.MethodGet, c.http.URL+"/v1/agent/self", nil)
	require.NoError(t, err)
	req.Header.Set("X-Nomad-Token", boot.SecretID)
	resp, err := c.client.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.NotContains(t, string(body), boot.SecretID)
	require.Contains(t, string(body), `"ACL":{"Enabled":true}`)
	nodes, _, err := c.as(t, boot.SecretID).Nodes().List(nil)
	require.NoError(t, err)
	require.Len(t, nodes, 1)
	raw, err := c.client.Do(mustRequest(t, c.http.URL+"/v1/node/"+nodes[0].ID, boot.SecretID))
	require.NoError(t, err)
	nodeBody, _ := io.ReadAll(raw.Body)
	raw.Body.Close()
	require.NotContains(t, string(nodeBody), "SecretID", "a node read carries no secret")
}

func mustRequest(t *testing.T, url, token string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("X-Nomad-Token", token)
	}
	return req
}

// TestEventStreamOverHTTPEndsWhenItsTokenIsDeleted: the stream's last
// line says why it ended.
func TestEventStreamOverHTTPEndsWhenItsTokenIsDeleted(t *testing.T) {
	c, boot := aclCluster(t)
	admin := c.as(t, boot.SecretID)
	_, err := admin.ACLPolicies().Upsert(&nomad.ACLPolicy{Name: "reader", Rules: `namespace "default" { policy = "read" }`}, nil)
	require.NoError(t, err)
	tok, _, err := admin.ACLTokens().Create(&nomad.ACLToken{Type: "client", Policies: []string{"reader"}}, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.http.URL+"/v1/event/stream", nil)
	require.NoError(t, err)
	req.Header.Set("X-Nomad-Token", tok.SecretID)
	resp, err := c.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	_, err = admin.ACLTokens().Delete(tok.AccessorID, nil)
	require.NoError(t, err)
	sc := bufio.NewScanner(resp.Body)
	var last string
	for sc.Scan() {
		last = sc.Text()
	}
	require.True(t, strings.Contains(last, "ACL token not found"), "last line %q", last)
}

// TestBlockingQueryNeedsAValidTokenBeforeItWaits: an unknown token does
// not get to hold a blocking query open.
func TestBlockingQueryNeedsAValidTokenBeforeItWaits(t *testing.T) {
	c, _ := aclCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.http.URL+"/v1/jobs?index=100000&wait=5m", nil)
	require.NoError(t, err)
	req.Header.Set("X-Nomad-Token", "f0000000-0000-4000-8000-000000000000")
	resp, err := c.client.Do(req)
	require.NoError(t, err, "answered at once, not after the wait")
	resp.Body.Close()
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
}
