package main

import (
	"strings"
	"testing"
)

// TestRun runs the example end to end: the read-only token must be
// refused, the deploy token accepted, and the job complete.
func TestRun(t *testing.T) {
	var out strings.Builder
	if err := run(&out); err != nil {
		t.Fatalf("%v\noutput so far:\n%s", err, out.String())
	}
	for _, want := range []string{
		"3 servers formed a cluster over mutual TLS",
		`register "hello" with the read-only token: refused`,
		`register "hello" with the deploy token: accepted`,
		`"hello" completed on client`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the output lacks %q:\n%s", want, out.String())
		}
	}
}
