package client_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/droverhq/drover/client"
	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/driver/docker"
	execdriver "github.com/droverhq/drover/driver/exec"
	"github.com/droverhq/drover/driver/mock"
	"github.com/droverhq/drover/driver/rawexec"
	"github.com/droverhq/drover/internal/testing/leakcheck"
)

// childEnv, when set, makes the test binary run a client instead of the
// tests: the tests that kill a client hard need it in another process.
const (
	childEnv       = "DROVER_TEST_CLIENT_DATA_DIR"
	childServerEnv = "DROVER_TEST_CLIENT_SERVER"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		os.Exit(runChildClient(dir, os.Getenv(childServerEnv)))
	}
	leakcheck.VerifyTestMain(m)
}

// runChildClient runs a client until SIGTERM (or until it is killed),
// printing "ready" once it has registered.
func runChildClient(dir, server string) int {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	exec := execdriver.New(logger)
	exec.PollInterval = 50 * time.Millisecond
	containers := docker.New(docker.Config{Logger: logger})
	defer containers.Close()
	c, err := client.New(client.Config{
		DataDir: dir, Servers: []string{server}, Logger: logger,
		Drivers: []driver.Driver{exec, rawexec.New(logger), mock.New(logger), containers},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child client:", err)
		return 1
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	select {
	case <-c.Ready():
		fmt.Println("ready")
	case <-sigs:
	}
	<-sigs
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Shutdown(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "child client shutdown:", err)
		return 1
	}
	return 0
}
