package driver

import (
	"context"
	"sync"
)

// Exit is a task's exit result: set once, awaited by any number of
// callers. Drivers use it to implement WaitTask.
type Exit struct {
	once sync.Once
	done chan struct{}
	res  *ExitResult
}

// NewExit returns an Exit not yet set.
func NewExit() *Exit { return &Exit{done: make(chan struct{})} }

// Set records the result; only the first call counts. It reports whether
// this call set it.
func (e *Exit) Set(res *ExitResult) bool {
	set := false
	e.once.Do(func() {
		e.res = res
		close(e.done)
		set = true
	})
	return set
}

// Done is closed once the result is set.
func (e *Exit) Done() <-chan struct{} { return e.done }

// Await blocks until the result is set, then returns nil, or until ctx
// ends, then returns its error.
func (e *Exit) Await(ctx context.Context) error {
	select {
	case <-e.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Result is the result, or nil before Set.
func (e *Exit) Result() *ExitResult {
	select {
	case <-e.done:
		return e.res
	default:
		return nil
	}
}

// Wait returns a channel that receives the result once it is set, then is
// closed; if ctx ends first the channel is closed without a value.
func (e *Exit) Wait(ctx context.Context) <-chan *ExitResult {
	ch := make(chan *ExitResult, 1)
	select {
	case <-e.done:
		ch <- e.res
		close(ch)
		return ch
	default:
	}
	go func() {
		defer close(ch)
		select {
		case <-e.done:
			ch <- e.res
		case <-ctx.Done():
		}
	}()
	return ch
}
