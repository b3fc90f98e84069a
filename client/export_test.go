package client

import (
	"context"

	"github.com/droverhq/drover/structs"
)

// TaskLookups is what a task's templates read from the servers, for tests.
type TaskLookups interface {
	Variable(ctx context.Context, path string) (map[string]string, error)
	VariablePaths(ctx context.Context, prefix string) ([]string, error)
	Services(ctx context.Context, name string) ([]*structs.ServiceRegistration, error)
}

type exportedLookups struct{ l *taskLookups }

func (e exportedLookups) Variable(ctx context.Context, path string) (map[string]string, error) {
	return e.l.variable(ctx, path)
}

func (e exportedLookups) VariablePaths(ctx context.Context, prefix string) ([]string, error) {
	return e.l.variablePaths(ctx, prefix)
}

func (e exportedLookups) Services(ctx context.Context, name string) ([]*structs.ServiceRegistration, error) {
	return e.l.services(ctx, name)
}

// LookupsFor returns the lookups of a task of one of c's allocations, or
// nil when c runs no such allocation.
func LookupsFor(c *Client, allocID, task string) TaskLookups {
	c.allocs.mu.Lock()
	defer c.allocs.mu.Unlock()
	r := c.allocs.runners[allocID]
	if r == nil {
		return nil
	}
	return exportedLookups{newTaskLookups(r, task)}
}
