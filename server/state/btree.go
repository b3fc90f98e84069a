package state

import (
	"slices"
	"sort"
	"strings"
)

// btree is a persistent (copy-on-write) B+tree from string keys to values,
// kept in key order. A value of the type is an immutable version of the
// tree: copying it is a snapshot. A write transaction owns the nodes it
// created (an owner token) and changes those in place, copying only the
// nodes it reaches that another version may share, so a transaction of n
// writes costs O(n log size) with the copying done once per node touched,
// and a snapshot costs O(1).
//
// A copied node shares its original's keys until its own keys change:
// replacing a value, the commonest write (an allocation's new status), or
// a child pointer copies only the values or children, not the keys.
//
// Deletes do not rebalance: a leaf left empty is unlinked, others may stay
// under-full. The height never grows on delete, and later inserts fill them.
//
// A search compares abbreviated keys first: each node holds, beside its
// keys, eight bytes of each one taken after the prefix all its keys share
// (a node of one node's or one job's allocations shares the node's or the
// job's id). Those sit together in one array, so a search reads a key's own
// bytes, somewhere else in memory, only to settle a tie.
type btree[T any] struct {
	root *bnode[T]
}

// owner marks the nodes one transaction may change in place.
type owner struct{ _ byte }

const (
	maxLeaf = 32
	maxKids = 32
)

// bnode is a leaf (kids nil: keys and vals) or an internal node (kids, and
// keys[i] is the smallest key that may be found in kids[i+1]).
type bnode[T any] struct {
	owner *owner
	keys  []string
	// abbr[i] is abbrev(keys[i], skip); every key starts with
	// keys[0][:skip].
	abbr []uint64
	skip int
	vals []T
	kids []*bnode[T]
	// sharedKeys says keys and abbr are the arrays of the version n was
	// copied from, which must not change: ownKeys copies them before a
	// change.
	sharedKeys bool
}

// abbrev is the eight bytes of k from offset skip as a big-endian number,
// zeros past k's end: abbrev(a) < abbrev(b) means a < b for two keys that
// share their first skip bytes; equal means nothing.
func abbrev(k string, skip int) uint64 {
	if len(k) >= skip+8 {
		b := k[skip : skip+8]
		return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
			uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
	}
	var v uint64
	for i := skip; i < skip+8; i++ {
		v <<= 8
		if i < len(k) {
			v |= uint64(k[i])
		}
	}
	return v
}

// reabbr sets skip to the prefix n's keys share and recomputes abbr. n
// must own its keys (a new node, or after ownKeys).
func (n *bnode[T]) reabbr() {
	n.skip = 0
	if len(n.keys) > 0 {
		first, last := n.keys[0], n.keys[len(n.keys)-1]
		for n.skip < min(len(first), len(last)) && first[n.skip] == last[n.skip] {
			n.skip++
		}
	}
	if cap(n.abbr) < len(n.keys) {
		n.abbr = make([]uint64, len(n.keys), cap(n.keys))
	}
	n.abbr = n.abbr[:len(n.keys)]
	for i, k := range n.keys {
		n.abbr[i] = abbrev(k, n.skip)
	}
}

// search returns the position of the first key >= k, and whether it is k.
func (n *bnode[T]) search(k string) (int, bool) {
	if n.skip > 0 {
		// Outside the shared prefix, k sorts before or after every key.
		if c := strings.Compare(k[:min(len(k), n.skip)], n.keys[0][:n.skip]); c != 0 {
			if c < 0 {
				return 0, false
			}
			return len(n.keys), false
		}
	}
	a := abbrev(k, n.skip)
	lo, hi := 0, len(n.abbr)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if n.abbr[m] < a || (n.abbr[m] == a && n.keys[m] < k) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(n.keys) && n.abbr[lo] == a && n.keys[lo] == k
}

