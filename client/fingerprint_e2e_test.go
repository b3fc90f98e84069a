package client_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/client"
	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/driver/mock"
	"github.com/droverhq/drover/fingerprint"
	"github.com/droverhq/drover/internal/testing/harness"
	"github.com/droverhq/drover/structs"
)

// licences is a host's own fingerprinter: how many seats of a licence it
// has, which changes while the client runs.
type licences struct {
	mu    sync.Mutex
	seats string
}

func (l *licences) Name() string            { return "licences" }
func (l *licences) Interval() time.Duration { return 20 * time.Millisecond }
func (l *licences) set(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seats = s
}
func (l *licences) Fingerprint(context.Context) (*fingerprint.Result, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return &fingerprint.Result{Attributes: map[string]string{"licence.cad.seats": l.seats}}, nil
}

func TestCustomFingerprinterAttributeDrivesAConstraint(t *testing.T) {
	dir := t.TempDir()
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server")})
	defer harness.Shutdown(t, srv)
	plain, gpu := mock.New(nil), mock.New(nil)
	defer plain.Close()
	defer gpu.Close()
	seats := &licences{seats: "0"}
	a := startClient(t, client.Config{DataDir: filepath.Join(dir, "a"), Servers: []string{srv.Addr()}, Drivers: []driver.Driver{plain}})
	defer harness.Shutdown(t, a)
	b := startClient(t, client.Config{DataDir: filepath.Join(dir, "b"), Servers: []string{srv.Addr()}, Drivers: []driver.Driver{gpu},
		Fingerprinters: []fingerprint.Fingerprinter{fingerprint.Static("gpu", map[string]string{"gpu.model": "a100"}), seats}})
	defer harness.Shutdown(t, b)
	require.Equal(t, "a100", b.Node().Attributes["gpu.model"])
	require.NotContains(t, a.Node().Attributes, "gpu.model")

	train := job("train", "service", 2, mockTask("train", map[string]any{"run_for": "-1"}))
	train.Constraints = []*structs.Constraint{{LTarget: "${attr.gpu.model}", Operand: "=", RTarget: "a100"}}
	register(t, srv, train)
	harness.WaitFor(t, srv, deadline, "the job to run", func() bool {
		return countStatus(allocs(t, srv, "train"), structs.AllocClientRunning) == 2
	})
	for _, al := range allocs(t, srv, "train") {
		require.Equal(t, b.NodeID(), al.NodeId, "only the node whose fingerprinter found the gpu qualifies")
	}

	// A periodic fingerprinter's new value reaches the servers and is
	// placed on.
	cad := job("cad", "service", 1, mockTask("cad", map[string]any{"run_for": "-1"}))
	cad.Constraints = []*structs.Constraint{{LTarget: "${attr.licence.cad.seats}", Operand: "=", RTarget: "5"}}
	register(t, srv, cad)
	harness.WaitFor(t, srv, deadline, "the evaluation to block", func() bool { return hasBlockedEval(t, srv, "cad") })
	require.Empty(t, allocs(t, srv, "cad"), "no node has five seats yet")
	seats.set("5")
	harness.WaitFor(t, srv, deadline, "the new fact to place the job", func() bool {
		al := only(t, srv, "cad")
		return al != nil && al.ClientStatus == structs.AllocClientRunning && al.NodeId == b.NodeID()
	})
	require.Equal(t, "5", nodeOf(t, t.Context(), srv, b.NodeID()).Attributes["licence.cad.seats"])
}

// flaky is a mock driver whose health the test turns on and off.
type flaky struct {
	*mock.Driver
	mu      sync.Mutex
	healthy bool
}

func (f *flaky) setHealthy(h bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.healthy = h
}

func (f *flaky) Fingerprint(ctx context.Context) driver.Fingerprint {
	fp := f.Driver.Fingerprint(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	fp.Healthy = f.healthy
	if !f.healthy {
		fp.HealthDescription = "backend unreachable"
	}
	return fp
}

func TestDriverHealthIsRefreshed(t *testing.T) {
	dir := t.TempDir()
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server")})
	defer harness.Shutdown(t, srv)
	d := &flaky{Driver: mock.New(nil), healthy: true}
	defer d.Close()
	c := startClient(t, client.Config{DataDir: filepath.Join(dir, "c"), Servers: []string{srv.Addr()},
		Drivers: []driver.Driver{d}, DriverFingerprintInterval: 20 * time.Millisecond})
	defer harness.Shutdown(t, c)
	require.True(t, nodeOf(t, t.Context(), srv, c.NodeID()).Drivers["mock"].Healthy)
	d.setHealthy(false)
	harness.WaitFor(t, srv, deadline, "the servers to learn the driver is unhealthy", func() bool {
		info := nodeOf(t, t.Context(), srv, c.NodeID()).Drivers["mock"]
		return !info.Healthy && info.HealthDescription == "backend unreachable"
	})
	register(t, srv, job("web", "service", 1, mockTask("web", map[string]any{"run_for": "-1"})))
	harness.WaitFor(t, srv, deadline, "a blocked evaluation", func() bool { return hasBlockedEval(t, srv, "web") })
	require.Empty(t, allocs(t, srv, "web"), "an unhealthy driver takes no work")
	d.setHealthy(true)
	harness.WaitFor(t, srv, deadline, "the job to run once the driver is healthy again", func() bool {
		al := only(t, srv, "web")
		return al != nil && al.ClientStatus == structs.AllocClientRunning
	})
}

func hasBlockedEval(t *testing.T, srv interface {
	Evaluations(context.Context, string, string) ([]*structs.Evaluation, error)
}, jobID string) bool {
	evals, err := srv.Evaluations(t.Context(), "", jobID)
	require.NoError(t, err)
	for _, e := range evals {
		if e.Status == structs.EvalStatusBlocked {
			return true
		}
	}
	return false
}
