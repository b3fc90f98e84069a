// Command customdriver shows how a host adds its own task driver: a
// "countdown" driver whose tasks count down from a number, one line per
// tick, and exit. It runs a server and a client with the driver in one
// process, submits a batch job that needs the driver (a constraint on the
// attribute its fingerprint publishes), prints the task's log, and exits
// 0 once the task has completed.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/driver"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "customdriver:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "drover-customdriver-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	srv, err := drover.NewServer(drover.ServerOptions{DataDir: filepath.Join(dir, "server"), BindAddr: "127.0.0.1:0"})
	if err != nil {
		return err
	}
	defer srv.Shutdown(context.Background())
	if err := srv.WaitForLeader(ctx); err != nil {
		return err
	}
	countdown := newCountdown()
	clientDir := filepath.Join(dir, "client")
	cli, err := drover.NewClient(drover.ClientOptions{
		DataDir: clientDir, Servers: []string{srv.Addr()}, Drivers: []drover.Driver{countdown},
	})
	if err != nil {
		return err
	}
	defer cli.Shutdown(context.Background())
	select {
	case <-cli.Ready():
	case <-ctx.Done():
		return ctx.Err()
	}
	fmt.Printf("client registered; its countdown driver reports version %s\n",
		cli.Node().Attributes["driver.countdown.version"])

	job := &drover.Job{
		Id: "liftoff", Type: drover.JobTypeBatch,
		TaskGroups: []*drover.TaskGroup{{
			Name: "launch", Count: 1,
			Tasks: []*drover.Task{{
				Name: "count", Driver: "countdown",
				Config:    drover.TaskConfig(map[string]any{"from": 3, "tick": 20 * time.Millisecond}),
				Resources: &drover.Resources{CpuMhz: 10, MemoryMb: 10},
			}},
		}},
		Constraints: []*drover.Constraint{{LTarget: "${attr.driver.countdown}", Operand: "=", RTarget: "1"}},
	}
	if _, err := srv.RegisterJob(ctx, job); err != nil {
		return err
	}
	alloc, err := waitComplete(ctx, srv, job.Id)
	if err != nil {
		return err
	}
	out, err := os.ReadFile(filepath.Join(clientDir, "alloc", alloc.Id, "alloc", "logs", "count.stdout.0"))
	if err != nil {
		return err
	}
	fmt.Printf("task %q completed on node %s; its output:\n%s", "count", alloc.NodeId[:8], out)
	return nil
}

// waitComplete waits for the job's allocation to complete.
func waitComplete(ctx context.Context, srv *drover.Server, jobID string) (*drover.Allocation, error) {
	for allocs, err := range srv.WatchAllocations(ctx, "", jobID) {
		if err != nil {
			return nil, err
		}
		for _, a := range allocs {
			switch a.ClientStatus {
			case drover.AllocClientComplete:
				return a, nil
			case drover.AllocClientFailed:
				return nil, fmt.Errorf("allocation failed: %s", a.ClientDescription)
			}
		}
	}
	return nil, ctx.Err()
}

// countdown is the custom driver. Its tasks are goroutines of the host,
// tracked with the driver package's helpers: driver.Tasks for the task
// table, driver.Exit for the exit result every waiter gets.
type countdown struct {
	tasks driver.Tasks[*countdownTask]
}

type countdownTask struct {
	stopOnce sync.Once
	stop     chan struct{}
	exit     *driver.Exit
}

// Exit implements driver.Exiting: the task table's WaitTask and
// RemoveExited use it.
func (t *countdownTask) Exit() *driver.Exit { return t.exit }

// halt asks the task to end; it may be called any number of times.
func (t *countdownTask) halt() { t.stopOnce.Do(func() { close(t.stop) }) }

var _ driver.Driver = (*countdown)(nil)

func newCountdown() *countdown {
	return &countdown{tasks: driver.Tasks[*countdownTask]{Name: "countdown"}}
}

func (d *countdown) Name() string { return "countdown" }

func (d *countdown) Fingerprint(context.Context) driver.Fingerprint {
	return driver.Fingerprint{
		Detected: true, Healthy: true, HealthDescription: "ready to count",
		Attributes: map[string]string{"driver.countdown": "1", "driver.countdown.version": "1.0.0"},
	}
}

func (d *countdown) StartTask(ctx context.Context, cfg *driver.TaskConfig) (*driver.TaskHandle, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := driver.CheckKeys(cfg.Config, "from", "tick"); err != nil {
		return nil, err
	}
	from, err := driver.ConfigInt(cfg.Config, "from")
	if err != nil {
		return nil, err
	}
	tick, err := driver.ConfigDuration(cfg.Config, "tick")
	if err != nil {
		return nil, err
	}
	if from < 0 || tick <= 0 {
		return nil, fmt.Errorf("%w: from must be >= 0 and tick > 0", driver.ErrInvalidConfig)
	}
	out, err := driver.OpenLog(cfg.StdoutPath)
	if err != nil {
		return nil, err
	}
	t := &countdownTask{stop: make(chan struct{}), exit: driver.NewExit()}
	if !d.tasks.Add(cfg.ID, t) {
		out.Close()
		return nil, fmt.Errorf("countdown: task %s already started", cfg.ID)
	}
	go func() {
		defer out.Close()
		timer := time.NewTicker(tick)
		defer timer.Stop()
		for n := from; n > 0; n-- {
			fmt.Fprintln(out, n)
			select {
			case <-timer.C:
			case <-t.stop:
				t.exit.Set(&driver.ExitResult{ExitCode: 130, Err: errors.New("stopped before liftoff")})
				return
			}
		}
		fmt.Fprintln(out, "liftoff")
		t.exit.Set(&driver.ExitResult{})
	}()
	return &driver.TaskHandle{ID: cfg.ID, Driver: d.Name(), StartedAt: time.Now(), State: []byte(strconv.Itoa(from))}, nil
}

func (d *countdown) WaitTask(ctx context.Context, id string) (<-chan *driver.ExitResult, error) {
	return driver.WaitTask(ctx, &d.tasks, id)
}

func (d *countdown) StopTask(ctx context.Context, id string, _ time.Duration, _ string) error {
	t, err := d.tasks.Get(id)
	if err != nil {
		return err
	}
	t.halt()
	return t.exit.Await(ctx)
}

func (d *countdown) DestroyTask(id string, force bool) error {
	t, err := driver.RemoveExited(&d.tasks, id, force)
	if err != nil {
		return err
	}
	t.halt()
	<-t.exit.Done()
	return nil
}

// RecoverTask reattaches only to tasks this instance still runs: a
// goroutine does not survive its process.
func (d *countdown) RecoverTask(h *driver.TaskHandle) error {
	if h == nil {
		return driver.ErrTaskNotFound
	}
	_, err := d.tasks.Get(h.ID)
	return err
}