// addKey inserts k at i in a node that owns its keys (see ownKeys).
func (n *bnode[T]) addKey(i int, k string) {
	n.keys = slices.Insert(n.keys, i, k)
	old := 0 // a key that was there before
	if i == 0 {
		old = 1
	}
	if len(n.keys) == 1 || (n.skip > 0 && !strings.HasPrefix(k, n.keys[old][:n.skip])) {
		n.reabbr() // the first key, or one outside the shared prefix
		return
	}
	n.abbr = slices.Insert(n.abbr, i, abbrev(k, n.skip))
}

// dropKey deletes the key at i from a node that owns its keys.
func (n *bnode[T]) dropKey(i int) {
	n.keys = slices.Delete(n.keys, i, i+1)
	n.abbr = slices.Delete(n.abbr, i, i+1)
	if len(n.keys) == 0 {
		n.skip = 0
	}
}

// newNode makes a node o owns from keys and values or children.
func newNode[T any](o *owner, keys []string, vals []T, kids []*bnode[T]) *bnode[T] {
	n := &bnode[T]{owner: o, keys: keys, vals: vals, kids: kids}
	n.reabbr()
	return n
}

func (n *bnode[T]) leaf() bool { return n.kids == nil }

// mutable returns n itself if o owns it, else a copy owned by o that
// shares n's keys until it changes them.
func (n *bnode[T]) mutable(o *owner) *bnode[T] {
	if n.owner == o {
		return n
	}
	c := &bnode[T]{owner: o, keys: n.keys, abbr: n.abbr, skip: n.skip, sharedKeys: true}
	if n.leaf() {
		c.vals = cloneRoom(n.vals)
	} else {
		c.kids = cloneRoom(n.kids)
	}
	return c
}

// ownKeys gives n, which its transaction owns, keys of its own to change.
func (n *bnode[T]) ownKeys() {
	if n.sharedKeys {
		n.keys = cloneRoom(n.keys)
		n.abbr = cloneRoom(n.abbr)
		n.sharedKeys = false
	}
}

// cloneRoom copies s into one allocation with room for one more element,
// which an insert into the copy then needs.
func cloneRoom[E any](s []E) []E {
	c := make([]E, len(s), len(s)+1)
	copy(c, s)
	return c
}

// childIndex is the kid of an internal node whose range holds k.
func (n *bnode[T]) childIndex(k string) int {
	i, found := n.search(k)
	if found {
		return i + 1
	}
	return i
}

// get returns the value under k.
func (t btree[T]) get(k string) (T, bool) {
	n := t.root
	for n != nil {
		if n.leaf() {
			if i, found := n.search(k); found {
				return n.vals[i], true
			}
			break
		}
		n = n.kids[n.childIndex(k)]
	}
	var zero T
	return zero, false
}

// set stores v under k in a tree o may change, and returns the new version.
func (t btree[T]) set(o *owner, k string, v T) btree[T] { return t.put(o, k, v, false) }

// setKeeping is set for a key the caller may reuse (a buffer's bytes): the
// tree keeps a copy of k, and only when it inserts it.
func (t btree[T]) setKeeping(o *owner, k string, v T) btree[T] { return t.put(o, k, v, true) }

// put is set; clone says k must be copied before it is kept.
func (t btree[T]) put(o *owner, k string, v T, clone bool) btree[T] {
	if t.root == nil {
		if clone {
			k = strings.Clone(k)
		}
		return btree[T]{root: newNode(o, []string{k}, []T{v}, nil)}
	}
	root := t.root.mutable(o)
	if sep, right := root.insert(o, k, v, clone); right != nil {
		root = newNode(o, []string{sep}, nil, []*bnode[T]{root, right})
	}
	return btree[T]{root: root}
}

