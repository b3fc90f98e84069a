package drover

import (
	"context"
	"io"
	"os"
	"time"

	"github.com/droverhq/drover/client"
)

// NodeID is the client's node id, stable across restarts with the same
// DataDir: the NodeId of the allocations placed on it.
func (c *Client) NodeID() string { return c.cli.NodeID() }

// Node returns the node as the client registers it, with what it
// fingerprinted (without its secret).
func (c *Client) Node() *Node { return c.cli.Node() }

// Ready is closed once the node has registered with a server.
func (c *Client) Ready() <-chan struct{} { return c.cli.Ready() }

// Done is closed once the client has stopped.
func (c *Client) Done() <-chan struct{} { return c.cli.Done() }

// Shutdown stops the client as a terminate signal would: with
// LeaveOnTerminate and DrainOnShutdown set, the node drains first (see
// ShutdownOnSignal). Its state is written to its DataDir and its tasks
// keep running, to be reattached by the next client started on the same
// DataDir; only the tasks of the default fn driver, which nothing else
// could reattach to, are stopped. A raw_exec or exec task therefore
// outlives the host program unless ShutdownAndStopTasks is used instead.
// It is idempotent; ctx bounds the drain.
func (c *Client) Shutdown(ctx context.Context) error { return c.cli.Shutdown(ctx) }

// ShutdownAndStopTasks is Shutdown that also stops every task the client
// runs, whatever its driver, as a stop of its allocation would (the
// task's kill signal, then SIGKILL past its kill timeout). Use it when
// nothing will reattach to the tasks: a host that removes the client's
// DataDir afterwards (a temporary directory, say), or whose tasks must not
// outlive it. The servers find the node gone once its heartbeats stop, as
// after Shutdown, and place its allocations elsewhere.
func (c *Client) ShutdownAndStopTasks(ctx context.Context) error {
	return c.cli.ShutdownAndStopTasks(ctx)
}

// ShutdownOnSignal stops the client in answer to sig: on SIGINT with
// LeaveOnInterrupt, or SIGTERM with LeaveOnTerminate, the client leaves,
// which with DrainOnShutdown means its node is drained (its allocations
// migrated, bounded by the drain deadline and ctx) before it stops. Any
// other signal, or none of those options, stops it at once, as Shutdown
// describes.
func (c *Client) ShutdownOnSignal(ctx context.Context, sig os.Signal) error {
	return c.cli.ShutdownOnSignal(ctx, sig)
}

// Drain asks the servers to drain this node: it becomes ineligible for new
// work and its allocations are migrated to other nodes; past deadline
// (zero or negative: at once) what is left is stopped. It returns once the
// servers have recorded the drain, not when it is done.
func (c *Client) Drain(ctx context.Context, deadline time.Duration) error {
	return c.cli.Drain(ctx, deadline)
}

// CancelDrain ends a drain of this node; with markEligible the node takes
// new work again (it stays ineligible otherwise).
func (c *Client) CancelDrain(ctx context.Context, markEligible bool) error {
	return c.cli.CancelDrain(ctx, markEligible)
}

// Log streams of a task, as TaskLogs takes them.
const (
	StreamStdout = client.StreamStdout
	StreamStderr = client.StreamStderr
)

// TaskLogs returns a reader of the output of a task of an allocation on
// this client: stream is StreamStdout or StreamStderr. It reads what the
// client kept (the rotated copies, oldest first, then the live file: see
// the task's LogConfig) up to what is written when the reader reaches the
// end. An allocation without a directory on this client, or a task that
// is not one of its own, is ErrNotFound; a task that has not written yet
// has an empty log. The caller closes the reader.
func (c *Client) TaskLogs(allocID, task, stream string) (io.ReadCloser, error) {
	return c.cli.TaskLogs(allocID, task, stream)
}

// FollowTaskLogs is TaskLogs that waits for more output at the end of the
// log, as `nomad alloc logs -f` does, across rotations: its reader returns
// io.EOF once the task has ended and everything it wrote was read, and
// ctx's error once ctx is done. Close ends a Read that waits.
func (c *Client) FollowTaskLogs(ctx context.Context, allocID, task, stream string) (io.ReadCloser, error) {
	return c.cli.FollowTaskLogs(ctx, allocID, task, stream)
}
