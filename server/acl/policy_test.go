package acl

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseBlocks(t *testing.T) {
	cases := []struct {
		name  string
		rules string
		want  *Policy
	}{
		{
			name: "every block",
			rules: `
# A comment.
namespace "default" {
  policy       = "read"
  capabilities = ["submit-job", "read-logs"]
}
namespace "prod-*" {
  policy = "deny"
}
namespace "apps" {
  variables {
    path "project/*" { capabilities = ["read"] }
    path "secret"    { capabilities = ["deny"] }
  }
}
node_pool "pool_1" {
  policy       = "read"
  capabilities = ["delete"]
}
host_volume "tls-*" {
  capabilities = ["mount-readonly"]
}
node     { policy = "write" }
agent    { policy = "read" }
operator {
  policy       = "read"
  capabilities = ["snapshot-save"]
}
quota  { policy = "deny" }
plugin { policy = "list" }
`,
			want: &Policy{
				Namespaces: []NamespaceRule{
					{Name: "default", Policy: "read", Capabilities: []string{"submit-job", "read-logs"}},
					{Name: "prod-*", Policy: "deny"},
					{Name: "apps", Variables: []VariablesRule{
						{Path: "project/*", Capabilities: []string{"read"}},
						{Path: "secret", Capabilities: []string{"deny"}},
					}},
				},
				NodePools:   []NamedRule{{Name: "pool_1", Policy: "read", Capabilities: []string{"delete"}}},
				HostVolumes: []NamedRule{{Name: "tls-*", Capabilities: []string{"mount-readonly"}}},
				Node:        &LevelRule{Policy: "write"},
				Agent:       &LevelRule{Policy: "read"},
				Operator:    &OperatorRule{Policy: "read", Capabilities: []string{"snapshot-save"}},
				Quota:       &LevelRule{Policy: "deny"},
				Plugin:      &LevelRule{Policy: "list"},
			},
		},
		{
			name:  "empty namespace block",
			rules: `namespace "default" {}`,
			want:  &Policy{Namespaces: []NamespaceRule{{Name: "default"}}},
		},
		{
			name:  "empty capability list",
			rules: `namespace "default" { capabilities = [] }`,
			want:  &Policy{Namespaces: []NamespaceRule{{Name: "default", Capabilities: []string{}}}},
		},
		{
			name:  "operator capabilities without a policy",
			rules: `operator { capabilities = ["keyring-read", "license-read"] }`,
			want:  &Policy{Operator: &OperatorRule{Capabilities: []string{"keyring-read", "license-read"}}},
		},
		{
			name:  "empty operator block",
			rules: `operator {}`,
			want:  &Policy{Operator: &OperatorRule{}},
		},
		{
			name: "same namespace twice",
			rules: `namespace "default" { policy = "read" }
namespace "default" { policy = "deny" }`,
			want: &Policy{Namespaces: []NamespaceRule{
				{Name: "default", Policy: "read"},
				{Name: "default", Policy: "deny"},
			}},
		},
		{
			name:  "globs",
			rules: `namespace "*" { policy = "read" }` + "\n" + `namespace "a*b*" { policy = "write" }` + "\n" + `node_pool "*" { policy = "read" }`,
			want: &Policy{
				Namespaces: []NamespaceRule{{Name: "*", Policy: "read"}, {Name: "a*b*", Policy: "write"}},
				NodePools:  []NamedRule{{Name: "*", Policy: "read"}},
			},
		},
		{
			name:  "heredoc string",
			rules: "node {\n  policy = <<EOT\nread\nEOT\n}\n",
		},
		{
			name: "json",
			rules: `{
  "namespace": {
    "default": {"policy": "write", "capabilities": ["alloc-node-exec"]},
    "apps": {"variables": {"path": {"a/*": {"capabilities": ["read"]}}}}
  },
  "node_pool": {"prod": {"policy": "read"}},
  "host_volume": {"v": {"policy": "write"}},
  "node": {"policy": "read"},
  "agent": {"policy": "write"},
  "operator": {"policy": "write"},
  "quota": {"policy": "read"},
  "plugin": {"policy": "read"}
}`,
			want: &Policy{
				Namespaces: []NamespaceRule{
					{Name: "default", Policy: "write", Capabilities: []string{"alloc-node-exec"}},
					{Name: "apps", Variables: []VariablesRule{{Path: "a/*", Capabilities: []string{"read"}}}},
				},
				NodePools:   []NamedRule{{Name: "prod", Policy: "read"}},
				HostVolumes: []NamedRule{{Name: "v", Policy: "write"}},
				Node:        &LevelRule{Policy: "read"},
				Agent:       &LevelRule{Policy: "write"},
				Operator:    &OperatorRule{Policy: "write"},
				Quota:       &LevelRule{Policy: "read"},
				Plugin:      &LevelRule{Policy: "read"},
			},
		},
		{
			name: "json with arrays of blocks, as Nomad writes it",
			rules: `
  {"namespace": [{"default": {"policy": "read"}}, {"default": {"policy": "deny"}}],
   "//": "a comment"}`,
			want: &Policy{Namespaces: []NamespaceRule{
				{Name: "default", Policy: "read"},
				{Name: "default", Policy: "deny"},
			}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse(tc.rules)
			if tc.want == nil {
				// Only the outcome matters here.
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, p)
		})
	}
}

