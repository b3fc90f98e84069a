package interpolate

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/structs"
)

func testVars() Vars {
	node := &structs.Node{
		Id: "node-id", Name: "node-name", Datacenter: "dc9", NodeClass: "gpu",
		Attributes:  map[string]string{"kernel.name": "linux", "unique.network.ip-address": "10.0.0.7"},
		Meta:        map[string]string{"rack": "r1"},
		DynamicMeta: map[string]string{"zone": "z2"},
	}
	return Vars{
		Env: map[string]string{
			"NOMAD_ALLOC_ID": "a1", "NOMAD_PORT_http": "8080", "NOMAD_ADDR_http": "10.0.0.7:8080",
			"NOMAD_META_owner": "ops", "HOME_DIR": "/h", "meta.rack": "from-env",
		},
		Node: NodeVars(node, "eu"),
	}
}

func TestString(t *testing.T) {
	v := testVars()
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"${NOMAD_ALLOC_ID}", "a1"},
		{"port ${NOMAD_PORT_http} on ${node.unique.name}", "port 8080 on node-name"},
		{"${NOMAD_ADDR_http}", "10.0.0.7:8080"},
		{"${node.unique.id}/${node.datacenter}/${node.class}/${node.region}", "node-id/dc9/gpu/eu"},
		{"${attr.kernel.name}-${attr.unique.network.ip-address}", "linux-10.0.0.7"},
		{"${meta.zone}", "z2"},
		// The task's environment wins over the node's variables.
		{"${meta.rack}", "from-env"},
		{"${NOMAD_META_owner}", "ops"},
		{`${env["HOME_DIR"]}/x`, "/h/x"},
		{`${env['HOME_DIR']}`, "/h"},
		// env[...] reads the task's environment only.
		{`${env["node.unique.id"]}`, `${env["node.unique.id"]}`},
		// Unknown or malformed references stay as written.
		{"${UNKNOWN}", "${UNKNOWN}"},
		{"${attr.nope}", "${attr.nope}"},
		{"${ spaced }", "${ spaced }"},
		{"${NOMAD_ALLOC_ID", "${NOMAD_ALLOC_ID"},
		{"$NOMAD_ALLOC_ID", "$NOMAD_ALLOC_ID"},
		{"${}", "${}"},
		{`${env["HOME_DIR]}`, `${env["HOME_DIR]}`},
		{"$${NOMAD_ALLOC_ID}", "$a1"},
		{"${${NOMAD_ALLOC_ID}}", "${a1}"},
	} {
		require.Equal(t, tc.want, v.String(tc.in), "input %q", tc.in)
	}
}

func TestValueIsACopy(t *testing.T) {
	v := testVars()
	in := map[string]any{
		"command": "/bin/echo",
		"args":    []any{"${NOMAD_PORT_http}", 3.0, true, map[string]any{"k": "${node.class}"}},
		"labels":  map[string]any{"${NOMAD_ALLOC_ID}": "${NOMAD_ALLOC_ID}"},
	}
	out := v.Config(in)
	require.Equal(t, map[string]any{
		"command": "/bin/echo",
		"args":    []any{"8080", 3.0, true, map[string]any{"k": "gpu"}},
		"labels":  map[string]any{"${NOMAD_ALLOC_ID}": "a1"},
	}, out)
	require.Equal(t, "${NOMAD_PORT_http}", in["args"].([]any)[0], "the input is unchanged")
	require.Nil(t, v.Config(nil))
	require.Nil(t, v.Strings(nil))
	require.Nil(t, v.Map(nil))
	require.Equal(t, map[string]string{"a1": "gpu"}, v.Map(map[string]string{"${NOMAD_ALLOC_ID}": "${node.class}"}))
}

func TestValueDepthIsBounded(t *testing.T) {
	var deep any = "${NOMAD_ALLOC_ID}"
	for range maxDepth + 10 {
		deep = []any{deep}
	}
	_ = testVars().Value(deep) // returns without exhausting the stack
}

func TestNodeVarsRegion(t *testing.T) {
	require.Equal(t, "us", NodeVars(&structs.Node{Region: "us"}, "eu")["node.region"])
	require.Equal(t, "eu", NodeVars(&structs.Node{}, "eu")["node.region"])
}

func FuzzString(f *testing.F) {
	for _, s := range []string{"${NOMAD_ALLOC_ID}", `${env["HOME_DIR"]}`, "${", "}${", "${a}${b", "$${x}}"} {
		f.Add(s)
	}
	v := testVars()
	f.Fuzz(func(t *testing.T, s string) {
		out := v.String(s)
		if !strings.Contains(s, "${") && out != s {
			t.Fatalf("%q without references changed to %q", s, out)
		}
		// Values here are short: the output cannot grow much beyond them.
		if len(out) > len(s)*8+16 {
			t.Fatalf("output of %d bytes for %d", len(out), len(s))
		}
	})
}

func TestService(t *testing.T) {
	v := testVars()
	in := &structs.Service{Name: "web-${node.class}", Port: "http", Tags: []string{"alloc-${NOMAD_ALLOC_ID}"},
		Checks: []*structs.ServiceCheck{{Name: "c", Path: "/health/${node.unique.name}", Command: "${env[\"HOME_DIR\"]}/check", Args: []string{"${NOMAD_PORT_http}"}}}}
	out := v.Service(in)
	require.Equal(t, "web-gpu", out.Name)
	require.Equal(t, []string{"alloc-a1"}, out.Tags)
	require.Equal(t, "/health/node-name", out.Checks[0].Path)
	require.Equal(t, "/h/check", out.Checks[0].Command)
	require.Equal(t, []string{"8080"}, out.Checks[0].Args)
	require.Equal(t, "web-${node.class}", in.Name, "the input is unchanged")
	require.Nil(t, v.Service(nil))
}

// BenchmarkConfig interpolates a typical driver config: a command, a
// dozen arguments with references, a nested map.
func BenchmarkConfig(b *testing.B) {
	v := testVars()
	cfg := map[string]any{
		"command": "/usr/local/bin/server",
		"args": []any{"--listen", "${NOMAD_ADDR_http}", "--node", "${node.unique.name}", "--dc", "${node.datacenter}",
			"--alloc", "${NOMAD_ALLOC_ID}", "--kernel", "${attr.kernel.name}", "--rack", "${meta.rack}", "--plain", "value"},
		"labels": map[string]any{"owner": "${NOMAD_META_owner}", "home": `${env["HOME_DIR"]}`},
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = v.Config(cfg)
	}
}
