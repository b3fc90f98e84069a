package api_test

import (
	"errors"
	"net/http"
	"testing"

	nomad "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/api"
)

func TestVariablesWithTheNomadClient(t *testing.T) {
	c := newCluster(t, api.Options{})
	vars := c.nomad.Variables()

	_, _, err := vars.Read("app/db", nil)
	require.ErrorIs(t, err, nomad.ErrVariablePathNotFound)

	created, _, err := vars.CheckedCreate(&nomad.Variable{Path: "app/db", Items: map[string]string{"user": "admin", "pass": "s3cret"}}, nil)
	require.NoError(t, err)
	require.Equal(t, "default", created.Namespace)
	require.NotZero(t, created.ModifyIndex)
	require.Equal(t, "s3cret", created.Items["pass"])

	got, _, err := vars.Read("app/db", nil)
	require.NoError(t, err)
	require.Equal(t, created.Items, got.Items)
	require.Equal(t, created.ModifyIndex, got.ModifyIndex)

	// A second checked create conflicts, and returns the current variable.
	_, _, err = vars.CheckedCreate(&nomad.Variable{Path: "app/db", Items: map[string]string{"x": "y"}}, nil)
	var conflict nomad.ErrCASConflict
	require.True(t, errors.As(err, &conflict), "%v", err)
	require.Equal(t, created.ModifyIndex, conflict.Conflict.ModifyIndex)
	require.Equal(t, "s3cret", conflict.Conflict.Items["pass"])

	// A checked update with a stale index conflicts; with the current one it
	// goes through.
	stale := got.Copy()
	got.Items["pass"] = "n3w"
	updated, _, err := vars.CheckedUpdate(got, nil)
	require.NoError(t, err)
	require.Greater(t, updated.ModifyIndex, created.ModifyIndex)
	require.Equal(t, created.CreateIndex, updated.CreateIndex)
	stale.Items["pass"] = "old"
	_, _, err = vars.CheckedUpdate(stale, nil)
	require.True(t, errors.As(err, &conflict), "%v", err)
	require.Equal(t, "n3w", conflict.Conflict.Items["pass"])

	_, _, err = vars.Create(&nomad.Variable{Path: "app/cache", Items: map[string]string{"ttl": "5"}}, nil)
	require.NoError(t, err)
	_, _, err = vars.Create(&nomad.Variable{Path: "other", Items: map[string]string{"a": "b"}}, nil)
	require.NoError(t, err)
	list, _, err := vars.PrefixList("app/", nil)
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, "app/cache", list[0].Path)
	all, _, err := vars.List(nil)
	require.NoError(t, err)
	require.Len(t, all, 3)

	// Deletes, checked and not.
	_, err = vars.CheckedDelete("app/db", created.ModifyIndex, nil)
	require.True(t, errors.As(err, &conflict), "%v", err)
	_, err = vars.CheckedDelete("app/db", updated.ModifyIndex, nil)
	require.NoError(t, err)
	_, err = vars.Delete("other", nil)
	require.NoError(t, err)
	all, _, err = vars.List(nil)
	require.NoError(t, err)
	require.Len(t, all, 1)

	// Bad input is refused with 400 and changes nothing.
	for _, v := range []*nomad.Variable{
		{Path: "nomad/secret", Items: map[string]string{"a": "b"}},
		{Path: "a//b", Items: map[string]string{"a": "b"}},
		{Path: "bad path", Items: map[string]string{"a": "b"}},
		{Path: "empty", Items: map[string]string{}},
		{Path: "big", Items: map[string]string{"a": string(make([]byte, 65<<10))}},
	} {
		_, _, err := vars.Create(v, nil)
		require.Equal(t, http.StatusBadRequest, statusCode(err), "%s: %v", v.Path, err)
	}
	all, _, err = vars.List(nil)
	require.NoError(t, err)
	require.Len(t, all, 1)
	_, _, err = vars.Create(&nomad.Variable{Path: "nomad/jobs/web", Items: map[string]string{"a": "b"}}, nil)
	require.NoError(t, err, "nomad/jobs is open to writes")
}

