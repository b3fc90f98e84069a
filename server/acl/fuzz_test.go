package acl

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParse checks that Parse never panics, that its errors stay short and
// wrap ErrInvalidPolicy, and that whatever it accepts compiles and can be
// checked.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		allowAll,
		`namespace "default" { policy = "read" }`,
		"namespace \"prod-*\" {\n  policy = \"write\"\n  capabilities = [\"deny\"]\n}\n",
		"namespace \"dev\" {\n  variables {\n    path \"a/*\" { capabilities = [\"read\"] }\n  }\n}\n",
		"node_pool \"p_1\" {\n  policy = \"read\"\n  capabilities = [\"delete\"]\n}\n",
		`host_volume "v-*" { capabilities = ["mount-readonly"] }`,
		"node { policy = \"read\" }\nagent { policy = \"write\" }\nquota { policy = \"deny\" }\nplugin { policy = \"list\" }\n",
		"operator {\n  policy = \"read\"\n  capabilities = [\"snapshot-save\"]\n}\n",
		`{"namespace": {"default": {"policy": "read", "variables": {"path": {"x": {"capabilities": ["read"]}}}}}}`,
		`{"namespace": [{"": {"policy": "read"}}]}`,
		`{"node": {"policy": "read"}, "plugin": [{"policy": "list"}]}`,
		`node { policy = "${"read"}" }`,
		`namespace "a" { capabilities = [for c in ["read-job"]: c] }`,
		"node {\n  policy = <<EOT\nread\nEOT\n}\n",
		`namespace "\500" {}`,
		``,
	} {
		f.Add(seed)
	}
	// Every policy of the transcripts too.
	files, _ := filepath.Glob(filepath.Join("testdata", "*.txt"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		for _, chunk := range strings.Split(string(data), "\npolicy name=") {
			if i := strings.IndexByte(chunk, '\n'); i >= 0 {
				if j := strings.Index(chunk, "\n----\n"); j > i {
					f.Add(chunk[i+1 : j])
				}
			}
		}
	}

	f.Fuzz(func(t *testing.T, rules string) {
		p, err := Parse(rules)
		if err != nil {
			if p != nil {
				t.Fatalf("Parse returned a policy and an error: %v", err)
			}
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Fatalf("error does not wrap ErrInvalidPolicy: %v", err)
			}
			// The longest message quotes a few short values and names a
			// few blocks, each cut to maxQuoted bytes.
			if n := len(err.Error()); n > 8*maxQuoted+200 {
				t.Fatalf("error is %d bytes long: %v", n, err)
			}
			return
		}
		again, err := Parse(rules)
		if err != nil || !reflect.DeepEqual(p, again) {
			t.Fatalf("Parse is not deterministic: %v", err)
		}
		a, err := Compile([]*Policy{p, p})
		if err != nil {
			t.Fatalf("Parse accepted a policy that Compile refuses: %v", err)
		}
		exercise(t, a, p)
	})
}

// exercise runs every check of a with the names p mentions, to show none of
// them panics, and checks that a deny in p is honoured.
func exercise(t *testing.T, a *ACL, p *Policy) {
	for _, check := range everyCheck {
		check(a)
	}
	for _, ns := range p.Namespaces {
		name := strings.ReplaceAll(ns.Name, "*", "x")
		a.AllowNamespace(name)
		for _, c := range namespaceKind.names {
			a.AllowNamespaceOperation(name, c)
		}
		for _, v := range ns.Variables {
			a.AllowVariableOperation(name, v.Path, VariablesCapabilityRead)
		}
		if ns.Policy == PolicyDeny || slices.Contains(ns.Capabilities, NamespaceCapabilityDeny) {
			// A rule governs the very name it is written for: an exact
			// name trivially, and a pattern taken literally because no
			// pattern can be closer to it (its '*' must be matched by a
			// wildcard) and patterns as close merge with it.
			if a.AllowNamespace(ns.Name) || a.AllowVariableOperation(ns.Name, "x", VariablesCapabilityList) {
				t.Fatalf("namespace %q is denied but allowed", ns.Name)
			}
		}
	}
	for _, np := range p.NodePools {
		a.AllowNodePool(np.Name)
	}
	for _, hv := range p.HostVolumes {
		a.AllowHostVolume(hv.Name)
	}
}

// FuzzDenyWins checks, for any namespace rule name and namespace, that a
// deny for that name in one policy beats a write for it in another, even
// with a write for every namespace in a third.
func FuzzDenyWins(f *testing.F) {
	f.Add("default", "default", "submit-job")
	f.Add("prod-*", "prod-api", "read-job")
	f.Add("**", "x", "alloc-exec")
	f.Add("*-api-*", "a-api-b", "list-jobs")
	f.Fuzz(func(t *testing.T, name, ns, capability string) {
		if !validNamespaceName(name) {
			return
		}
		a := compile(t,
			`namespace "`+name+`" { policy = "write" }`,
			`namespace "*" { policy = "write" }`,
			`namespace "`+name+`" { capabilities = ["deny"] }`,
		)
		governed := name == ns || (isGlob(name) && globMatch(name, ns))
		if governed && (a.AllowNamespace(ns) || a.AllowNamespaceOperation(ns, capability)) {
			t.Fatalf("namespace %q: the deny for %q is ignored", ns, name)
		}
		if !governed && !isGlob(ns) && a.AllowNamespace(ns) != (name != "*" && !globMatch(name, ns)) {
			t.Fatalf("namespace %q: the write for every namespace is lost", ns)
		}
	})
}

// FuzzGlobMatch compares globMatch with a regular expression built from the
// same pattern.
func FuzzGlobMatch(f *testing.F) {
	f.Add("a*b*c", "aXbYc")
	f.Add("*", "")
	f.Fuzz(func(t *testing.T, pattern, name string) {
		// The regexp works on UTF-8 and globMatch on bytes: compare only
		// where both see the same characters.
		if len(pattern) > 64 || len(name) > 64 || !utf8.ValidString(pattern) || !utf8.ValidString(name) {
			return
		}
		re := regexp.MustCompile("(?s)^" + strings.ReplaceAll(regexp.QuoteMeta(pattern), `\*`, ".*") + "$")
		if got, want := globMatch(pattern, name), re.MatchString(name); got != want {
			t.Fatalf("globMatch(%q, %q) = %v, want %v", pattern, name, got, want)
		}
	})
}
