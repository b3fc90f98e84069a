//go:build !linux

package cgroup

import (
	"fmt"
	"os"
)

// Detect finds nothing: control groups are Linux's.
func Detect() Mounts { return Mounts{} }

// Manager is unavailable off Linux.
type Manager struct {
	Dir         string
	Limits      bool
	Controllers []string
}

// NewManager fails: control groups are Linux's.
func NewManager(string) (*Manager, error) { return nil, ErrUnavailable }

// Name makes a group name from a task's id.
func Name(taskID string) string { return taskID }

// Group is one task's cgroup; off Linux there are none.
type Group struct{ Path string }

// Create fails off Linux.
func (m *Manager) Create(string, Limits) (*Group, error) { return nil, ErrUnavailable }

// Open fails off Linux.
func (g *Group) Open() (*os.File, error) { return nil, fmt.Errorf("%w", ErrUnavailable) }

// Kill does nothing off Linux.
func (g *Group) Kill() error { return nil }

// Populated reports false off Linux.
func (g *Group) Populated() (bool, error) { return false, nil }

// Remove does nothing off Linux.
func (g *Group) Remove() error { return nil }
