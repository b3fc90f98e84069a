package acl

import (
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// compile parses each of rules as one policy and compiles them together.
func compile(t testing.TB, rules ...string) *ACL {
	t.Helper()
	policies := make([]*Policy, 0, len(rules))
	for _, r := range rules {
		p, err := Parse(r)
		require.NoError(t, err, r)
		policies = append(policies, p)
	}
	a, err := Compile(policies)
	require.NoError(t, err)
	return a
}

// every check of an ACL, each with arguments that a permissive ACL allows.
var everyCheck = map[string]func(*ACL) bool{
	"AllowNamespaceOperation":      func(a *ACL) bool { return a.AllowNamespaceOperation("default", NamespaceCapabilityReadJob) },
	"AllowNamespaceOperationAnyOf": func(a *ACL) bool { return a.AllowNamespaceOperationAnyOf("default", NamespaceCapabilityReadJob) },
	"AllowNamespace":               func(a *ACL) bool { return a.AllowNamespace("default") },
	"AllowAnyNamespaceOperation":   func(a *ACL) bool { return a.AllowAnyNamespaceOperation(NamespaceCapabilityReadJob) },
	"AllowVariableOperation":       func(a *ACL) bool { return a.AllowVariableOperation("default", "a", VariablesCapabilityRead) },
	"AllowNodePoolOperation":       func(a *ACL) bool { return a.AllowNodePoolOperation("default", NodePoolCapabilityRead) },
	"AllowNodePool":                func(a *ACL) bool { return a.AllowNodePool("default") },
	"AllowHostVolumeOperation":     func(a *ACL) bool { return a.AllowHostVolumeOperation("v", HostVolumeCapabilityMountReadOnly) },
	"AllowHostVolume":              func(a *ACL) bool { return a.AllowHostVolume("v") },
	"AllowNodeRead":                (*ACL).AllowNodeRead,
	"AllowNodeWrite":               (*ACL).AllowNodeWrite,
	"AllowAgentRead":               (*ACL).AllowAgentRead,
	"AllowAgentWrite":              (*ACL).AllowAgentWrite,
	"AllowOperatorRead":            (*ACL).AllowOperatorRead,
	"AllowOperatorWrite":           (*ACL).AllowOperatorWrite,
	"AllowOperatorOperation":       func(a *ACL) bool { return a.AllowOperatorOperation(OperatorCapabilitySnapshotSave) },
	"AllowQuotaRead":               (*ACL).AllowQuotaRead,
	"AllowQuotaWrite":              (*ACL).AllowQuotaWrite,
	"AllowPluginRead":              (*ACL).AllowPluginRead,
	"AllowPluginList":              (*ACL).AllowPluginList,
	"IsManagement":                 (*ACL).IsManagement,
}

const allowAll = `
namespace "*" {
  policy       = "write"
  capabilities = ["alloc-node-exec"]
  variables {
    path "*" { capabilities = ["read", "write", "destroy"] }
  }
}
node_pool "*"   { policy = "write" }
host_volume "*" { policy = "write" }
node     { policy = "write" }
agent    { policy = "write" }
operator { policy = "write" }
quota    { policy = "write" }
plugin   { policy = "read" }
`

func TestNilACLAllowsNothing(t *testing.T) {
	var a *ACL
	for name, check := range everyCheck {
		require.False(t, check(a), name)
	}
}

func TestEmptyACLAllowsNothing(t *testing.T) {
	for _, a := range []*ACL{compile(t), compile(t, `namespace "default" {}`)} {
		for name, check := range everyCheck {
			require.False(t, check(a), name)
		}
	}
}

func TestManagementAllowsEverything(t *testing.T) {
	for name, check := range everyCheck {
		require.True(t, check(ManagementACL), name)
	}
	require.True(t, ManagementACL.AllowNamespaceOperation("any", "any-made-up-capability"))
	require.True(t, ManagementACL.AllowNamespaceOperation("any", NamespaceCapabilityPurgeJob))

	// A policy granting everything it can is still not management.
	a := compile(t, allowAll)
	for name, check := range everyCheck {
		require.Equal(t, name != "IsManagement", check(a), name)
	}
}

func TestDenyEverythingEverywhere(t *testing.T) {
	// allowAll merged with denies of every block allows nothing.
	a := compile(t, allowAll, `
namespace "*" { policy = "deny" }
node_pool "*" { capabilities = ["deny"] }
host_volume "*" { policy = "deny" }
node     { policy = "deny" }
agent    { policy = "deny" }
operator { policy = "deny" }
quota    { policy = "deny" }
plugin   { policy = "deny" }
`)
	for name, check := range everyCheck {
		require.False(t, check(a), name)
	}
}

func TestCompileErrors(t *testing.T) {
	_, err := Compile([]*Policy{nil})
	require.ErrorIs(t, err, ErrInvalidPolicy)

	// A Policy built by hand is validated as a parsed one is.
	for _, p := range []*Policy{
		{},
		{Namespaces: []NamespaceRule{{Name: "a b"}}},
		{Namespaces: []NamespaceRule{{Name: "a", Policy: "admin"}}},
		{Namespaces: []NamespaceRule{{Name: "a", Capabilities: []string{"root"}}}},
		{Namespaces: []NamespaceRule{{Name: "a", Variables: []VariablesRule{}}}},
		{Namespaces: []NamespaceRule{{Name: "a", Variables: []VariablesRule{{Path: "/x"}}}}},
		{NodePools: []NamedRule{{Name: "p", Policy: "scale"}}},
		{HostVolumes: []NamedRule{{Name: "v", Capabilities: []string{"read"}}}},
		{Node: &LevelRule{}},
		{Plugin: &LevelRule{Policy: "write"}},
		{Operator: &OperatorRule{Capabilities: []string{"root"}}},
	} {
		_, err := Compile([]*Policy{p})
		require.ErrorIs(t, err, ErrInvalidPolicy, "%+v", p)
	}
}

func TestCompileKeepsNoReference(t *testing.T) {
	p, err := Parse(`namespace "default" { capabilities = ["read-job"] }`)
	require.NoError(t, err)
	a, err := Compile([]*Policy{p})
	require.NoError(t, err)
	p.Namespaces[0].Capabilities[0] = NamespaceCapabilitySubmitJob
	p.Namespaces[0].Name = "other"
	require.True(t, a.AllowNamespaceOperation("default", NamespaceCapabilityReadJob))
	require.False(t, a.AllowNamespaceOperation("default", NamespaceCapabilitySubmitJob))
	require.False(t, a.AllowNamespace("other"))
}

func TestNamespaceOperations(t *testing.T) {
	type check struct {
		ns, capability string
		allow          bool
	}
	cases := []struct {
		name     string
		policies []string
		checks   []check
	}{
		{
			name:     "read",
			policies: []string{`namespace "default" { policy = "read" }`},
			checks: []check{
				{"default", "read-job", true},
				{"default", "list-jobs", true},
				{"default", "submit-job", false},
				{"other", "read-job", false},
				{"default", "deny", false},
				{"default", "no-such-capability", false},
				{"default", "", false},
			},
		},
		{
			name:     "capabilities only",
			policies: []string{`namespace "default" { capabilities = ["submit-job", "host-volume-register"] }`},
			checks: []check{
				{"default", "submit-job", true},
				{"default", "read-job", false},
				{"default", "host-volume-create", true},
				{"default", "host-volume-read", true},
				{"default", "host-volume-delete", false},
			},
		},
		{
			name:     "union across policies",
			policies: []string{`namespace "default" { policy = "read" }`, `namespace "default" { capabilities = ["submit-job"] }`},
			checks: []check{
				{"default", "read-job", true},
				{"default", "submit-job", true},
				{"default", "dispatch-job", false},
			},
		},
		{
			name:     "scale",
			policies: []string{`namespace "default" { policy = "scale" }`},
			checks: []check{
				{"default", "scale-job", true},
				{"default", "read-job", true},
				{"default", "list-jobs", false},
				{"default", "submit-job", false},
			},
		},
		{
			name:     "fine-grained job capabilities are their own",
			policies: []string{`namespace "default" { policy = "write" }`, `namespace "ops" { capabilities = ["purge-job"] }`},
			checks: []check{
				{"default", "submit-job", true},
				{"default", "purge-job", false},
				{"ops", "purge-job", true},
				{"ops", "submit-job", false},
			},
		},
		{
			name:     "exact rule shadows globs even when it grants less",
			policies: []string{`namespace "*" { policy = "write" }`, `namespace "default" { policy = "read" }`},
			checks: []check{
				{"default", "read-job", true},
				{"default", "submit-job", false},
				{"other", "submit-job", true},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := compile(t, tc.policies...)
			for _, c := range tc.checks {
				require.Equal(t, c.allow, a.AllowNamespaceOperation(c.ns, c.capability), "%s %s", c.ns, c.capability)
			}
		})
	}
}

// TestDenyWins is the regression for the class of bug behind Nomad's
// CVE-2023-1296: a deny that some other grant silently overrides. Every case
// fails if a merge or a lookup ignores deny.
func TestDenyWins(t *testing.T) {
	write := `namespace "default" { policy = "write" }`
	cases := []struct {
		name     string
		policies []string
		ns       string
	}{
		{"deny level after write", []string{write, `namespace "default" { policy = "deny" }`}, "default"},
		{"deny level before write", []string{`namespace "default" { policy = "deny" }`, write}, "default"},
		{"deny capability in another policy", []string{write, `namespace "default" { capabilities = ["deny"] }`}, "default"},
		{"deny capability beside grants", []string{write, `namespace "default" { capabilities = ["read-job", "deny"] }`}, "default"},
		{"deny and write in one block", []string{"namespace \"default\" {\n policy = \"write\"\n capabilities = [\"deny\"]\n}"}, "default"},
		{"deny level with capabilities", []string{"namespace \"default\" {\n policy = \"deny\"\n capabilities = [\"submit-job\"]\n}"}, "default"},
		{"same namespace twice in one policy", []string{write + "\n" + `namespace "default" { policy = "deny" }`}, "default"},
		{"deny among three", []string{write, `namespace "default" { policy = "read" }`, `namespace "default" { policy = "deny" }`}, "default"},
		{"glob deny vs the same glob's write", []string{`namespace "prod-*" { policy = "write" }`, `namespace "prod-*" { policy = "deny" }`}, "prod-api"},
		{"star deny vs star write", []string{`namespace "*" { policy = "write" }`, `namespace "*" { capabilities = ["deny"] }`}, "anything"},
		{"exact deny vs glob write", []string{`namespace "*" { policy = "write" }`, `namespace "default" { policy = "deny" }`}, "default"},
		{"exact deny vs closer glob write", []string{`namespace "prod-ap*" { policy = "write" }`, `namespace "prod-api" { policy = "deny" }`}, "prod-api"},
		{"closer glob deny vs farther glob write", []string{`namespace "prod-*" { policy = "write" }`, `namespace "prod-api-*" { policy = "deny" }`}, "prod-api-1"},
		{"equally close globs, one denies", []string{`namespace "a-*" { policy = "write" }`, `namespace "*-c" { policy = "deny" }`}, "a-b-c"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := compile(t, tc.policies...)
			require.False(t, a.AllowNamespace(tc.ns))
			for _, c := range namespaceKind.names {
				require.False(t, a.AllowNamespaceOperation(tc.ns, c), c)
			}
			// Reversing the policies changes nothing.
			rev := append([]string(nil), tc.policies...)
			for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
				rev[i], rev[j] = rev[j], rev[i]
			}
			require.False(t, compile(t, rev...).AllowNamespaceOperation(tc.ns, NamespaceCapabilityReadJob))
		})
	}
}

