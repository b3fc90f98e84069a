package state

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// TestBtreeMatchesAMap drives the tree and a map with the same random
// inserts and deletes, in transactions, checking after each that the tree
// lists exactly the map's content in key order, and that every version
// taken before (a snapshot) still lists what it held.
func TestBtreeMatchesAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	requireMatchesAMap(t, rng, 150, 200, func() string { return keyLike(rng, 3000) })
}

// TestBtreeMatchesAMapOnTies is TestBtreeMatchesAMap with keys that tie
// on what a search compares first: long shared prefixes, then up to ten
// bytes of an alphabet with zero and 0xff, so that keys end inside the
// eight bytes compared, are prefixes of each other and differ past them.
func TestBtreeMatchesAMapOnTies(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	prefixes := []string{"", "node-0123456789abcdef\x00", "node-0123456789abcdef\x00job\x00", "node-01234567"}
	alphabet := []byte{0, 1, 'a', 0xff}
	requireMatchesAMap(t, rng, 60, 300, func() string {
		b := []byte(prefixes[rng.IntN(len(prefixes))])
		for range rng.IntN(11) {
			b = append(b, alphabet[rng.IntN(len(alphabet))])
		}
		return string(b)
	})
}

// requireMatchesAMap runs txns transactions of up to ops random sets and
// deletes (one in three) of keys from randKey on a tree and a map.
func requireMatchesAMap(t *testing.T, rng *rand.Rand, txns, ops int, randKey func() string) {
	t.Helper()
	var tr btree[int]
	model := map[string]int{}
	type version struct {
		tree btree[int]
		want map[string]int
	}
	var versions []version
	for range txns {
		o := &owner{}
		for range rng.IntN(ops) {
			k := randKey()
			if rng.IntN(3) == 0 {
				tr = tr.del(o, k)
				delete(model, k)
			} else {
				v := rng.Int()
				tr = tr.set(o, k, v)
				model[k] = v
			}
		}
		requireContent(t, tr, model)
		versions = append(versions, version{tree: tr, want: maps.Clone(model)})
	}
	for _, v := range versions {
		requireContent(t, v.tree, v.want)
	}
}

// keyLike is one of about n keys shaped as the state's are: short ones,
// and long ones whose first 8 bytes or more several keys share.
func keyLike(rng *rand.Rand, n int) string {
	groups := []string{"k", "node-0000000a", "node-0000000b", "node-0000000a\x00x", "node-000"}
	return fmt.Sprintf("%s\x00%04d", groups[rng.IntN(len(groups))], rng.IntN(n/len(groups)))
}

func requireContent(t *testing.T, tr btree[int], want map[string]int) {
	t.Helper()
	keys := slices.Sorted(maps.Keys(want))
	var got []string
	tr.walkPrefix("", func(k string, v int) bool {
		require.Equal(t, want[k], v)
		got = append(got, k)
		return true
	})
	require.Equal(t, len(keys), len(got))
	if len(keys) > 0 {
		require.Equal(t, keys, got)
	}
	for _, k := range keys {
		v, ok := tr.get(k)
		require.True(t, ok)
		require.Equal(t, want[k], v)
		// Neighbours that share all but the end (a search compares eight
		// bytes past a shared prefix, zeros past a key's end, first).
		near := []string{k + "\x00", k + "\xff"}
		if k != "" {
			near = append(near, k[:len(k)-1], k[:len(k)-1]+"\xff")
		}
		for _, near := range near {
			_, inTree := tr.get(near)
			_, inModel := want[near]
			require.Equal(t, inModel, inTree, "get %q", near)
		}
	}
	_, ok := tr.get("absent")
	require.False(t, ok)
}

func TestBtreePrefixWalk(t *testing.T) {
	var tr btree[int]
	o := &owner{}
	for i := 0; i < 500; i++ {
		tr = tr.set(o, fmt.Sprintf("n%d\x00a%03d", i%7, i), i)
	}
	var got []int
	tr.walkPrefix("n3\x00", func(_ string, v int) bool {
		got = append(got, v)
		return true
	})
	require.Len(t, got, 71)
	for _, v := range got {
		require.Equal(t, 3, v%7)
	}
	n := 0
	tr.walkPrefix("n3\x00", func(string, int) bool { n++; return n < 5 })
	require.Equal(t, 5, n, "the walk stops when told")
	tr.walkPrefix("zzz", func(string, int) bool { t.Fatal("nothing has that prefix"); return true })
}