// insert adds k to a node o owns (a copy of k if clone); when the node
// splits it returns the separator and the new right sibling.
func (n *bnode[T]) insert(o *owner, k string, v T, clone bool) (string, *bnode[T]) {
	if n.leaf() {
		i, found := n.search(k)
		if found {
			n.vals[i] = v
			return "", nil
		}
		if clone {
			k = strings.Clone(k)
		}
		n.ownKeys()
		n.addKey(i, k)
		n.vals = slices.Insert(n.vals, i, v)
		if len(n.keys) <= maxLeaf {
			return "", nil
		}
		m := len(n.keys) / 2
		right := newNode(o, slices.Clone(n.keys[m:]), slices.Clone(n.vals[m:]), nil)
		n.keys, n.vals = n.keys[:m:m], n.vals[:m:m]
		n.reabbr() // each half may share a longer prefix
		return right.keys[0], right
	}
	i := n.childIndex(k)
	child := n.kids[i].mutable(o)
	n.kids[i] = child
	sep, right := child.insert(o, k, v, clone)
	if right == nil {
		return "", nil
	}
	n.ownKeys()
	n.addKey(i, sep)
	n.kids = slices.Insert(n.kids, i+1, right)
	if len(n.kids) <= maxKids {
		return "", nil
	}
	m := len(n.kids) / 2
	up := n.keys[m-1]
	r := newNode(o, slices.Clone(n.keys[m:]), nil, slices.Clone(n.kids[m:]))
	n.keys, n.kids = n.keys[:m-1:m-1], n.kids[:m:m]
	n.reabbr()
	return up, r
}

// del removes k from a tree o may change, and returns the new version.
func (t btree[T]) del(o *owner, k string) btree[T] {
	if t.root == nil {
		return t
	}
	if _, ok := t.get(k); !ok {
		return t
	}
	root := t.root.mutable(o)
	root.remove(o, k)
	for !root.leaf() && len(root.kids) == 1 {
		root = root.kids[0]
	}
	if root.leaf() && len(root.keys) == 0 {
		root = nil
	}
	return btree[T]{root: root}
}

// remove deletes k (which is present) from a node o owns.
func (n *bnode[T]) remove(o *owner, k string) {
	if n.leaf() {
		i, _ := n.search(k)
		n.ownKeys()
		n.dropKey(i)
		n.vals = slices.Delete(n.vals, i, i+1)
		return
	}
	i := n.childIndex(k)
	child := n.kids[i].mutable(o)
	n.kids[i] = child
	child.remove(o, k)
	if (child.leaf() && len(child.keys) == 0) || (!child.leaf() && len(child.kids) == 0) {
		n.kids = slices.Delete(n.kids, i, i+1)
		n.ownKeys()
		switch {
		case len(n.keys) == 0:
		case i > 0:
			n.dropKey(i - 1)
		default:
			n.dropKey(0)
		}
	}
}

// walkPrefix calls f, in key order, for every entry whose key starts with
// prefix, until f returns false.
func (t btree[T]) walkPrefix(prefix string, f func(k string, v T) bool) {
	if t.root != nil {
		t.root.walk(prefix, prefix, f)
	}
}

// walk visits the entries >= from with the prefix; it reports false once
// it should stop (f said so, or the keys passed the prefix).
func (n *bnode[T]) walk(from, prefix string, f func(string, T) bool) bool {
	if n.leaf() {
		i, _ := n.search(from)
		// The keys from i on that hold the prefix come first: find where
		// they end without reading every key (none when the prefix all
		// the node's keys share holds it).
		end := len(n.keys)
		if len(prefix) > n.skip || end == 0 || !strings.HasPrefix(n.keys[0], prefix) {
			end = i + sort.Search(len(n.keys)-i, func(j int) bool { return !strings.HasPrefix(n.keys[i+j], prefix) })
		}
		for ; i < end; i++ {
			if !f(n.keys[i], n.vals[i]) {
				return false
			}
		}
		return end == len(n.keys)
	}
	for i := n.childIndex(from); i < len(n.kids); i++ {
		if !n.kids[i].walk(from, prefix, f) {
			return false
		}
	}
	return true
}