// TestMoreSpecificGrantBeatsBroaderDeny pins the other half of the rule: a
// deny only wins for the name or pattern it is written for. A rule for a
// namespace by name, or a closer pattern, governs that namespace even if a
// broader pattern denies; this is how Nomad lets a policy deny "*" and grant
// some namespaces back.
func TestMoreSpecificGrantBeatsBroaderDeny(t *testing.T) {
	a := compile(t, `namespace "*" { policy = "deny" }`, `namespace "default" { policy = "read" }`,
		`namespace "dev-*" { policy = "write" }`)
	require.True(t, a.AllowNamespaceOperation("default", NamespaceCapabilityReadJob))
	require.False(t, a.AllowNamespaceOperation("default", NamespaceCapabilitySubmitJob))
	require.True(t, a.AllowNamespaceOperation("dev-1", NamespaceCapabilitySubmitJob))
	require.False(t, a.AllowNamespace("prod"))
}

// TestVariablesDenyWins covers the variables half of the CVE-2023-1296 class:
// Nomad merged a path's capabilities across policies by plain union, so a
// deny for a path next to a read of the same path in another policy still
// let reads through, and a namespace's deny did not reach its variables.
func TestVariablesDenyWins(t *testing.T) {
	read := "namespace \"default\" {\n variables {\n  path \"secret/*\" { capabilities = [\"read\", \"write\"] }\n }\n}"
	cases := []struct {
		name     string
		policies []string
		path     string
	}{
		{"path deny in another policy", []string{read, "namespace \"default\" {\n variables {\n  path \"secret/*\" { capabilities = [\"deny\"] }\n }\n}"}, "secret/db"},
		{"path deny beside grants", []string{read, "namespace \"default\" {\n variables {\n  path \"secret/*\" { capabilities = [\"list\", \"deny\"] }\n }\n}"}, "secret/db"},
		{"more specific path deny", []string{read, "namespace \"default\" {\n variables {\n  path \"secret/db\" { capabilities = [\"deny\"] }\n }\n}"}, "secret/db"},
		{"closer path pattern deny", []string{read, "namespace \"default\" {\n variables {\n  path \"secret/d*\" { capabilities = [\"deny\"] }\n }\n}"}, "secret/db"},
		{"namespace deny level", []string{read, `namespace "default" { policy = "deny" }`}, "secret/db"},
		{"namespace deny capability", []string{read, `namespace "default" { capabilities = ["deny"] }`}, "secret/db"},
		{"namespace deny in the same block", []string{"namespace \"default\" {\n policy = \"deny\"\n variables {\n  path \"*\" { capabilities = [\"read\"] }\n }\n}"}, "secret/db"},
		{"namespace deny by glob", []string{"namespace \"*\" {\n variables {\n  path \"*\" { capabilities = [\"read\"] }\n }\n}", `namespace "*" { policy = "deny" }`}, "secret/db"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := compile(t, tc.policies...)
			for _, c := range variablesKind.names {
				require.False(t, a.AllowVariableOperation("default", tc.path, c), c)
			}
		})
	}
	// Without the deny, the grant stands.
	a := compile(t, read)
	require.True(t, a.AllowVariableOperation("default", "secret/db", VariablesCapabilityRead))
	require.True(t, a.AllowVariableOperation("default", "secret/db", VariablesCapabilityList))
	require.True(t, a.AllowVariableOperation("default", "secret/db", VariablesCapabilityWrite))
	require.False(t, a.AllowVariableOperation("default", "secret/db", VariablesCapabilityDestroy))
	require.False(t, a.AllowVariableOperation("default", "public/x", VariablesCapabilityRead))
	require.False(t, a.AllowVariableOperation("other", "secret/db", VariablesCapabilityRead))
}

