package fingerprint

import (
	"context"
	"fmt"
	"runtime"
)

// Arch fingerprints the architecture: cpu.arch (runtime.GOARCH, such as
// "amd64") and kernel.arch (the machine the kernel reports, such as
// "x86_64").
func Arch() Fingerprinter { return archFingerprint{} }

type archFingerprint struct{}

func (archFingerprint) Name() string { return "arch" }

func (archFingerprint) Fingerprint(context.Context) (*Result, error) {
	attrs := map[string]string{"cpu.arch": runtime.GOARCH}
	m, err := machine()
	if err != nil {
		return &Result{Attributes: attrs}, fmt.Errorf("kernel arch: %w", err)
	}
	if m != "" {
		attrs["kernel.arch"] = m
	}
	return &Result{Attributes: attrs}, nil
}
