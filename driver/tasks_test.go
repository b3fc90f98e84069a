package driver

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTasksTable(t *testing.T) {
	var tasks Tasks[int]
	_, err := tasks.Get("a")
	require.ErrorIs(t, err, ErrTaskNotFound)
	require.False(t, tasks.Has("a"))
	require.True(t, tasks.Add("a", 1))
	require.False(t, tasks.Add("a", 2), "an id is taken once")
	v, err := tasks.Get("a")
	require.NoError(t, err)
	require.Equal(t, 1, v)
	tasks.Delete("a")
	require.False(t, tasks.Has("a"))
	require.True(t, tasks.Add("a", 3), "a deleted id can be reused")
}
