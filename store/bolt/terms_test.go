package bolt

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestTerms checks the run-length term index against a plain slice of
// terms under random appends, truncations, compactions and resets.
func TestTerms(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 7))
	var got terms
	var base uint64
	want := []uint64{0} // want[i] is the term of base+i
	got.reset(0, 0)
	for step := range 5000 {
		last := base + uint64(len(want)) - 1
		switch rnd.IntN(10) {
		case 0:
			base = last + rnd.Uint64N(5)
			term := rnd.Uint64N(4)
			want = []uint64{term}
			got.reset(base, term)
		case 1:
			if last > base {
				i := base + 1 + rnd.Uint64N(last-base)
				want = want[i-base:]
				base = i
				got.compact(i)
			}
		case 2, 3:
			if last > base {
				i := base + 1 + rnd.Uint64N(last-base)
				want = want[:i-base]
				got.truncate(i)
			}
		default:
			term := rnd.Uint64N(4)
			want = append(want, term)
			got.append(last+1, term)
		}
		for i, term := range want {
			require.Equal(t, term, got.term(base+uint64(i)), "step %d: term of %d", step, base+uint64(i))
		}
		require.LessOrEqual(t, len(got.runs), len(want), "step %d: runs", step)
	}
}
