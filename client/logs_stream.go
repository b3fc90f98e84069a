package client

import (
	"context"
	"fmt"

	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/structs"
)

// streamLogs sends a task's stdout or stderr: its rotated copies, oldest
// first, then the live file, from the position req's origin and offset
// name; with follow, it goes on with what the task writes, across
// rotations, until ctx ends.
func (c *Client) streamLogs(ctx context.Context, req *structs.LogsRequest, send sendFunc) error {
	r, err := c.allocRunner(req.GetAllocId())
	if err != nil {
		return err
	}
	if req.GetLogType() != structs.LogTypeStdout && req.GetLogType() != structs.LogTypeStderr {
		return fmt.Errorf("%w: log type must be stdout or stderr, got %s", structs.ErrBadRequest, structs.Quote(req.GetLogType()))
	}
	origin, err := checkOrigin(req.GetOrigin())
	if err != nil {
		return err
	}
	task := findTask(r.current(), req.GetTask())
	if task == nil {
		return fmt.Errorf("%w: unknown task name %s", structs.ErrBadRequest, structs.Quote(req.GetTask()))
	}
	if r.dirErr != nil {
		return r.dirErr
	}
	paths, err := taskPathsFor(r.dir, task.Name)
	if err != nil {
		return err
	}
	live := paths.stdout
	if req.GetLogType() == structs.LogTypeStderr {
		live = paths.stderr
	}
	maxFiles := int(task.GetLogs().GetMaxFiles())
	if maxFiles < 1 {
		maxFiles = driver.DefaultMaxLogFiles
	}
	w := c.logs.acquire(live, maxFiles)
	defer c.logs.release(w)
	lr := &logReader{w: w, dir: r.dir, send: send, follow: req.GetFollow(), clock: c.clock}
	return lr.run(ctx, origin, req.GetOffset())
}

func checkOrigin(o string) (string, error) {
	switch o {
	case "":
		return structs.OriginStart, nil
	case structs.OriginStart, structs.OriginEnd:
		return o, nil
	}
	return "", fmt.Errorf("%w: origin must be start or end, got %s", structs.ErrBadRequest, structs.Quote(o))
}

func findTask(a *structs.Allocation, name string) *structs.Task {
	if tg := findGroup(a); tg != nil {
		for _, t := range tg.Tasks {
			if t.Name == name {
				return t
			}
		}
	}
	return nil
}