func TestParseLevels(t *testing.T) {
	// Every level each block accepts, and every level it refuses.
	all := []string{PolicyDeny, PolicyList, PolicyRead, PolicyWrite, PolicyScale, "", "Read", "admin"}
	accepts := map[string][]string{
		`namespace "ns" { policy = %q }`:   {PolicyDeny, PolicyRead, PolicyWrite, PolicyScale},
		`node_pool "np" { policy = %q }`:   {PolicyDeny, PolicyRead, PolicyWrite},
		`host_volume "hv" { policy = %q }`: {PolicyDeny, PolicyRead, PolicyWrite},
		`node { policy = %q }`:             {PolicyDeny, PolicyRead, PolicyWrite},
		`agent { policy = %q }`:            {PolicyDeny, PolicyRead, PolicyWrite},
		`quota { policy = %q }`:            {PolicyDeny, PolicyRead, PolicyWrite},
		`operator { policy = %q }`:         {PolicyDeny, PolicyRead, PolicyWrite},
		`plugin { policy = %q }`:           {PolicyDeny, PolicyRead, PolicyList},
	}
	for format, ok := range accepts {
		block := strings.Fields(format)[0]
		for _, lvl := range all {
			rules := strings.Replace(format, "%q", `"`+lvl+`"`, 1)
			_, err := Parse(rules)
			want := slices.Contains(ok, lvl)
			// An empty level means "no level" where capabilities may stand
			// in for it.
			if lvl == "" && (block == "namespace" || block == "node_pool" || block == "host_volume" || block == "operator") {
				want = true
			}
			if want {
				require.NoError(t, err, rules)
				continue
			}
			require.Error(t, err, rules)
			require.ErrorIs(t, err, ErrInvalidPolicy)
			require.Contains(t, err.Error(), block, "the error names the block")
			require.Contains(t, err.Error(), `"`+lvl+`"`, "the error quotes the bad level")
		}
	}
}

