package structs

// ExecStream is one exec session in a task, seen from the operator's
// side: Send the input (the first message carries ExecStart, made by the
// caller that opened the session), Recv the output until a message with
// Exited set, CloseSend when no input is left. A gRPC client stream of
// the ClientExec call is one.
type ExecStream interface {
	Send(*ExecInput) error
	Recv() (*ExecOutput, error)
	CloseSend() error
}

// Origins of a file or log stream's offset.
const (
	OriginStart = "start"
	OriginEnd   = "end"
)

// Log types of a task.
const (
	LogTypeStdout = "stdout"
	LogTypeStderr = "stderr"
)

// File events of a stream frame, as Nomad names them.
const (
	FileEventTruncated = "file truncated"
	FileEventDeleted   = "file deleted"
)

// Task events of the operator's requests, as Nomad names them.
const (
	TaskEventRestartSignal = "Restart Signaled"
	TaskEventSignaling     = "Signaling"
)

// Task events of templates and the lifecycle, as Nomad names them.
const (
	// TaskEventTemplateFailed: a template could not be rendered or written,
	// or its change_script failed.
	TaskEventTemplateFailed = "Template"
	// TaskEventLeaderDead: the group's leader task ended, so this task is
	// stopped.
	TaskEventLeaderDead = "Leader Task Dead"
)
