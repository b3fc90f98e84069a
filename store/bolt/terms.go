package bolt

import "sort"

// termRun says that the entries from first on have term, up to the first of
// the next run.
type termRun struct {
	first, term uint64
}

// terms remembers the term of every index in the log (base, last] and of
// base itself, as runs of equal terms: terms change rarely, so this keeps
// Term in memory at the cost of a few words per term change.
type terms struct {
	runs []termRun // sorted by first; runs[0].first is the log's base
}

// reset forgets everything and starts over at base with term.
func (t *terms) reset(base, term uint64) {
	t.runs = append(t.runs[:0], termRun{first: base, term: term})
}

// term returns the term at i, which must be at or after the base and at
// or before the last index that was appended.
func (t *terms) term(i uint64) uint64 {
	k := sort.Search(len(t.runs), func(k int) bool { return t.runs[k].first > i })
	if k == 0 {
		return 0
	}
	return t.runs[k-1].term
}

// truncate forgets the terms from i on; i must be after the base.
func (t *terms) truncate(i uint64) {
	k := sort.Search(len(t.runs), func(k int) bool { return t.runs[k].first >= i })
	t.runs = t.runs[:max(k, 1)]
}

// append records that index i, just after the last one, has term.
func (t *terms) append(i, term uint64) {
	if len(t.runs) > 0 && t.runs[len(t.runs)-1].term == term {
		return
	}
	t.runs = append(t.runs, termRun{first: i, term: term})
}

// compact makes i, which must be within the log, the new base.
func (t *terms) compact(i uint64) {
	k := sort.Search(len(t.runs), func(k int) bool { return t.runs[k].first > i })
	if k == 0 {
		return
	}
	n := copy(t.runs, t.runs[k-1:])
	t.runs = t.runs[:n]
	t.runs[0].first = i
}