func TestVariablesMatching(t *testing.T) {
	cases := []struct {
		name, variables, ns, path, capability string
		allow                                 bool
	}{
		{"exact", `path "foo/bar" { capabilities = ["read"] }`, "ns", "foo/bar", "read", true},
		{"read implies list", `path "foo/bar" { capabilities = ["read"] }`, "ns", "foo/bar", "list", true},
		{"write is only write", `path "foo/bar" { capabilities = ["write"] }`, "ns", "foo/bar", "read", false},
		{"path glob", `path "foo/*" { capabilities = ["read"] }`, "ns", "foo/bar", "read", true},
		{"non-prefix path glob", `path "*/bar" { capabilities = ["read"] }`, "ns", "foo/bar", "read", true},
		{"prefix over suffix", "path \"*/bar\" { capabilities = [\"list\"] }\npath \"foo/*\" { capabilities = [\"write\"] }", "ns", "foo/bar", "write", true},
		{"tie merges", "path \"*/bar\" { capabilities = [\"list\"] }\npath \"foo/*\" { capabilities = [\"write\"] }", "ns", "foo/bar", "list", true},
		{"most specific only", "path \"*\" { capabilities = [\"read\"] }\npath \"foo/*\" { capabilities = [\"read\"] }\npath \"foo/bar\" { capabilities = [\"list\"] }", "ns", "foo/bar", "read", false},
		{"other path", `path "bar" { capabilities = ["read"] }`, "ns", "foo/bar", "read", false},
		{"other path glob", `path "*/foo" { capabilities = ["read"] }`, "ns", "foo/bar", "read", false},
		{"wildcard in the request is literal", `path "foo/bar" { capabilities = ["read"] }`, "ns", "*", "read", false},
		{"wildcard in the request namespace", `path "foo/bar" { capabilities = ["read"] }`, "ns*", "bar", "read", false},
		{"more specific deny", "path \"*\" { capabilities = [\"list\"] }\npath \"system/*\" { capabilities = [\"deny\"] }", "ns", "system/x", "list", false},
		{"other namespace", `path "*" { capabilities = ["read"] }`, "other", "x", "read", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := compile(t, "namespace \"ns\" {\n variables {\n"+tc.variables+"\n }\n}")
			require.Equal(t, tc.allow, a.AllowVariableOperation(tc.ns, tc.path, tc.capability))
		})
	}

	a := compile(t, "namespace \"*\" {\n variables {\n path \"foo/bar\" { capabilities = [\"read\"] }\n }\n}",
		"namespace \"prod\" {\n variables {\n path \"*\" { capabilities = [\"list\"] }\n }\n}")
	require.True(t, a.AllowVariableOperation("dev", "foo/bar", "read"), "glob namespace, exact path")
	// ("*", "foo/bar") is 4 away from ("prod", "foo/bar"), ("prod", "*") 7.
	require.True(t, a.AllowVariableOperation("prod", "foo/bar", "read"))
	require.True(t, a.AllowVariableOperation("prod", "x", "list"))
	require.False(t, a.AllowVariableOperation("prod", "x", "read"))
	// Variables rules grant nothing on jobs.
	require.False(t, a.AllowNamespace("prod"))
}

