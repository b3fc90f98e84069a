package main

import "testing"

// TestRun runs the example end to end: it must complete its task.
func TestRun(t *testing.T) {
	if err := run(); err != nil {
		t.Fatal(err)
	}
}
