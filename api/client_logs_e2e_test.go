package api_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/api"
)

// linesPerBurst numbered lines of 110 bytes take a log from empty to
// just over 1 MiB with the last line alone: the client rotates it after
// each burst, never in the middle of one.
const linesPerBurst = 9533

// follower collects what a followed log stream delivers.
type follower struct {
	mu     sync.Mutex
	data   bytes.Buffer
	err    error
	cancel chan struct{}
	done   chan struct{}
}

func follow(c *nomad.Client, alloc *nomad.Allocation, origin string, offset int64) *follower {
	f := &follower{cancel: make(chan struct{}), done: make(chan struct{})}
	frames, errs := c.AllocFS().Logs(alloc, true, "web", "stdout", origin, offset, f.cancel, nil)
	go func() {
		defer close(f.done)
		for {
			select {
			case fr, ok := <-frames:
				if !ok {
					return
				}
				f.mu.Lock()
				f.data.Write(fr.Data)
				f.mu.Unlock()
			case err := <-errs:
				f.mu.Lock()
				f.err = err
				f.mu.Unlock()
				return
			}
		}
	}()
	return f
}

func (f *follower) text() (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.data.String(), f.err
}

func (f *follower) stop() {
	close(f.cancel)
	<-f.done
}

// TestLogsFollowAcrossRotations follows a raw_exec task's stdout with
// Nomad's client (nomad alloc logs -f) while the client rotates it three
// times: every numbered line arrives once, in order. Reads from the start
// and from the end (-tail) cross the rotated copies too.
func TestLogsFollowAcrossRotations(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, filepath.Join(dir, "server"), false)
	node := startClientNode(t, filepath.Join(dir, "client"), srv.Addr())
	defer node.stop(t)
	s := serveAPI(t, srv.NewHTTPHandler(api.Options{}), "")
	alloc := runJob(t, s.nomad, shJob("logs", burstScript(linesPerBurst)))
	defer stopJobs(t, s.nomad)
	taskDir := node.taskDir(alloc.ID, "web")
	logs := filepath.Join(node.dir, "alloc", alloc.ID, "alloc", "logs")
	waitFor(t, "the task to be ready", func() bool { _, err := os.Stat(filepath.Join(taskDir, "ready")); return err == nil })

	f := follow(s.nomad, alloc, nomad.OriginStart, 0)
	defer f.stop()
	const bursts = 3
	for n := 1; n <= bursts; n++ {
		require.NoError(t, os.WriteFile(filepath.Join(taskDir, "go."+strconv.Itoa(n)), nil, 0o644))
		waitFor(t, "rotation "+strconv.Itoa(n), func() bool {
			_, err := os.Stat(filepath.Join(logs, "web.stdout.0."+strconv.Itoa(n)))
			fi, lerr := os.Stat(filepath.Join(logs, "web.stdout.0"))
			return err == nil && lerr == nil && fi.Size() == 0
		})
	}
	want := numbered(1, bursts*linesPerBurst)
	waitFor(t, "every line to reach the follower", func() bool {
		got, err := f.text()
		require.NoError(t, err)
		return len(got) >= len(want)
	})
	got, _ := f.text()
	require.True(t, got == want, "the follower got every line once, in order (got %d bytes, want %d)", len(got), len(want))

	// A read from the start, not following, goes through the copies.
	r, err := readLogs(s.nomad, alloc, false, nomad.OriginStart, 0)
	require.NoError(t, err)
	require.True(t, r == want, "a read from the start has every line (got %d bytes)", len(r))
	// The last lines, as nomad alloc logs -tail reads them: the live
	// file is empty, so they come from the newest copy.
	r, err = readLogs(s.nomad, alloc, false, nomad.OriginEnd, 3*110)
	require.NoError(t, err)
	require.Equal(t, numbered(bursts*linesPerBurst-2, bursts*linesPerBurst), r)

	// plain=true, as nomad alloc logs uses without -f, sends bytes alone.
	resp, err := s.tr.RoundTrip(mustRequest(t, s.http.URL+"/v1/client/fs/logs/"+alloc.ID+"?task=web&type=stdout&plain=true&origin=end&offset=110", ""))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, numbered(bursts*linesPerBurst, bursts*linesPerBurst), string(body))
}

// readLogs reads a task's stdout without following it.
func readLogs(c *nomad.Client, alloc *nomad.Allocation, followIt bool, origin string, offset int64) (string, error) {
	cancel := make(chan struct{})
	defer close(cancel)
	frames, errs := c.AllocFS().Logs(alloc, followIt, "web", "stdout", origin, offset, cancel, nil)
	var b bytes.Buffer
	timeout := time.After(60 * time.Second)
	for {
		select {
		case fr, ok := <-frames:
			if !ok {
				return b.String(), nil
			}
			b.Write(fr.Data)
		case err := <-errs:
			return b.String(), err
		case <-timeout:
			return b.String(), io.ErrNoProgress
		}
	}
}
