package main

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestRun runs the example as a user does, go run ./examples/embed, and
// checks that it exits 0 having done each of its steps.
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a three-server cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "run", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go run ./examples/embed: %v\n%s", err, out)
	}
	for _, want := range []string{
		"report map[complete:1]",
		"report output: kernel Linux",
		"web    map[running:3]",
		"stopping the leader, server-",
		"web    map[running:1]",
		"scaled down through the new leader at 127.0.0.1:",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the output lacks %q:\n%s", want, out)
		}
	}
}