func TestParseCapabilities(t *testing.T) {
	// Every capability of each kind is accepted where it belongs and refused
	// elsewhere.
	for _, c := range namespaceKind.names {
		_, err := Parse(`namespace "ns" { capabilities = ["` + c + `"] }`)
		require.NoError(t, err, c)
	}
	for _, c := range nodePoolKind.names {
		_, err := Parse(`node_pool "np" { capabilities = ["` + c + `"] }`)
		require.NoError(t, err, c)
	}
	for _, c := range hostVolumeKind.names {
		_, err := Parse(`host_volume "hv" { capabilities = ["` + c + `"] }`)
		require.NoError(t, err, c)
	}
	for _, c := range variablesKind.names {
		_, err := Parse("namespace \"ns\" {\n variables {\n  path \"p\" { capabilities = [\"" + c + "\"] }\n }\n}")
		require.NoError(t, err, c)
	}
	for _, c := range operatorKind.names {
		_, err := Parse(`operator { capabilities = ["` + c + `"] }`)
		require.NoError(t, err, c)
	}
	for _, tc := range []struct{ rules, bad string }{
		{`namespace "ns" { capabilities = ["read"] }`, "read"},
		{`namespace "ns" { capabilities = ["deny", "foo"] }`, "foo"},
		{`node_pool "np" { capabilities = ["submit-job"] }`, "submit-job"},
		{`host_volume "hv" { capabilities = ["read"] }`, "read"},
		{"namespace \"ns\" {\n variables {\n  path \"p\" { capabilities = [\"list-jobs\"] }\n }\n}", "list-jobs"},
		{`operator { capabilities = ["write"] }`, "write"},
	} {
		_, err := Parse(tc.rules)
		require.ErrorIs(t, err, ErrInvalidPolicy, tc.rules)
		require.Contains(t, err.Error(), `invalid capability "`+tc.bad+`"`)
		require.Contains(t, err.Error(), strings.Fields(tc.rules)[0])
	}
}