func TestAllowNamespace(t *testing.T) {
	a := compile(t,
		`namespace "read" { policy = "read" }`,
		`namespace "one" { capabilities = ["list-jobs"] }`,
		`namespace "none" {}`,
		`namespace "denied" { policy = "deny" }`,
		`namespace "glob-*" { policy = "read" }`,
	)
	require.True(t, a.AllowNamespace("read"))
	require.True(t, a.AllowNamespace("one"))
	require.False(t, a.AllowNamespace("none"))
	require.False(t, a.AllowNamespace("denied"))
	require.True(t, a.AllowNamespace("glob-1"))
	require.False(t, a.AllowNamespace("unknown"))
	require.False(t, a.AllowNamespace("*"))

	require.True(t, a.AllowAnyNamespaceOperation(NamespaceCapabilityListJobs))
	require.False(t, a.AllowAnyNamespaceOperation(NamespaceCapabilitySubmitJob))
	require.False(t, a.AllowAnyNamespaceOperation(NamespaceCapabilityDeny))
	require.False(t, compile(t, `namespace "a" { policy = "deny" }`).AllowAnyNamespaceOperation(NamespaceCapabilityReadJob))

	require.True(t, a.AllowNamespaceOperationAnyOf("one", NamespaceCapabilitySubmitJob, NamespaceCapabilityListJobs))
	require.False(t, a.AllowNamespaceOperationAnyOf("one", NamespaceCapabilitySubmitJob, NamespaceCapabilityPurgeJob))
	require.False(t, a.AllowNamespaceOperationAnyOf("one"))
}

