package scheduler

import (
	"strconv"
	"strings"
)

// version is a parsed dotted version: numeric segments and an optional
// pre-release ("1.2.3-beta.1"); build metadata after "+" is ignored.
type version struct {
	segs []int64
	pre  []string
}

// parseVersion accepts "1", "1.2", "v1.2.3", "1.2.3-rc1+build". With
// strict (semver) exactly three numeric segments are required.
func parseVersion(s string, strict bool) (version, bool) {
	s = strings.TrimSpace(s)
	if !strict {
		s = strings.TrimPrefix(s, "v")
	}
	if i := strings.IndexByte(s, '+'); i >= 0 {
		s = s[:i]
	}
	var v version
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

// compare orders versions; missing segments count as zero, and a
// pre-release sorts before its release (semver's precedence rules).
func (v version) compare(o version) int {
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

// versionMatches checks value against a constraint such as ">= 1.2, < 2.0"
// or "~> 1.4" (pessimistic: >= 1.4 and < 2.0). With strict, both sides are
// semantic versions and pre-releases only match constraints that name one
// of the same major.minor.patch.
func versionMatches(value, constraint string, strict bool) bool {
	v, ok := parseVersion(value, strict)
	if !ok {
		return false
	}
	for _, part := range strings.Split(constraint, ",") {
		part = strings.TrimSpace(part)
		op := "="
		for _, cand := range []string{">=", "<=", "!=", "~>", "=", ">", "<"} {
			if strings.HasPrefix(part, cand) {
				op, part = cand, strings.TrimSpace(part[len(cand):])
				break
			}
		}
		c, ok := parseVersion(part, strict)
		if !ok {
			return false
		}
		if strict && len(v.pre) > 0 && (len(c.pre) == 0 || !sameCore(v, c)) {
			return false
		}
		cmp := v.compare(c)
		var holds bool
		switch op {
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
			holds = cmp >= 0 && pessimisticUpper(c, v)
		}
		if !holds {
			return false
		}
	}
	return true
}

func sameCore(a, b version) bool {
	return version{segs: a.segs}.compare(version{segs: b.segs}) == 0
}

// pessimisticUpper reports whether v is below the bound "~> c" implies: c
// with its last segment dropped and the one before it incremented.
func pessimisticUpper(c, v version) bool {
	if len(c.segs) < 2 {
		return true
	}
	upper := append([]int64(nil), c.segs[:len(c.segs)-1]...)
	upper[len(upper)-1]++
	return version{segs: v.segs}.compare(version{segs: upper}) < 0
}