func TestParseErrors(t *testing.T) {
	long := strings.Repeat("x", 5000)
	cases := []struct {
		name  string
		rules string
		// want are substrings of the error.
		want []string
	}{
		{"empty", ``, []string{"no rules"}},
		{"blank", " \n\t ", []string{"no rules"}},
		{"only comments", "# nothing\n// nor this\n", []string{"no rules"}},
		{"empty json", `{}`, []string{"no rules"}},
		{"nomad api object", `{"Name": "p", "Description": "d", "Rules": "anything"}`, []string{`unknown key "Name"`}},
		{"unknown block", `namespace "a" {}` + "\nbogus { policy = \"read\" }", []string{"policy", `unknown key "bogus"`, "line 2, column 1"}},
		{"unknown top-level argument", `policy = "read"`, []string{`unknown key "policy"`}},
		{"unknown namespace key", "namespace \"dev\" {\n  polcy = \"read\"\n}", []string{`namespace "dev"`, `unknown key "polcy"`, "line 2, column 3"}},
		{"unknown namespace block", "namespace \"dev\" {\n jobs { policy = \"read\" }\n}", []string{`namespace "dev"`, `unknown key "jobs"`}},
		{"two arguments on one line", `node { policy = "read" capabilities = ["read"] }`, []string{"node block", "Invalid single-argument block definition"}},
		{"nested block on one line", `namespace "dev" { variables { path "a" {} } }`, []string{`namespace "dev"`, "Argument definition required"}},
		{"two blocks on one line", `node { policy = "read" } agent { policy = "read" }`, []string{"policy", "Missing newline after block definition"}},
		{"unknown node key on its own line", "node {\n policy = \"read\"\n capabilities = [\"read\"]\n}", []string{"node block", `unknown key "capabilities"`}},
		{"unknown variables key", ns("paths \"a\" {}"), []string{`namespace "dev" variables block`, `unknown key "paths"`}},
		{"unknown path key", ns("path \"a\" { policy = \"read\" }"), []string{`namespace "dev" variables path "a"`, `unknown key "policy"`}},
		{"unknown json key", `{"namespace": {"dev": {"polcy": "read"}}}`, []string{`namespace "dev"`, `unknown key "polcy"`}},
		{"bad namespace level", `namespace "default" { policy = "foo" }`, []string{`namespace "default"`, `invalid policy "foo"`}},
		{"namespace without label", `namespace { policy = "read" }`, []string{"Missing name for namespace"}},
		{"namespace with two labels", `namespace "a" "b" { policy = "read" }`, []string{"Extraneous label for namespace"}},
		{"node pool without label", `node_pool { policy = "read" }`, []string{"Missing name for node_pool"}},
		{"host volume without label", `host_volume { policy = "read" }`, []string{"Missing name for host_volume"}},
		{"node with a label", `node "x" { policy = "read" }`, []string{"Extraneous label for node"}},
		{"empty namespace name", `namespace "" { policy = "read" }`, []string{"namespace block", `invalid name ""`}},
		{"empty json namespace name", `{"namespace": [{"": {"policy": "read"}}]}`, []string{"namespace block", `invalid name ""`}},
		{"namespace name with a space", `namespace "has a space" { policy = "read" }`, []string{`invalid name "has a space"`}},
		{"namespace name with an underscore", `namespace "a_b" { policy = "read" }`, []string{`invalid name "a_b"`}},
		{"namespace name too long", `namespace "` + strings.Repeat("a", 129) + `" { policy = "read" }`, []string{"invalid name"}},
		{"namespace name with a slash", `namespace "a/b" {}`, []string{`invalid name "a/b"`}},
		{"namespace name with a nul", `namespace "a\u0000b" {}`, []string{`invalid name "a\x00b"`}},
		{"bad escape", `namespace "\500" {}`, []string{"Invalid escape sequence"}},
		{"node pool name", `node_pool "pool%" {}`, []string{"node_pool block", `invalid name "pool%"`}},
		{"empty node pool name", `node_pool "" {}`, []string{"node_pool block", `invalid name ""`}},
		{"host volume name", `host_volume "volume has a space" {}`, []string{"host_volume block", `invalid name "volume has a space"`}},
		{"host volume name with an underscore", `host_volume "a_b" {}`, []string{"host_volume block", `invalid name "a_b"`}},
		{"node pool level", `node_pool "np" { policy = "scale" }`, []string{`node_pool "np"`, `invalid policy "scale"`}},
		{"host volume level", `host_volume "hv" { policy = "list" }`, []string{`host_volume "hv"`, `invalid policy "list"`}},
		{"agent level", `agent { policy = "foo" }`, []string{"agent block", `invalid policy "foo"`}},
		{"node level", `node { policy = "foo" }`, []string{"node block", `invalid policy "foo"`}},
		{"node scale", `node { policy = "scale" }`, []string{"node block", `invalid policy "scale"`}},
		{"operator level", `operator { policy = "foo" }`, []string{"operator block", `invalid policy "foo"`}},
		{"quota level", `quota { policy = "foo" }`, []string{"quota block", `invalid policy "foo"`}},
		{"plugin level", `plugin { policy = "reader" }`, []string{"plugin block", `invalid policy "reader"`}},
		{"plugin write", `plugin { policy = "write" }`, []string{"plugin block", `invalid policy "write"`}},
		{"node without a level", `node {}`, []string{"node block", "policy is required"}},
		{"agent without a level", `agent {}`, []string{"agent block", "policy is required"}},
		{"duplicate node", "node { policy = \"read\" }\nnode { policy = \"write\" }", []string{"more than one node block", "line 2"}},
		{"duplicate operator", "operator {}\noperator {}", []string{"more than one operator block"}},
		{"duplicate json plugin", `{"plugin": [{"policy": "read"}, {"policy": "list"}]}`, []string{"more than one plugin block"}},
		{"duplicate argument", "node {\n policy = \"read\"\n policy = \"write\"\n}", []string{"node block", "Attribute redefined"}},
		{"duplicate json argument", `{"node": {"policy": "read", "policy": "write"}}`, []string{"node block", "Duplicate"}},
		{"sentinel block", `sentinel { policy = "read" }`, []string{`unknown key "sentinel"`}},
		{"variables without paths", "namespace \"dev\" {\n variables {}\n}", []string{`namespace "dev"`, "no path block"}},
		{"variables with a label", "namespace \"dev\" {\n variables \"*\" {\n  capabilities = [\"read\"]\n }\n}", []string{`namespace "dev"`, "Extraneous label for variables"}},
		{"two variables blocks", "namespace \"dev\" {\n variables {\n path \"a\" {}\n }\n variables {\n path \"b\" {}\n }\n}", []string{`namespace "dev"`, "more than one variables block"}},
		{"variables path with a leading slash", ns("path \"/nomad/job\" { capabilities = [\"read\"] }"), []string{`namespace "dev"`, `variables path "/nomad/job" starts with '/'`}},
		{"empty variables path", ns("path \"\" { capabilities = [\"read\"] }"), []string{`namespace "dev"`, "empty path"}},
		{"variables path without label", ns("path { capabilities = [\"read\"] }"), []string{`namespace "dev" variables block`, "Missing name for path"}},
		{"syntax error in a path", ns("path \"a\" { capabilities = [\"read\" }"), []string{`namespace "dev" variables path "a"`}},
		{"syntax error", `namespace "dev" {`, []string{"policy"}},
		{"json syntax error", `{"namespace": `, []string{"policy"}},
		{"json top-level array", `[{"node": {"policy": "read"}}]`, []string{"policy"}},
		{"bare word", `node { policy = read }`, []string{"node block", "policy must be a quoted string", `not "read"`}},
		{"number", `node { policy = 1 }`, []string{"node block", "policy must be a quoted string"}},
		{"null", `node { policy = null }`, []string{"node block", "policy must be a quoted string"}},
		{"interpolation", `node { policy = "${"read"}" }`, []string{"node block", "policy must be a quoted string"}},
		{"template directive", `node { policy = "%{ if true }read%{ endif }" }`, []string{"node block", "policy must be a quoted string"}},
		{"function call", `node { policy = lower("READ") }`, []string{"policy must be a quoted string"}},
		{"conditional", `node { policy = true ? "read" : "write" }`, []string{"policy must be a quoted string"}},
		{"for expression", `namespace "a" { capabilities = [for c in ["read-job"]: c] }`, []string{`namespace "a"`, "capabilities must be a list of quoted strings"}},
		{"list of a variable", `namespace "a" { capabilities = [var.c] }`, []string{"capabilities must be a list of quoted strings"}},
		{"capabilities as a string", `namespace "a" { capabilities = "read-job" }`, []string{"capabilities must be a list of quoted strings"}},
		{"nested list", `namespace "a" { capabilities = [["read-job"]] }`, []string{"capabilities must be a list of quoted strings"}},
		{"json number level", `{"node": {"policy": 1}}`, []string{"node block", "policy must be a quoted string"}},
		{"json null level", `{"node": {"policy": null}}`, []string{"node block", "policy must be a quoted string"}},
		{"json capabilities string", `{"namespace": {"a": {"capabilities": "read-job"}}}`, []string{`namespace "a"`, "capabilities must be a list"}},
		{"json capabilities numbers", `{"namespace": {"a": {"capabilities": [1]}}}`, []string{"capabilities must be a list"}},
		{"json block as string", `{"node": "read"}`, []string{"policy"}},
		{"json interpolation stays literal", `{"node": {"policy": "${x}"}}`, []string{`invalid policy "${x}"`}},
		{"long bad capability", `namespace "a" { capabilities = ["` + long + `"] }`, []string{`invalid capability "xxxx`, `"...`}},
		{"long unknown key", long + ` {}`, []string{`unknown key "xxxx`}},
		{"syntax error in a long unknown block", long + " {\n 0\n}", []string{"policy: Argument or block definition required"}},
		{"blocks where they do not belong", "node {\n agent {\n  policy = $\n }\n}", []string{"node block: Invalid character"}},
		{"long json key", `{"` + long + `": {}}`, []string{`unknown key "xxxx`}},
		{"too long", `namespace "a" {}` + strings.Repeat(" ", MaxRulesSize), []string{"65552 bytes", "limit of 65536"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse(tc.rules)
			require.Error(t, err)
			require.Nil(t, p)
			require.True(t, errors.Is(err, ErrInvalidPolicy), "%v does not wrap ErrInvalidPolicy", err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
			// No error quotes more than a short prefix of what it refuses.
			require.NotContains(t, err.Error(), strings.Repeat("x", maxQuoted+1))
			require.Less(t, len(err.Error()), 400, "error too long: %s", err)
		})
	}
}

// ns wraps the body of a variables block in a namespace "dev" block.
func ns(variables string) string {
	return "namespace \"dev\" {\n  variables {\n    " + variables + "\n  }\n}\n"
}

func TestParseAtTheSizeLimit(t *testing.T) {
	rules := `namespace "a" { policy = "read" }`
	rules += strings.Repeat(" ", MaxRulesSize-len(rules))
	_, err := Parse(rules)
	require.NoError(t, err)
	_, err = Parse(rules + " ")
	require.ErrorIs(t, err, ErrInvalidPolicy)
}

func TestQuote(t *testing.T) {
	require.Equal(t, `"abc"`, quote("abc"))
	require.Equal(t, `"`+strings.Repeat("a", 64)+`"`, quote(strings.Repeat("a", 64)))
	require.Equal(t, `"`+strings.Repeat("a", 64)+`"...`, quote(strings.Repeat("a", 65)))
	// A cut never splits a character.
	s := strings.Repeat("a", 63) + "é" + "tail"
	require.Equal(t, `"`+strings.Repeat("a", 63)+`"...`, quote(s))
	require.Equal(t, "ab...", clip("abcdef", 2))
	require.Equal(t, "a...", clip("aé", 2))
}

// TestParseLimits feeds Parse inputs that once overflowed the parser's stack
// (which kills the process) or took it seconds; each must now be refused
// early.
func TestParseLimits(t *testing.T) {
	fill := func(prefix, unit, suffix string) string {
		n := (MaxRulesSize - len(prefix) - len(suffix)) / len(unit)
		return prefix + strings.Repeat(unit, n) + suffix
	}
	cases := []struct {
		name, rules, want string
	}{
		{"brackets", fill("node { policy = ", "[", " }"), "nests deeper than 32 levels"},
		{"braces", fill("", "a {\n", ""), "nests deeper than 32 levels"},
		{"objects", fill("node { policy = ", "{a=", " }"), "nests deeper than 32 levels"},
		{"parentheses", fill("node { policy = ", "(", " }"), "other tokens"},
		{"unary minus", fill("node { policy = ", "-", "1 }"), "other tokens"},
		{"negations", fill("node { policy = ", "!", "true }"), "other tokens"},
		{"conditionals", fill("node { policy = ", "true ? 1 : ", "1 }"), "other tokens"},
		{"interpolations", fill(`node { policy = "`, "${", `" }`), "other tokens"},
		{"nested strings", fill("node { policy = ", `"${`, ` }`), "nests deeper"},
		{"for expressions", fill("node { policy = ", "[for x in ", "] }"), "nests deeper"},
		{"hidden closers in comments", fill("node { policy = ", "[ # ]\n", " }"), "nests deeper than 32 levels"},
		{"hidden closers in strings", fill("node { policy = ", `["]",`, " }"), "nests deeper than 32 levels"},
		{"mismatched closers", fill("node { policy = ", "[}", " }"), "policy"},
		{"escapes", fill(`node { policy = "`, "$${", `" }`), "more than 256 lines or escapes"},
		{"heredoc lines", fill("node {\n policy = <<EOT\n", "x\n", "EOT\n}\n"), "more than 256 lines or escapes"},
		{"json arrays", fill(`{"node": `, "[", ""), "nests deeper than 32 levels"},
		{"json objects", fill("", `{"a":`, ""), "nests deeper than 32 levels"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.LessOrEqual(t, len(tc.rules), MaxRulesSize)
			_, err := Parse(tc.rules)
			require.ErrorIs(t, err, ErrInvalidPolicy)
			require.Contains(t, err.Error(), tc.want)
		})
	}

	// The limits leave room for any real policy: a big valid one parses.
	big := fill("namespace \"a\" {\n capabilities = [", `"read-job",`, "]\n}\n")
	_, err := Parse(big)
	require.NoError(t, err)
	deep := `{"namespace": [{"a": [{"variables": [{"path": [{"x": [{"capabilities": ["read"]}]}]}]}]}]}`
	_, err = Parse(deep)
	require.NoError(t, err)
}
