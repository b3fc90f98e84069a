// Package acl is a placeholder for the policy package.
package acl

import "errors"

// Policy is a parsed policy.
type Policy struct{ raw string }

// Parse parses rules.
func Parse(rules string) (*Policy, error) {
	if rules == "" {
		return nil, errors.New("empty policy")
	}
	return &Policy{raw: rules}, nil
}

// ACL is a compiled set of policies.
type ACL struct{ management bool }

// ManagementACL allows everything.
var ManagementACL = &ACL{management: true}

// NewACL compiles policies.
func NewACL(policies []*Policy) (*ACL, error) { return &ACL{}, nil }

// IsManagement reports whether a allows everything.
func (a *ACL) IsManagement() bool { return a != nil && a.management }

// AllowNamespaceOperation reports whether a allows capability in ns.
func (a *ACL) AllowNamespaceOperation(ns, capability string) bool { return a.IsManagement() }

// AllowNamespace reports whether a allows anything in ns.
func (a *ACL) AllowNamespace(ns string) bool { return a.IsManagement() }

// AllowNodeRead reports whether a may read nodes.
func (a *ACL) AllowNodeRead() bool { return a.IsManagement() }

// AllowNodeWrite reports whether a may change nodes.
func (a *ACL) AllowNodeWrite() bool { return a.IsManagement() }

// AllowAgentRead reports whether a may read agents.
func (a *ACL) AllowAgentRead() bool { return a.IsManagement() }

// AllowAgentWrite reports whether a may change agents.
func (a *ACL) AllowAgentWrite() bool { return a.IsManagement() }

// AllowOperatorRead reports whether a may read operator state.
func (a *ACL) AllowOperatorRead() bool { return a.IsManagement() }

// AllowOperatorWrite reports whether a may change operator state.
func (a *ACL) AllowOperatorWrite() bool { return a.IsManagement() }

// Capabilities.
const (
	NamespaceCapabilityListJobs       = "list-jobs"
	NamespaceCapabilityReadJob        = "read-job"
	NamespaceCapabilitySubmitJob      = "submit-job"
	NamespaceCapabilityDispatchJob    = "dispatch-job"
	NamespaceCapabilityReadLogs       = "read-logs"
	NamespaceCapabilityAllocLifecycle = "alloc-lifecycle"
)
