package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"sort"
	"strconv"
	"time"

	"github.com/droverhq/drover/client/interpolate"
	"github.com/droverhq/drover/structs"
)

// Service checks. The client runs every check of an allocation's services
// against the allocation's ports on the node's address (http: a request,
// 2xx passing, 429 warning, anything else critical; tcp: a connection;
// script: a command in the task's directory with its environment, exit 0
// passing, 1 warning, else critical), each every interval within its
// timeout, once the task it belongs to runs. Results are part of the
// allocation's status sent to the servers when they change, and decide
// its health (health_check "checks"). A check with check_restart restarts
// its task after limit failures in a row, once grace has passed since the
// task started; the restart counts against the restart policy.

// maxCheckOutput bounds the output kept of one check run.
const maxCheckOutput = 1024

// checkState is one check of an allocation and its latest result.
type checkState struct {
	ref    structs.ServiceCheckRef
	status *structs.CheckStatus
	// failures counts the failed runs in a row, for check_restart.
	failures int
}

// counts reports whether the check decides the allocation's health.
func (c *checkState) counts() bool { return c.ref.Check.GetOnUpdate() != structs.OnUpdateIgnore }

// checkKey names a check within its allocation.
func checkKey(ref structs.ServiceCheckRef) string {
	return ref.Task + "\x00" + ref.Service.GetName() + "\x00" + ref.Check.GetName()
}

// initChecks records the allocation's checks, all pending.
func (r *allocRunner) initChecks(tg *structs.TaskGroup) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checks = map[string]*checkState{}
	for _, ref := range tg.Checks() {
		r.checks[checkKey(ref)] = &checkState{ref: ref, status: &structs.CheckStatus{
			Name: ref.Check.GetName(), Service: ref.Service.GetName(), Task: ref.Task, Status: structs.CheckPending,
		}}
	}
}

// checkStatusesLocked lists the check results in a stable order; r.mu is held.
func (r *allocRunner) checkStatusesLocked() []*structs.CheckStatus {
	if len(r.checks) == 0 {
		return nil
	}
	out := make([]*structs.CheckStatus, 0, len(r.checks))
	for _, c := range r.checks {
		out = append(out, c.status)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Task != out[j].Task {
			return out[i].Task < out[j].Task
		}
		if out[i].Service != out[j].Service {
			return out[i].Service < out[j].Service
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// runChecks runs every check of the allocation until ctx is done or its
// tasks are stopped.
func (r *allocRunner) runChecks(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.auxClosed {
		return
	}
	for _, c := range r.checks {
		r.aux.Add(1)
		go func() {
			defer r.aux.Done()
			r.runCheck(ctx, c)
		}()
	}
}

// runCheck runs one check on its interval while its task runs.
func (r *allocRunner) runCheck(ctx context.Context, c *checkState) {
	interval := max(c.ref.Check.Interval.AsDuration(), time.Second)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.stopCh:
			return
		case <-t.C:
		}
		if env, running := r.taskRunning(c.ref.Task); running {
			status, output := r.checkOnce(ctx, c.ref, env)
			r.checkResult(c, status, output)
		}
		t.Reset(interval)
	}
}

// taskEnv is what a script check needs of its task.
type taskEnv struct {
	dir string
	env map[string]string
	// startedAt is when the task last started.
	startedAt time.Time
}

// taskRunning reports whether the check's task (every task, for a group
// check without one) runs, with the task's environment.
func (r *allocRunner) taskRunning(task string) (taskEnv, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if task == "" {
		if len(r.states) == 0 {
			return taskEnv{}, false
		}
		for _, st := range r.states {
			if st.State != structs.TaskStateRunning {
				return taskEnv{}, false
			}
		}
		return taskEnv{}, true
	}
	st := r.states[task]
	if st.GetState() != structs.TaskStateRunning {
		return taskEnv{}, false
	}
	env := r.envs[task]
	env.startedAt = time.Unix(0, st.StartedAt)
	return env, true
}

// checkOnce runs a check once and returns its status and output.
func (r *allocRunner) checkOnce(ctx context.Context, ref structs.ServiceCheckRef, env taskEnv) (string, string) {
	// The check's fields may name runtime variables (client/interpolate).
	c := interpolate.Vars{Env: env.env, Node: interpolate.NodeVars(r.c.nodeCopy(), r.c.cfg.Region)}.Check(ref.Check)
	timeout := max(c.Timeout.AsDuration(), time.Second)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch c.Type {
	case structs.CheckTypeHTTP, structs.CheckTypeTCP:
		addr, err := r.checkAddr(ref)
		if err != nil {
			return structs.CheckCritical, err.Error()
		}
		if c.Type == structs.CheckTypeTCP {
			conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			if err != nil {
				return structs.CheckCritical, err.Error()
			}
			_ = conn.Close()
			return structs.CheckPassing, "TCP connect " + addr + ": Success"
		}
		return httpCheck(ctx, c, addr)
	case structs.CheckTypeScript:
		return scriptCheck(ctx, c, env)
	}
	return structs.CheckCritical, fmt.Sprintf("unknown check type %q", c.Type)
}

// checkAddr is the host:port a check reaches: the node's address and the
// allocation's port of the check's (or service's) label, or a number.
func (r *allocRunner) checkAddr(ref structs.ServiceCheckRef) (string, error) {
	label := ref.Check.GetPort()
	if label == "" {
		label = ref.Service.GetPort()
	}
	a := r.current()
	ports := allocPorts(a, r.c.nodeCopy())
	for _, p := range ports {
		if p.Label == label {
			return net.JoinHostPort(p.HostIP, strconv.Itoa(p.Value)), nil
		}
	}
	if n, err := strconv.Atoi(label); err == nil && n > 0 && n <= 65535 {
		ip := "127.0.0.1"
		if len(ports) > 0 {
			ip = ports[0].HostIP
		} else if v := r.c.nodeCopy().GetAttributes()["unique.network.ip-address"]; v != "" {
			ip = v
		}
		return net.JoinHostPort(ip, label), nil
	}
	return "", fmt.Errorf("port %q is not allocated to the allocation", label)
}

func httpCheck(ctx context.Context, c *structs.ServiceCheck, addr string) (string, string) {
	url := c.GetProtocol() + "://" + addr + c.GetPath()
	req, err := http.NewRequestWithContext(ctx, c.GetMethod(), url, nil)
	if err != nil {
		return structs.CheckCritical, err.Error()
	}
	resp, err := checkHTTPClient.Do(req)
	if err != nil {
		return structs.CheckCritical, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxCheckOutput))
	out := fmt.Sprintf("HTTP %s %s: %s Output: %s", c.GetMethod(), url, resp.Status, body)
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return structs.CheckPassing, out
	case resp.StatusCode == http.StatusTooManyRequests:
		return structs.CheckWarning, out
	}
	return structs.CheckCritical, out
}