func TestVariablesCheckACLs(t *testing.T) {
	c, boot := aclCluster(t)
	admin := c.as(t, boot.SecretID)
	_, _, err := admin.Variables().Create(&nomad.Variable{Path: "team/a/db", Items: map[string]string{"k": "v"}}, nil)
	require.NoError(t, err)
	_, _, err = admin.Variables().Create(&nomad.Variable{Path: "team/b/db", Items: map[string]string{"k": "v"}}, nil)
	require.NoError(t, err)

	_, err = admin.ACLPolicies().Upsert(&nomad.ACLPolicy{Name: "team-a", Rules: `namespace "default" {
  variables {
    path "team/a/*" { capabilities = ["write", "read", "list", "destroy"] }
    path "team/*" { capabilities = ["list"] }
  }
}`}, nil)
	require.NoError(t, err)
	tok, _, err := admin.ACLTokens().Create(&nomad.ACLToken{Type: "client", Policies: []string{"team-a"}}, nil)
	require.NoError(t, err)
	a := c.as(t, tok.SecretID)

	_, _, err = c.nomad.Variables().Read("team/a/db", nil)
	require.Equal(t, http.StatusForbidden, statusCode(err), "anonymous")
	v, _, err := a.Variables().Read("team/a/db", nil)
	require.NoError(t, err)
	require.Equal(t, "v", v.Items["k"])
	_, _, err = a.Variables().Read("team/b/db", nil)
	require.Equal(t, http.StatusForbidden, statusCode(err), "list only under team/b")
	list, _, err := a.Variables().List(nil)
	require.NoError(t, err)
	require.Len(t, list, 2, "both listable")
	_, _, err = a.Variables().Create(&nomad.Variable{Path: "team/b/x", Items: map[string]string{"k": "v"}}, nil)
	require.Equal(t, http.StatusForbidden, statusCode(err))
	_, _, err = a.Variables().Create(&nomad.Variable{Path: "team/a/x", Items: map[string]string{"k": "v"}}, nil)
	require.NoError(t, err)
	_, err = a.Variables().Delete("team/b/db", nil)
	require.Equal(t, http.StatusForbidden, statusCode(err))
	_, err = a.Variables().Delete("team/a/x", nil)
	require.NoError(t, err)

	// The keyring is the operator's.
	_, _, err = a.Keyring().List(nil)
	require.Equal(t, http.StatusForbidden, statusCode(err))
	keys, _, err := admin.Keyring().List(nil)
	require.NoError(t, err)
	require.Len(t, keys, 1)
	require.Equal(t, "active", string(keys[0].State))
	require.Equal(t, "aes256-gcm", string(keys[0].Algorithm))
	_, _, err = a.Keyring().Rotate(nil, nil)
	require.Equal(t, http.StatusForbidden, statusCode(err))
	rotated, _, err := admin.Keyring().Rotate(nil, nil)
	require.NoError(t, err)
	require.Equal(t, "active", string(rotated.State))
	require.NotEqual(t, keys[0].KeyID, rotated.KeyID)
	_, _, err = admin.Keyring().Rotate(&nomad.KeyringRotateOptions{Full: true}, nil)
	require.Equal(t, http.StatusNotImplemented, statusCode(err))
	_, err = admin.Keyring().Delete(&nomad.KeyringDeleteOptions{KeyID: keys[0].KeyID}, nil)
	require.Equal(t, http.StatusNotImplemented, statusCode(err))
	keys, _, err = admin.Keyring().List(nil)
	require.NoError(t, err)
	require.Len(t, keys, 2)
	v, _, err = a.Variables().Read("team/a/db", nil)
	require.NoError(t, err, "readable after a rotation")
	require.Equal(t, "v", v.Items["k"])
}
