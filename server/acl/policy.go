package acl

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// MaxRulesSize is the largest policy, in bytes, that Parse accepts.
const MaxRulesSize = 64 << 10

// maxQuoted is how many bytes of a bad value an error quotes at most.
const maxQuoted = 64

// ErrInvalidPolicy is wrapped by every error Parse and Compile return about
// the content of a policy.
var ErrInvalidPolicy = errors.New("invalid ACL policy")

// Policy is one parsed ACL policy: the rules as written, validated but not
// yet expanded into capabilities. Compile turns one or more policies into an
// ACL.
type Policy struct {
	// Namespaces holds the namespace blocks in the order written.
	Namespaces []NamespaceRule
	// NodePools holds the node_pool blocks in the order written.
	NodePools []NamedRule
	// HostVolumes holds the host_volume blocks in the order written.
	HostVolumes []NamedRule
	// Node is the node block, nil when absent.
	Node *LevelRule
	// Agent is the agent block, nil when absent.
	Agent *LevelRule
	// Operator is the operator block, nil when absent.
	Operator *OperatorRule
	// Quota is the quota block, nil when absent.
	Quota *LevelRule
	// Plugin is the plugin block, nil when absent.
	Plugin *LevelRule
}

// NamespaceRule is a namespace block: the capabilities it grants in the
// namespaces whose name matches Name.
type NamespaceRule struct {
	// Name is a namespace name or a pattern where '*' matches any run of
	// characters.
	Name string
	// Policy is a policy level (deny, read, write or scale), or "" when the
	// block only lists capabilities.
	Policy string
	// Capabilities lists fine-grained namespace capabilities.
	Capabilities []string
	// Variables holds the path rules of the block's variables block, nil if
	// it has none.
	Variables []VariablesRule
}

// VariablesRule is a path block inside a namespace's variables block.
type VariablesRule struct {
	// Path is a variable path or a pattern where '*' matches any run of
	// characters; it never starts with '/'.
	Path string
	// Capabilities lists variables capabilities.
	Capabilities []string
}

// NamedRule is a node_pool or host_volume block.
type NamedRule struct {
	// Name is a node pool or host volume name, or a pattern where '*' matches
	// any run of characters.
	Name string
	// Policy is a policy level (deny, read or write) or "".
	Policy string
	// Capabilities lists fine-grained capabilities of the block's kind.
	Capabilities []string
}

// LevelRule is a node, agent, quota or plugin block, which has only a policy
// level.
type LevelRule struct {
	// Policy is the policy level; plugin accepts deny, read or list, the
	// others deny, read or write.
	Policy string
}

// OperatorRule is an operator block.
type OperatorRule struct {
	// Policy is deny, read, write or "".
	Policy string
	// Capabilities lists operator capabilities.
	Capabilities []string
}

// isEmpty reports whether the policy has no rule at all.
func (p *Policy) isEmpty() bool {
	return len(p.Namespaces) == 0 && len(p.NodePools) == 0 && len(p.HostVolumes) == 0 &&
		p.Node == nil && p.Agent == nil && p.Operator == nil && p.Quota == nil && p.Plugin == nil
}

