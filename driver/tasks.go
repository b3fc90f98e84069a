package driver

import (
	"context"
	"fmt"
	"sync"
)

// Tasks is a driver's table of tasks by id, safe for concurrent use. The
// zero value is ready to use.
//
// An id may also be reserved while its task is being started: it is then
// taken (Has, Add and Reserve see it) but not yet found (Get does not).
type Tasks[T any] struct {
	// Name, when set, starts the message of every error the table returns
	// ("mock: task x: task not found"): the driver's name.
	Name string

	mu       sync.Mutex
	m        map[string]T
	reserved map[string]struct{}
}

// Get returns the task with id, or an error wrapping ErrTaskNotFound.
func (t *Tasks[T]) Get(id string) (T, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.m[id]
	if !ok {
		return v, t.notFound(id)
	}
	return v, nil
}

func (t *Tasks[T]) notFound(id string) error {
	return t.named(fmt.Errorf("task %s: %w", id, ErrTaskNotFound))
}

// named prefixes err with the table's Name.
func (t *Tasks[T]) named(err error) error {
	if t.Name == "" {
		return err
	}
	return fmt.Errorf("%s: %w", t.Name, err)
}

// Has reports whether id is taken: a task is stored or reserved under it.
func (t *Tasks[T]) Has(id string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.taken(id)
}

func (t *Tasks[T]) taken(id string) bool {
	_, ok := t.m[id]
	_, reserved := t.reserved[id]
	return ok || reserved
}

// Add stores v under id unless id is taken, and reports whether it did.
func (t *Tasks[T]) Add(id string, v T) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.taken(id) {
		return false
	}
	if t.m == nil {
		t.m = map[string]T{}
	}
	t.m[id] = v
	return true
}

// Reserve takes id for a task about to be started unless id is taken, and
// reports whether it did. Fill or Release must follow a successful Reserve.
func (t *Tasks[T]) Reserve(id string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.taken(id) {
		return false
	}
	if t.reserved == nil {
		t.reserved = map[string]struct{}{}
	}
	t.reserved[id] = struct{}{}
	return true
}

// Fill stores v under id, ending its reservation.
func (t *Tasks[T]) Fill(id string, v T) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.reserved, id)
	if t.m == nil {
		t.m = map[string]T{}
	}
	t.m[id] = v
}

// Release ends the reservation of id without storing a task.
func (t *Tasks[T]) Release(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.reserved, id)
}

// Remove deletes the task with id and returns it, provided check (if not
// nil) returns no error for it; both happen under the table's lock, so
// of concurrent Removes of one task only one succeeds. It returns an error
// wrapping ErrTaskNotFound if there is no such task, or one wrapping
// check's error.
func (t *Tasks[T]) Remove(id string, check func(T) error) (T, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.m[id]
	if !ok {
		return v, t.notFound(id)
	}
	if check != nil {
		if err := check(v); err != nil {
			var zero T
			return zero, t.named(err)
		}
	}
	delete(t.m, id)
	return v, nil
}

// Delete forgets the task with id.
func (t *Tasks[T]) Delete(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, id)
}

// All returns every stored task, in no particular order.
func (t *Tasks[T]) All() []T {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]T, 0, len(t.m))
	for _, v := range t.m {
		out = append(out, v)
	}
	return out
}

// Exiting is a task that records its end in an Exit, as the tasks of
// every built-in driver do: what WaitTask and RemoveExited need of them.
type Exiting interface {
	Exit() *Exit
}

// WaitTask implements Driver.WaitTask for a driver whose tasks are in
// tasks: the channel Exit.Wait returns for the task with id, or an error
// wrapping ErrTaskNotFound.
func WaitTask[T Exiting](ctx context.Context, tasks *Tasks[T], id string) (<-chan *ExitResult, error) {
	v, err := tasks.Get(id)
	if err != nil {
		return nil, err
	}
	return v.Exit().Wait(ctx), nil
}

// RemoveExited removes the task with id from tasks and returns it, as
// DestroyTask does: a task that has not exited yet is removed only with
// force, and refused with an error wrapping ErrTaskRunning otherwise.
func RemoveExited[T Exiting](tasks *Tasks[T], id string, force bool) (T, error) {
	return tasks.Remove(id, func(v T) error {
		if !force && v.Exit().Result() == nil {
			return fmt.Errorf("task %s: %w", id, ErrTaskRunning)
		}
		return nil
	})
}
