package isolate

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestProbeSetsAnEmptyRootUp(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("isolating tasks needs root")
	}
	began := time.Now()
	require.NoError(t, Probe())
	t.Logf("probe took %s", time.Since(began))
}

func TestLookPathInTheTasksRoot(t *testing.T) {
	t.Setenv("PATH", "/usr/bin:/bin")
	p, err := lookPath("sh", "/")
	require.NoError(t, err)
	require.Contains(t, []string{"/usr/bin/sh", "/bin/sh"}, p)
	_, err = lookPath("no-such-command-here", "/")
	require.ErrorContains(t, err, "not found in the task's root")
	_, err = lookPath("./missing", "/tmp")
	require.ErrorContains(t, err, `command "./missing" in the task's root`)
}