// Parse parses and validates a policy written in Nomad's ACL rule language,
// either in HCL or in its JSON form (rules whose first non-blank character is
// '{'). It accepts these blocks, each at most as often as shown:
//
//	namespace "<name or pattern>" {             # any number
//	  policy       = "deny" | "read" | "write" | "scale"
//	  capabilities = [<namespace capabilities>]
//	  variables {                               # at most one
//	    path "<path or pattern>" {              # at least one
//	      capabilities = [<variables capabilities>]
//	    }
//	  }
//	}
//	node_pool "<name or pattern>" {             # any number
//	  policy = "deny" | "read" | "write", capabilities = [...]
//	}
//	host_volume "<name or pattern>" {           # any number
//	  policy = "deny" | "read" | "write", capabilities = [...]
//	}
//	node     { policy = "deny" | "read" | "write" }  # at most one each
//	agent    { policy = "deny" | "read" | "write" }
//	quota    { policy = "deny" | "read" | "write" }
//	plugin   { policy = "deny" | "read" | "list" }
//	operator { policy = "deny" | "read" | "write", capabilities = [...] }
//
// Values must be plain strings and lists of plain strings: no variables,
// functions, interpolation or other expressions. Parse refuses unknown blocks
// and keys, invalid names, levels and capabilities, rules longer than
// MaxRulesSize and policies with no rule at all. Its errors wrap
// ErrInvalidPolicy, name the offending block and quote at most a short prefix
// of the offending value.
func Parse(rules string) (*Policy, error) {
	if len(rules) > MaxRulesSize {
		return nil, fmt.Errorf("%w: the rules are %d bytes long, more than the limit of %d",
			ErrInvalidPolicy, len(rules), MaxRulesSize)
	}
	p, err := decode(rules)
	if err != nil {
		return nil, err
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// validate checks every rule of the policy. Compile calls it too, so a Policy
// built by hand is held to the same rules as a parsed one.
func (p *Policy) validate() error {
	if p.isEmpty() {
		return invalidf("the policy has no rules")
	}
	for _, ns := range p.Namespaces {
		if err := validateNamespace(ns); err != nil {
			return err
		}
	}
	for _, np := range p.NodePools {
		if err := validateNamed(nodePoolKind, np, validNodePoolName); err != nil {
			return err
		}
	}
	for _, hv := range p.HostVolumes {
		if err := validateNamed(hostVolumeKind, hv, validNamespaceName); err != nil {
			return err
		}
	}
	for _, b := range []struct {
		block string
		rule  *LevelRule
		ok    map[string]bool
	}{
		{"node", p.Node, coarseLevels},
		{"agent", p.Agent, coarseLevels},
		{"quota", p.Quota, coarseLevels},
		{"plugin", p.Plugin, pluginLevels},
	} {
		if b.rule != nil && !b.ok[b.rule.Policy] {
			return invalidf("%s block: invalid policy %s (want %s)", b.block, quote(b.rule.Policy), levelNames(b.ok))
		}
	}
	if op := p.Operator; op != nil {
		if op.Policy != "" && !coarseLevels[op.Policy] {
			return invalidf("operator block: invalid policy %s (want %s)", quote(op.Policy), levelNames(coarseLevels))
		}
		if _, bad := operatorKind.set(op.Capabilities); bad != "" {
			return invalidf("operator block: invalid capability %s", quote(bad))
		}
	}
	return nil
}

var (
	coarseLevels = map[string]bool{PolicyDeny: true, PolicyRead: true, PolicyWrite: true}
	pluginLevels = map[string]bool{PolicyDeny: true, PolicyRead: true, PolicyList: true}
)

// levelNames lists the accepted levels for an error, in a fixed order.
func levelNames(ok map[string]bool) string {
	var out string
	for _, l := range []string{PolicyDeny, PolicyList, PolicyRead, PolicyWrite, PolicyScale} {
		if !ok[l] {
			continue
		}
		if out != "" {
			out += ", "
		}
		out += l
	}
	return out
}

func validateNamespace(ns NamespaceRule) error {
	if !validNamespaceName(ns.Name) {
		return invalidf("namespace block: invalid name %s (want 1 to 128 of a-z, A-Z, 0-9, '-' and '*')", quote(ns.Name))
	}
	if _, ok := namespaceKind.levels[ns.Policy]; ns.Policy != "" && !ok {
		return invalidf("namespace %s: invalid policy %s (want deny, read, write or scale)", quote(ns.Name), quote(ns.Policy))
	}
	if _, bad := namespaceKind.set(ns.Capabilities); bad != "" {
		return invalidf("namespace %s: invalid capability %s", quote(ns.Name), quote(bad))
	}
	if ns.Variables != nil && len(ns.Variables) == 0 {
		return invalidf("namespace %s: the variables block has no path block", quote(ns.Name))
	}
	for _, v := range ns.Variables {
		switch {
		case v.Path == "":
			return invalidf("namespace %s: a variables path block has an empty path", quote(ns.Name))
		case v.Path[0] == '/':
			return invalidf("namespace %s: variables path %s starts with '/'", quote(ns.Name), quote(v.Path))
		}
		if _, bad := variablesKind.set(v.Capabilities); bad != "" {
			return invalidf("namespace %s: variables path %s: invalid capability %s", quote(ns.Name), quote(v.Path), quote(bad))
		}
	}
	return nil
}

func validateNamed(kind *capKind, r NamedRule, validName func(string) bool) error {
	if !validName(r.Name) {
		return invalidf("%s block: invalid name %s", kind.block, quote(r.Name))
	}
	if _, ok := kind.levels[r.Policy]; r.Policy != "" && !ok {
		return invalidf("%s %s: invalid policy %s (want deny, read or write)", kind.block, quote(r.Name), quote(r.Policy))
	}
	if _, bad := kind.set(r.Capabilities); bad != "" {
		return invalidf("%s %s: invalid capability %s", kind.block, quote(r.Name), quote(bad))
	}
	return nil
}

// validNamespaceName accepts 1 to 128 of a-z, A-Z, 0-9, '-' and '*', as Nomad
// does for namespace and host volume rules.
func validNamespaceName(s string) bool { return validName(s, false) }

// validNodePoolName accepts what validNamespaceName does and '_' too.
func validNodePoolName(s string) bool { return validName(s, true) }

func validName(s string, underscore bool) bool {
	if len(s) < 1 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '*':
		case c == '_' && underscore:
		default:
			return false
		}
	}
	return true
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidPolicy}, args...)...)
}

// quote quotes s for an error message, cut to its first maxQuoted bytes (on
// a character boundary) with "..." appended when it was longer.
func quote(s string) string {
	if len(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	cut := maxQuoted
	for cut > maxQuoted-utf8.UTFMax && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "..."
}