// TestBtreeCopiesShareKeysUntilTheyChange checks the sharing of keys
// between versions: later transactions replace values, insert and empty
// whole leaves, and every version taken before still holds every key and
// value it had.
func TestBtreeCopiesShareKeysUntilTheyChange(t *testing.T) {
	var tr btree[int]
	o := &owner{}
	want := map[string]int{}
	for i := range 400 {
		k := fmt.Sprintf("k%04d", i*2)
		tr = tr.set(o, k, i)
		want[k] = i
	}
	type version struct {
		tree btree[int]
		want map[string]int
	}
	versions := []version{{tr, maps.Clone(want)}}
	steps := []func(o *owner){
		func(o *owner) { // replace values only: the keys stay shared
			for i := 0; i < 400; i += 3 {
				k := fmt.Sprintf("k%04d", i*2)
				tr = tr.set(o, k, -i)
				want[k] = -i
			}
		},
		func(o *owner) { // insert between shared keys
			for i := 0; i < 400; i += 5 {
				k := fmt.Sprintf("k%04d", i*2+1)
				tr = tr.set(o, k, i)
				want[k] = i
			}
		},
		func(o *owner) { // empty the first leaves, unlinking them from shared parents
			for i := range 150 {
				for _, k := range []string{fmt.Sprintf("k%04d", i*2), fmt.Sprintf("k%04d", i*2+1)} {
					tr = tr.del(o, k)
					delete(want, k)
				}
			}
		},
	}
	for _, step := range steps {
		step(&owner{})
		versions = append(versions, version{tr, maps.Clone(want)})
		for _, v := range versions {
			requireContent(t, v.tree, v.want)
		}
	}
}

// TestBtreeSetKeepingCopiesTheKeyItInserts stores keys built in one reused
// buffer: the tree must keep copies, so later writes to the buffer change
// nothing stored.
func TestBtreeSetKeepingCopiesTheKeyItInserts(t *testing.T) {
	var tr btree[int]
	o := &owner{}
	var buf []byte
	want := map[string]int{}
	for i := range 300 {
		buf = fmt.Appendf(buf[:0], "node-%02d\x00alloc-%04d", i%7, i)
		tr = tr.setKeeping(o, unsafe.String(unsafe.SliceData(buf), len(buf)), i)
		want[string(buf)] = i
	}
	for i := range 300 { // replace every value through the same buffer
		buf = fmt.Appendf(buf[:0], "node-%02d\x00alloc-%04d", i%7, i)
		tr = tr.setKeeping(o, unsafe.String(unsafe.SliceData(buf), len(buf)), -i)
		want[string(buf)] = -i
	}
	copy(buf, "xxxxxxxxxxxxxxxxxxx")
	requireContent(t, tr, want)
}

// TestBtreePrefixWalkMatchesAFilter walks random prefixes of a tree of
// random short keys (so that many keys share a prefix and neighbours
// differ in a byte) and compares with filtering every key.
func TestBtreePrefixWalkMatchesAFilter(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	alphabet := []byte{0, 1, 'a', 'b', 0xff}
	randKey := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	var tr btree[int]
	o := &owner{}
	var keys []string
	for i := range 2000 {
		k := randKey(1 + rng.IntN(6))
		if _, ok := tr.get(k); !ok {
			keys = append(keys, k)
		}
		tr = tr.set(o, k, i)
	}
	slices.Sort(keys)
	for range 500 {
		prefix := randKey(rng.IntN(4))
		var want, got []string
		for _, k := range keys {
			if strings.HasPrefix(k, prefix) {
				want = append(want, k)
			}
		}
		tr.walkPrefix(prefix, func(k string, _ int) bool { got = append(got, k); return true })
		require.Equal(t, want, got, "prefix %q", prefix)
	}
}
