package structs

// Constraint operators understood by the scheduler.
const (
	ConstraintEqual         = "="
	ConstraintEqualAlt      = "=="
	ConstraintNotEqual      = "!="
	ConstraintRegex         = "regexp"
	ConstraintAttrIsSet     = "is_set"
	ConstraintAttrIsNotSet  = "is_not_set"
	ConstraintDistinctHosts = "distinct_hosts"
)

// KnownConstraintOperand reports whether op is an operator the scheduler evaluates.
func KnownConstraintOperand(op string) bool {
	switch op {
	case ConstraintEqual, ConstraintEqualAlt, ConstraintNotEqual, ConstraintRegex,
		ConstraintAttrIsSet, ConstraintAttrIsNotSet, ConstraintDistinctHosts:
		return true
	}
	return false
}