func TestNodePools(t *testing.T) {
	cases := []struct {
		name, rules, pool string
		allowed           []string
		any               bool
	}{
		{"read", `node_pool "p" { policy = "read" }`, "p", []string{"read"}, true},
		{"write", `node_pool "p" { policy = "write" }`, "p", []string{"read", "write", "delete"}, true},
		{"capability write", `node_pool "p" { capabilities = ["write"] }`, "p", []string{"write"}, true},
		{"read and delete", "node_pool \"p\" {\n policy = \"read\"\n capabilities = [\"delete\"]\n}", "p", []string{"read", "delete"}, true},
		{"deny level wins", "node_pool \"p\" {\n policy = \"deny\"\n capabilities = [\"write\"]\n}", "p", nil, false},
		{"deny capability wins", `node_pool "p" { capabilities = ["write", "deny"] }`, "p", nil, false},
		{"glob", `node_pool "my-pool-*" { policy = "read" }`, "my-pool-1", []string{"read"}, true},
		{"glob mismatch", `node_pool "my-pool-*" { policy = "read" }`, "your-pool-1", nil, false},
		{"closest", "node_pool \"my-pool-dev-*\" { policy = \"read\" }\nnode_pool \"my-pool-*\" { policy = \"write\" }\nnode_pool \"*\" { policy = \"deny\" }", "my-pool-dev-1", []string{"read"}, true},
		{"underscore", `node_pool "pool_a" { policy = "read" }`, "pool_a", []string{"read"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := compile(t, tc.rules)
			for _, c := range nodePoolKind.names {
				require.Equal(t, slices.Contains(tc.allowed, c), a.AllowNodePoolOperation(tc.pool, c), c)
			}
			require.Equal(t, tc.any, a.AllowNodePool(tc.pool))
		})
	}
	a := compile(t, `node_pool "p" { policy = "write" }`, `node_pool "p" { policy = "deny" }`)
	require.False(t, a.AllowNodePoolOperation("p", NodePoolCapabilityRead), "deny in another policy wins")
}

