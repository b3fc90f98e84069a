// Package version parses and compares the dotted versions of node
// attributes and the version and semver constraints of jobs. The
// scheduler matches with it, and job validation parses constraints with
// it, so that a constraint accepted at registration is one the scheduler
// can evaluate.
package version

import (
	"strconv"
	"strings"
)

// Version is a parsed dotted version: numeric segments and an optional
// pre-release ("1.2.3-beta.1"); build metadata after "+" is ignored.
type Version struct {
	segs []int64
	pre  []string
}

// Parse accepts "1", "1.2", "v1.2.3", "1.2.3-rc1+build". With strict
// (semver) exactly three numeric segments are required, without "v".
func Parse(s string, strict bool) (Version, bool) {
	s = strings.TrimSpace(s)
	if !strict {
		s = strings.TrimPrefix(s, "v")
	}
	if i := strings.IndexByte(s, '+'); i >= 0 {
		s = s[:i]
	}
	var v Version
	core, pre, hasPre := strings.Cut(s, "-")
	if core == "" {
		return v, false
	}
	for _, part := range strings.Split(core, ".") {
		n, err := strconv.ParseInt(part, 10, 64)
		if err != nil || n < 0 {
			return v, false
		}
		v.segs = append(v.segs, n)
	}
	if strict && len(v.segs) != 3 {
		return v, false
	}
	if hasPre {
		if pre == "" {
			return v, false
		}
		v.pre = strings.Split(pre, ".")
	}
	return v, true
}

// Compare orders versions; missing segments count as zero, and a
// pre-release sorts before its release (semver's precedence rules).
func (v Version) Compare(o Version) int {
	for i := 0; i < max(len(v.segs), len(o.segs)); i++ {
		var a, b int64
		if i < len(v.segs) {
			a = v.segs[i]
		}
		if i < len(o.segs) {
			b = o.segs[i]
		}
		if a != b {
			if a < b {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(v.pre) == 0 && len(o.pre) == 0:
		return 0
	case len(v.pre) == 0:
		return 1
	case len(o.pre) == 0:
		return -1
	}
	for i := 0; i < min(len(v.pre), len(o.pre)); i++ {
		a, b := v.pre[i], o.pre[i]
		an, aerr := strconv.ParseInt(a, 10, 64)
		bn, berr := strconv.ParseInt(b, 10, 64)
		switch {
		case aerr == nil && berr == nil:
			if an != bn {
				if an < bn {
					return -1
				}
				return 1
			}
		case aerr == nil:
			return -1
		case berr == nil:
			return 1
		default:
			if c := strings.Compare(a, b); c != 0 {
				return c
			}
		}
	}
	switch {
	case len(v.pre) < len(o.pre):
		return -1
	case len(v.pre) > len(o.pre):
		return 1
	}
	return 0
}

// term is one comparison of a constraint, such as ">= 1.2".
type term struct {
	op string
	v  Version
}

// Constraint is a parsed constraint such as ">= 1.2, < 2.0" or "~> 1.4"
// (pessimistic: >= 1.4 and < 2.0): comparisons that must all hold.
type Constraint struct {
	terms  []term
	strict bool
}

// operators are tried in this order, longest first.
var operators = []string{">=", "<=", "!=", "~>", "=", ">", "<"}

// ParseError says which part of a constraint is not a comparison with a
// version. Its message does not repeat the part (a caller quotes it, with
// a bound).
type ParseError struct {
	// Part is the comma-separated part, trimmed, without its operator.
	Part string
	// Strict: a semantic version was wanted.
	Strict bool
}

// Want names what Part should have been.
func (e *ParseError) Want() string {
	if e.Strict {
		return "a semantic version (major.minor.patch)"
	}
	return "a version"
}

func (e *ParseError) Error() string { return "a constraint part is not " + e.Want() }

// ParseConstraint parses a constraint; with strict (semver) its versions
// must be semantic versions. Its error is a *ParseError.
func ParseConstraint(s string, strict bool) (Constraint, error) {
	c := Constraint{strict: strict}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		op := "="
		for _, cand := range operators {
			if strings.HasPrefix(part, cand) {
				op, part = cand, strings.TrimSpace(part[len(cand):])
				break
			}
		}
		v, ok := Parse(part, strict)
		if !ok {
			return Constraint{}, &ParseError{Part: part, Strict: strict}
		}
		c.terms = append(c.terms, term{op: op, v: v})
	}
	return c, nil
}

// Check reports whether v satisfies every comparison of c. Under strict,
// a pre-release only matches comparisons that name a pre-release of the
// same major.minor.patch.
func (c Constraint) Check(v Version) bool {
	for _, t := range c.terms {
		if c.strict && len(v.pre) > 0 && (len(t.v.pre) == 0 || !sameCore(v, t.v)) {
			return false
		}
		cmp := v.Compare(t.v)
		var holds bool
		switch t.op {
		case "=":
			holds = cmp == 0
		case "!=":
			holds = cmp != 0
		case ">":
			holds = cmp > 0
		case ">=":
			holds = cmp >= 0
		case "<":
			holds = cmp < 0
		case "<=":
			holds = cmp <= 0
		case "~>":
			holds = cmp >= 0 && pessimisticUpper(t.v, v)
		}
		if !holds {
			return false
		}
	}
	return true
}

// Matches checks value against constraint; a value or a constraint that
// does not parse never matches.
func Matches(value, constraint string, strict bool) bool {
	v, ok := Parse(value, strict)
	if !ok {
		return false
	}
	c, err := ParseConstraint(constraint, strict)
	return err == nil && c.Check(v)
}

func sameCore(a, b Version) bool {
	return Version{segs: a.segs}.Compare(Version{segs: b.segs}) == 0
}

// pessimisticUpper reports whether v is below the bound "~> c" implies: c
// with its last segment dropped and the one before it incremented.
func pessimisticUpper(c, v Version) bool {
	if len(c.segs) < 2 {
		return true
	}
	upper := append([]int64(nil), c.segs[:len(c.segs)-1]...)
	upper[len(upper)-1]++
	return Version{segs: v.segs}.Compare(Version{segs: upper}) < 0
}