// checkHTTPClient runs http checks: no redirects, no kept connections.
var checkHTTPClient = &http.Client{
	Transport:     &http.Transport{DisableKeepAlives: true},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func scriptCheck(ctx context.Context, c *structs.ServiceCheck, env taskEnv) (string, string) {
	cmd := exec.CommandContext(ctx, c.GetCommand(), c.GetArgs()...)
	cmd.Dir = env.dir
	for k, v := range env.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if len(out) > maxCheckOutput {
		out = out[:maxCheckOutput]
	}
	var exit *exec.ExitError
	switch {
	case err == nil:
		return structs.CheckPassing, string(out)
	case errors.As(err, &exit) && exit.ExitCode() == 1:
		return structs.CheckWarning, string(out)
	case ctx.Err() != nil:
		return structs.CheckCritical, "timed out: " + string(out)
	}
	return structs.CheckCritical, fmt.Sprintf("%v: %s", err, out)
}

// checkResult records a run's result: a changed status is sent to the
// servers and wakes the health watcher; check_restart counts failures.
func (r *allocRunner) checkResult(c *checkState, status, output string) {
	if len(output) > maxCheckOutput {
		output = output[:maxCheckOutput]
	}
	r.mu.Lock()
	changed := c.status.Status != status
	c.status = &structs.CheckStatus{Name: c.status.Name, Service: c.status.Service, Task: c.status.Task,
		Status: status, Output: output, Timestamp: time.Now().UnixNano()}
	restart := false
	if cr := c.ref.Check.GetCheckRestart(); cr != nil && cr.Limit > 0 {
		bad := status == structs.CheckCritical || (status == structs.CheckWarning && !cr.IgnoreWarnings)
		if !bad {
			c.failures = 0
		} else if st := r.states[c.ref.Task]; st != nil && time.Since(time.Unix(0, st.StartedAt)) >= cr.Grace.AsDuration() {
			c.failures++
			if c.failures >= int(cr.Limit) {
				c.failures, restart = 0, true
			}
		}
	}
	if changed {
		r.healthChangedLocked()
	}
	quiet := r.shuttingDown
	tr := r.runners[c.ref.Task]
	r.mu.Unlock()
	if changed && !quiet {
		r.c.updates.push(r.statusUpdate())
	}
	if restart && tr != nil {
		tr.requestRestart(fmt.Sprintf("health check %q failed", c.ref.Check.GetName()))
	}
}

// setTaskEnv records what script checks of a task run with.
func (r *allocRunner) setTaskEnv(task string, env taskEnv) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.envs[task] = env
}
