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
	vals  []T
	kids  []*bnode[T]
	// sharedKeys says keys is the array of the version n was copied from,
	// which must not change: ownKeys copies it before a change.
	sharedKeys bool
}

func (n *bnode[T]) leaf() bool { return n.kids == nil }

// mutable returns n itself if o owns it, else a copy owned by o that
// shares n's keys until it changes them.
func (n *bnode[T]) mutable(o *owner) *bnode[T] {
	if n.owner == o {
		return n
	}
	c := &bnode[T]{owner: o, keys: n.keys, sharedKeys: true}
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
	i, found := slices.BinarySearch(n.keys, k)
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
			if i, found := slices.BinarySearch(n.keys, k); found {
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
		return btree[T]{root: &bnode[T]{owner: o, keys: []string{k}, vals: []T{v}}}
	}
	root := t.root.mutable(o)
	if sep, right := root.insert(o, k, v, clone); right != nil {
		root = &bnode[T]{owner: o, keys: []string{sep}, kids: []*bnode[T]{root, right}}
	}
	return btree[T]{root: root}
}

// insert adds k to a node o owns (a copy of k if clone); when the node
// splits it returns the separator and the new right sibling.
func (n *bnode[T]) insert(o *owner, k string, v T, clone bool) (string, *bnode[T]) {
	if n.leaf() {
		i, found := slices.BinarySearch(n.keys, k)
		if found {
			n.vals[i] = v
			return "", nil
		}
		if clone {
			k = strings.Clone(k)
		}
		n.ownKeys()
		n.keys = slices.Insert(n.keys, i, k)
		n.vals = slices.Insert(n.vals, i, v)
		if len(n.keys) <= maxLeaf {
			return "", nil
		}
		m := len(n.keys) / 2
		right := &bnode[T]{owner: o, keys: slices.Clone(n.keys[m:]), vals: slices.Clone(n.vals[m:])}
		n.keys, n.vals = n.keys[:m:m], n.vals[:m:m]
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
	n.keys = slices.Insert(n.keys, i, sep)
	n.kids = slices.Insert(n.kids, i+1, right)
	if len(n.kids) <= maxKids {
		return "", nil
	}
	m := len(n.kids) / 2
	up := n.keys[m-1]
	r := &bnode[T]{owner: o, keys: slices.Clone(n.keys[m:]), kids: slices.Clone(n.kids[m:])}
	n.keys, n.kids = n.keys[:m-1:m-1], n.kids[:m:m]
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
		i, _ := slices.BinarySearch(n.keys, k)
		n.ownKeys()
		n.keys = slices.Delete(n.keys, i, i+1)
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
			n.keys = slices.Delete(n.keys, i-1, i)
		default:
			n.keys = slices.Delete(n.keys, 0, 1)
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
		i, _ := slices.BinarySearch(n.keys, from)
		// The keys from i on that hold the prefix come first: find where
		// they end without reading every key.
		end := i + sort.Search(len(n.keys)-i, func(j int) bool { return !strings.HasPrefix(n.keys[i+j], prefix) })
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
