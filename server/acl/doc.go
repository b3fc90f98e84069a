// Package acl implements Nomad's ACL policy language: Parse reads a policy
// written in HCL (or its JSON form) and validates it, and Compile merges the
// policies a token holds into an ACL whose methods answer whether an
// operation is allowed: in a namespace, on a node pool, host volume or
// variable, or on the node, agent, operator, quota and plugin APIs.
//
// The server resolves a token's policies with this package. The package is
// pure: it does no I/O, starts no goroutines and keeps no global state that
// changes, and an ACL, once compiled, never changes. Deny always wins over
// what other policies grant for the same rule, and a nil *ACL allows
// nothing.
package acl
