package driver

import (
	"context"
	"errors"
	"sync"
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

func TestTasksReservation(t *testing.T) {
	var tasks Tasks[int]
	require.True(t, tasks.Reserve("a"))
	require.True(t, tasks.Has("a"))
	require.False(t, tasks.Reserve("a"))
	require.False(t, tasks.Add("a", 1), "a reserved id is taken")
	_, err := tasks.Get("a")
	require.ErrorIs(t, err, ErrTaskNotFound, "a reserved id has no task yet")
	tasks.Fill("a", 7)
	v, err := tasks.Get("a")
	require.NoError(t, err)
	require.Equal(t, 7, v)
	require.False(t, tasks.Reserve("a"))

	require.True(t, tasks.Reserve("b"))
	tasks.Release("b")
	require.False(t, tasks.Has("b"))
	require.True(t, tasks.Add("b", 2))
}

func TestTasksRemove(t *testing.T) {
	var tasks Tasks[int]
	_, err := tasks.Remove("a", nil)
	require.ErrorIs(t, err, ErrTaskNotFound)
	require.True(t, tasks.Add("a", 1))
	busy := errors.New("busy")
	_, err = tasks.Remove("a", func(int) error { return busy })
	require.ErrorIs(t, err, busy)
	require.True(t, tasks.Has("a"), "a refused removal keeps the task")

	var wg sync.WaitGroup
	var mu sync.Mutex
	removed := 0
	for range 10 {
		wg.Go(func() {
			if _, err := tasks.Remove("a", nil); err == nil {
				mu.Lock()
				removed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Equal(t, 1, removed, "only one of concurrent removals wins")
}

// exiting is a task of the tests of WaitTask and RemoveExited.
type exiting struct{ exit *Exit }

func (e *exiting) Exit() *Exit { return e.exit }

func TestTasksOfExitingTasks(t *testing.T) {
	tasks := Tasks[*exiting]{Name: "mock"}
	_, err := WaitTask(context.Background(), &tasks, "a")
	require.ErrorIs(t, err, ErrTaskNotFound)
	require.EqualError(t, err, "mock: task a: driver: task not found", "errors carry the table's name")

	task := &exiting{exit: NewExit()}
	require.True(t, tasks.Add("a", task))
	ch, err := WaitTask(context.Background(), &tasks, "a")
	require.NoError(t, err)

	_, err = RemoveExited(&tasks, "a", false)
	require.ErrorIs(t, err, ErrTaskRunning, "a running task is removed only with force")
	require.True(t, tasks.Has("a"))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, task.exit.Await(ctx), context.Canceled)
	task.exit.Set(&ExitResult{ExitCode: 3})
	require.NoError(t, task.exit.Await(context.Background()))
	require.Equal(t, 3, (<-ch).ExitCode)

	got, err := RemoveExited(&tasks, "a", false)
	require.NoError(t, err)
	require.Same(t, task, got)
	require.False(t, tasks.Has("a"))

	require.True(t, tasks.Add("b", &exiting{exit: NewExit()}))
	_, err = RemoveExited(&tasks, "b", true)
	require.NoError(t, err, "force removes a running task")
}
