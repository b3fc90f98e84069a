package api_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	nomad "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/api"
	"github.com/droverhq/drover/client"
)

// TestInterpolationThroughTheNomadClient runs a job, registered with
// Nomad's Go client, whose args, env, meta and artifact name every
// family of runtime variable, and checks what the task was given.
func TestInterpolationThroughTheNomadClient(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, filepath.Join(dir, "server"), false)
	node := startClientNodeWith(t, filepath.Join(dir, "client"), func(c *client.Config) {
		c.Name, c.NodeClass, c.Meta = "n1", "batchy", map[string]string{"rack": "r7"}
		c.HostVolumes = map[string]client.HostVolume{"scratch": {Path: dir, ReadOnly: true}}
	}, srv.Addr())
	defer node.stop(t)
	s := serveAPI(t, srv.NewHTTPHandler(api.Options{}), "")

	src := filepath.Join(dir, "artifact-n1.txt")
	require.NoError(t, os.WriteFile(src, []byte("fetched\n"), 0o644))
	lines := []string{
		"alloc_id=${NOMAD_ALLOC_ID}", "alloc_name=${NOMAD_ALLOC_NAME}", "alloc_index=${NOMAD_ALLOC_INDEX}",
		"task_dir=${NOMAD_TASK_DIR}", "alloc_dir=${NOMAD_ALLOC_DIR}", "secrets_dir=${NOMAD_SECRETS_DIR}",
		"port=${NOMAD_PORT_http}", "addr=${NOMAD_ADDR_http}", "ip=${NOMAD_IP_http}", "host_port=${NOMAD_HOST_PORT_http}",
		"meta=${NOMAD_META_owner}", "region=${NOMAD_REGION}", "dc=${NOMAD_DC}",
		"job=${NOMAD_JOB_NAME}", "group=${NOMAD_GROUP_NAME}", "task=${NOMAD_TASK_NAME}",
		"node_id=${node.unique.id}", "node_name=${node.unique.name}", "node_dc=${node.datacenter}",
		"node_class=${node.class}", "node_region=${node.region}", "kernel=${attr.kernel.name}",
		"rack=${meta.rack}", `greeting=${env["GREETING"]}`, "unknown=${nope.nothing}",
	}
	job := shJob("interp", `printf '%s\n' "$@" > out; echo "env=$FROM_ENV" >> out; exec sleep 300`)
	task := job.TaskGroups[0].Tasks[0]
	task.Config["args"] = append([]string{"-c", task.Config["args"].([]string)[1], "sh"}, lines...)
	task.Env = map[string]string{"GREETING": "hello", "FROM_ENV": "${node.unique.name}:${NOMAD_META_owner}"}
	task.Meta = map[string]string{"owner": "team-${node.class}"}
	task.Artifacts = []*nomad.TaskArtifact{{
		GetterSource: ptr("file://" + filepath.Join(dir, "artifact-${node.unique.name}.txt")),
		RelativeDest: ptr("${NOMAD_TASK_DIR}/fetched"),
	}}
	job.TaskGroups[0].Networks = []*nomad.NetworkResource{{DynamicPorts: []nomad.Port{{Label: "http"}}}}
	alloc := runJob(t, s.nomad, job)
	defer stopJobs(t, s.nomad)

	taskDir := node.taskDir(alloc.ID, "web")
	out := filepath.Join(taskDir, "out")
	waitFor(t, "the task's output", func() bool { b, _ := os.ReadFile(out); return strings.Contains(string(b), "env=") })
	got := map[string]string{}
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k, v, _ := strings.Cut(l, "=")
		got[k] = v
	}
	port := alloc.AllocatedResources.Shared.Ports[0]
	nodeInfo, _, err := s.nomad.Nodes().Info(alloc.NodeID, nil)
	require.NoError(t, err)
	want := map[string]string{
		"alloc_id": alloc.ID, "alloc_name": alloc.Name, "alloc_index": "0",
		"task_dir": filepath.Join(taskDir, "local"), "alloc_dir": filepath.Join(node.dir, "alloc", alloc.ID, "alloc"),
		"secrets_dir": filepath.Join(taskDir, "secrets"),
		"port":        strconv.Itoa(port.Value), "addr": port.HostIP + ":" + strconv.Itoa(port.Value), "ip": port.HostIP, "host_port": strconv.Itoa(port.Value),
		"meta": "team-batchy", "region": "global", "dc": "dc1", "job": "interp", "group": "g", "task": "web",
		"node_id": alloc.NodeID, "node_name": "n1", "node_dc": "dc1", "node_class": "batchy", "node_region": "global",
		"kernel": nodeInfo.Attributes["kernel.name"], "rack": "r7", "greeting": "hello",
		"unknown": "${nope.nothing}", "env": "n1:team-batchy",
	}
	require.Equal(t, want, got)
	require.NotEmpty(t, nodeInfo.Attributes["kernel.name"])
	require.Equal(t, &nomad.HostVolumeInfo{Path: dir, ReadOnly: true}, nodeInfo.HostVolumes["scratch"],
		"the node shows its host volumes")
	fetched, err := os.ReadFile(filepath.Join(taskDir, "local", "fetched", "artifact-n1.txt"))
	require.NoError(t, err, "the artifact's interpolated source and destination")
	require.Equal(t, "fetched\n", string(fetched))
}