func TestHostVolumes(t *testing.T) {
	cases := []struct {
		rules string
		allow bool
	}{
		{`host_volume "prod-api-*" { policy = "write" }`, true},
		{`host_volume "prod-api" { policy = "write" }`, false},
		{"host_volume \"prod-api-services\" { policy = \"deny\" }\nhost_volume \"prod-api-*\" { policy = \"write\" }", false},
		{"host_volume \"prod-api-*\" { policy = \"deny\" }\nhost_volume \"prod-api-services\" { policy = \"write\" }", true},
		{"host_volume \"*-api-services\" { policy = \"deny\" }\nhost_volume \"prod-api-*\" { policy = \"write\" }", false},
	}
	for _, tc := range cases {
		a := compile(t, tc.rules)
		require.Equal(t, tc.allow, a.AllowHostVolume("prod-api-services"), tc.rules)
		require.Equal(t, tc.allow, a.AllowHostVolumeOperation("prod-api-services", HostVolumeCapabilityMountReadWrite), tc.rules)
	}
	a := compile(t, `host_volume "v" { policy = "read" }`)
	require.True(t, a.AllowHostVolumeOperation("v", HostVolumeCapabilityMountReadOnly))
	require.False(t, a.AllowHostVolumeOperation("v", HostVolumeCapabilityMountReadWrite))
}

