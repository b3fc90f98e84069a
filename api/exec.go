package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/droverhq/drover/structs"
)

// nomad alloc exec speaks JSON messages over a websocket: the operator
// sends {"stdin": {"data": ..., "close": true}} and {"tty_size": {...}}
// (an empty message is a heartbeat), the task's side answers
// {"stdout": {...}}, {"stderr": {...}} and finally {"exited": true,
// "result": {"exit_code": N}}. An error ends the websocket with a close
// message carrying its text, which Nomad's client returns as the error.

// execIOJSON is Nomad's ExecStreamingIOOperation.
type execIOJSON struct {
	Data  []byte `json:"data,omitempty"`
	Close bool   `json:"close,omitempty"`
}

// execInputJSON is Nomad's ExecStreamingInput.
type execInputJSON struct {
	Stdin   *execIOJSON `json:"stdin,omitempty"`
	TTYSize *struct {
		Height int `json:"height,omitempty"`
		Width  int `json:"width,omitempty"`
	} `json:"tty_size,omitempty"`
}

// execOutputJSON is Nomad's ExecStreamingOutput.
type execOutputJSON struct {
	Stdout *execIOJSON `json:"stdout,omitempty"`
	Stderr *execIOJSON `json:"stderr,omitempty"`
	Exited bool        `json:"exited,omitempty"`
	Result *struct {
		ExitCode int `json:"exit_code"`
	} `json:"result,omitempty"`
}

// execWriteTimeout bounds one write to the operator's websocket.
const execWriteTimeout = 30 * time.Second

var upgrader = websocket.Upgrader{ReadBufferSize: 4096, WriteBufferSize: 4096}

func (c *clientRoutes) exec(w http.ResponseWriter, r *http.Request, params []string) error {
	if err := c.checkRegion(r); err != nil {
		return err
	}
	q := r.URL.Query()
	task := q.Get("task")
	if task == "" {
		return badRequest("must provide task name")
	}
	var command []string
	if err := json.Unmarshal([]byte(q.Get("command")), &command); err != nil || len(command) == 0 {
		return badRequest("command must be a JSON list of the program and its arguments")
	}
	tty, err := boolParam(r, "tty")
	if err != nil {
		return err
	}
	// The session opens before the upgrade, so that a refusal (no such
	// allocation, no rights, no connection to the node) is an HTTP error.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	sess, err := c.b.AllocExec(ctx, &structs.ExecStart{AllocId: params[0], Task: task, Command: command, Tty: tty})
	if err != nil {
		return err
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return nil // the upgrader answered the request
	}
	defer ws.Close()
	var inputDone sync.WaitGroup
	inputDone.Add(1)
	go func() {
		defer inputDone.Done()
		forwardExecInput(ctx, ws, sess, cancel)
	}()
	c.forwardExecOutput(ws, sess)
	cancel()
	// The reader ends once the websocket is closed.
	_ = ws.Close()
	inputDone.Wait()
	return nil
}

// forwardExecInput passes the operator's messages to the session until
// the websocket ends, which ends the session.
func forwardExecInput(ctx context.Context, ws *websocket.Conn, sess structs.ExecStream, cancel context.CancelFunc) {
	for ctx.Err() == nil {
		var in execInputJSON
		if err := ws.ReadJSON(&in); err != nil {
			cancel()
			return
		}
		msg := &structs.ExecInput{}
		if in.Stdin != nil {
			msg.Stdin, msg.StdinClose = in.Stdin.Data, in.Stdin.Close
		}
		if in.TTYSize != nil {
			msg.TtySize = &structs.TerminalSize{Height: uint32(max(in.TTYSize.Height, 0)), Width: uint32(max(in.TTYSize.Width, 0))}
		}
		if in.Stdin == nil && in.TTYSize == nil {
			continue // a heartbeat
		}
		if err := sess.Send(msg); err != nil {
			return
		}
	}
}

// forwardExecOutput passes the session's output to the operator until the
// command exits or the session fails.
func (c *clientRoutes) forwardExecOutput(ws *websocket.Conn, sess structs.ExecStream) {
	write := func(v any) error {
		_ = ws.SetWriteDeadline(time.Now().Add(execWriteTimeout))
		return ws.WriteJSON(v)
	}
	closeWith := func(code int, text string) {
		if len(text) > 120 {
			text = text[:120] // a close frame holds at most 125 bytes
		}
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(time.Second))
	}
	for {
		out, err := sess.Recv()
		if errors.Is(err, io.EOF) {
			closeWith(websocket.CloseNormalClosure, "")
			return
		}
		if err != nil {
			code, msg, _ := statusOf(err)
			wsCode := websocket.ClosePolicyViolation
			if code >= 500 {
				wsCode = websocket.CloseInternalServerErr
			}
			closeWith(wsCode, msg)
			return
		}
		var frames []execOutputJSON
		if len(out.Stdout) > 0 || out.StdoutClose {
			frames = append(frames, execOutputJSON{Stdout: &execIOJSON{Data: out.Stdout, Close: out.StdoutClose}})
		}
		if len(out.Stderr) > 0 || out.StderrClose {
			frames = append(frames, execOutputJSON{Stderr: &execIOJSON{Data: out.Stderr, Close: out.StderrClose}})
		}
		if out.Exited {
			f := execOutputJSON{Exited: true}
			f.Result = &struct {
				ExitCode int `json:"exit_code"`
			}{ExitCode: int(out.ExitCode)}
			frames = append(frames, f)
		}
		for _, f := range frames {
			if err := write(f); err != nil {
				return
			}
		}
		if out.Exited {
			closeWith(websocket.CloseNormalClosure, "")
			return
		}
	}
}

// restartRequest is Nomad's AllocationRestartRequest.
type restartRequest struct {
	TaskName string
	AllTasks bool
}

func (c *clientRoutes) restart(w http.ResponseWriter, r *http.Request, params []string) error {
	if err := c.checkRegion(r); err != nil {
		return err
	}
	var req restartRequest
	if r.ContentLength != 0 {
		if err := decodeBody(r, &req); err != nil {
			return err
		}
	}
	if req.TaskName != "" && req.AllTasks {
		return badRequest("restart a task (TaskName) or all tasks (AllTasks), not both")
	}
	if err := c.b.AllocRestart(r.Context(), params[0], req.TaskName, req.AllTasks || req.TaskName == ""); err != nil {
		return err
	}
	return c.writeRead(w, struct{}{})
}

// signalRequest is Nomad's AllocSignalRequest.
type signalRequest struct {
	Task   string
	Signal string
}

func (c *clientRoutes) signal(w http.ResponseWriter, r *http.Request, params []string) error {
	if err := c.checkRegion(r); err != nil {
		return err
	}
	var req signalRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if err := c.b.AllocSignal(r.Context(), params[0], req.Task, req.Signal); err != nil {
		return err
	}
	return c.writeRead(w, struct{}{})
}

// stopAllocation answers Nomad's AllocStopResponse.
func stopAllocation(b AllocStopper) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params []string) error {
		evalID, idx, err := b.StopAllocation(r.Context(), params[0])
		if err != nil {
			return err
		}
		w.Header().Set("X-Nomad-Index", strconv.FormatUint(max(idx, 1), 10))
		return writeJSON(w, struct {
			EvalID string
			Index  uint64
		}{evalID, idx})
	}
}
