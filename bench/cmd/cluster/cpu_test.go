package main

import (
	"context"
	"runtime/pprof"
	"testing"
	"time"
)

// TestCPUByLabelSumsLabelledWork profiles a labelled busy loop and finds
// its CPU under its label.
func TestCPUByLabelSumsLabelledWork(t *testing.T) {
	var p cpuByLabel
	if err := p.start(); err != nil {
		t.Skipf("a CPU profile is already running: %v", err)
	}
	deadline := time.Now().Add(2 * time.Second)
	pprof.Do(context.Background(), pprof.Labels("server", "busy"), func(context.Context) {
		x := 0
		for time.Now().Before(deadline) {
			for i := range 100000 {
				x += i
			}
		}
		_ = x
	})
	got, err := p.stop("server")
	if err != nil {
		t.Fatal(err)
	}
	if got["busy"] <= 0 {
		t.Fatalf("no CPU under the label: %v", got)
	}
}

// FuzzSumByLabel: any bytes decode to an error or a sum, never a panic.
func FuzzSumByLabel(f *testing.F) {
	f.Add([]byte{0x12, 0x04, 0x12, 0x02, 0x01, 0x02})
	f.Add([]byte{0x32, 0x06, 's', 'e', 'r', 'v', 'e', 'r'})
	f.Add([]byte{0x12, 0x06, 0x1a, 0x04, 0x08, 0x01, 0x10, 0x02})
	f.Fuzz(func(t *testing.T, raw []byte) {
		_, _ = sumByLabel(raw, "server")
	})
}
