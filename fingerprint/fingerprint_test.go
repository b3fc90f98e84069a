package fingerprint

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/structs"
)

// fake is a fingerprinter that returns what it is given.
type fake struct {
	name string
	res  *Result
	err  error
}

func (f fake) Name() string { return f.name }
func (f fake) Fingerprint(context.Context) (*Result, error) {
	return f.res, f.err
}

type panicking struct{}

func (panicking) Name() string { return "wild" }
func (panicking) Fingerprint(context.Context) (*Result, error) {
	panic("oh no")
}

func TestRunKeepsOtherResultsWhenOneFails(t *testing.T) {
	var typedNil *fake
	attrs, res, err := Run(context.Background(), []Fingerprinter{
		fake{name: "broken", err: errors.New("no such device")},
		Static("rack", map[string]string{"meta.rack": "r1"}),
		panicking{},
		nil,
		typedNil,
		fake{name: "partial", res: &Result{Attributes: map[string]string{"gpu.count": "2"}}, err: errors.New("gpu 3 missing")},
		fake{name: "mem", res: &Result{Resources: &structs.Resources{MemoryMb: 512}}},
	})
	require.ErrorContains(t, err, "fingerprint broken: no such device")
	require.ErrorContains(t, err, "fingerprint wild: panic: oh no")
	require.ErrorContains(t, err, "fingerprint #3: nil fingerprinter")
	require.ErrorContains(t, err, "fingerprint #4: panic")
	require.ErrorContains(t, err, "fingerprint partial: gpu 3 missing")
	require.Equal(t, map[string]string{"meta.rack": "r1", "gpu.count": "2"}, attrs,
		"failing fingerprinters hide nothing of the others, and partial results are kept")
	require.Equal(t, int64(512), res.MemoryMb)
}

func TestRunMergesInOrder(t *testing.T) {
	attrs, res, err := Run(context.Background(), []Fingerprinter{
		fake{name: "a", res: &Result{
			Attributes: map[string]string{"x": "1", "y": "1"},
			Resources:  &structs.Resources{CpuMhz: 1000, MemoryMb: 100, DiskMb: 10},
		}},
		fake{name: "b", res: &Result{
			Attributes: map[string]string{"y": "2"},
			Resources:  &structs.Resources{CpuMhz: 2000},
		}},
		fake{name: "c", res: &Result{Resources: &structs.Resources{MemoryMb: -5}}},
	})
	require.ErrorContains(t, err, "fingerprint c: negative memory_mb -5 ignored")
	require.Equal(t, map[string]string{"x": "1", "y": "2"}, attrs)
	require.Equal(t, int64(2000), res.CpuMhz, "a later non-zero field replaces an earlier one")
	require.Equal(t, int64(100), res.MemoryMb, "zero and negative fields leave the total alone")
	require.Equal(t, int64(10), res.DiskMb)
}

func TestRunStopsWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	attrs, res, err := Run(ctx, []Fingerprinter{Static("s", map[string]string{"a": "b"})})
	require.ErrorIs(t, err, context.Canceled)
	require.NotNil(t, attrs)
	require.NotNil(t, res)
	require.Empty(t, attrs)

	attrs, res, err = Run(context.Background(), nil)
	require.NoError(t, err)
	require.Empty(t, attrs)
	require.Zero(t, res.CpuMhz)
}

func TestStaticCopiesItsAttributes(t *testing.T) {
	in := map[string]string{"meta.rack": "r1"}
	s := Static("rack", in)
	in["meta.rack"] = "changed"
	require.Equal(t, "rack", s.Name())
	r, err := s.Fingerprint(context.Background())
	require.NoError(t, err)
	require.Equal(t, "r1", r.Attributes["meta.rack"])
	r.Attributes["meta.rack"] = "mutated"
	r, err = s.Fingerprint(context.Background())
	require.NoError(t, err)
	require.Equal(t, "r1", r.Attributes["meta.rack"])
	require.Nil(t, r.Resources)
}
