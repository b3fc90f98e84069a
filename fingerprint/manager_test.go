package fingerprint

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/structs"
)

// changing is a periodic fingerprinter whose result the test sets.
type changing struct {
	every time.Duration
	res   *Result
	err   error
	runs  int
}

func (c *changing) Name() string            { return "changing" }
func (c *changing) Interval() time.Duration { return c.every }
func (c *changing) Fingerprint(context.Context) (*Result, error) {
	c.runs++
	return c.res, c.err
}

func TestManagerRunsPeriodicFingerprintersOnTheirInterval(t *testing.T) {
	ctx := context.Background()
	gpu := &changing{every: 10 * time.Second, res: &Result{Attributes: map[string]string{"gpu.count": "2"}}}
	m := NewManager([]Fingerprinter{
		Static("rack", map[string]string{"meta.rack": "r1", "gpu.count": "0"}),
		gpu,
		fake{name: "mem", res: &Result{Resources: &structs.Resources{MemoryMb: 512}}},
	})
	_, ok := m.Due()
	require.False(t, ok, "nothing is due before the first run")
	t0 := time.Unix(1000, 0)
	require.NoError(t, m.RunAll(ctx, t0))
	attrs, res := m.Facts()
	require.Equal(t, map[string]string{"meta.rack": "r1", "gpu.count": "2"}, attrs, "later fingerprinters win")
	require.Equal(t, int64(512), res.MemoryMb)
	due, ok := m.Due()
	require.True(t, ok)
	require.Equal(t, t0.Add(10*time.Second), due)

	changed, err := m.RunDue(ctx, t0.Add(5*time.Second))
	require.NoError(t, err)
	require.False(t, changed)
	require.Equal(t, 1, gpu.runs, "not due yet")

	changed, err = m.RunDue(ctx, t0.Add(10*time.Second))
	require.NoError(t, err)
	require.False(t, changed, "run again, same facts")
	require.Equal(t, 2, gpu.runs)

	gpu.res = &Result{Attributes: map[string]string{"gpu.count": "1"}}
	changed, err = m.RunDue(ctx, t0.Add(20*time.Second))
	require.NoError(t, err)
	require.True(t, changed)
	attrs, _ = m.Facts()
	require.Equal(t, "1", attrs["gpu.count"])

	// A failure without a result keeps the last facts.
	gpu.res, gpu.err = nil, errors.New("driver busy")
	changed, err = m.RunDue(ctx, t0.Add(30*time.Second))
	require.ErrorContains(t, err, "fingerprint changing: driver busy")
	require.False(t, changed)
	attrs, _ = m.Facts()
	require.Equal(t, "1", attrs["gpu.count"])

	// A result that drops an attribute is a change.
	gpu.res, gpu.err = &Result{}, nil
	changed, err = m.RunDue(ctx, t0.Add(40*time.Second))
	require.NoError(t, err)
	require.True(t, changed)
	attrs, _ = m.Facts()
	require.Equal(t, "0", attrs["gpu.count"], "the earlier fingerprinter's value shows again")
}

func TestManagerReportsNegativeResources(t *testing.T) {
	m := NewManager([]Fingerprinter{fake{name: "neg", res: &Result{Resources: &structs.Resources{CpuMhz: -1}}}})
	require.ErrorContains(t, m.RunAll(context.Background(), time.Unix(0, 0)), "negative cpu_mhz")
	_, res := m.Facts()
	require.Zero(t, res.CpuMhz)
	_, ok := m.Due()
	require.False(t, ok, "no periodic fingerprinter")
}
