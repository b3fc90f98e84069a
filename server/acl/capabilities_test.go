package acl

import (
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
)

// effective returns, sorted, the capabilities a rule of kind grants.
func effective(kind *capKind, policy string, caps ...string) []string {
	out := kind.list(expand(kind, policy, caps))
	sort.Strings(out)
	return out
}

func sorted(s ...string) []string {
	sort.Strings(s)
	return s
}

func TestNamespaceLevelExpansion(t *testing.T) {
	read := []string{
		"list-jobs", "parse-job", "read-job",
		"csi-list-volume", "csi-read-volume",
		"read-job-scaling", "list-scaling-policies", "read-scaling-policy",
		"host-volume-read",
	}
	write := append([]string{
		"scale-job", "submit-job", "dispatch-job",
		"read-logs", "read-fs", "alloc-exec", "alloc-lifecycle",
		"csi-mount-volume", "csi-write-volume",
		"submit-recommendation", "host-volume-create",
	}, read...)
	cases := []struct {
		policy string
		want   []string
	}{
		{PolicyDeny, []string{"deny"}},
		{PolicyRead, sorted(read...)},
		{PolicyWrite, sorted(write...)},
		{PolicyScale, sorted("list-scaling-policies", "read-scaling-policy", "read-job-scaling",
			"scale-job", "read-job", "submit-recommendation")},
		{"", []string{}},
	}
	for _, tc := range cases {
		require.Equal(t, tc.want, effective(namespaceKind, tc.policy), tc.policy)
	}

	// Write is not a blanket grant: the fine-grained job, deployment and
	// allocation capabilities and the privileged ones stay out of it, as in
	// Nomad.
	w := effective(namespaceKind, PolicyWrite)
	for _, c := range []string{
		"alloc-node-exec", "csi-register-plugin", "sentinel-override",
		"register-job", "purge-job", "deregister-job", "revert-job", "evaluate-job", "plan-job",
		"tag-job-version", "stable-job", "fail-deployment", "pause-deployment",
		"promote-deployment", "unblock-deployment", "cancel-deployment",
		"set-alloc-health-deployment", "gc-allocation", "pause-allocation",
		"force-periodic-job", "delete-service-registration",
		"host-volume-register", "host-volume-write", "host-volume-delete",
	} {
		require.NotContains(t, w, c)
	}
}

func TestNamespaceCapabilityImplications(t *testing.T) {
	require.Equal(t, sorted("host-volume-write", "host-volume-register", "host-volume-create", "host-volume-delete", "host-volume-read"),
		effective(namespaceKind, "", "host-volume-write"))
	require.Equal(t, sorted("host-volume-register", "host-volume-create", "host-volume-read"),
		effective(namespaceKind, "", "host-volume-register"))
	require.Equal(t, sorted("host-volume-create", "host-volume-read"),
		effective(namespaceKind, "", "host-volume-create"))
	// A level and capabilities add up.
	require.Equal(t, sorted(append([]string{"alloc-node-exec"}, effective(namespaceKind, PolicyRead)...)...),
		effective(namespaceKind, PolicyRead, "alloc-node-exec"))
	// Deny absorbs everything else, as a level or as a capability.
	require.Equal(t, []string{"deny"}, effective(namespaceKind, PolicyWrite, "deny"))
	require.Equal(t, []string{"deny"}, effective(namespaceKind, PolicyDeny, "submit-job"))
	require.Equal(t, []string{"deny"}, effective(namespaceKind, "", "submit-job", "deny", "read-job"))
}

func TestOtherLevelExpansions(t *testing.T) {
	require.Equal(t, []string{"read"}, effective(nodePoolKind, PolicyRead))
	require.Equal(t, sorted("read", "write", "delete"), effective(nodePoolKind, PolicyWrite))
	require.Equal(t, []string{"deny"}, effective(nodePoolKind, PolicyDeny, "write"))
	require.Equal(t, sorted("read", "write"), effective(nodePoolKind, PolicyRead, "write"))

	require.Equal(t, []string{"mount-readonly"}, effective(hostVolumeKind, PolicyRead))
	require.Equal(t, sorted("mount-readonly", "mount-readwrite"), effective(hostVolumeKind, PolicyWrite))
	require.Equal(t, []string{"deny"}, effective(hostVolumeKind, "", "mount-readwrite", "deny"))

	require.Equal(t, sorted("keyring-read", "license-read"), effective(operatorKind, PolicyRead))
	require.Equal(t, sorted("snapshot-save", "license-read", "keyring-rotate", "keyring-read", "keyring-delete"),
		effective(operatorKind, PolicyWrite))
	require.Equal(t, sorted("keyring-read", "license-read", "snapshot-save"), effective(operatorKind, PolicyRead, "snapshot-save"))

	// Read implies list for variables; write implies neither; deny absorbs.
	require.Equal(t, sorted("list", "read"), effective(variablesKind, "", "read"))
	require.Equal(t, []string{"write"}, effective(variablesKind, "", "write"))
	require.Equal(t, []string{"deny"}, effective(variablesKind, "", "read", "deny"))
}

func TestCapSetMerge(t *testing.T) {
	a := namespaceKind.mustSet([]string{"read-job"})
	b := namespaceKind.mustSet([]string{"submit-job"})
	d := namespaceKind.mustSet([]string{"deny"})
	require.Equal(t, a|b, a.merge(b))
	require.Equal(t, d, a.merge(d))
	require.Equal(t, d, d.merge(a))
	require.True(t, a.grants())
	require.False(t, d.grants())
	require.False(t, capSet(0).grants())
}

func TestLevels(t *testing.T) {
	require.Equal(t, levelWrite, maxLevel(levelRead, levelWrite))
	require.Equal(t, levelRead, maxLevel(levelRead, levelList))
	require.Equal(t, levelDeny, maxLevel(levelWrite, levelDeny))
	require.Equal(t, levelDeny, maxLevel(levelDeny, levelNone))
	require.Equal(t, levelList, maxLevel(levelNone, levelList))
}

func TestCapabilityTables(t *testing.T) {
	// Each exported capability is in its table exactly once.
	for _, k := range []*capKind{namespaceKind, nodePoolKind, hostVolumeKind, variablesKind, operatorKind} {
		require.Equal(t, len(k.names), len(k.index), k.block)
		require.Equal(t, "deny", k.names[0], k.block)
	}
	require.Len(t, namespaceKind.names, 45)
}
