package acl

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestDataDriven runs the transcripts in testdata/*.txt. Commands:
//
//	policy name=<name>           parse the input as a policy and keep it
//	                             under name; prints ok or the error
//	compile [policies=(a,b,...)] compile the named policies into the ACL
//	                             the checks below use; with management,
//	                             use ManagementACL; with nil, a nil *ACL
//	check [ns=<ns> cap=<cap>]    one namespace check, or one check per
//	                             input line (see runCheck); prints allow
//	                             or deny for each
func TestDataDriven(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		if !strings.HasSuffix(path, ".txt") {
			return
		}
		policies := map[string]*Policy{}
		var a *ACL
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			switch d.Cmd {
			case "policy":
				var name string
				d.ScanArgs(t, "name", &name)
				p, err := Parse(d.Input)
				if err != nil {
					return "error: " + err.Error()
				}
				policies[name] = p
				return "ok"
			case "compile":
				switch {
				case d.HasArg("management"):
					a = ManagementACL
					return "ok"
				case d.HasArg("nil"):
					a = nil
					return "ok"
				}
				var names []string
				if d.HasArg("policies") {
					d.ScanArgs(t, "policies", &names)
				}
				var ps []*Policy
				for _, n := range names {
					p, ok := policies[n]
					if !ok {
						d.Fatalf(t, "no policy named %q", n)
					}
					ps = append(ps, p)
				}
				var err error
				if a, err = Compile(ps); err != nil {
					return "error: " + err.Error()
				}
				return "ok"
			case "check":
				if d.HasArg("ns") {
					var ns, capability string
					d.ScanArgs(t, "ns", &ns)
					d.ScanArgs(t, "cap", &capability)
					return verdict(a.AllowNamespaceOperation(ns, capability))
				}
				var out strings.Builder
				for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
					if line = strings.TrimSpace(line); line == "" {
						continue
					}
					allowed, err := runCheck(a, strings.Fields(line))
					if err != nil {
						d.Fatalf(t, "%s: %v", line, err)
					}
					fmt.Fprintf(&out, "%s: %s\n", line, verdict(allowed))
				}
				return out.String()
			default:
				d.Fatalf(t, "unknown command %q", d.Cmd)
				return ""
			}
		})
	})
}

func verdict(allowed bool) string {
	if allowed {
		return "allow"
	}
	return "deny"
}

// runCheck runs one check line:
//
//	ns <namespace> <capability>
//	namespace <namespace>
//	any-ns <capability>
//	var <namespace> <path> <capability>
//	pool <pool> <capability>
//	pool <pool>
//	volume <volume> <capability>
//	node|agent|quota|operator read|write
//	operator <capability>
//	plugin read|list
//	management
func runCheck(a *ACL, f []string) (bool, error) {
	arity := map[string][]int{
		"ns": {2}, "namespace": {1}, "any-ns": {1}, "var": {3}, "pool": {1, 2}, "volume": {2},
		"node": {1}, "agent": {1}, "quota": {1}, "operator": {1}, "plugin": {1}, "management": {0},
	}
	n, ok := arity[f[0]]
	if !ok {
		return false, fmt.Errorf("unknown check %q", f[0])
	}
	if !slices.Contains(n, len(f)-1) {
		return false, fmt.Errorf("%s takes %v arguments", f[0], n)
	}
	level := func(read, write func() bool) (bool, error) {
		switch f[1] {
		case "read":
			return read(), nil
		case "write":
			return write(), nil
		}
		return false, fmt.Errorf("want read or write, not %q", f[1])
	}
	switch f[0] {
	case "ns":
		return a.AllowNamespaceOperation(f[1], f[2]), nil
	case "namespace":
		return a.AllowNamespace(f[1]), nil
	case "any-ns":
		return a.AllowAnyNamespaceOperation(f[1]), nil
	case "var":
		return a.AllowVariableOperation(f[1], f[2], f[3]), nil
	case "pool":
		if len(f) == 2 {
			return a.AllowNodePool(f[1]), nil
		}
		return a.AllowNodePoolOperation(f[1], f[2]), nil
	case "volume":
		return a.AllowHostVolumeOperation(f[1], f[2]), nil
	case "node":
		return level(a.AllowNodeRead, a.AllowNodeWrite)
	case "agent":
		return level(a.AllowAgentRead, a.AllowAgentWrite)
	case "quota":
		return level(a.AllowQuotaRead, a.AllowQuotaWrite)
	case "operator":
		if f[1] != "read" && f[1] != "write" {
			return a.AllowOperatorOperation(f[1]), nil
		}
		return level(a.AllowOperatorRead, a.AllowOperatorWrite)
	case "plugin":
		if f[1] == "list" {
			return a.AllowPluginList(), nil
		}
		return level(a.AllowPluginRead, func() bool { return false })
	default: // management
		return a.IsManagement(), nil
	}
}