func TestCoarseBlocks(t *testing.T) {
	type want struct{ read, write bool }
	cases := []struct {
		levels []string
		want   want
	}{
		{nil, want{}},
		{[]string{"read"}, want{read: true}},
		{[]string{"write"}, want{read: true, write: true}},
		{[]string{"read", "write"}, want{read: true, write: true}},
		{[]string{"write", "read"}, want{read: true, write: true}},
		{[]string{"deny"}, want{}},
		{[]string{"write", "deny"}, want{}},
		{[]string{"deny", "write"}, want{}},
		{[]string{"read", "deny", "write"}, want{}},
	}
	blocks := []struct {
		block       string
		read, write func(*ACL) bool
	}{
		{"node", (*ACL).AllowNodeRead, (*ACL).AllowNodeWrite},
		{"agent", (*ACL).AllowAgentRead, (*ACL).AllowAgentWrite},
		{"quota", (*ACL).AllowQuotaRead, (*ACL).AllowQuotaWrite},
		{"operator", (*ACL).AllowOperatorRead, (*ACL).AllowOperatorWrite},
	}
	for _, b := range blocks {
		for _, tc := range cases {
			var rules []string
			for _, l := range tc.levels {
				rules = append(rules, b.block+` { policy = "`+l+`" }`)
			}
			a := compile(t, rules...)
			require.Equal(t, tc.want.read, b.read(a), "%s %v read", b.block, tc.levels)
			require.Equal(t, tc.want.write, b.write(a), "%s %v write", b.block, tc.levels)
		}
	}
}

func TestPlugin(t *testing.T) {
	cases := []struct {
		levels     []string
		read, list bool
	}{
		{[]string{"list"}, false, true},
		{[]string{"read"}, true, true},
		{[]string{"list", "read"}, true, true},
		{[]string{"read", "deny"}, false, false},
		{[]string{"deny", "list"}, false, false},
	}
	for _, tc := range cases {
		var rules []string
		for _, l := range tc.levels {
			rules = append(rules, `plugin { policy = "`+l+`" }`)
		}
		a := compile(t, rules...)
		require.Equal(t, tc.read, a.AllowPluginRead(), "%v", tc.levels)
		require.Equal(t, tc.list, a.AllowPluginList(), "%v", tc.levels)
	}
}

func TestOperator(t *testing.T) {
	a := compile(t, `operator { policy = "read" }`)
	require.True(t, a.AllowOperatorOperation(OperatorCapabilityLicenseRead))
	require.True(t, a.AllowOperatorOperation(OperatorCapabilityKeyringRead))
	require.False(t, a.AllowOperatorOperation(OperatorCapabilitySnapshotSave))

	a = compile(t, `operator { capabilities = ["snapshot-save"] }`)
	require.True(t, a.AllowOperatorOperation(OperatorCapabilitySnapshotSave))
	require.False(t, a.AllowOperatorRead())
	require.False(t, a.AllowOperatorOperation(OperatorCapabilityKeyringRotate))

	a = compile(t, `operator { policy = "write" }`)
	for _, c := range operatorKind.names[1:] {
		require.True(t, a.AllowOperatorOperation(c), c)
	}
	require.False(t, a.AllowOperatorOperation("made-up"))
	require.False(t, a.AllowOperatorOperation(OperatorCapabilityDeny))

	// A deny capability takes every operator permission away, level
	// included, whichever policy holds it.
	for _, rules := range [][]string{
		{"operator {\n policy = \"write\"\n capabilities = [\"deny\"]\n}"},
		{`operator { policy = "write" }`, `operator { capabilities = ["deny"] }`},
		{`operator { capabilities = ["deny"] }`, `operator { policy = "write" }`},
		{`operator { capabilities = ["snapshot-save"] }`, `operator { policy = "deny" }`},
	} {
		a := compile(t, rules...)
		require.False(t, a.AllowOperatorRead(), "%v", rules)
		require.False(t, a.AllowOperatorWrite(), "%v", rules)
		for _, c := range operatorKind.names {
			require.False(t, a.AllowOperatorOperation(c), "%v %s", rules, c)
		}
	}
}

// TestConcurrentChecks runs checks on one ACL from many goroutines; with
// -race it shows that checks do not write to the ACL.
func TestConcurrentChecks(t *testing.T) {
	a := compile(t, allowAll, `namespace "prod-*" { policy = "deny" }`)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				for _, check := range everyCheck {
					check(a)
				}
				if a.AllowNamespace("prod-api") {
					t.Error("deny ignored")
					return
				}
			}
		}()
	}
	wg.Wait()
}
