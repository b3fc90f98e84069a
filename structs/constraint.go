package structs

// Constraint operators understood by the scheduler.
const (
	ConstraintEqual          = "="
	ConstraintEqualAlt       = "=="
	ConstraintIs             = "is"
	ConstraintNotEqual       = "!="
	ConstraintNot            = "not"
	ConstraintLess           = "<"
	ConstraintLessEqual      = "<="
	ConstraintGreater        = ">"
	ConstraintGreaterEqual   = ">="
	ConstraintRegex          = "regexp"
	ConstraintVersion        = "version"
	ConstraintSemver         = "semver"
	ConstraintSetContains    = "set_contains"
	ConstraintSetContainsAll = "set_contains_all"
	ConstraintSetContainsAny = "set_contains_any"
	ConstraintAttrIsSet      = "is_set"
	ConstraintAttrIsNotSet   = "is_not_set"
	ConstraintDistinctHosts  = "distinct_hosts"
	// ConstraintDistinctProperty limits how many allocations share one
	// value of l_target: r_target of them (default 1).
	ConstraintDistinctProperty = "distinct_property"
)

// KnownConstraintOperand reports whether op is an operator the scheduler evaluates.
func KnownConstraintOperand(op string) bool {
	switch op {
	case ConstraintEqual, ConstraintEqualAlt, ConstraintIs, ConstraintNotEqual, ConstraintNot,
		ConstraintLess, ConstraintLessEqual, ConstraintGreater, ConstraintGreaterEqual,
		ConstraintRegex, ConstraintVersion, ConstraintSemver,
		ConstraintSetContains, ConstraintSetContainsAll, ConstraintSetContainsAny,
		ConstraintAttrIsSet, ConstraintAttrIsNotSet, ConstraintDistinctHosts, ConstraintDistinctProperty:
		return true
	}
	return false
}

// KnownAffinityOperand reports whether op may be used by an affinity (any
// node-level operator: not distinct_hosts or distinct_property).
func KnownAffinityOperand(op string) bool {
	return KnownConstraintOperand(op) && op != ConstraintDistinctHosts && op != ConstraintDistinctProperty
}
