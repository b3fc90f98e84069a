package acl

import "fmt"

// ACL is the compiled, checkable form of the policies a token holds.
//
// An ACL is immutable once built and safe for concurrent use by any number of
// goroutines. A nil *ACL allows nothing.
type ACL struct {
	management bool

	namespaces  ruleTable
	nodePools   ruleTable
	hostVolumes ruleTable
	variables   varTable

	node, agent, quota, plugin level

	operator     level
	operatorCaps capSet
}

// ManagementACL allows every operation. It is the ACL of management tokens.
var ManagementACL = &ACL{management: true}

// Compile merges policies into one ACL, as a token holding all of them gets.
//
// Namespace, node pool, host volume and variables path rules with the same
// name (or the same pattern) are merged by taking the union of their
// capabilities, except that a deny in any of them, as a policy level or as a
// capability, leaves that name with deny alone. For the node, agent, quota,
// plugin and operator blocks the most privileged level wins, except that deny
// wins over every other level; an operator deny capability denies every
// operator operation too.
//
// Which rule governs a given name is decided when checking: see
// AllowNamespaceOperation.
//
// Compile validates each policy as Parse does and fails if one is nil or
// invalid. It keeps no reference to the policies.
func Compile(policies []*Policy) (*ACL, error) {
	var (
		a                       = &ACL{}
		namespaces, pools, vols ruleTableBuilder
		variables               varTableBuilder
		operatorCaps            capSet
	)
	for i, p := range policies {
		if p == nil {
			return nil, fmt.Errorf("%w: policy %d is nil", ErrInvalidPolicy, i)
		}
		if err := p.validate(); err != nil {
			return nil, fmt.Errorf("policy %d: %w", i, err)
		}
		for _, ns := range p.Namespaces {
			namespaces.add(ns.Name, expand(namespaceKind, ns.Policy, ns.Capabilities))
			for _, v := range ns.Variables {
				variables.add(ns.Name, v.Path, expand(variablesKind, "", v.Capabilities))
			}
		}
		for _, np := range p.NodePools {
			pools.add(np.Name, expand(nodePoolKind, np.Policy, np.Capabilities))
		}
		for _, hv := range p.HostVolumes {
			vols.add(hv.Name, expand(hostVolumeKind, hv.Policy, hv.Capabilities))
		}
		for _, b := range []struct {
			rule *LevelRule
			dst  *level
		}{{p.Node, &a.node}, {p.Agent, &a.agent}, {p.Quota, &a.quota}, {p.Plugin, &a.plugin}} {
			if b.rule != nil {
				*b.dst = maxLevel(*b.dst, levelByName[b.rule.Policy])
			}
		}
		if op := p.Operator; op != nil {
			a.operator = maxLevel(a.operator, levelByName[op.Policy])
			operatorCaps = operatorCaps.merge(expand(operatorKind, op.Policy, op.Capabilities))
		}
	}
	a.namespaces = namespaces.build()
	a.nodePools = pools.build()
	a.hostVolumes = vols.build()
	a.variables = variables.build()
	// A deny anywhere in the operator rules, as a level or a capability,
	// takes every operator permission away.
	if a.operator == levelDeny || operatorCaps.denied() {
		a.operator, operatorCaps = levelDeny, denyBit
	}
	a.operatorCaps = operatorCaps
	return a, nil
}

// expand returns the capabilities a rule grants: those of its policy level
// and those it lists, with what they imply; deny absorbs the rest. The rule
// must have been validated.
func expand(kind *capKind, policy string, caps []string) capSet {
	s, _ := kind.set(caps)
	return kind.close(s | kind.levels[policy])
}

// IsManagement reports whether a is a management ACL, which allows
// everything.
func (a *ACL) IsManagement() bool { return a != nil && a.management }

// AllowNamespaceOperation reports whether capability is granted in namespace
// ns.
//
// The rule that governs ns is the one naming it exactly, if a policy has one;
// else the matching pattern closest to ns, that is the one whose wildcards
// stand for the fewest characters of ns (as Nomad ranks them); patterns
// equally close all govern it, their capabilities merged with deny winning.
// Only that rule counts: a more specific rule overrides a less specific one
// whether it grants or denies. A deny in any policy for the governing name or
// pattern denies every capability.
//
// ns is matched literally: the "*" that API callers use to ask about all
// namespaces is not special here; see AllowAnyNamespaceOperation.
func (a *ACL) AllowNamespaceOperation(ns, capability string) bool {
	if a == nil {
		return false
	}
	if a.management {
		return true
	}
	caps, ok := a.namespaces.lookup(ns)
	return ok && allows(namespaceKind, caps, capability)
}

// AllowNamespaceOperationAnyOf reports whether at least one of capabilities
// is granted in namespace ns; it is how a caller accepts either a broad
// capability (submit-job) or the fine-grained one it covers (register-job).
func (a *ACL) AllowNamespaceOperationAnyOf(ns string, capabilities ...string) bool {
	for _, c := range capabilities {
		if a.AllowNamespaceOperation(ns, c) {
			return true
		}
	}
	return false
}

// AllowNamespace reports whether any capability is granted in namespace ns:
// it is false when no rule governs ns, when the governing rule grants
// nothing and when it denies.
func (a *ACL) AllowNamespace(ns string) bool {
	if a == nil {
		return false
	}
	if a.management {
		return true
	}
	caps, ok := a.namespaces.lookup(ns)
	return ok && caps.grants()
}

