package driver

import (
	"fmt"
	"sync"
)

// Tasks is a driver's table of tasks by id, safe for concurrent use. The
// zero value is ready to use.
type Tasks[T any] struct {
	mu sync.Mutex
	m  map[string]T
}

// Get returns the task with id, or an error wrapping ErrTaskNotFound.
func (t *Tasks[T]) Get(id string) (T, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.m[id]
	if !ok {
		return v, fmt.Errorf("task %s: %w", id, ErrTaskNotFound)
	}
	return v, nil
}

// Has reports whether a task with id is in the table.
func (t *Tasks[T]) Has(id string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.m[id]
	return ok
}

// Add stores v under id unless a task is already there, and reports
// whether it did.
func (t *Tasks[T]) Add(id string, v T) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.m[id]; ok {
		return false
	}
	if t.m == nil {
		t.m = map[string]T{}
	}
	t.m[id] = v
	return true
}

// Delete forgets the task with id.
func (t *Tasks[T]) Delete(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, id)
}
