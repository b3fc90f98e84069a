package scheduler

// The syntax of the transcripts' arguments (see TestDataDriven): values,
// lists, <k>:<v> maps, and constraints, affinities and spreads.

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/droverhq/drover/structs"
)

// args are a command's arguments; used records those it read.
type args struct {
	t    *testing.T
	d    *datadriven.TestData
	cmd  string
	kv   []datadriven.CmdArg
	used map[string]bool
}

func (a *args) fatalf(f string, x ...any) { a.d.Fatalf(a.t, "%s: %s", a.cmd, fmt.Sprintf(f, x...)) }

// vals returns every value given for key, across repeats.
func (a *args) vals(key string) (out []string) {
	if a.used == nil {
		a.used = map[string]bool{}
	}
	a.used[key] = true
	for _, c := range a.kv {
		if c.Key == key {
			out = append(out, c.Vals...)
		}
	}
	return out
}

func (a *args) has(key string) bool {
	a.vals(key)
	return slices.ContainsFunc(a.kv, func(c datadriven.CmdArg) bool { return c.Key == key })
}

func (a *args) str(key string) string { return cmp.Or(a.vals(key)...) }

func (a *args) int(key string, def int64) int64 {
	if v := a.str(key); v != "" {
		return int64(a.atoi(v))
	}
	return def
}

// strs and ints set the field of each key given.
func (a *args) strs(fields map[string]*string) {
	for k, p := range fields {
		*p = cmp.Or(a.str(k), *p)
	}
}

func (a *args) ints(fields map[string]*int64) {
	for k, p := range fields {
		*p = a.int(k, *p)
	}
}

// list splits every value of key at commas.
func (a *args) list(key string) (out []string) {
	for _, v := range a.vals(key) {
		for p := range strings.SplitSeq(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// merge sets key's <k>:<v> values in m; an empty <v> deletes <k>.
func (a *args) merge(key string, m map[string]string) map[string]string {
	for _, v := range a.vals(key) {
		k, val, _ := strings.Cut(v, ":")
		if m == nil {
			m = map[string]string{}
		}
		if m[k] = val; val == "" {
			delete(m, k)
		}
	}
	return m
}

// fields splits each non-empty value of key at its first n-1 colons; ok
// says whether key was given, so that an empty value clears a list.
func (a *args) fields(key string, n int) (out [][]string, ok bool) {
	for _, v := range a.vals(key) {
		if v != "" {
			out = append(out, append(strings.SplitN(v, ":", n), make([]string, n)...)[:n])
		}
	}
	return out, a.has(key)
}

func (a *args) constraints(key string, cs []*structs.Constraint) []*structs.Constraint {
	fs, ok := a.fields(key, 3)
	if !ok {
		return cs
	}
	cs = nil
	for _, f := range fs {
		if f[1] == "" && f[2] == "" { // an operand alone, such as distinct_hosts
			f[0], f[1] = "", f[0]
		}
		cs = append(cs, &structs.Constraint{LTarget: f[0], Operand: f[1], RTarget: f[2]})
	}
	return cs
}

func (a *args) affinities(key string, as []*structs.Affinity) []*structs.Affinity {
	fs, ok := a.fields(key, 4)
	if !ok {
		return as
	}
	as = nil
	for _, f := range fs {
		as = append(as, &structs.Affinity{LTarget: f[0], Operand: f[1], RTarget: f[2], Weight: int32(a.atoi(f[3]))})
	}
	return as
}

func (a *args) spreads(key string, ss []*structs.Spread) []*structs.Spread {
	fs, ok := a.fields(key, 3)
	if !ok {
		return ss
	}
	ss = nil
	for _, f := range fs {
		s := &structs.Spread{Attribute: f[0], Weight: int32(a.atoi(f[1]))}
		for _, t := range strings.Split(f[2], ",") {
			if val, pct, ok := strings.Cut(t, "="); ok {
				s.Targets = append(s.Targets, &structs.SpreadTarget{Value: val, Percent: int32(a.atoi(pct))})
			}
		}
		ss = append(ss, s)
	}
	return ss
}

func (a *args) atoi(s string) int {
	n, err := strconv.Atoi(cmp.Or(s, "0"))
	if err != nil {
		a.fatalf("%v", err)
	}
	return n
}

func (a *args) duration(s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		a.fatalf("%v", err)
	}
	return d
}
