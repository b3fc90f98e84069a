package client

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/internal/safepath"
	"github.com/droverhq/drover/structs"
)

// payloadFileMode lets a task that runs as another user read its payload.
const payloadFileMode os.FileMode = 0o644

// dispatchPayloadHook writes the payload of a dispatched job into the
// task's local/ directory, where the task's dispatch_payload block says,
// before every start (the task may have changed the file). A path that
// would lead outside local/ fails the start.
type dispatchPayloadHook struct{}

func (dispatchPayloadHook) name() string { return "dispatch payload" }

func (dispatchPayloadHook) prestart(_ context.Context, t *taskRunner, cfg *driver.TaskConfig) error {
	dp := t.task.GetDispatchPayload()
	if dp == nil || dp.File == "" {
		return nil
	}
	local, err := safepath.Join(cfg.TaskDir, "local")
	if err != nil {
		return &hookError{event: structs.TaskEventSetupFailure, err: err}
	}
	dst, err := safepath.Join(local, dp.File)
	if err != nil {
		return &hookError{event: structs.TaskEventSetupFailure, err: fmt.Errorf("dispatch_payload: %w", err)}
	}
	if err := os.MkdirAll(filepath.Dir(dst), sharedDirMode); err != nil {
		return fmt.Errorf("dispatch_payload: %w", err)
	}
	// Checked again once the directories exist: none of them may be a link out.
	if _, err := safepath.Join(local, dp.File); err != nil {
		return &hookError{event: structs.TaskEventSetupFailure, err: fmt.Errorf("dispatch_payload: %w", err)}
	}
	tmp := dst + ".tmp"
	if err := os.WriteFile(tmp, t.alloc.GetJob().GetPayload(), payloadFileMode); err != nil {
		return fmt.Errorf("dispatch_payload: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("dispatch_payload: %w", err)
	}
	return nil
}
