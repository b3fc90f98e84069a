package driver

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTaskEnvUnderBothPrefixes(t *testing.T) {
	e := &TaskEnv{
		AllocID: "0123456789abcdef", AllocName: "web.api[2]", AllocIndex: 2, TaskName: "server",
		GroupName: "api", JobID: "web", CPULimit: 500, MemoryLimit: 256,
		Ports: []Port{{Label: "http", HostIP: "10.0.0.5", Value: 23456, To: 8080}, {Label: "db-admin", HostIP: "::1", Value: 9000}},
		Meta:  map[string]string{"team": "infra"},
		Env:   map[string]string{"DROVER_TASK_NAME": "overridden", "GREETING": "hi"},
	}
	env := e.Map()
	for _, p := range []string{"DROVER_", "NOMAD_"} {
		require.Equal(t, "0123456789abcdef", env[p+"ALLOC_ID"])
		require.Equal(t, "01234567", env[p+"SHORT_ALLOC_ID"])
		require.Equal(t, "2", env[p+"ALLOC_INDEX"])
		require.Equal(t, "api", env[p+"GROUP_NAME"])
		require.Equal(t, "500", env[p+"CPU_LIMIT"])
		require.Equal(t, "256", env[p+"MEMORY_LIMIT"])
		require.Equal(t, "8080", env[p+"PORT_http"], "the port the task listens on")
		require.Equal(t, "23456", env[p+"HOST_PORT_http"])
		require.Equal(t, "10.0.0.5:8080", env[p+"ADDR_http"])
		require.Equal(t, "10.0.0.5:23456", env[p+"HOST_ADDR_http"])
		require.Equal(t, "[::1]:9000", env[p+"ADDR_db_admin"], "labels are made safe for variable names")
		require.Equal(t, "infra", env[p+"META_team"])
	}
	require.Equal(t, "server", env["NOMAD_TASK_NAME"])
	require.Equal(t, "overridden", env["DROVER_TASK_NAME"], "the job's own env wins")
	require.Equal(t, "hi", env["GREETING"])
}

func TestEnvInOwnRootNamesTheMountedDirectories(t *testing.T) {
	e := &TaskEnv{AllocDir: "/data/alloc/a1/alloc", TaskDir: "/data/alloc/a1/web/local", SecretsDir: "/data/alloc/a1/web/secrets",
		Env: map[string]string{"KEEP": "me"}}
	host := e.Map()
	env := EnvInOwnRoot(host)
	for _, p := range []string{"DROVER_", "NOMAD_"} {
		require.Equal(t, "/alloc", env[p+"ALLOC_DIR"])
		require.Equal(t, "/local", env[p+"TASK_DIR"])
		require.Equal(t, "/secrets", env[p+"SECRETS_DIR"])
	}
	require.Equal(t, "me", env["KEEP"])
	require.Equal(t, "/data/alloc/a1/alloc", host["NOMAD_ALLOC_DIR"], "the host's environment is left alone")
	_, ok := EnvInOwnRoot(map[string]string{})["NOMAD_TASK_DIR"]
	require.False(t, ok, "a variable the task does not have is not added")
}