// AllowAnyNamespaceOperation reports whether capability is granted by some
// namespace rule, exact or pattern. It is a loose check for queries across
// all namespaces: the caller must still filter what it returns namespace by
// namespace with AllowNamespaceOperation.
func (a *ACL) AllowAnyNamespaceOperation(capability string) bool {
	if a == nil {
		return false
	}
	if a.management {
		return true
	}
	return a.namespaces.any(func(c capSet) bool { return allows(namespaceKind, c, capability) })
}

// AllowVariableOperation reports whether capability (list, read, write or
// destroy) is granted on the variable at path in namespace ns.
//
// The governing path rule is the one naming both ns and path exactly, else
// the matching (namespace, path) pair of patterns closest to them, the
// distances of the two added up; ties merge with deny winning, as for
// namespaces. On top of that, a namespace whose governing namespace rule
// denies grants no variable capability either.
func (a *ACL) AllowVariableOperation(ns, path, capability string) bool {
	if a == nil {
		return false
	}
	if a.management {
		return true
	}
	if nsCaps, ok := a.namespaces.lookup(ns); ok && nsCaps.denied() {
		return false
	}
	caps, ok := a.variables.lookup(ns, path)
	return ok && allows(variablesKind, caps, capability)
}

// AllowNodePoolOperation reports whether capability (read, write or delete)
// is granted on node pool pool. Rules are chosen as for namespaces.
func (a *ACL) AllowNodePoolOperation(pool, capability string) bool {
	if a == nil {
		return false
	}
	if a.management {
		return true
	}
	caps, ok := a.nodePools.lookup(pool)
	return ok && allows(nodePoolKind, caps, capability)
}

// AllowNodePool reports whether any capability is granted on node pool pool.
func (a *ACL) AllowNodePool(pool string) bool {
	if a == nil {
		return false
	}
	if a.management {
		return true
	}
	caps, ok := a.nodePools.lookup(pool)
	return ok && caps.grants()
}

// AllowHostVolumeOperation reports whether capability (mount-readonly or
// mount-readwrite) is granted on host volume name. Rules are chosen as for
// namespaces.
func (a *ACL) AllowHostVolumeOperation(name, capability string) bool {
	if a == nil {
		return false
	}
	if a.management {
		return true
	}
	caps, ok := a.hostVolumes.lookup(name)
	return ok && allows(hostVolumeKind, caps, capability)
}

// AllowHostVolume reports whether any capability is granted on host volume
// name.
func (a *ACL) AllowHostVolume(name string) bool {
	if a == nil {
		return false
	}
	if a.management {
		return true
	}
	caps, ok := a.hostVolumes.lookup(name)
	return ok && caps.grants()
}

// allows reports whether caps grants capability. Deny is not something a
// caller can be granted: asking for it is always refused.
func allows(kind *capKind, caps capSet, capability string) bool {
	bit := kind.bit(capability)
	return bit != 0 && bit != denyBit && !caps.denied() && caps&bit != 0
}

// atLeast reports whether the merged level l allows an operation needing
// want: deny allows nothing, and a level allows what lower ones do. a must
// not be nil.
func (a *ACL) atLeast(l, want level) bool {
	return a.management || (l != levelDeny && l >= want)
}

// AllowNodeRead reports whether the node policy allows reading nodes.
func (a *ACL) AllowNodeRead() bool { return a != nil && a.atLeast(a.node, levelRead) }

// AllowNodeWrite reports whether the node policy allows changing nodes.
func (a *ACL) AllowNodeWrite() bool { return a != nil && a.atLeast(a.node, levelWrite) }

// AllowAgentRead reports whether the agent policy allows reading agent
// information.
func (a *ACL) AllowAgentRead() bool { return a != nil && a.atLeast(a.agent, levelRead) }

// AllowAgentWrite reports whether the agent policy allows agent changes.
func (a *ACL) AllowAgentWrite() bool { return a != nil && a.atLeast(a.agent, levelWrite) }

// AllowQuotaRead reports whether the quota policy allows reading quotas.
func (a *ACL) AllowQuotaRead() bool { return a != nil && a.atLeast(a.quota, levelRead) }

// AllowQuotaWrite reports whether the quota policy allows changing quotas.
func (a *ACL) AllowQuotaWrite() bool { return a != nil && a.atLeast(a.quota, levelWrite) }

// AllowPluginRead reports whether the plugin policy allows reading plugins.
func (a *ACL) AllowPluginRead() bool { return a != nil && a.atLeast(a.plugin, levelRead) }

// AllowPluginList reports whether the plugin policy allows listing plugins;
// read allows it too.
func (a *ACL) AllowPluginList() bool { return a != nil && a.atLeast(a.plugin, levelList) }

// AllowOperatorRead reports whether the operator policy allows read-only
// operator operations.
func (a *ACL) AllowOperatorRead() bool { return a != nil && a.atLeast(a.operator, levelRead) }

// AllowOperatorWrite reports whether the operator policy allows operator
// changes.
func (a *ACL) AllowOperatorWrite() bool { return a != nil && a.atLeast(a.operator, levelWrite) }

// AllowOperatorOperation reports whether the operator capability (such as
// snapshot-save or keyring-rotate) is granted, by the operator policy level
// or by an operator capability.
func (a *ACL) AllowOperatorOperation(capability string) bool {
	if a == nil {
		return false
	}
	if a.management {
		return true
	}
	return allows(operatorKind, a.operatorCaps, capability)
}
